//! End-to-end: `idbridge report … --format html`. Golden pages over the four-day scenario of
//! `reports` (rewrite with `UPDATE_GOLDEN=1`), hostile source values shown as text, and the page
//! opened in real headless Chromium (Debian's `chromium`, installed by scripts/env.sh): a
//! screenshot decoded and checked to show the chart and the stylesheet, the DOM dumped and
//! checked for the chart's bars and for no element a value could have smuggled in, and the
//! browser's log checked for any Content-Security-Policy refusal. The Chromium test is skipped
//! only when Chromium is missing and `IDBRIDGE_REQUIRE_SERVICES` is unset; CI sets it.

use crate::reports::{
    four_days, golden, host_name, idbridge, normalise, person, DAY1, DAY2, LATER,
};
use crate::support::Workspace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A first name and a title an attacker would put in the HR export.
const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_TITLE: &str = "\"><img src=x onerror=alert(2)>";
/// Colours the page draws with: create-user bars (an SVG `fill`), and the table header (from
/// the stylesheet only, so it shows only when the CSP let the stylesheet apply).
const CREATE_USER_RGB: [u8; 3] = [0x00, 0x9e, 0x73];
const HEADER_RGB: [u8; 3] = [0xee, 0xf2, 0xf7];

/// An HTML page of the test workspace made comparable: ids, digests, the host and the folder.
fn normalise_html(ws: &Workspace, text: &str) -> String {
    let host = host_name();
    let dir = ws.dir.path().display().to_string();
    normalise(ws, "html", text)
        .replace(&dir, "<dir>")
        .replace(&format!("<td>{host}</td>"), "<td>&lt;host&gt;</td>")
        .replace(&format!("<dd>{host}</dd>"), "<dd>&lt;host&gt;</dd>")
}

/// The chart's bars as drawn: `(bar, kind) → count`, from each segment's tooltip.
fn bars(html: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for segment in html.split("<rect class=\"bar\"").skip(1) {
        let title = segment
            .split("<title>")
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .expect("a bar has a tooltip");
        let (bar, rest) = title.split_once(": ").unwrap();
        let (n, op) = rest.split_once(' ').unwrap();
        out.insert((bar.to_owned(), op.to_owned()), n.parse().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn html_reports_over_four_days_match_the_golden_files_and_chart_the_journal() {
    let ws = four_days().await;
    for (stem, report) in [
        ("runs", &["runs"][..]),
        ("changes", &["changes", "--since", "2026-03-01"]),
    ] {
        let mut args = vec!["--now", LATER, "report"];
        args.extend_from_slice(report);
        args.extend(["--format", "html"]);
        let page = idbridge(&ws, &args).await.expect(0).stdout;
        golden(&format!("{stem}.html"), &normalise_html(&ws, &page));
        let out = ws.path(&format!("{stem}.html")).display().to_string();
        args.extend(["--out", &out]);
        idbridge(&ws, &args).await.expect(0);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            page,
            "--out writes what stdout shows"
        );
    }

    // The chart counts what the runs recorded as done, day by day: not a drawing of made-up data.
    let page = std::fs::read_to_string(ws.path("changes.html")).unwrap();
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    for ((day, _), n) in bars(&page) {
        *per_day.entry(day).or_default() += n;
    }
    let runs = idbridge(&ws, &["--now", LATER, "report", "runs", "--format", "json"])
        .await
        .expect(0)
        .json();
    let mut done: BTreeMap<String, u64> = BTreeMap::new();
    for run in runs["rows"].as_array().unwrap() {
        let n = run["done"].as_u64().unwrap();
        if n > 0 {
            let day = run["startedAt"].as_str().unwrap()[..10].to_owned();
            *done.entry(day).or_default() += n;
        }
    }
    assert_eq!(per_day, done, "{page}");
    let chart = bars(&page);
    assert_eq!(
        chart.get(&("2026-03-05".to_owned(), "deactivate-user".to_owned())),
        Some(&1),
        "the leaver, on day 2: {chart:?}"
    );
    assert_eq!(
        chart.get(&("2026-03-12".to_owned(), "readd-user".to_owned())),
        Some(&1),
        "the return, on day 3: {chart:?}"
    );
}

/// A path to Chromium, or `None` to skip: only when it is missing and services are not required.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("IDBRIDGE_REQUIRE_SERVICES").is_some() => panic!(
            "chromium is not installed and IDBRIDGE_REQUIRE_SERVICES is set: run `. scripts/env.sh` \
             (it installs Debian's chromium package)"
        ),
        None => {
            eprintln!("SKIPPED: chromium is not installed (`. scripts/env.sh` installs it)");
            None
        }
    }
}

/// Run headless Chromium on `page` with `extra` flags, a fresh profile, and a time limit.
fn run_chromium(bin: &Path, page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let url = url::Url::from_file_path(page).unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,900",
            // Console messages, CSP refusals among them, go to stderr.
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url.as_str())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("chromium did not finish in 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "chromium failed on {}: {}",
        page.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A screenshot's pixels: how many are not white, and how many have each of `colours` (±2).
fn pixels(png: &Path, colours: &[[u8; 3]]) -> (usize, usize, Vec<usize>) {
    let file = std::io::BufReader::new(std::fs::File::open(png).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let samples = info.color_type.samples();
    assert!(samples >= 3, "{:?}", info.color_type);
    let data = &buf[..info.buffer_size()];
    let near = |a: u8, b: u8| a.abs_diff(b) <= 2;
    let mut non_white = 0;
    let mut hits = vec![0; colours.len()];
    for px in data.chunks_exact(samples) {
        if px[..3].iter().any(|c| *c < 245) {
            non_white += 1;
        }
        for (i, colour) in colours.iter().enumerate() {
            if (0..3).all(|j| near(px[j], colour[j])) {
                hits[i] += 1;
            }
        }
    }
    (data.len() / samples, non_white, hits)
}

/// The changes page with hostile names, opened in Chromium: drawn (chart and stylesheet), its
/// DOM holding the chart's bars and no element a value smuggled in, no CSP refusal; and the same
/// page with its stylesheet altered by one byte refused by the CSP, which proves the check can
/// fail.
#[tokio::test(flavor = "multi_thread")]
async fn the_html_report_shows_hostile_names_as_text_and_renders_in_headless_chromium() {
    let ws = Workspace::new().await;
    let hostile = format!(
        "E9,mallory@acme.test,{SCRIPT_NAME},Test,\"{}\",Eng,,active,2020-01-01,",
        IMG_TITLE.replace('"', "\"\"")
    );
    ws.hr(&[
        &person("E1", "Ada", "Engineer", "active", "2020-01-01", ""),
        &person("E2", "Bob", "Designer", "active", "2020-01-01", ""),
        &hostile,
    ]);
    idbridge(&ws, &["--now", DAY1, "sync", "--yes"])
        .await
        .expect(0);
    ws.hr(&[
        &person("E1", "Ada", "Lead", "active", "2020-01-01", ""),
        &person("E2", "Bob", "Designer", "active", "2020-01-01", ""),
        &hostile,
    ]);
    idbridge(&ws, &["--now", DAY2, "sync", "--yes"])
        .await
        .expect(0);
    let page = ws.path("changes.html");
    let out = page.display().to_string();
    idbridge(
        &ws,
        &[
            "--now",
            DAY2,
            "report",
            "changes",
            "--since",
            "2026-03-01",
            "--format",
            "html",
            "--out",
            &out,
        ],
    )
    .await
    .expect(0);
    let html = std::fs::read_to_string(&page).unwrap();
    // Text, never markup: the page has no script and no image at all, and shows the values.
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{html}"
    );
    assert_eq!(
        bars(&html).get(&("2026-03-02".to_owned(), "create-user".to_owned())),
        Some(&3)
    );

    let Some(bin) = chromium() else {
        return;
    };
    let shot = ws.path("changes.png");
    let drawn = run_chromium(&bin, &page, &[format!("--screenshot={}", shot.display())]);
    let log = String::from_utf8_lossy(&drawn.stderr);
    assert!(
        !log.contains("Content Security Policy"),
        "the page's CSP refused something the page uses:\n{log}"
    );
    let (total, non_white, hits) = pixels(&shot, &[CREATE_USER_RGB, HEADER_RGB]);
    assert!(
        non_white * 50 > total,
        "the screenshot is blank: {non_white} of {total} pixels are not white"
    );
    assert!(
        hits[0] > 200,
        "no create-user bar in the screenshot: {hits:?}"
    );
    assert!(hits[1] > 200, "the stylesheet did not apply: {hits:?}");

    let dom = run_chromium(&bin, &page, &["--dump-dom".to_owned()]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<svg class=\"chart\""), "{dom}");
    assert_eq!(
        dom.matches("<rect class=\"bar\"").count(),
        html.matches("<rect class=\"bar\"").count(),
        "{dom}"
    );
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );

    let pdf = ws.path("changes.pdf");
    run_chromium(
        &bin,
        &page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_owned(),
        ],
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(
        bytes.starts_with(b"%PDF-") && bytes.len() > 10_000,
        "a printed page"
    );

    // One byte changed in the stylesheet: its hash no longer matches, and Chromium says so.
    let altered = ws.path("altered.html");
    std::fs::write(
        &altered,
        html.replacen("font-size: 22px", "font-size: 23px", 1),
    )
    .unwrap();
    let shot = ws.path("altered.png");
    let refused = run_chromium(
        &bin,
        &altered,
        &[format!("--screenshot={}", shot.display())],
    );
    let log = String::from_utf8_lossy(&refused.stderr);
    assert!(log.contains("Content Security Policy"), "{log}");
    let (_, _, hits) = pixels(&shot, &[CREATE_USER_RGB, HEADER_RGB]);
    assert!(
        hits[0] > 200,
        "the chart does not need the stylesheet: {hits:?}"
    );
    assert_eq!(hits[1], 0, "a refused stylesheet does not apply: {hits:?}");
}
