//! Issue 10: idbridge against an emulator as strict as Notion where Notion is documented and
//! cautious where it is not: throttling as Notion's public API does it (`Retry-After` in seconds
//! or as an HTTP date, a workspace budget that asks for more than a minute), PATCH forms a
//! workspace may refuse, and no leniency the emulator made up (group names, email lookups,
//! error shapes).

use crate::support::{row, Workspace};
use idbridge::emulator::{
    ErrorShape, Profile, RateLimit, RetryAfterForm, SeedGroup, SeedUser, Switches, WorkspaceBudget,
};

fn hires(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| row(&format!("E{i}"), &format!("P{i}"), "Eng", "active"))
        .collect()
}

fn throttled(ws: &Workspace) -> usize {
    ws.emu.requests().iter().filter(|r| r.status == 429).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_written_as_an_http_date_is_waited_for() {
    let mut ws = Workspace::with_profile(Profile {
        rate_limit: Some(RateLimit {
            per_second: 4.0,
            burst: 2,
        }),
        switches: Switches {
            retry_after_form: RetryAfterForm::HttpDate,
            ..Switches::default()
        },
        ..Profile::default()
    })
    .await;
    ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\nmax_retry_after = \"5s\"\n".into();
    // The header really is a date: spend the bucket, then look at a refusal.
    let http = reqwest::Client::new();
    let mut date = None;
    for _ in 0..4 {
        let reply = http
            .get(format!("{}/Users?count=1", ws.running.base_url()))
            .bearer_auth(crate::support::TOKEN)
            .send()
            .await
            .unwrap();
        if reply.status() == 429 {
            date = reply.headers()["retry-after"]
                .to_str()
                .map(str::to_owned)
                .ok();
            break;
        }
    }
    let date = date.expect("the bucket of 2 ran out");
    assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");

    let rows = hires(5);
    ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    ws.idbridge(&["sync", "--yes"]).await.expect(0);
    assert!(throttled(&ws) > 1, "idbridge was never throttled");
    assert_eq!(ws.active_names().len(), 6);
    assert_eq!(ws.emu.members().len(), 6, "no duplicate");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_budget_beyond_the_longest_wait_stops_the_run_without_knocking_again() {
    for form in [RetryAfterForm::Seconds, RetryAfterForm::HttpDate] {
        let mut ws = Workspace::with_profile(Profile {
            workspace_budget: Some(WorkspaceBudget {
                requests: 5,
                window_secs: 3600,
            }),
            switches: Switches {
                retry_after_form: form,
                ..Switches::default()
            },
            ..Profile::default()
        })
        .await;
        ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\nconcurrency = 1\n".into();
        let rows = hires(6);
        ws.hr(&rows.iter().map(String::as_str).collect::<Vec<_>>());
        let run = ws.idbridge(&["sync", "--yes"]).await.expect(3);
        assert!(
            run.stderr.contains("asked to wait 3600s")
                || run.stderr.contains("asked to wait 3599s"),
            "{form:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("max_retry_after"), "{}", run.stderr);
        assert!(run.stderr.contains("was not sent"), "{}", run.stderr);
        assert_eq!(
            throttled(&ws),
            1,
            "{form:?}: one refusal, then nothing sent"
        );
        let created = ws.active_names().len();
        assert!(created < 7, "{created}");

        // Nothing was lost: once the budget is back, the next run finishes the job.
        ws.emu.set_workspace_budget(None);
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        assert_eq!(ws.active_names().len(), 7);
        assert_eq!(ws.emu.members().len(), 7, "no duplicate");
    }
}

/// A named switch setting and the refusals it costs a run.
type Case = (&'static str, fn(&mut Switches), usize);

/// Day 1 hires four people; day 2 promotes three and lets one go. Under each refused PATCH form
/// idbridge falls back to another documented form, learns it, and sends the rest of the run's
/// PATCHes in it: the refusals stay at the few needed to learn (concurrency 1 makes that exact).
#[tokio::test(flavor = "multi_thread")]
async fn each_refused_patch_form_falls_back_to_another_and_is_remembered_in_the_run() {
    let cases: [Case; 4] = [
        ("lowercase ops refused", |s| s.patch_op_lowercase = false, 2),
        (
            "capitalised ops refused",
            |s| s.patch_op_capitalized = false,
            0,
        ),
        ("path form refused", |s| s.patch_path_form = false, 1),
        (
            "value-as-object refused",
            |s| s.patch_value_object_form = false,
            1,
        ),
    ];
    for (name, refuse, refusals) in cases {
        let mut switches = Switches::default();
        refuse(&mut switches);
        let mut ws = Workspace::with_profile(Profile {
            switches,
            ..Profile::default()
        })
        .await;
        ws.target_extra = "rate_limit = 0\ntimeout = \"5s\"\nconcurrency = 1\n".into();
        ws.hr(&[
            &row("E1", "Ada", "Eng", "active"),
            &row("E2", "Bob", "Eng", "active"),
            &row("E3", "Cy", "Eng", "active"),
            &row("E4", "Dee", "Eng", "active"),
        ]);
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        ws.hr(&[
            &row("E1", "Ada", "Lead", "active"),
            &row("E2", "Bob", "Lead", "active"),
            &row("E3", "Cy", "Lead", "active"),
            &row("E4", "Dee", "Eng", "terminated"),
        ]);
        ws.emu.clear_requests();
        ws.idbridge(&["sync", "--yes", "--force"]).await.expect(0);
        let refused = ws.emu.requests().iter().filter(|r| r.status == 400).count();
        assert_eq!(refused, refusals, "{name}: {:?}", ws.emu.requests());
        let mut titles: Vec<_> = ws
            .emu
            .members()
            .into_iter()
            .filter(|m| m.active && m.user_name != crate::support::OWNER)
            .map(|m| (m.user_name, m.title.unwrap_or_default()))
            .collect();
        titles.sort();
        assert_eq!(
            titles,
            [
                ("ada@acme.test".to_owned(), "Lead".to_owned()),
                ("bob@acme.test".to_owned(), "Lead".to_owned()),
                ("cy@acme.test".to_owned(), "Lead".to_owned()),
            ],
            "{name}"
        );
        let writes = ws.emu.write_count();
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        assert_eq!(
            ws.emu.write_count(),
            writes,
            "{name}: a re-run writes nothing"
        );
    }
}

/// Whatever the error body's shape (SCIM's, Notion's public API's or its admin API's), the
/// target's own sentence and code reach the admin.
#[tokio::test(flavor = "multi_thread")]
async fn the_targets_own_words_reach_the_admin_in_every_error_shape() {
    for (shape, code) in [
        (ErrorShape::Scim, "invalidPath"),
        (ErrorShape::Notion, "validation_error"),
        (ErrorShape::NotionAdmin, "validation_error"),
    ] {
        let ws = Workspace::with_profile(Profile {
            switches: Switches {
                error_shape: shape,
                patch_path_form: false,
                patch_value_object_form: false,
                ..Switches::default()
            },
            ..Profile::default()
        })
        .await;
        ws.hr(&[&row("E1", "Ada", "Eng", "active")]);
        ws.idbridge(&["sync", "--yes"]).await.expect(0);
        ws.hr(&[&row("E1", "Ada", "Lead", "active")]);
        let run = ws.idbridge(&["sync", "--yes"]).await.expect(1);
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains("FAILED") && l.contains("patch-user"))
            .unwrap_or_else(|| panic!("{shape:?}: {}", run.stdout));
        // The path form is tried first, so its refusal is the one reported.
        assert!(
            line.contains(&format!("HTTP 400 ({code})"))
                && line.contains("Operations with a path are not supported"),
            "{shape:?}: {line}"
        );
    }
}

/// The lookups idbridge makes do not lean on leniency Notion may not have: `email eq` finds the
/// primary email only, and a group's name must match in case, unless the switches say otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn lookups_match_only_what_notion_is_sure_to_match() {
    let ws = Workspace::new().await;
    ws.emu.seed_user(SeedUser {
        secondary_emails: vec!["ada.alias@acme.test".into()],
        ..SeedUser::member("ada@acme.test", "Ada", "Test")
    });
    ws.emu.seed_group(SeedGroup {
        display_name: "Eng".into(),
        ..SeedGroup::default()
    });
    let http = reqwest::Client::new();
    let count = |path: &'static str, filter: &'static str| {
        let url = format!("{}/{path}", ws.running.base_url());
        let http = http.clone();
        async move {
            let reply: serde_json::Value = http
                .get(url)
                .query(&[("filter", filter)])
                .bearer_auth(crate::support::TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply["totalResults"].as_u64().unwrap()
        }
    };
    assert_eq!(count("Users", r#"email eq "ADA@acme.test""#).await, 1);
    assert_eq!(count("Users", r#"email eq "ada.alias@acme.test""#).await, 0);
    assert_eq!(count("Groups", r#"displayName eq "Eng""#).await, 1);
    assert_eq!(count("Groups", r#"displayName eq "eng""#).await, 0);
    ws.emu.set_switches(Switches {
        email_filter_secondary: true,
        group_filter_ignores_case: true,
        ..Switches::default()
    });
    assert_eq!(count("Users", r#"email eq "ada.alias@acme.test""#).await, 1);
    assert_eq!(count("Groups", r#"displayName eq "eng""#).await, 1);
}

/// When the first form is refused and the next one is read but the change itself is refused (an
/// email another account owns: 409), the admin hears the 409, not the refusal of the form.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_of_the_change_in_another_form_is_the_one_reported() {
    use idbridge::clock::SystemClock;
    use idbridge::model::{Attr, ScimId};
    use idbridge::scim::{ClientSettings, TargetWrite, Writer};
    let ws = Workspace::with_profile(Profile {
        switches: Switches {
            patch_path_form: false,
            ..Switches::default()
        },
        ..Profile::default()
    })
    .await;
    let ada = ws
        .emu
        .seed_user(SeedUser::member("ada@acme.test", "Ada", "Test"));
    ws.emu
        .seed_user(SeedUser::member("bob@acme.test", "Bob", "Test"));
    let mut settings = ClientSettings::new(
        ws.running.base_url().parse().unwrap(),
        secrecy::SecretString::from(crate::support::TOKEN),
    );
    settings.rate_limit = None;
    let writer = Writer::new(
        settings,
        idbridge::scim::Profile::notion(),
        std::sync::Arc::new(SystemClock),
    )
    .unwrap();
    let err = writer
        .patch_user(
            &ScimId(ada),
            &[(Attr::Email, Some("bob@acme.test".to_owned()))],
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    assert_eq!(err.scim_type(), Some("uniqueness"), "{err}");
    let statuses: Vec<u16> = ws.emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 409]);
}
