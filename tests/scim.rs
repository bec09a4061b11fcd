//! Integration tests: the SCIM client against the Notion emulator over loopback HTTP.
//!
//! Each test starts its own emulator, so faults and switches never leak between tests. Retry delays
//! are kept tiny; Retry-After tests allow the emulator's 1 s.

// Setup helpers are not `#[test]` functions, so clippy's test exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idbridge::clock::SystemClock;
use idbridge::emulator::{
    DuplicatePost, Emulator, ErrorShape, Fault, FaultKind, Profile as EmuProfile, RateLimit,
    SeedUser, Switches,
};
use idbridge::model::{Attr, ScimId, UserAttrs};
use idbridge::scim::{
    ClientSettings, CreateOutcome, Error, Profile, TargetRead, TargetWrite, Writer,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// A token string that must never show up in any error text or debug output.
const TOKEN: &str = "tok-canary-5be1d0c3a9";
const OWNER: &str = "owner@example.com";

struct Setup {
    emu: Emulator,
    client: Writer,
    // Keeps the server alive for the test's duration.
    _running: idbridge::emulator::Running,
}

fn settings(base: &str, token: &str) -> ClientSettings {
    let mut s = ClientSettings::new(url::Url::parse(base).unwrap(), SecretString::from(token));
    s.rate_limit = None;
    s.timeout = Duration::from_secs(5);
    s.max_retries = 5;
    s.max_retry_after = Duration::from_secs(5);
    s.backoff_base = Duration::from_millis(2);
    s.backoff_max = Duration::from_millis(20);
    s.page_size = 100;
    s
}

impl Setup {
    fn client_base(&self) -> String {
        self._running.base_url().to_string()
    }
}

async fn setup_with(emu: Emulator, tweak: impl FnOnce(&mut ClientSettings)) -> Setup {
    emu.add_token(TOKEN, OWNER);
    let running = emu.clone().spawn(false).await.unwrap();
    let mut s = settings(&running.base_url().to_string(), TOKEN);
    tweak(&mut s);
    let client = Writer::new(s, Profile::notion(), Arc::new(SystemClock)).unwrap();
    Setup {
        emu,
        client,
        _running: running,
    }
}

async fn setup() -> Setup {
    setup_with(
        Emulator::new(EmuProfile::default(), Arc::new(SystemClock)),
        |_| {},
    )
    .await
}

fn seed(emu: &Emulator, n: usize) {
    for i in 0..n {
        emu.seed_user(SeedUser {
            user_name: format!("user{i:03}@example.com"),
            ..SeedUser::default()
        });
    }
}

fn person(email: &str) -> UserAttrs {
    let mut attrs = UserAttrs::new();
    attrs.insert(Attr::UserName, email.to_owned());
    attrs.insert(Attr::Email, email.to_owned());
    attrs.insert(Attr::GivenName, "Ada".to_owned());
    attrs.insert(Attr::FamilyName, "Lovelace".to_owned());
    attrs
}

/// How many active workspace members have this userName (must never exceed 1).
fn members_named(emu: &Emulator, email: &str) -> usize {
    emu.members()
        .iter()
        .filter(|u| u.active && u.user_name.eq_ignore_ascii_case(email))
        .count()
}

fn post_fault(kind: FaultKind) -> Fault {
    Fault {
        nth: 1,
        method: Some("POST".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind,
    }
}

fn assert_no_token(err: &Error) {
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
}

#[tokio::test]
async fn full_paged_read_of_250_users() {
    let s = setup().await;
    seed(&s.emu, 250);
    let read = s.client.read_users().await.unwrap();
    assert!(read.consistent, "{:?}", read.problems);
    assert_eq!(read.attempts, 1);
    let pages: Vec<_> = s
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages
        .iter()
        .all(|r| r.query.as_deref().is_some_and(|q| q.contains("count=100"))));
    // 250 seeded plus the token owner.
    let expected = s.emu.members().iter().filter(|m| m.active).count();
    assert!(expected >= 250);
    assert_eq!(read.users.len(), expected);
    let target = s.client.profile().to_target_user(&read.users[0]);
    assert!(target.attrs.contains_key(&Attr::UserName));
    assert!(target.role.is_some(), "Notion users always have a role");
}

#[tokio::test]
async fn inconsistent_read_is_retried_then_reported() {
    let s = setup().await;
    seed(&s.emu, 250);
    s.emu.set_switches(Switches {
        unstable_order: true,
        insert_during_read: true,
        ..Switches::default()
    });
    let read = s.client.read_users().await.unwrap();
    assert!(!read.consistent);
    assert_eq!(read.attempts, 4);
    assert!(!read.problems.is_empty());
}

#[tokio::test]
async fn probe_checks_the_token() {
    let s = setup().await;
    s.client.probe().await.unwrap();
}

#[tokio::test]
async fn bad_token_is_unauthorized_and_never_printed() {
    let s = setup().await;
    let base = s.client_base();
    let bad = "tok-wrong-canary-77aa";
    let client = Writer::new(
        settings(&base, bad),
        Profile::notion(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let err = client.probe().await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert!(matches!(err.status(), Some(401 | 403)));
    assert!(!err.to_string().contains(bad) && !format!("{err:?}").contains(bad));
    assert!(!format!("{client:?}").contains(bad));
    let err = client
        .create_user(&person("x@example.com"))
        .await
        .unwrap_err();
    assert!(err.is_auth());
    assert_eq!(s.emu.write_count(), 0);
}

#[tokio::test]
async fn create_get_patch_deactivate_round_trip() {
    let s = setup().await;
    let (user, outcome) = s
        .client
        .create_user(&person("Ada@Example.com"))
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Created);
    let id = ScimId(user.id.clone());
    let got = s.client.get_user(&id).await.unwrap().unwrap();
    let target = s.client.profile().to_target_user(&got);
    let desired = s
        .client
        .profile()
        .normalise_desired(&person("Ada@Example.com"));
    for (attr, value) in &desired {
        assert_eq!(target.attrs.get(&attr), Some(value), "{attr:?}");
    }
    let patched = s
        .client
        .patch_user(&id, &[(Attr::Title, Some("Lead".into()))])
        .await
        .unwrap();
    if let Some(p) = patched {
        assert_eq!(p.title.as_deref(), Some("Lead"));
    }
    s.client.set_active(&id, false).await.unwrap();
    let after = s.client.get_user(&id).await.unwrap();
    assert!(after.is_none_or(|u| u.active == Some(false)));
    assert!(s
        .client
        .get_user(&ScimId::from("00000000-0000-0000-0000-000000000000"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn duplicate_create_is_existing() {
    let s = setup().await;
    seed(&s.emu, 1);
    let (user, outcome) = s
        .client
        .create_user(&person("user000@example.com"))
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Existing);
    assert_eq!(members_named(&s.emu, "user000@example.com"), 1);
    let found = s
        .client
        .find_user("USER000@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
}

#[tokio::test]
async fn duplicate_create_with_200_switch_is_not_duplicated() {
    let s = setup().await;
    seed(&s.emu, 1);
    s.emu.set_switches(Switches {
        duplicate_post: DuplicatePost::ReturnExisting,
        ..Switches::default()
    });
    let (_, outcome) = s
        .client
        .create_user(&person("user000@example.com"))
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::Existing);
    assert_eq!(members_named(&s.emu, "user000@example.com"), 1);
}

#[tokio::test]
async fn server_error_on_post_creates_once() {
    let s = setup().await;
    s.emu.push_fault(post_fault(FaultKind::Status500));
    let (_, outcome) = s
        .client
        .create_user(&person("five@example.com"))
        .await
        .unwrap();
    assert_ne!(outcome, CreateOutcome::Existing);
    assert_eq!(members_named(&s.emu, "five@example.com"), 1);
    let log = s.emu.requests();
    assert!(
        log.iter().any(|r| r.method == "POST" && r.status == 500),
        "fault did not fire"
    );
    // The lookup ran between the failed POST and the retry.
    let first_500 = log.iter().position(|r| r.status == 500).unwrap();
    assert_eq!(log[first_500 + 1].method, "GET");
}

#[tokio::test]
async fn lost_reply_after_commit_is_recovered() {
    let s = setup().await;
    s.emu.push_fault(post_fault(FaultKind::CommitThenDrop));
    let (user, outcome) = s
        .client
        .create_user(&person("lost@example.com"))
        .await
        .unwrap();
    assert_eq!(outcome, CreateOutcome::RecoveredAfterLostReply);
    assert_eq!(members_named(&s.emu, "lost@example.com"), 1);
    assert!(!user.id.is_empty());
}

#[tokio::test]
async fn stalled_post_past_the_timeout_creates_once() {
    let emu = Emulator::new(EmuProfile::default(), Arc::new(SystemClock));
    let s = setup_with(emu, |s| s.timeout = Duration::from_millis(300)).await;
    s.emu
        .push_fault(post_fault(FaultKind::Stall { millis: 1_000 }));
    let result = s.client.create_user(&person("slow@example.com")).await;
    // Let the stalled request finish on the server before counting.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    // The stalled write lands after the lookup, so the retry either creates (and the stalled one
    // then meets a conflict) or finds it: either way exactly one member.
    result.unwrap();
    assert_eq!(members_named(&s.emu, "slow@example.com"), 1);
}

#[tokio::test]
async fn rate_limit_storm_is_survived_without_duplicates() {
    let s = setup().await;
    s.emu.set_rate_limit(Some(RateLimit {
        per_second: 2.0,
        burst: 2,
    }));
    for i in 0..6 {
        let email = format!("storm{i}@example.com");
        let (_, outcome) = s.client.create_user(&person(&email)).await.unwrap();
        assert_eq!(outcome, CreateOutcome::Created);
        assert_eq!(members_named(&s.emu, &email), 1);
    }
    let throttled = s.emu.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "the storm never happened");
}

#[tokio::test]
async fn retry_after_beyond_the_cap_fails_fast() {
    let emu = Emulator::new(EmuProfile::default(), Arc::new(SystemClock));
    let s = setup_with(emu, |s| s.max_retry_after = Duration::from_millis(500)).await;
    s.emu.push_fault(Fault {
        nth: 1,
        method: Some("GET".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind: FaultKind::Status429 {
            retry_after_secs: 1,
        },
    });
    let err = s.client.read_users().await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert_no_token(&err);
}

#[tokio::test]
async fn throttled_get_is_retried_after_retry_after() {
    let s = setup().await;
    seed(&s.emu, 3);
    s.emu.push_fault(Fault {
        nth: 1,
        method: Some("GET".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind: FaultKind::Status503,
    });
    s.emu.push_fault(Fault {
        nth: 2,
        method: Some("GET".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind: FaultKind::Status429 {
            retry_after_secs: 1,
        },
    });
    let read = s.client.read_users().await.unwrap();
    assert!(read.consistent);
}

#[tokio::test]
async fn error_bodies_parse_in_both_shapes() {
    for shape in [ErrorShape::Scim, ErrorShape::Notion] {
        let s = setup().await;
        s.emu.set_switches(Switches {
            error_shape: shape,
            ..Switches::default()
        });
        let err = s
            .client
            .patch_user(
                &ScimId::from("00000000-0000-0000-0000-000000000000"),
                &[(Attr::Title, Some("x".into()))],
            )
            .await
            .unwrap_err();
        match &err {
            Error::Api { status, detail, .. } => {
                assert_eq!(*status, 404);
                assert!(!detail.is_empty() && !detail.contains('{'), "{detail}");
            }
            other => panic!("expected an API error, got {other:?}"),
        }
        assert!(err
            .to_string()
            .contains("PATCH /Users/00000000-0000-0000-0000-000000000000"));
        assert_no_token(&err);
    }
}

#[tokio::test]
async fn delete_user_removes_member() {
    let s = setup().await;
    let (user, _) = s
        .client
        .create_user(&person("gone@example.com"))
        .await
        .unwrap();
    s.client
        .delete_user(&ScimId(user.id.clone()))
        .await
        .unwrap();
    assert_eq!(members_named(&s.emu, "gone@example.com"), 0);
    let err = s.client.delete_user(&ScimId(user.id)).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn groups_lightly() {
    let s = setup().await;
    seed(&s.emu, 5);
    let users = s.client.read_users().await.unwrap().users;
    let ids: Vec<ScimId> = users.iter().map(|u| ScimId(u.id.clone())).collect();
    let group = s.client.create_group("Designers", &ids[..1]).await.unwrap();
    let gid = ScimId(group.id.clone());
    s.client
        .patch_group_members(&gid, &ids[1..4], &ids[..1], 2)
        .await
        .unwrap();
    s.client.rename_group(&gid, "Design").await.unwrap();
    let read = s.client.read_groups().await.unwrap();
    assert!(read.consistent);
    let g = s.client.get_group(&gid).await.unwrap().unwrap();
    assert_eq!(g.display_name, "Design");
    let mut members: Vec<_> = g.members.iter().map(|m| m.value.clone()).collect();
    members.sort();
    let mut want: Vec<_> = ids[1..4].iter().map(|i| i.0.clone()).collect();
    want.sort();
    assert_eq!(members, want);
    s.client.delete_group(&gid).await.unwrap();
    assert!(s.client.get_group(&gid).await.unwrap().is_none());
}

#[tokio::test]
async fn lost_reply_on_delete_and_deactivate_counts_as_done() {
    let s = setup().await;
    seed(&s.emu, 2);
    let users = s.client.read_users().await.unwrap().users;
    let targets: Vec<ScimId> = users
        .iter()
        .filter(|u| u.user_name.starts_with("user"))
        .map(|u| ScimId(u.id.clone()))
        .collect();
    for method in ["DELETE", "PATCH"] {
        s.emu.push_fault(Fault {
            nth: 1,
            method: Some(method.into()),
            path_prefix: Some("/scim/v2/Users".into()),
            kind: FaultKind::CommitThenDrop,
        });
    }
    s.client.delete_user(&targets[0]).await.unwrap();
    s.client.set_active(&targets[1], false).await.unwrap();
    assert_eq!(members_named(&s.emu, "user000@example.com"), 0);
    assert_eq!(members_named(&s.emu, "user001@example.com"), 0);
}

#[tokio::test]
async fn client_debug_never_shows_the_token() {
    let s = setup().await;
    assert!(!format!("{:?}", s.client).contains(TOKEN));
    let settings = settings(&s.client_base(), TOKEN);
    assert!(!format!("{settings:?}").contains(TOKEN));
}

fn list_fault(kind: FaultKind) -> Fault {
    Fault {
        nth: 1,
        method: Some("GET".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind,
    }
}

/// 256 MiB, generated as it is sent.
const HUGE: u64 = 256 << 20;
/// The cap the tests set: 1 MiB.
const CAP: u64 = 1 << 20;

#[tokio::test]
async fn a_huge_reply_is_cut_at_the_limit_and_not_retried() {
    for content_length in [false, true] {
        let emu = Emulator::new(EmuProfile::default(), Arc::new(SystemClock));
        let s = setup_with(emu, |s| s.max_reply_bytes = CAP).await;
        seed(&s.emu, 3);
        s.emu.push_fault(list_fault(FaultKind::HugeBody {
            status: 200,
            bytes: HUGE,
            content_length,
        }));
        let err = s.client.read_users().await.unwrap_err();
        match &err {
            Error::ReplyTooLarge {
                method,
                path,
                status,
                limit,
            } => assert_eq!(
                (method.as_str(), path.as_str(), *status, *limit),
                ("GET", "/Users", 200, CAP)
            ),
            other => panic!("expected ReplyTooLarge, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("larger than 1048576 bytes (target.max_reply_bytes)"),
            "{text}"
        );
        // One request: the same request would get the same reply.
        assert_eq!(s.emu.requests().len(), 1, "{:?}", s.emu.requests());
        // The client stopped reading near the cap (sockets buffer a few MiB at most).
        let streamed = s.emu.streamed_bytes();
        assert!(streamed < 64 << 20, "read {streamed} bytes of {HUGE}");
    }
}

#[tokio::test]
async fn a_huge_error_body_is_read_only_for_an_excerpt() {
    let emu = Emulator::new(EmuProfile::default(), Arc::new(SystemClock));
    let s = setup_with(emu, |s| s.max_reply_bytes = CAP).await;
    s.emu.push_fault(Fault {
        nth: 1,
        method: Some("PATCH".into()),
        path_prefix: Some("/scim/v2/Users".into()),
        kind: FaultKind::HugeBody {
            status: 400,
            bytes: HUGE,
            content_length: false,
        },
    });
    let err = s
        .client
        .patch_user(&ScimId::from("x"), &[(Attr::Title, Some("x".into()))])
        .await
        .unwrap_err();
    match &err {
        Error::Api { status, detail, .. } => {
            assert_eq!(*status, 400);
            assert!(detail.chars().count() < 300, "{detail}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    let streamed = s.emu.streamed_bytes();
    assert!(streamed < 64 << 20, "read {streamed} bytes of {HUGE}");
}

#[tokio::test]
async fn a_listing_that_ignores_start_index_stops_after_two_pages_a_read() {
    let s = setup().await;
    seed(&s.emu, 250);
    s.emu.set_switches(Switches {
        ignore_start_index: true,
        // A lie too: without the progress check the reader would ask for 100 pages a read.
        total_results: Some(10_000),
        ..Switches::default()
    });
    let read = s.client.read_users().await;
    let err = match read {
        Err(e) => e,
        Ok(read) => panic!("the read ended with problems {:?}", read.problems),
    };
    let lists = s
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/scim/v2/Users")
        .count();
    // Four reads (the first and three retries) of two pages each.
    assert_eq!(lists, 8);
    match &err {
        Error::Paging { path, requests, .. } => {
            assert_eq!((path.as_str(), *requests), ("/Users", 8))
        }
        other => panic!("expected a paging error, got {other:?}"),
    }
    assert!(err.to_string().contains("ignore startIndex"), "{err}");
    // The same listing with an honest totalResults stops the same way.
    s.emu.clear_requests();
    s.emu.set_switches(Switches {
        ignore_start_index: true,
        ..Switches::default()
    });
    let err = s.client.read_users().await.unwrap_err();
    assert!(matches!(err, Error::Paging { requests: 8, .. }), "{err:?}");
    // A lying totalResults alone is drift: the read ends on an empty page and does not add up.
    s.emu.set_switches(Switches {
        total_results: Some(1_000),
        ..Switches::default()
    });
    let read = s.client.read_users().await.unwrap();
    assert!(!read.consistent);
    assert!(
        read.problems.iter().any(|p| p.contains("was empty")),
        "{:?}",
        read.problems
    );
}

#[tokio::test]
async fn an_echoed_token_is_redacted_in_every_encoding() {
    let forms = crate::support::secret_forms(TOKEN);
    for json in [true, false] {
        for (method, status) in [("PATCH", 400), ("GET", 401), ("PATCH", 403)] {
            let s = setup().await;
            s.emu.push_fault(Fault {
                nth: 1,
                method: Some(method.into()),
                path_prefix: Some("/scim/v2/Users".into()),
                kind: FaultKind::EchoAuth { status, json },
            });
            let err = if method == "GET" {
                s.client.get_user(&ScimId::from("x")).await.unwrap_err()
            } else {
                s.client
                    .patch_user(&ScimId::from("x"), &[(Attr::Title, Some("x".into()))])
                    .await
                    .unwrap_err()
            };
            let text = format!("{err} {err:?}");
            for form in &forms {
                assert!(!text.contains(form.as_str()), "{form} leaked: {text}");
            }
            if json {
                assert!(text.contains("[REDACTED]"), "{text}");
            }
        }
    }
}
