//! Apply against an in-memory target ([`Memory`], a [`TargetWrite`] that records every call and
//! fails the calls a test scripts), with a real store (SQLite in a temporary folder): links and
//! the journal are what a run leaves behind.

use super::*;
use crate::clock::FixedClock;
use crate::model::{Attr, ScimId, SourceKey, UserAttrs, UserName};
use crate::plan::{
    Change, CreateUser, DeactivateMode, DeactivateUser, DeleteGroup, PatchUser, ReaddUser,
    TargetRef, Watch,
};
use crate::scim::{
    self, wire, CreateOutcome, GroupRead, Profile, TargetRead, TargetWrite, UserRead,
};
use crate::store::{LinkKind, LinkOrigin, NewRun, OperationStatus, RunOrigin, RunTrigger};
use chrono::TimeZone;
use std::collections::BTreeMap;

/// What the in-memory target holds and has been asked.
#[derive(Default)]
struct State {
    /// Every call, in order, e.g. `create-user ada@x.test`, `set-active u1 false`, `probe`.
    calls: Vec<String>,
    /// Calls (as recorded) that fail, with their error.
    failures: BTreeMap<String, scim::Error>,
    /// The token check is refused.
    token_dead: bool,
    next_id: u32,
}

/// An in-memory [`TargetWrite`].
#[derive(Clone)]
struct Memory {
    profile: Profile,
    state: Arc<Mutex<State>>,
}

impl Memory {
    fn new(profile: Profile) -> Self {
        Memory {
            profile,
            state: Arc::default(),
        }
    }

    /// Make `call` fail with `error`.
    fn fail(&self, call: &str, error: scim::Error) {
        self.lock().failures.insert(call.to_owned(), error);
    }

    fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Record `call`; its scripted failure, if any.
    fn call(&self, call: String) -> scim::Result<()> {
        let mut state = self.lock();
        state.calls.push(call.clone());
        match state.failures.get(&call) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn new_id(&self) -> String {
        let mut state = self.lock();
        state.next_id += 1;
        format!("u{}", state.next_id)
    }
}

impl TargetRead for Memory {
    fn profile(&self) -> &Profile {
        &self.profile
    }

    async fn probe(&self) -> scim::Result<()> {
        self.call("probe".into())?;
        if self.lock().token_dead {
            return Err(unauthorized("GET", "/Users"));
        }
        Ok(())
    }

    async fn read_users(&self) -> scim::Result<UserRead> {
        self.call("read-users".into())?;
        Ok(UserRead {
            users: Vec::new(),
            consistent: true,
            problems: Vec::new(),
            attempts: 1,
        })
    }

    async fn read_groups(&self) -> scim::Result<GroupRead> {
        self.call("read-groups".into())?;
        Ok(GroupRead {
            groups: Vec::new(),
            consistent: true,
            problems: Vec::new(),
            attempts: 1,
        })
    }

    async fn get_user(&self, id: &ScimId) -> scim::Result<Option<wire::User>> {
        self.call(format!("get-user {id}"))?;
        Ok(None)
    }

    async fn get_group(&self, id: &ScimId) -> scim::Result<Option<wire::Group>> {
        self.call(format!("get-group {id}"))?;
        Ok(None)
    }

    async fn find_user(&self, user_name: &str) -> scim::Result<Option<wire::User>> {
        self.call(format!("find-user {user_name}"))?;
        Ok(None)
    }

    async fn find_group(&self, display_name: &str) -> scim::Result<Option<wire::Group>> {
        self.call(format!("find-group {display_name}"))?;
        Ok(None)
    }
}

impl TargetWrite for Memory {
    async fn create_user(&self, attrs: &UserAttrs) -> scim::Result<(wire::User, CreateOutcome)> {
        let name = attrs.get(&Attr::UserName).unwrap_or_default().to_owned();
        self.call(format!("create-user {name}"))?;
        let user = wire::User {
            id: self.new_id(),
            user_name: name,
            ..wire::User::default()
        };
        Ok((user, CreateOutcome::Created))
    }

    async fn patch_user(
        &self,
        id: &ScimId,
        _changes: &[(Attr, Option<String>)],
    ) -> scim::Result<Option<wire::User>> {
        self.call(format!("patch-user {id}"))?;
        Ok(None)
    }

    async fn set_active(&self, id: &ScimId, active: bool) -> scim::Result<()> {
        self.call(format!("set-active {id} {active}"))
    }

    async fn delete_user(&self, id: &ScimId) -> scim::Result<()> {
        self.call(format!("delete-user {id}"))
    }

    async fn create_group(
        &self,
        display_name: &str,
        _member_ids: &[ScimId],
    ) -> scim::Result<wire::Group> {
        self.call(format!("create-group {display_name}"))?;
        Ok(wire::Group {
            id: self.new_id(),
            display_name: display_name.to_owned(),
            ..wire::Group::default()
        })
    }

    async fn patch_group_members(
        &self,
        id: &ScimId,
        add: &[ScimId],
        remove: &[ScimId],
        _batch: usize,
    ) -> scim::Result<()> {
        self.call(format!(
            "patch-members {id} +{} -{}",
            add.len(),
            remove.len()
        ))
    }

    async fn rename_group(&self, id: &ScimId, display_name: &str) -> scim::Result<()> {
        self.call(format!("rename-group {id} {display_name}"))
    }

    async fn delete_group(&self, id: &ScimId) -> scim::Result<()> {
        self.call(format!("delete-group {id}"))
    }
}

fn unauthorized(method: &str, path: &str) -> scim::Error {
    scim::Error::Unauthorized {
        method: method.into(),
        path: path.into(),
        status: 401,
        detail: None,
        advice: "update the file /t".into(),
    }
}

fn forbidden(path: &str) -> scim::Error {
    scim::Error::Forbidden {
        method: "PATCH".into(),
        path: path.into(),
        status: 403,
        scim_type: None,
        detail: "not in a verified domain".into(),
    }
}

fn key(id: &str) -> SourceKey {
    SourceKey::new("hr", id)
}

fn change(attr: Attr, after: &str) -> Change {
    Change {
        attr: attr.path().into(),
        before: None,
        after: Some(after.into()),
    }
}

fn create(name: &str, id: &str) -> Op {
    Op::CreateUser(CreateUser {
        user_name: UserName::new(name),
        source_key: key(id),
        reason: "hr: new hire".into(),
        changes: vec![change(Attr::UserName, name)],
    })
}

fn patch(name: &str, id: &str, scim_id: &str) -> Op {
    Op::PatchUser(PatchUser {
        user_name: UserName::new(name),
        scim_id: ScimId::from(scim_id),
        source_key: key(id),
        reason: "hr: title changed".into(),
        changes: vec![change(Attr::Title, "Lead")],
    })
}

fn deactivate(name: &str, id: &str, scim_id: &str) -> Op {
    Op::DeactivateUser(DeactivateUser {
        user_name: UserName::new(name),
        scim_id: ScimId::from(scim_id),
        source_key: key(id),
        reason: "hr: terminated".into(),
        changes: Vec::new(),
    })
}

fn plan(operations: Vec<Op>) -> Plan {
    Plan {
        version: crate::plan::PLAN_VERSION,
        generated_at: "2026-03-01T00:00:00Z".into(),
        target: TargetRef {
            kind: "scim".into(),
            url: "http://target.test/scim/v2".into(),
            name: "test".into(),
        },
        source_digest: String::new(),
        target_digest: String::new(),
        plan_digest: None,
        watch: Watch::default(),
        blocked: false,
        summary: BTreeMap::new(),
        operations,
        findings: Vec::new(),
        gates: Vec::new(),
        absence: Default::default(),
    }
}

/// A fresh store in `dir` and a run in it.
async fn store(dir: &tempfile::TempDir, clock: &dyn Clock) -> (Store, RunId) {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let run = store
        .start_run(&NewRun {
            kind: "test".into(),
            target_name: "test".into(),
            started_at: clock.now(),
            plan_sha256: None,
            origin: RunOrigin {
                trigger: RunTrigger::Sync,
                host: "host".into(),
                os_user: "tester".into(),
            },
            upcoming_json: None,
        })
        .await
        .unwrap();
    (store, run)
}

/// What a test run leaves: the outcome, and the store with the folder that holds it.
struct Ran {
    outcome: Outcome,
    store: Store,
    _dir: tempfile::TempDir,
}

/// Apply `plan` to `target` with a fresh store.
async fn run(target: &Memory, plan: &Plan) -> Ran {
    run_until(target, plan, None).await
}

/// [`run`], with the stop flag apply reads before each operation.
async fn run_until(target: &Memory, plan: &Plan, stop: Option<Arc<AtomicBool>>) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
    ));
    let (store, run_id) = store(&dir, clock.as_ref()).await;
    let opts = Options {
        target_name: "test".into(),
        deactivate: DeactivateMode::ActiveFalse,
        batch_size: 100,
        concurrency: 2,
        stop,
    };
    let outcome = apply(plan, target, &store, clock, run_id, opts)
        .await
        .unwrap();
    Ran {
        outcome,
        store,
        _dir: dir,
    }
}

#[tokio::test]
async fn after_a_stop_no_operation_starts_and_each_is_journaled_skipped() {
    let target = Memory::new(Profile::notion());
    let stop = Arc::new(AtomicBool::new(true));
    let ops = vec![create("ada@x.test", "E1"), create("bob@x.test", "E2")];
    let Ran {
        outcome,
        store,
        _dir,
    } = run_until(&target, &plan(ops), Some(stop)).await;
    assert!(target.calls().is_empty(), "{:?}", target.calls());
    assert_eq!(outcome.count(Status::Skipped), 2, "{outcome:?}");
    let journal = store.operations(RunId(outcome.run_id)).await.unwrap();
    assert_eq!(journal.len(), 2);
    for entry in &journal {
        assert_eq!(entry.status, OperationStatus::Skipped, "{entry:?}");
        assert!(entry
            .skip_reason
            .as_deref()
            .unwrap_or("")
            .contains("SIGTERM"));
    }
}

#[tokio::test]
async fn a_create_is_linked_under_its_source_key_and_journaled_done() {
    let target = Memory::new(Profile::notion());
    let Ran {
        outcome,
        store,
        _dir,
    } = run(&target, &plan(vec![create("ada@x.test", "E1")])).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(outcome.results[0].scim_id.as_deref(), Some("u1"));
    assert_eq!(target.calls(), ["create-user ada@x.test"]);
    let links = store.links("test").await.unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    let link = &links[0];
    assert_eq!(
        (link.kind, &link.key, link.scim_id.0.as_str(), link.origin),
        (LinkKind::User, &key("E1"), "u1", LinkOrigin::Created)
    );
    let journal = store.operations(RunId(outcome.run_id)).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].status, OperationStatus::Done);
    assert_eq!(journal[0].scim_id.as_deref(), Some("u1"));
    assert_eq!(journal[0].reason.as_deref(), Some("hr: new hire"));
}

#[tokio::test]
async fn a_refused_write_fails_alone_and_the_deactivation_still_runs() {
    let target = Memory::new(Profile::notion());
    target.fail("patch-user u7", forbidden("/Users/u7"));
    let ops = vec![
        patch("bo@x.test", "E2", "u7"),
        deactivate("cy@x.test", "E3", "u8"),
    ];
    let Ran {
        outcome,
        store,
        _dir,
    } = run(&target, &plan(ops)).await;
    assert_eq!(outcome.halted, None);
    let statuses: Vec<Status> = outcome.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Status::Failed, Status::Done]);
    let detail = outcome.results[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("not in a verified domain"), "{detail}");
    assert!(!outcome.results[0].environment);
    // One token check, after the refusal and before the deactivation.
    assert_eq!(
        target.calls(),
        ["patch-user u7", "probe", "set-active u8 false"]
    );
    let journal = store.operations(RunId(outcome.run_id)).await.unwrap();
    assert_eq!(journal[0].status, OperationStatus::Failed);
    assert_eq!(journal[0].http_status, Some(403));
    assert_eq!(journal[1].status, OperationStatus::Done);
}

#[tokio::test]
async fn a_rejected_token_halts_every_later_write() {
    let target = Memory::new(Profile::notion());
    target.fail("patch-user u7", unauthorized("PATCH", "/Users/u7"));
    let ops = vec![
        patch("bo@x.test", "E2", "u7"),
        deactivate("cy@x.test", "E3", "u8"),
    ];
    let Ran {
        outcome,
        store,
        _dir,
    } = run(&target, &plan(ops)).await;
    let halted = outcome.halted.as_deref().unwrap_or_default();
    assert!(halted.contains("token was rejected"), "{halted}");
    let statuses: Vec<Status> = outcome.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Status::Failed, Status::Skipped]);
    assert_eq!(
        target.calls(),
        ["patch-user u7"],
        "no deactivation was sent"
    );
    let journal = store.operations(RunId(outcome.run_id)).await.unwrap();
    assert_eq!(journal[1].status, OperationStatus::Skipped);
}

#[tokio::test]
async fn a_refusal_the_token_check_confirms_halts_the_run() {
    let target = Memory::new(Profile::notion());
    target.fail("patch-user u7", forbidden("/Users/u7"));
    target.lock().token_dead = true;
    let ops = vec![
        patch("bo@x.test", "E2", "u7"),
        deactivate("cy@x.test", "E3", "u8"),
    ];
    let Ran { outcome, .. } = run(&target, &plan(ops)).await;
    assert!(outcome.halted.is_some(), "{outcome:?}");
    assert_eq!(outcome.results[1].status, Status::Skipped);
    assert_eq!(target.calls(), ["patch-user u7", "probe"]);
}

fn delete_group(name: &str) -> Op {
    Op::DeleteGroup(DeleteGroup {
        display_name: name.into(),
        scim_id: ScimId::from("g1"),
        source_key: SourceKey::new("corp", "team-gone"),
        reason: "corp: the group is gone".into(),
    })
}

fn conflict() -> scim::Error {
    scim::Error::Api {
        method: "DELETE".into(),
        path: "/Groups/g1".into(),
        status: 409,
        scim_type: None,
        detail: "the group cannot be deleted".into(),
    }
}

/// Only the Notion profile explains a refused group delete with Notion's rule; a plain SCIM
/// target's message names the group and never Notion.
#[tokio::test]
async fn a_refused_group_delete_is_explained_in_the_target_profile_words() {
    for (profile, notion) in [(Profile::scim(), false), (Profile::notion(), true)] {
        let target = Memory::new(profile);
        target.fail("delete-group g1", conflict());
        let Ran { outcome, .. } = run(&target, &plan(vec![delete_group("team-gone")])).await;
        let result = &outcome.results[0];
        assert_eq!(result.status, Status::Failed);
        let detail = result.detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("the target refused to delete group `team-gone`"),
            "{detail}"
        );
        assert_eq!(detail.contains("Notion"), notion, "{detail}");
        assert_eq!(
            detail.contains("only full-access holder of a page"),
            notion,
            "{detail}"
        );
    }
}

/// A returning person: a plain SCIM service switches the kept user back on; Notion re-adds by
/// POST (its profile says so, not the kind of target).
#[tokio::test]
async fn a_readd_follows_the_profile() {
    let readd = Op::ReaddUser(ReaddUser {
        user_name: UserName::new("di@x.test"),
        scim_id: Some(ScimId::from("u9")),
        source_key: key("E4"),
        reason: "hr: rehired".into(),
        changes: vec![change(Attr::UserName, "di@x.test")],
        former_user_name: None,
        confirmation: None,
    });
    let scim = Memory::new(Profile::scim());
    let Ran { outcome, .. } = run(&scim, &plan(vec![readd.clone()])).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(scim.calls(), ["set-active u9 true", "patch-user u9"]);
    let notion = Memory::new(Profile::notion());
    let Ran { outcome, .. } = run(&notion, &plan(vec![readd])).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(notion.calls(), ["create-user di@x.test"]);
}

/// A person who returns with a new email is re-added by their former one, so a target that
/// re-adds by create finds their old account; the new email is patched right after, and the link
/// history keeps both names with the run.
#[tokio::test]
async fn a_readd_under_a_new_email_names_the_former_one_then_patches() {
    let readd = Op::ReaddUser(ReaddUser {
        user_name: UserName::new("di.new@x.test"),
        scim_id: None,
        source_key: key("E4"),
        reason: "hr: rehired".into(),
        changes: vec![
            change(Attr::UserName, "di.new@x.test"),
            change(Attr::Email, "di.new@x.test"),
            change(Attr::Title, "Lead"),
        ],
        former_user_name: Some(UserName::new("di@x.test")),
        confirmation: None,
    });
    let notion = Memory::new(Profile::notion());
    // `_dir` bound, not `..`: the store's folder must outlive the reads below (dropped, it took
    // the database file with it, and a new pooled connection could not open it: a flaky CI run).
    let Ran {
        outcome,
        store,
        _dir,
    } = run(&notion, &plan(vec![readd])).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let calls = notion.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0], "create-user di@x.test");
    assert!(calls[1].starts_with("patch-user "), "{calls:?}");
    let links = store.links("test").await.unwrap();
    assert_eq!(links[0].user_name, "di.new@x.test");
    let history = store
        .link_history("test", crate::store::LinkKind::User)
        .await
        .unwrap();
    let names: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|h| {
            (
                h.after.as_ref().unwrap().user_name.as_str(),
                h.before.as_ref().map(|b| b.user_name.as_str()),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("di@x.test", None), ("di.new@x.test", Some("di@x.test"))]
    );
    assert!(history
        .iter()
        .all(|h| h.run_id == Some(crate::store::RunId(outcome.run_id))));
}
