//! The `idbridge` binary against a target that misbehaves: replies too large to hold, a listing
//! that never ends, a target that cannot be connected to, one that throttles every request
//! beyond two at once, one that echoes the token back encoded. Each run must end in bounded
//! time and requests, with the exit code a scheduler can act on, and deactivate nobody.

use crate::support::{row, secret_forms, Workspace, TOKEN};
use idbridge::emulator::{Fault, FaultKind, Profile, SeedUser, Switches};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Ada and Bob synced; Bob then leaves the HR export, so a sync that read the target would
/// deactivate him.
async fn bob_left() -> Workspace {
    let ws = Workspace::new().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
    ws
}

fn bob_is_active(ws: &Workspace) -> bool {
    ws.active_names().contains(&"bob@acme.test".to_owned())
}

/// Unfiltered `GET /Users` requests (page reads) in the emulator's log.
fn list_reads(ws: &Workspace) -> usize {
    ws.emu
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path.ends_with("/Users")
                && !r.query.as_deref().unwrap_or_default().contains("filter=")
        })
        .count()
}

/// Point the config at `url` instead of the emulator.
fn retarget(ws: &Workspace, url: &str) {
    let path = ws.path("idbridge.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(&ws.running.base_url(), url);
    std::fs::write(&path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_reply_stops_the_run_with_exit_3_and_deactivates_nobody() {
    let mut ws = bob_left().await;
    ws.target_extra.push_str("max_reply_bytes = 1048576\n");
    ws.write_config();
    let huge = || Fault {
        nth: 1,
        method: Some("GET".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::HugeBody {
            status: 200,
            bytes: 1 << 30,
            content_length: false,
        },
    };
    ws.emu.push_fault(huge());
    let run = ws.idbridge(&["plan"]).await.expect(3);
    assert!(
        run.stderr.contains("GET /Users answered HTTP 200 with a reply larger than 1048576 bytes (target.max_reply_bytes)"),
        "{}",
        run.stderr
    );
    let writes = ws.emu.write_count();
    ws.emu.push_fault(huge());
    ws.idbridge(&["sync", "--yes"]).await.expect(3);
    assert_eq!(ws.emu.write_count(), writes, "nothing was written");
    assert!(bob_is_active(&ws), "nobody was deactivated");
    // The client stopped reading near the limit: 2 GiB were never produced.
    let streamed = ws.emu.streamed_bytes();
    assert!(streamed < 128 << 20, "{streamed} bytes were produced");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_that_ignores_start_index_stops_before_any_write() {
    let ws = bob_left().await;
    for i in 0..150 {
        ws.emu.seed_user(SeedUser::member(
            &format!("other{i:03}@acme.test"),
            "Other",
            "Person",
        ));
    }
    ws.emu.set_switches(Switches {
        ignore_start_index: true,
        total_results: Some(100_000),
        ..Switches::default()
    });
    ws.emu.clear_requests();
    let run = ws.idbridge(&["plan"]).await.expect(3);
    assert!(
        run.stderr.contains("GET /Users does not page") && run.stderr.contains("ignore startIndex"),
        "{}",
        run.stderr
    );
    // Two pages a read, four reads: bounded by the progress check, not by totalResults.
    assert_eq!(list_reads(&ws), 8);
    ws.emu.clear_requests();
    let writes = ws.emu.write_count();
    ws.idbridge(&["sync", "--yes"]).await.expect(3);
    assert_eq!(list_reads(&ws), 8);
    assert_eq!(ws.emu.write_count(), writes, "nothing was written");
    assert!(bob_is_active(&ws), "nobody was deactivated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_fails_fast_with_cannot_connect() {
    let ws = bob_left().await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/scim/v2");
    retarget(&ws, &url);
    for args in [&["check-config"][..], &["plan"], &["sync", "--yes"]] {
        let run = ws.idbridge(args).await.expect(3);
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            all.contains(&format!(
                "cannot connect to {url}: the connection was refused"
            )),
            "{args:?}: {all}"
        );
        // A refused connection is not retried, and is not a lost reply.
        assert!(!all.contains("retrying"), "{args:?}: {all}");
        assert!(!all.contains("could not reach"), "{args:?}: {all}");
    }
    assert!(bob_is_active(&ws));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_handshake_is_tried_three_times_at_most() {
    // TLS to a port that closes every connection: the connection never comes up, so nothing
    // was sent; a couple of quick retries, then "cannot connect".
    let ws = bob_left().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let url = format!("https://127.0.0.1:{port}/scim/v2");
    retarget(&ws, &url);
    let run = ws.idbridge(&["plan"]).await.expect(3);
    acceptor.abort();
    assert!(
        run.stderr.contains(&format!("cannot connect to {url}")),
        "{}",
        run.stderr
    );
    assert_eq!(connections.load(Ordering::SeqCst), 3, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_429s_at_eight_in_flight_converges_by_sending_fewer() {
    // The target serves one request at a time and refuses the rest with 429 (Retry-After: 1);
    // each request takes 100 ms, so requests overlap as over a real network. Without slowing
    // down, the seven refused requests come back together and meet a busy target again, until
    // some run out of retries.
    let mut ws = Workspace::with_profile(Profile {
        switches: Switches {
            max_in_flight: Some(1),
            latency_millis: 100,
            ..Switches::default()
        },
        ..Profile::default()
    })
    .await;
    // The default of 5 retries: the client must slow down, not wait longer or retry more.
    ws.target_extra =
        "rate_limit = 0\ntimeout = \"5s\"\nconcurrency = 8\nmax_retry_after = \"5s\"\n".into();
    let rows: Vec<String> = (1..=50)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect();
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    // Exit 0: every operation was done, none ran out of retries.
    let run = ws.idbridge(&["sync", "--yes"]).await.expect(0);
    let statuses: Vec<u16> = ws.emu.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429), "the storm never happened");
    assert!(!run.stderr.contains("rate limited"), "{}", run.stderr);
    assert_eq!(ws.active_names().len(), 51);
    assert_eq!(ws.emu.members().len(), 51, "no duplicate accounts");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_token_never_reaches_the_output_in_any_encoding() {
    let ws = Workspace::new().await;
    ws.hr(&[
        &row("E1", "Ada", "Eng", "active"),
        &row("E2", "Bob", "Eng", "active"),
    ]);
    // The token check is refused with the header quoted back, in a SCIM error's detail.
    ws.emu.push_fault(Fault {
        nth: 1,
        method: Some("GET".into()),
        path_prefix: Some("/Users".into()),
        kind: FaultKind::EchoAuth {
            status: 401,
            json: true,
        },
    });
    let check = ws.idbridge(&["check-config"]).await.expect(3);
    assert!(check.stdout.contains("[REDACTED]"), "{}", check.stdout);
    // Both creates are refused with the header quoted back: as JSON, then as plain text.
    for (nth, json) in [(1, true), (1, false)] {
        ws.emu.push_fault(Fault {
            nth,
            method: Some("POST".into()),
            path_prefix: Some("/Users".into()),
            kind: FaultKind::EchoAuth { status: 400, json },
        });
    }
    let run = ws.idbridge(&["-vvv", "sync", "--yes"]).await.expect(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("[REDACTED]"), "{all}");
    // `expect` checked every encoding, among them those the emulator echoed.
    use base64::Engine;
    let forms = secret_forms(TOKEN);
    for echoed in [
        base64::engine::general_purpose::STANDARD.encode(format!("Bearer {TOKEN}")),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(TOKEN),
        TOKEN
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>(),
    ] {
        assert!(forms.contains(&echoed), "{echoed}");
    }
}
