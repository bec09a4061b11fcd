//! The Notion SCIM emulator: an in-memory, faithful fake of Notion's SCIM API as docs/notion.md
//! describes it, shipped by `idbridge emulator` and `idbridge demo`, used by every integration test
//! of the SCIM client and of sync.
//!
//! `profile` holds the switches for UNCONFIRMED behaviours, the seed, the faults and chaos;
//! `state` the workspace and every SCIM operation; `routes` the HTTP dispatcher and control
//! routes; `hostile` the replies of a hostile or overloaded target; `filter` and `patch` the pure
//! parsers; `notion_api` the public REST API endpoints that reports are published through. The
//! emulator may import `clock` and nothing else of the crate. Time for `meta` comes from the
//! injected [`Clock`]; ids come from a seeded RNG, so runs are reproducible.

mod filter;
mod hostile;
pub mod notion_api;
mod patch;
mod profile;
mod routes;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use profile::{
    Chaos, DuplicateGroup, DuplicatePost, ErrorShape, Fault, FaultKind, MaxCount, Profile,
    RateLimit, RemovedUser, RetryAfterForm, Seed, SeedGroup, SeedToken, SeedUser, Switches,
    WorkspaceBudget, NOTION_BURST, ROLES,
};
pub use profile::{NameModel, DEFAULT_VERIFIED_DOMAIN};
pub use state::{GroupView, MemberView, Removal, RequestRecord};

use crate::clock::Clock;

/// Core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Notion's User extension URN (holds `role`).
pub const NOTION_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
/// ListResponse message URN.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A profile that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TOML did not parse or had unknown keys.
    #[error("The emulator profile is not valid TOML for a profile: {0}")]
    Parse(String),
    /// The TOML parsed but says something impossible.
    #[error("The emulator profile is inconsistent: {0}")]
    Invalid(String),
}

/// The emulator: cheap to clone, all clones share one workspace.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<Mutex<state::State>>,
    /// SCIM requests being served (outside the state lock: it counts across awaits).
    in_flight: Arc<AtomicUsize>,
    /// The most SCIM requests served at once since the start or the last `clear_requests`
    /// (tests check that a client overlaps its reads, or does not).
    peak_in_flight: Arc<AtomicUsize>,
    /// Bytes of generated bodies (`huge-body`) handed to the server so far.
    streamed: Arc<AtomicU64>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").finish_non_exhaustive()
    }
}

impl Emulator {
    /// A workspace seeded from `profile`, reading time from `clock`.
    pub fn new(profile: Profile, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Arc::new(Mutex::new(state::State::new(profile, clock))),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak_in_flight: Arc::new(AtomicUsize::new(0)),
            streamed: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        // A panic while holding the lock cannot leave the workspace half-written in a way tests
        // care about, so a poisoned lock is still used.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The HTTP router; `control` adds the `/_emulator/*` routes.
    pub fn router(&self, control: bool) -> axum::Router {
        axum::Router::new()
            .fallback(routes::dispatch)
            .with_state((self.clone(), control))
    }

    /// Serve on `listener` until the process ends.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        control: bool,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router(control)).await
    }

    /// Serve on a free loopback port in a background task.
    pub async fn spawn(self, control: bool) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let prefix = self.lock().prefix.clone();
        let task = tokio::spawn(self.serve(listener, control));
        Ok(Running { addr, prefix, task })
    }

    /// Add (or replace) a token owned by `owner_user_name`, who becomes a workspace owner.
    pub fn add_token(&self, token: &str, owner_user_name: &str) {
        self.lock().add_token(token, owner_user_name);
    }

    /// Revoke a token, as an owner clicking the trash icon would.
    pub fn revoke_token(&self, token: &str) {
        self.lock().revoke_token(token);
    }

    /// Add an account (member, removed member or guest); returns its id.
    pub fn seed_user(&self, user: SeedUser) -> String {
        self.lock().seed_user(&user)
    }

    /// Add a group (members by userName or id); returns its id.
    pub fn seed_group(&self, group: SeedGroup) -> String {
        self.lock().seed_group(&group)
    }

    /// Replace the switches.
    pub fn set_switches(&self, switches: Switches) {
        self.lock().switches = switches;
    }

    /// The current switches.
    pub fn switches(&self) -> Switches {
        self.lock().switches.clone()
    }

    /// Queue a fault.
    pub fn push_fault(&self, fault: Fault) {
        self.lock().push_fault(fault);
    }

    /// Turn random faults on (their draws start again from the seed) or off.
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        self.lock().set_chaos(chaos);
    }

    /// The random faults in force, if any.
    pub fn chaos(&self) -> Option<Chaos> {
        self.lock().chaos()
    }

    /// Set or clear the per-token rate limit (buckets start full).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.lock().set_rate_limit(limit);
    }

    /// Set or clear the workspace-wide request budget.
    pub fn set_workspace_budget(&self, budget: Option<WorkspaceBudget>) {
        self.lock().set_workspace_budget(budget);
    }

    /// Every request seen since the last clear, control routes excepted.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// Writes that reached a resource handler (past auth, rate limit and faults), whether it
    /// carried them out or refused them (a 409, a 404).
    pub fn write_count(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.is_write && r.handled)
            .count()
    }

    /// Writes the workspace carried out ([`RequestRecord::executed`]): each one counts, a
    /// repeat of the same PATCH too, and none refused (429, 5xx, 4xx) does.
    pub fn executed_writes(&self) -> usize {
        self.lock().requests.iter().filter(|r| r.executed).count()
    }

    /// Every member taken out of the workspace since the start, in order (not cleared by
    /// `clear_requests`).
    pub fn removals(&self) -> Vec<Removal> {
        self.lock().removals.clone()
    }

    /// Bytes of `huge-body` replies produced so far. Production follows the client's reading
    /// (plus what the sockets buffer), so this tells how much a client read before it stopped.
    pub fn streamed_bytes(&self) -> u64 {
        self.streamed.load(Ordering::SeqCst)
    }

    /// Forget the request log (and the peak of requests in flight).
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
        self.peak_in_flight
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// The most SCIM requests served at once since the start or the last `clear_requests`.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Accounts as stored (members and removed members; guests left out).
    pub fn members(&self) -> Vec<MemberView> {
        self.lock().member_views()
    }

    /// Groups as stored.
    pub fn groups(&self) -> Vec<GroupView> {
        self.lock().group_views()
    }

    /// Mark a group as the only full-access holder of a page, so DELETE is refused.
    pub fn set_sole_full_access(&self, group_id: &str, on: bool) {
        self.lock().set_sole_full_access(group_id, on);
    }
}

/// A served emulator; stops when dropped.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    prefix: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Base URL of the SCIM API, e.g. `http://127.0.0.1:PORT/scim/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.prefix)
    }

    /// Root URL (for `/_emulator/*`), e.g. `http://127.0.0.1:PORT`.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop serving.
    pub fn shutdown(self) {
        // Drop aborts the task.
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}
