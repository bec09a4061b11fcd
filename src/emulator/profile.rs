//! The emulator's profile: switches for every UNCONFIRMED Notion behaviour, the seed data, the
//! rate limit and the injected faults, read from TOML (`idbridge emulator --profile FILE`).
//!
//! Defaults are Notion's most likely behaviour; each switch names the section of docs/notion.md
//! that leaves the behaviour open ("unconfirmed" there). This file does no I/O.

use serde::{Deserialize, Serialize};

use super::Error;

/// Requests a token may send back to back in [`Profile::with_notion_traffic`]: Notion allows
/// "some bursts beyond the average" without saying how many.
pub const NOTION_BURST: u32 = 10;

/// The roles Notion's extension accepts (docs/notion.md, "Users").
pub const ROLES: [&str; 4] = ["owner", "membership_admin", "member", "restricted_member"];

/// Everything the emulator is started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Path prefix the SCIM routes live under (so every host style can be tested).
    pub prefix: String,
    /// Switches for UNCONFIRMED behaviours.
    pub switches: Switches,
    /// Token-bucket rate limit per token; none by default.
    pub rate_limit: Option<RateLimit>,
    /// A workspace-wide budget over a long window, shared by every token; none by default.
    pub workspace_budget: Option<WorkspaceBudget>,
    /// Tokens, users, groups and verified domains present at start.
    pub seed: Seed,
    /// Faults to inject, in order.
    pub faults: Vec<Fault>,
    /// Faults drawn at random on every SCIM request (`[chaos]`); off when absent.
    pub chaos: Option<Chaos>,
    /// Seed of the RNG that makes ids and shuffles reproducible.
    pub rng_seed: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            prefix: "/scim/v2".to_owned(),
            switches: Switches::default(),
            rate_limit: None,
            workspace_budget: None,
            seed: Seed::default(),
            faults: Vec::new(),
            chaos: None,
            rng_seed: 0x1d_b1d6e,
        }
    }
}

impl Profile {
    /// This profile with Notion's traffic behaviour, which the sync tests run under: list order
    /// reshuffled on every call, and about 3 requests per second per token with bursts
    /// (docs/notion.md, "Errors and throttling": the public API's documented average; whether
    /// SCIM shares it is unconfirmed).
    pub fn with_notion_traffic(mut self) -> Self {
        self.switches.unstable_order = true;
        self.rate_limit = Some(RateLimit {
            per_second: 3.0,
            burst: NOTION_BURST,
        });
        self
    }

    /// Parse and check a profile written in TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        let profile: Profile = toml::from_str(text).map_err(|e| Error::Parse(e.to_string()))?;
        profile.validate()?;
        Ok(profile)
    }

    /// Check what serde cannot: roles, prefixes, group members and fault counts.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.prefix.is_empty() && (!self.prefix.starts_with('/') || self.prefix.ends_with('/'))
        {
            return Err(Error::Invalid(format!(
                "The prefix {:?} must start with '/' and must not end with '/'.",
                self.prefix
            )));
        }
        if let Some(limit) = &self.rate_limit {
            if limit.per_second.is_nan() || limit.per_second <= 0.0 || limit.burst == 0 {
                return Err(Error::Invalid(
                    "The rate limit needs per_second > 0 and burst >= 1.".to_owned(),
                ));
            }
        }
        for user in &self.seed.users {
            if user.user_name.trim().is_empty() {
                return Err(Error::Invalid(
                    "A seeded user has an empty user_name.".to_owned(),
                ));
            }
            if let Some(role) = user.role.as_deref() {
                if !role.is_empty() && !ROLES.contains(&role) {
                    return Err(Error::Invalid(format!(
                        "The seeded user {} has the unknown role {role:?}.",
                        user.user_name
                    )));
                }
            }
        }
        // A set, not a scan per member: a benchmark seeds 100,000 users and 2,000 groups.
        let members: std::collections::HashSet<String> = self
            .seed
            .users
            .iter()
            .filter(|u| u.active && !u.guest)
            .map(|u| u.user_name.to_ascii_lowercase())
            .collect();
        for group in &self.seed.groups {
            for member in &group.members {
                if !members.contains(&member.to_ascii_lowercase()) {
                    return Err(Error::Invalid(format!(
                        "The seeded group {} lists {member}, who is not a seeded active member.",
                        group.display_name
                    )));
                }
            }
        }
        for fault in &self.faults {
            if fault.nth == 0 {
                return Err(Error::Invalid(
                    "A fault's nth is 1-based; 0 never fires.".to_owned(),
                ));
            }
            if let Some(status) = fault.kind.status() {
                if !(200..=599).contains(&status) {
                    return Err(Error::Invalid(format!(
                        "A fault's status must be between 200 and 599, not {status}."
                    )));
                }
            }
        }
        if let Some(chaos) = &self.chaos {
            chaos.validate()?;
        }
        if let Some(budget) = &self.workspace_budget {
            if budget.requests == 0 || budget.window_secs == 0 {
                return Err(Error::Invalid(
                    "The workspace budget needs requests >= 1 and window_secs >= 1.".to_owned(),
                ));
            }
        }
        if self.switches.max_in_flight == Some(0) {
            return Err(Error::Invalid(
                "max_in_flight must be at least 1.".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Token-bucket budget per token.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Refill rate, in requests per second.
    pub per_second: f64,
    /// Bucket size: requests allowed back to back.
    pub burst: u32,
}

/// A fixed-window budget for the whole workspace, across tokens: once `requests` are spent, every
/// request is refused with 429 until the window ends, with a `Retry-After` that may be far
/// beyond a minute (Notion's public API has such a per-workspace budget: docs/notion.md,
/// "Errors and throttling").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceBudget {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window length, in seconds.
    pub window_secs: u64,
}

/// How a 429's `Retry-After` is written (RFC 9110 §10.2.3 allows both; Notion's public API
/// sends seconds, SCIM's form is unconfirmed: docs/notion.md, "Errors and throttling").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryAfterForm {
    /// Whole seconds.
    #[default]
    Seconds,
    /// An HTTP date (IMF-fixdate) at or after the moment the request may be sent again.
    HttpDate,
}

/// What `POST /Groups` does with a displayName another group has (UNCONFIRMED:
/// docs/notion.md, "Groups").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateGroup {
    /// A second group of that name is created: nothing says Notion's names are unique, so a
    /// client must look before it sends a create again.
    #[default]
    CreateSecond,
    /// 409 with `scimType: uniqueness`.
    Conflict,
}

/// What `POST /Users` does with an email that is already a workspace member (UNCONFIRMED:
/// docs/notion.md, "Creating, removing and re-adding").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePost {
    /// 409 with `scimType: uniqueness` (baton-notion's guess).
    #[default]
    Conflict,
    /// 200 with the existing user.
    ReturnExisting,
}

/// How a removed member looks afterwards (UNCONFIRMED:
/// docs/notion.md, "Creating, removing and re-adding").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovedUser {
    /// 404 on GET, left out of lists.
    #[default]
    NotFound,
    /// Still listed and returned, with `active: false`.
    Inactive,
}

/// The error body shape (UNCONFIRMED: docs/notion.md, "Errors and throttling").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorShape {
    /// RFC 7644 §3.12: `schemas`, `status` as a string, `scimType`, `detail`.
    #[default]
    Scim,
    /// Notion's public API: `object: "error"`, numeric `status`, `code`, `message`.
    Notion,
    /// Notion's admin API: `type: "error"`, `code`, numeric `status`, `message`.
    NotionAdmin,
}

/// What a `count` above 100 does (UNCONFIRMED: docs/notion.md, "Paging").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxCount {
    /// Serve at most 100.
    #[default]
    Clamp,
    /// 400 `invalidValue`.
    Reject,
}

/// One switch per UNCONFIRMED behaviour; `Default` is Notion's most likely behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Switches {
    /// POST of an email that is already a member.
    pub duplicate_post: DuplicatePost,
    /// Whether removed members vanish (404) or stay visible as inactive.
    pub removed_user: RemovedUser,
    /// Error body shape.
    pub error_shape: ErrorShape,
    /// Reshuffle list order on every list call (deterministic from the RNG).
    pub unstable_order: bool,
    /// After serving page 1 of an unfiltered `/Users` list, insert a member at the front.
    pub insert_during_read: bool,
    /// Re-adding a removed member by POST keeps its id (else it gets a new one).
    pub readd_keeps_id: bool,
    /// Store and return `externalId` (else it is dropped silently).
    pub keep_external_id: bool,
    /// Status for a missing, unknown or revoked token (401 or 403).
    pub auth_failure_status: u16,
    /// Status of a successful `POST` (201 or 200).
    pub create_status: u16,
    /// Status of a successful `DELETE` (204 or 200).
    pub delete_status: u16,
    /// What `count` > 100 does.
    pub max_count: MaxCount,
    /// Refuse name/email changes of users whose domain is not in `seed.verified_domains`
    /// (documented: docs/notion.md, "Verified domains"; on by default).
    pub verified_domains_only: bool,
    /// Status of that refusal.
    pub verified_domain_status: u16,
    /// Cap on members touched by one group PATCH (400 `tooMany` above it); off by default.
    pub group_members_per_patch_cap: Option<usize>,
    /// Status when a group holding sole full access to a page is deleted.
    pub group_delete_refused_status: u16,
    /// Status when the token's own owner is removed.
    pub owner_removal_status: u16,
    /// An unknown role value gives 400 (else it is stored as sent).
    pub reject_unknown_role: bool,
    /// `userName eq` is accepted as a `/Users` filter (Entra sends it).
    pub user_name_filter: bool,
    /// An unsupported filter gives 400 `invalidFilter` (else the filter is ignored).
    pub reject_unknown_filter: bool,
    /// `PATCH`/`PUT` with `active: true` on a removed member re-adds it (only reachable with
    /// `removed_user = "inactive"`, since removed members are 404 otherwise).
    pub patch_reactivates: bool,
    /// `GET /Schemas` answers (else 404).
    pub schemas_endpoint: bool,
    /// `Content-Type` of every response.
    pub response_content_type: String,
    /// List endpoints serve the first page whatever `startIndex` asks for (a broken server or
    /// proxy; the client must stop paging instead of reading page 1 forever).
    pub ignore_start_index: bool,
    /// Unfiltered lists report this `totalResults` instead of the true count (a lie).
    pub total_results: Option<u64>,
    /// More SCIM requests than this in flight at once are refused with 429 and `Retry-After: 1`
    /// (a concurrency limit; off by default).
    pub max_in_flight: Option<usize>,
    /// Each SCIM request takes this long to answer, so requests overlap as they would over a
    /// real network (0 by default).
    pub latency_millis: u64,
    /// How a 429 writes its `Retry-After`.
    pub retry_after_form: RetryAfterForm,
    /// PATCH ops in lowercase (`replace`, RFC 7644) are accepted (else 400 `invalidSyntax`).
    pub patch_op_lowercase: bool,
    /// PATCH ops in any other case (`Replace`, as Entra sends) are accepted (else 400
    /// `invalidSyntax`).
    pub patch_op_capitalized: bool,
    /// `add`/`replace` with a `path` are accepted (else 400 `invalidPath`).
    pub patch_path_form: bool,
    /// `add`/`replace` without a path and with an object value (Entra's
    /// `{"op": "Replace", "value": {"active": false}}`) are accepted (else 400 `invalidSyntax`).
    pub patch_value_object_form: bool,
    /// Members leave a group by a path filter, `members[value eq "id"]` (Okta's form; else 400
    /// `invalidPath`).
    pub member_removal_path_filter: bool,
    /// Members leave a group by `path: members` with a value list (Entra's form; else 400
    /// `invalidValue`).
    pub member_removal_value_list: bool,
    /// `POST /Groups` with a displayName already taken.
    pub duplicate_group_name: DuplicateGroup,
    /// `email eq` also matches secondary emails (else only the primary one, the userName).
    pub email_filter_secondary: bool,
    /// The `/Groups` `displayName eq` filter ignores case (else the case must match).
    pub group_filter_ignores_case: bool,
    /// How a person's name is kept: Notion's one merged name (the default) or every part as sent
    /// (docs/notion.md, "Users").
    pub name_model: NameModel,
    /// Attributes the workspace stores lowercased (a target that normalises case), by their name:
    /// a core attribute (`title`) or an enterprise one (`department`). None by default.
    pub lowercase_attributes: Vec<String>,
    /// Attributes the workspace does not store: accepted and dropped silently, as a target drops
    /// what it has no field for. None by default.
    pub drop_attributes: Vec<String>,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            duplicate_post: DuplicatePost::Conflict,
            removed_user: RemovedUser::NotFound,
            error_shape: ErrorShape::Scim,
            unstable_order: false,
            insert_during_read: false,
            readd_keeps_id: true,
            keep_external_id: true,
            auth_failure_status: 401,
            create_status: 201,
            delete_status: 204,
            max_count: MaxCount::Clamp,
            verified_domains_only: true,
            verified_domain_status: 403,
            group_members_per_patch_cap: None,
            group_delete_refused_status: 409,
            owner_removal_status: 403,
            reject_unknown_role: true,
            user_name_filter: true,
            reject_unknown_filter: true,
            patch_reactivates: true,
            schemas_endpoint: false,
            response_content_type: "application/scim+json".to_owned(),
            ignore_start_index: false,
            total_results: None,
            max_in_flight: None,
            latency_millis: 0,
            retry_after_form: RetryAfterForm::Seconds,
            patch_op_lowercase: true,
            patch_op_capitalized: true,
            patch_path_form: true,
            patch_value_object_form: true,
            member_removal_path_filter: true,
            member_removal_value_list: true,
            duplicate_group_name: DuplicateGroup::CreateSecond,
            email_filter_secondary: false,
            group_filter_ignores_case: false,
            name_model: NameModel::Single,
            lowercase_attributes: Vec::new(),
            drop_attributes: Vec::new(),
        }
    }
}

/// How the workspace keeps a person's name (docs/notion.md, "Users").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameModel {
    /// Notion's one name field: `name.formatted`, else `givenName` and `familyName` joined, make
    /// one name; `displayName` is always that name (the userName when there is none), a
    /// `displayName` sent is not a name and is dropped, `formatted` is never returned and the
    /// name comes back re-split on its first whitespace (`Mary Ann` + `Smith` reads back as
    /// `Mary` + `Ann Smith`).
    #[default]
    Single,
    /// `givenName`, `familyName`, `formatted` and `displayName` stored and returned as sent.
    AsSent,
}

/// Data present when the emulator starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seed {
    /// Bearer tokens and the owner each belongs to.
    pub tokens: Vec<SeedToken>,
    /// Accounts: members, owners, removed members, guests.
    pub users: Vec<SeedUser>,
    /// Groups, with members named by userName.
    pub groups: Vec<SeedGroup>,
    /// Email domains the organization has verified (for `verified_domains_only`).
    pub verified_domains: Vec<String>,
}

/// The domain an organization has verified when a profile names none: `example.com`, the
/// documentation domain, so a workspace seeded with another domain refuses its name and email
/// changes until the profile verifies that domain too.
pub const DEFAULT_VERIFIED_DOMAIN: &str = "example.com";

impl Default for Seed {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            users: Vec::new(),
            groups: Vec::new(),
            verified_domains: vec![DEFAULT_VERIFIED_DOMAIN.to_owned()],
        }
    }
}

/// A token and the workspace owner who created it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedToken {
    /// The bearer token.
    pub token: String,
    /// userName of its owner; made a workspace owner if needed.
    pub owner: String,
}

/// One account to seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeedUser {
    /// Email, used as userName.
    pub user_name: String,
    /// `name.givenName`.
    pub given_name: Option<String>,
    /// `name.familyName`.
    pub family_name: Option<String>,
    /// `name.formatted`; left out by default, as on some real accounts (docs/notion.md, "Users").
    pub formatted: Option<String>,
    /// Notion role; `None` (or `""` in TOML) means no Notion extension object at all
    /// (docs/notion.md, "Users").
    pub role: Option<String>,
    /// In the workspace; `false` seeds a removed member (a known global account).
    pub active: bool,
    /// A guest: never listed nor returned (docs/notion.md, "Creating, removing and re-adding").
    pub guest: bool,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// Secondary email addresses, besides userName.
    pub secondary_emails: Vec<String>,
    /// A fixed id; generated from the RNG when absent.
    pub id: Option<String>,
}

impl Default for SeedUser {
    fn default() -> Self {
        Self {
            user_name: String::new(),
            given_name: None,
            family_name: None,
            formatted: None,
            role: Some("member".to_owned()),
            active: true,
            guest: false,
            external_id: None,
            title: None,
            secondary_emails: Vec::new(),
            id: None,
        }
    }
}

impl SeedUser {
    /// A member with that email and names, role `member`.
    pub fn member(user_name: &str, given_name: &str, family_name: &str) -> Self {
        Self {
            user_name: user_name.to_owned(),
            given_name: Some(given_name.to_owned()),
            family_name: Some(family_name.to_owned()),
            ..Self::default()
        }
    }
}

/// One group to seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeedGroup {
    /// `displayName`.
    pub display_name: String,
    /// Members by userName (or by id when seeded through the API).
    pub members: Vec<String>,
    /// The only full-access holder of some page: DELETE is refused.
    pub sole_full_access: bool,
    /// `externalId`.
    pub external_id: Option<String>,
    /// A fixed id; generated from the RNG when absent.
    pub id: Option<String>,
}

/// Faults drawn at random, each SCIM request on its own, from an RNG seeded with `seed`: a
/// target that misbehaves all the time rather than once (docs/notion.md, "The emulator's faults
/// and chaos"). The draws are replayable in the order
/// requests arrive; requests sent concurrently may arrive in another order from run to run.
///
/// A request is refused with 429 (`throttle`), else with a 5xx (`server_error`: 500, 503 or 529,
/// without doing the work), else served; a served request may then lose its reply
/// (`commit_then_drop`: the work is done and the reply breaks off) and, on its own draw, answer
/// late (`slow`). `reorder` is the share of list calls that see the users in a new order, which
/// the calls after it keep until the next change: a paged read that spans a change skips some
/// users and sees others twice, while every page still adds up on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Chaos {
    /// Seed of the draws.
    pub seed: u64,
    /// Share of requests refused with 429 and `Retry-After`.
    pub throttle: f64,
    /// The 429's `Retry-After`, in seconds (0 asks the client for its own backoff).
    pub retry_after_secs: u64,
    /// Share of requests refused with 500, 503 or 529, without doing the work.
    pub server_error: f64,
    /// Share of served requests whose reply is lost after the work is done.
    pub commit_then_drop: f64,
    /// Share of served requests answered `slow_millis` late.
    pub slow: f64,
    /// How late a slow reply is.
    pub slow_millis: u64,
    /// Share of list calls that come with a new order.
    pub reorder: f64,
}

impl Default for Chaos {
    fn default() -> Self {
        Self {
            seed: 0xc4a0_5eed,
            throttle: 0.0,
            retry_after_secs: 1,
            server_error: 0.0,
            commit_then_drop: 0.0,
            slow: 0.0,
            slow_millis: 200,
            reorder: 0.0,
        }
    }
}

impl Chaos {
    /// The misbehaving target of the crash soak (docs/reliability.md, "Crash soak"): half the
    /// requests throttled with `Retry-After: 1`, a tenth refused with a 5xx, one in twenty served
    /// replies lost, one in twenty slow by 300 ms, and one list call in fifty in a new order.
    pub fn soak(seed: u64) -> Self {
        Self {
            seed,
            throttle: 0.5,
            retry_after_secs: 1,
            server_error: 0.1,
            commit_then_drop: 0.05,
            slow: 0.05,
            slow_millis: 300,
            reorder: 0.02,
        }
    }

    /// Shares are probabilities, and the two refusals share one draw.
    pub fn validate(&self) -> Result<(), Error> {
        let shares = [
            ("throttle", self.throttle),
            ("server_error", self.server_error),
            ("commit_then_drop", self.commit_then_drop),
            ("slow", self.slow),
            ("reorder", self.reorder),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(Error::Invalid(format!(
                    "chaos.{name} is a probability between 0 and 1, not {share}."
                )));
            }
        }
        if self.throttle + self.server_error > 1.0 {
            return Err(Error::Invalid(format!(
                "chaos.throttle + chaos.server_error is {}: a request is refused one way at \
                 most, so they must add up to 1 or less.",
                self.throttle + self.server_error
            )));
        }
        Ok(())
    }
}

/// A fault that fires once, on the `nth` request matching `method` and `path_prefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// 1-based count of matching requests.
    pub nth: u64,
    /// HTTP method to match (any when absent), case-insensitive.
    #[serde(default)]
    pub method: Option<String>,
    /// Matches when the full path, or the path after the prefix, starts with it (any when absent).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// What happens.
    pub kind: FaultKind,
}

/// The kinds of injected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultKind {
    /// 500 without doing the work.
    Status500,
    /// 503 without `Retry-After`, without doing the work.
    Status503,
    /// 529 (Notion's `service_overload`) without `Retry-After`, without doing the work.
    Status529,
    /// 429 with `Retry-After`, without doing the work.
    Status429 {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Do the work, then send a reply whose body breaks off (the client sees a transport error).
    CommitThenDrop,
    /// Do the work, then sleep before answering (past a client timeout).
    Stall {
        /// How long to sleep.
        millis: u64,
    },
    /// A list page whose `totalResults` does not match the resources returned.
    TruncatedPage,
    /// Do the work, then revoke the token that sent the request (an owner revoking it at that
    /// very moment), then sleep before answering, so the call is still in flight while later
    /// calls are refused.
    CommitThenRevoke {
        /// How long to sleep before answering.
        stall_millis: u64,
    },
    /// Answer with a body of `bytes` bytes, generated as it is sent (never held in memory),
    /// without doing the work: the start of a SCIM list (or of an error for non-2xx statuses)
    /// and then padding that never ends the JSON.
    HugeBody {
        /// HTTP status of the reply.
        status: u16,
        /// Body length.
        bytes: u64,
        /// Announce the length in `Content-Length` (else the body is chunked).
        #[serde(default)]
        content_length: bool,
    },
    /// Answer with a body that echoes the request's `Authorization` header back, as is and
    /// encoded (base64 of the token, of the header and of `:token`, standard and URL-safe;
    /// percent-encoded; JSON `\u` escapes), without doing the work.
    EchoAuth {
        /// HTTP status of the reply.
        status: u16,
        /// A SCIM error document (the echo in `detail`); else plain text.
        #[serde(default)]
        json: bool,
    },
}

impl FaultKind {
    /// The kind's name as a profile spells it (`status429`, `commit-then-drop`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Status500 => "status500",
            FaultKind::Status503 => "status503",
            FaultKind::Status529 => "status529",
            FaultKind::Status429 { .. } => "status429",
            FaultKind::CommitThenDrop => "commit-then-drop",
            FaultKind::Stall { .. } => "stall",
            FaultKind::TruncatedPage => "truncated-page",
            FaultKind::CommitThenRevoke { .. } => "commit-then-revoke",
            FaultKind::HugeBody { .. } => "huge-body",
            FaultKind::EchoAuth { .. } => "echo-auth",
        }
    }

    /// The status of a fault that sets one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FaultKind::HugeBody { status, .. } | FaultKind::EchoAuth { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Over 80 lines: one TOML profile naming every key, and the struct it must parse into.
    #[test]
    fn parses_a_full_profile() {
        let text = r#"
prefix = "/scim/v2"
rng_seed = 7
[switches]
removed_user = "inactive"
error_shape = "notion"
auth_failure_status = 403
[rate_limit]
per_second = 3.0
burst = 5
[seed]
verified_domains = ["example.com"]
[[seed.tokens]]
token = "t1"
owner = "boss@example.com"
[[seed.users]]
user_name = "ada@example.com"
given_name = "Ada"
[[seed.users]]
user_name = "noext@example.com"
role = ""
[[seed.groups]]
display_name = "Eng"
members = ["ada@example.com"]
[[faults]]
nth = 2
method = "POST"
path_prefix = "/Users"
kind = { type = "status429", retry_after_secs = 3 }
[[faults]]
nth = 1
kind = { type = "commit-then-drop" }
[[faults]]
nth = 1
kind = { type = "huge-body", status = 200, bytes = 1000000 }
[[faults]]
nth = 1
kind = { type = "echo-auth", status = 400, json = true }
"#;
        let p = Profile::from_toml_str(text).unwrap();
        assert_eq!(p.switches.removed_user, RemovedUser::Inactive);
        assert_eq!(p.switches.error_shape, ErrorShape::Notion);
        assert_eq!(p.switches.auth_failure_status, 403);
        assert!(p.switches.readd_keeps_id);
        assert_eq!(p.seed.users[0].role.as_deref(), Some("member"));
        assert_eq!(p.seed.users[1].role.as_deref(), Some(""));
        assert_eq!(
            p.faults[0].kind,
            FaultKind::Status429 {
                retry_after_secs: 3
            }
        );
        assert_eq!(p.faults[1].kind, FaultKind::CommitThenDrop);
        assert_eq!(
            p.faults[2].kind,
            FaultKind::HugeBody {
                status: 200,
                bytes: 1_000_000,
                content_length: false
            }
        );
        assert_eq!(p.faults[3].kind.status(), Some(400));
        let strict = "workspace_budget = { requests = 100, window_secs = 3600 }\n[switches]\n\
             error_shape = \"notion-admin\"\nretry_after_form = \"http-date\"\n\
             duplicate_group_name = \"conflict\"\npatch_op_capitalized = false\n";
        let p = Profile::from_toml_str(strict).unwrap();
        assert_eq!(
            p.workspace_budget,
            Some(WorkspaceBudget {
                requests: 100,
                window_secs: 3600
            })
        );
        assert_eq!(p.switches.error_shape, ErrorShape::NotionAdmin);
        assert_eq!(p.switches.retry_after_form, RetryAfterForm::HttpDate);
        assert_eq!(p.switches.duplicate_group_name, DuplicateGroup::Conflict);
        assert!(!p.switches.patch_op_capitalized && p.switches.patch_op_lowercase);
        assert!(
            Profile::from_toml_str("workspace_budget = { requests = 0, window_secs = 1 }").is_err()
        );
        let bad = "[[faults]]\nnth = 1\nkind = { type = \"echo-auth\", status = 99 }";
        assert!(Profile::from_toml_str(bad).is_err());
        assert!(Profile::from_toml_str("[switches]\nmax_in_flight = 0").is_err());
    }

    #[test]
    fn reads_chaos_and_refuses_shares_that_are_not_probabilities() {
        let text = "[chaos]\nseed = 3\nthrottle = 0.5\nserver_error = 0.1\n\
                    commit_then_drop = 0.05\nslow = 0.05\nslow_millis = 300\nreorder = 0.02\n";
        let p = Profile::from_toml_str(text).unwrap();
        assert_eq!(p.chaos, Some(Chaos::soak(3)));
        let partial = Profile::from_toml_str("[chaos]\nthrottle = 0.2").unwrap();
        let chaos = partial.chaos.unwrap();
        assert_eq!((chaos.throttle, chaos.retry_after_secs), (0.2, 1));
        assert_eq!(chaos.server_error, 0.0);
        assert!(Profile::from_toml_str("[chaos]\nslow = 1.5").is_err());
        assert!(Profile::from_toml_str("[chaos]\nthrottle = -0.1").is_err());
        assert!(Profile::from_toml_str("[chaos]\nthrottle = 0.7\nserver_error = 0.4").is_err());
        assert!(Profile::from_toml_str("[chaos]\nnope = 1").is_err());
        assert_eq!(Profile::default().chaos, None);
    }

    #[test]
    fn rejects_unknown_keys_roles_and_members() {
        assert!(Profile::from_toml_str("bogus = 1").is_err());
        assert!(Profile::from_toml_str("[switches]\nnope = true").is_err());
        let bad_role = "[[seed.users]]\nuser_name = \"a@x.com\"\nrole = \"king\"";
        assert!(Profile::from_toml_str(bad_role).is_err());
        let bad_member = "[[seed.groups]]\ndisplay_name = \"G\"\nmembers = [\"z@x.com\"]";
        assert!(Profile::from_toml_str(bad_member).is_err());
        assert!(Profile::from_toml_str("prefix = \"scim\"").is_err());
    }
}
