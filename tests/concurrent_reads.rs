//! Integration tests: a full SCIM read fetches its pages concurrently (up to `concurrency`)
//! once the first two pages have shown the target's `totalResults` and that it honours
//! `startIndex`, and every consistency check of a sequential read still holds: the same
//! users, drift across pages still found and re-read, a server ignoring paging still stopped
//! after two pages a read, a lying `totalResults` still reported.

// Setup helpers are not `#[test]` functions, so clippy's test exemption does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idbridge::clock::SystemClock;
use idbridge::emulator::{Emulator, Profile as EmuProfile, SeedUser, Switches};
use idbridge::scim::{ClientSettings, Error, Profile, Reader, TargetRead};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "tok-concurrent-reads";

/// An emulator holding `n` members (plus the token owner), its server, and a reader with
/// `concurrency` requests in flight at most and no rate limit.
async fn setup(n: usize, concurrency: usize) -> (Emulator, idbridge::emulator::Running, Reader) {
    let emu = Emulator::new(EmuProfile::default(), Arc::new(SystemClock));
    emu.add_token(TOKEN, "owner@example.com");
    for i in 0..n {
        emu.seed_user(SeedUser {
            user_name: format!("user{i:04}@example.com"),
            ..SeedUser::default()
        });
    }
    let running = emu.clone().spawn(false).await.unwrap();
    let base = url::Url::parse(&running.base_url().to_string()).unwrap();
    let mut s = ClientSettings::new(base, SecretString::from(TOKEN));
    s.rate_limit = None;
    s.concurrency = concurrency;
    s.timeout = Duration::from_secs(10);
    s.backoff_base = Duration::from_millis(2);
    s.backoff_max = Duration::from_millis(20);
    let reader = Reader::new(s, Profile::notion(), Arc::new(SystemClock)).unwrap();
    (emu, running, reader)
}

fn list_requests(emu: &Emulator) -> usize {
    let lists = emu.requests();
    lists
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/scim/v2/Users")
        .count()
}

fn with(tweak: impl FnOnce(&mut Switches)) -> Switches {
    let mut switches = Switches::default();
    tweak(&mut switches);
    switches
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_overlap_and_the_read_is_the_sequential_one() {
    // 1,050 members and the owner: 11 pages, each answered after 30 ms.
    let slow = with(|s| s.latency_millis = 30);
    let (emu, _running, sequential) = setup(1_050, 1).await;
    emu.set_switches(slow.clone());
    let one = sequential.read_users().await.unwrap();
    assert_eq!(
        emu.peak_in_flight(),
        1,
        "concurrency 1 reads one page at a time"
    );
    assert_eq!(list_requests(&emu), 11);

    let (emu, _running, concurrent) = setup(1_050, 4).await;
    emu.set_switches(slow);
    let four = concurrent.read_users().await.unwrap();
    let peak = emu.peak_in_flight();
    assert!(
        (2..=4).contains(&peak),
        "pages overlapped up to the bound: {peak}"
    );
    // Exactly the pages a sequential read asks for: none fetched twice, none past the end.
    assert_eq!(list_requests(&emu), 11);
    assert!(four.consistent && one.consistent, "{:?}", four.problems);
    assert_eq!(four.attempts, 1);
    // The same users in the same order (the emulator's order is stable and ids are seeded).
    let names = |read: &idbridge::scim::UserRead| -> Vec<String> {
        read.users.iter().map(|u| u.user_name.clone()).collect()
    };
    assert_eq!(names(&four), names(&one));
    assert_eq!(four.users.len(), 1_051);
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_across_concurrent_pages_is_still_found_and_re_read() {
    // A member joins at the front after page 1 and the order is shuffled on every page: the
    // pages fetched together disagree, and every read is reported, as in a sequential read.
    let (emu, _running, reader) = setup(1_050, 4).await;
    emu.set_switches(with(|s| {
        s.unstable_order = true;
        s.insert_during_read = true;
        s.latency_millis = 5;
    }));
    let read = reader.read_users().await.unwrap();
    assert!(!read.consistent);
    assert_eq!(read.attempts, 4);
    let problems = read.problems.join("; ");
    assert!(problems.contains("totalResults changed"), "{problems}");
    assert!(problems.contains("listed twice"), "{problems}");
    assert!(emu.peak_in_flight() >= 2, "the pages were fetched together");
    // The shuffle alone (no one joining) is drift too: duplicates and misses across pages.
    emu.set_switches(with(|s| s.unstable_order = true));
    let read = reader.read_users().await.unwrap();
    assert!(!read.consistent);
    assert!(
        read.problems.iter().any(|p| p.contains("listed twice")),
        "{:?}",
        read.problems
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_ignoring_start_index_costs_two_pages_a_read_at_any_concurrency() {
    let (emu, _running, reader) = setup(1_050, 8).await;
    emu.set_switches(with(|s| {
        s.ignore_start_index = true;
        s.total_results = Some(100_000);
    }));
    let err = reader.read_users().await.unwrap_err();
    assert!(matches!(err, Error::Paging { requests: 8, .. }), "{err:?}");
    assert_eq!(list_requests(&emu), 8, "no page was fetched ahead");
    assert!(err.to_string().contains("ignore startIndex"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_total_results_ends_on_an_empty_page_and_does_not_add_up() {
    // 251 real members, 5,000 claimed: the pages planned past the real end are dropped at the
    // first short page, and the read goes on one page at a time to the empty one.
    let (emu, _running, reader) = setup(250, 4).await;
    emu.set_switches(with(|s| s.total_results = Some(5_000)));
    let read = reader.read_users().await.unwrap();
    assert!(!read.consistent);
    assert!(
        read.problems.iter().any(|p| p.contains("was empty")),
        "{:?}",
        read.problems
    );
    assert_eq!(read.users.len(), 251);
    // Per read: pages 1-3, at most 4 fetched ahead and dropped, and the empty page.
    let per_read = list_requests(&emu) / read.attempts as usize;
    assert!(per_read <= 3 + 4 + 1, "{per_read} list requests a read");
}
