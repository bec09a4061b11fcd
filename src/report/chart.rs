//! The HTML report's chart of changes over time: operations done per day (per week or month for
//! long windows), stacked by kind, as an inline SVG with axes, labels, a legend and a tooltip per
//! bar segment. Built here rather than by a charting crate: the page must be one self-contained
//! file under a Content-Security-Policy that allows no script, and the output must be byte for
//! byte the same for the same counts (golden files). Pure: counts in, SVG text out.
//!
//! Everything is drawn with SVG presentation attributes (`fill`, `font-size`), never `style`
//! attributes, so the page's CSP needs no `'unsafe-inline'` and the chart looks the same where
//! the stylesheet is not applied.

use super::data::time_text;
use crate::plan::OpKind;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The most bars a chart draws; longer windows are drawn by week, then by month, and a window of
/// more months than this shows its latest months (the caption says so).
pub const MAX_BARS: usize = 240;
/// Up to this many days a bar is a day; up to [`WEEKS_UP_TO`] days, a week.
const DAYS_UP_TO: i64 = 92;
const WEEKS_UP_TO: i64 = 7 * 104;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 52.0;
/// Roughly how many labels fit under the x axis without overlapping.
const X_LABELS: usize = 12;

/// Operations of one kind done on one UTC day (the journal, counted by the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// The UTC day.
    pub day: NaiveDate,
    /// The operation kind, e.g. `create-user`.
    pub op: String,
    /// How many were done.
    pub count: u64,
}

/// What the chart shows: the counts of a window of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The window's first day (UTC), included.
    pub from: NaiveDate,
    /// The window's last day (UTC), included.
    pub to: NaiveDate,
    /// Operations done per day and kind within the window.
    pub counts: Vec<DayCount>,
    /// The latest prune's cutoff: the journal holds nothing done before it.
    pub pruned_before: Option<DateTime<Utc>>,
}

/// How long one bar is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Day,
    Week,
    Month,
}

impl Step {
    fn for_window(from: NaiveDate, to: NaiveDate) -> Step {
        let days = (to - from).num_days() + 1;
        if days <= DAYS_UP_TO {
            Step::Day
        } else if days <= WEEKS_UP_TO {
            Step::Week
        } else {
            Step::Month
        }
    }

    /// The first day of the bar that holds `day`.
    fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Step::Day => day,
            Step::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Step::Month => day.with_day(1).unwrap_or(day),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Step::Day => start + Duration::days(1),
            Step::Week => start + Duration::days(7),
            Step::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(NaiveDate::MAX),
        }
    }

    fn label(self, start: NaiveDate) -> String {
        match self {
            Step::Day | Step::Week => start.format("%m-%d").to_string(),
            Step::Month => start.format("%Y-%m").to_string(),
        }
    }

    fn tooltip(self, start: NaiveDate) -> String {
        match self {
            Step::Day => start.format("%Y-%m-%d").to_string(),
            Step::Week => format!("week of {}", start.format("%Y-%m-%d")),
            Step::Month => start.format("%Y-%m").to_string(),
        }
    }

    fn axis_title(self) -> &'static str {
        match self {
            Step::Day => "day (UTC)",
            Step::Week => "week, from Monday (UTC)",
            Step::Month => "month (UTC)",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
        }
    }
}

/// A kind's place in the legend and its colour. People first, then groups; the colours are the
/// Okabe–Ito palette (told apart with the common colour-vision deficiencies) and greys.
fn kind_style(op: &str) -> (usize, &'static str) {
    let Ok(kind) = op.parse::<OpKind>() else {
        return (usize::MAX, "#b3b3b3");
    };
    match kind {
        OpKind::CreateUser => (0, "#009e73"),
        OpKind::ReaddUser => (1, "#56b4e9"),
        OpKind::PatchUser => (2, "#0072b2"),
        OpKind::LinkUser => (3, "#cc79a7"),
        OpKind::DeactivateUser => (4, "#d55e00"),
        OpKind::AddMembers => (5, "#e69f00"),
        OpKind::RemoveMembers => (6, "#f0e442"),
        OpKind::CreateGroup => (7, "#7f7f7f"),
        OpKind::PatchGroup => (8, "#5a5a5a"),
        OpKind::DeleteGroup => (9, "#262626"),
    }
}

/// The chart, laid out: bars of counts per kind, with everything the caption says.
#[derive(Debug)]
struct Layout {
    step: Step,
    /// Each bar's first day and its count per kind (indexes into `kinds`).
    bars: Vec<(NaiveDate, Vec<u64>)>,
    /// The kinds done in the window, in legend order, with their totals.
    kinds: Vec<(String, u64)>,
    /// Bars left out at the start (a window of more than [`MAX_BARS`] months).
    cut: Option<NaiveDate>,
}

fn layout(activity: &Activity) -> Layout {
    let (from, to) = (activity.from, activity.to.max(activity.from));
    let step = Step::for_window(from, to);
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    let mut per_bar: BTreeMap<(NaiveDate, &str), u64> = BTreeMap::new();
    for c in activity
        .counts
        .iter()
        .filter(|c| c.day >= from && c.day <= to)
    {
        *totals.entry(&c.op).or_default() += c.count;
        *per_bar.entry((step.start(c.day), &c.op)).or_default() += c.count;
    }
    let mut kinds: Vec<(String, u64)> = totals
        .into_iter()
        .map(|(op, n)| (op.to_owned(), n))
        .collect();
    kinds.sort_by(|a, b| {
        kind_style(&a.0)
            .0
            .cmp(&kind_style(&b.0).0)
            .then(a.0.cmp(&b.0))
    });
    let mut starts = Vec::new();
    let mut start = step.start(from);
    while start <= to && start != NaiveDate::MAX {
        starts.push(start);
        start = step.next(start);
    }
    let cut = (starts.len() > MAX_BARS).then(|| {
        starts.drain(..starts.len() - MAX_BARS);
        starts[0]
    });
    let bars = starts
        .into_iter()
        .map(|start| {
            let counts = kinds
                .iter()
                .map(|(op, _)| per_bar.get(&(start, op.as_str())).copied().unwrap_or(0))
                .collect();
            (start, counts)
        })
        .collect();
    Layout {
        step,
        bars,
        kinds,
        cut,
    }
}

/// A round step for the y axis (1, 2 or 5 times a power of ten) giving at most five intervals.
fn y_step(max: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = m * magnitude;
            if max.div_ceil(step) <= 5 {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// Text made safe inside SVG markup (the kinds come from the store).
fn esc(text: &str) -> String {
    super::html::escape(text)
}

/// The chart as one `<svg>` element, then a caption paragraph, ready to sit in an HTML page.
pub fn svg(activity: &Activity) -> String {
    let l = layout(activity);
    let max = l
        .bars
        .iter()
        .map(|(_, counts)| counts.iter().sum::<u64>())
        .max()
        .unwrap_or(0);
    let step = y_step(max.max(1));
    let top = max.max(1).div_ceil(step) * step;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let y = |v: u64| TOP + plot_h - plot_h * (v as f64) / (top as f64);
    let slot = plot_w / l.bars.len().max(1) as f64;
    let bar_w = (slot * 0.72).max(1.0);
    let total: u64 = l.kinds.iter().map(|(_, n)| n).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <title id=\"chart-title\">Operations done per {}, by kind</title>\n\
         <desc id=\"chart-desc\">{}</desc>\n",
        l.step.noun(),
        esc(&summary(activity, &l, total))
    );
    // Grid lines and y labels.
    for tick in (0..=top).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
        let ty = y(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\" stroke=\"#d9d9d9\" stroke-width=\"1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333333\">{tick}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0
        );
    }
    // Bars: one stacked column per day (week, month), one segment per kind, each with a tooltip.
    let every = l.bars.len().div_ceil(X_LABELS).max(1);
    for (i, (start, counts)) in l.bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = 0u64;
        for (k, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let (op, _) = &l.kinds[k];
            let (y0, y1) = (y(base), y(base + n));
            let _ = writeln!(
                out,
                "<rect class=\"bar\" data-op=\"{op}\" x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar_w:.1}\" \
                 height=\"{:.1}\" fill=\"{}\"><title>{}: {n} {op}</title></rect>",
                y0 - y1,
                kind_style(op).1,
                l.step.tooltip(*start),
                op = esc(op)
            );
            base += n;
        }
        if i % every == 0 {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333333\">{}</text>",
                LEFT + slot * (i as f64 + 0.5),
                TOP + plot_h + 16.0,
                l.step.label(*start)
            );
        }
    }
    // Axes and their titles.
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#333333\" stroke-width=\"1\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#333333\" stroke-width=\"1\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333333\">{}</text>\n\
         <text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333333\" transform=\"rotate(-90 14 {:.1})\">operations</text>\n",
        TOP + plot_h,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h,
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0,
        l.step.axis_title(),
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
    );
    if total == 0 {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555555\">No operation was done in this window</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    out.push_str("</svg>\n");
    out.push_str(&legend(&l));
    out.push_str(&caption(activity, &l, total));
    out
}

/// One line saying what the chart shows, for screen readers and the caption.
fn summary(activity: &Activity, l: &Layout, total: u64) -> String {
    let kinds: Vec<String> = l.kinds.iter().map(|(op, n)| format!("{n} {op}")).collect();
    let mut text = format!(
        "{total} operation(s) done from {} to {} (UTC)",
        activity.from.format("%Y-%m-%d"),
        activity.to.max(activity.from).format("%Y-%m-%d")
    );
    if !kinds.is_empty() {
        let _ = write!(text, ": {}", kinds.join(", "));
    }
    text
}

fn legend(l: &Layout) -> String {
    if l.kinds.is_empty() {
        return String::new();
    }
    let mut out = String::from("<ul class=\"legend\">\n");
    for (op, n) in &l.kinds {
        let _ = writeln!(
            out,
            "<li><svg class=\"swatch\" xmlns=\"http://www.w3.org/2000/svg\" width=\"12\" height=\"12\" \
             viewBox=\"0 0 12 12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" fill=\"{}\"/></svg> \
             {} <span class=\"count\">{n}</span></li>",
            kind_style(op).1,
            esc(op)
        );
    }
    out.push_str("</ul>\n");
    out
}

fn caption(activity: &Activity, l: &Layout, total: u64) -> String {
    let mut out = format!(
        "<p class=\"caption\">{}. From the journal: operations done (failed and skipped ones changed nothing), by when they were done.",
        esc(&summary(activity, l, total))
    );
    if let Some(cut) = l.cut {
        let _ = write!(
            out,
            " The chart shows the last {MAX_BARS} months, from {}; earlier ones are left out of it.",
            cut.format("%Y-%m")
        );
    }
    if let Some(cutoff) = activity
        .pruned_before
        .filter(|c| c.date_naive() > activity.from)
    {
        let _ = write!(
            out,
            " The journal of runs that finished before {} was pruned: what they did is no longer counted.",
            time_text(cutoff)
        );
    }
    out.push_str("</p>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn count(d: &str, op: &str, n: u64) -> DayCount {
        DayCount {
            day: day(d),
            op: op.into(),
            count: n,
        }
    }

    fn activity(from: &str, to: &str, counts: Vec<DayCount>) -> Activity {
        Activity {
            from: day(from),
            to: day(to),
            counts,
            pruned_before: None,
        }
    }

    #[test]
    fn bars_stack_kinds_per_day_in_legend_order() {
        let a = activity(
            "2026-03-01",
            "2026-03-05",
            vec![
                count("2026-03-02", "patch-user", 1),
                count("2026-03-02", "create-user", 4),
                count("2026-03-05", "deactivate-user", 1),
                count("2026-03-09", "create-user", 7),
            ],
        );
        let l = layout(&a);
        assert_eq!(l.step, Step::Day);
        assert_eq!(l.bars.len(), 5);
        assert_eq!(
            l.kinds,
            vec![
                ("create-user".to_owned(), 4),
                ("patch-user".to_owned(), 1),
                ("deactivate-user".to_owned(), 1)
            ],
            "a count outside the window is left out"
        );
        assert_eq!(l.bars[1], (day("2026-03-02"), vec![4, 1, 0]));
        let svg = svg(&a);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3, "{svg}");
        assert!(
            svg.contains("<title>2026-03-02: 4 create-user</title>"),
            "{svg}"
        );
        assert!(svg.contains(">03-01</text>"), "{svg}");
        assert!(svg.contains("6 operation(s) done from 2026-03-01 to 2026-03-05"));
        assert_eq!(svg, super::svg(&a), "deterministic");
        assert!(
            !svg.contains("style="),
            "no style attribute: the CSP allows none"
        );
    }

    #[test]
    fn long_windows_are_drawn_by_week_then_by_month_and_capped() {
        let weeks = layout(&activity(
            "2026-01-01",
            "2026-06-30",
            vec![
                count("2026-03-02", "create-user", 1),
                count("2026-03-08", "create-user", 2),
            ],
        ));
        assert_eq!(weeks.step, Step::Week);
        // 2026-03-02 is a Monday; the 8th is the Sunday of the same week.
        let bar = weeks.bars.iter().find(|(d, _)| *d == day("2026-03-02"));
        assert_eq!(bar, Some(&(day("2026-03-02"), vec![3])));
        assert_eq!(weeks.bars[0].0, day("2025-12-29"));
        let months = layout(&activity("2020-01-15", "2026-06-30", Vec::new()));
        assert_eq!(months.step, Step::Month);
        assert_eq!(months.bars.len(), 78);
        let capped = layout(&activity("1900-01-01", "2026-06-30", Vec::new()));
        assert_eq!(capped.bars.len(), MAX_BARS);
        assert_eq!(capped.cut, Some(day("2006-07-01")));
        assert!(svg(&activity("1900-01-01", "2026-06-30", Vec::new()))
            .contains("the last 240 months, from 2006-07"));
    }

    #[test]
    fn the_y_axis_has_round_steps_and_an_empty_window_says_so() {
        assert_eq!(y_step(1), 1);
        assert_eq!(y_step(5), 1);
        assert_eq!(y_step(6), 2);
        assert_eq!(y_step(23), 5);
        assert_eq!(y_step(4_000), 1_000);
        let empty = svg(&activity("2026-03-01", "2026-03-01", Vec::new()));
        assert!(
            empty.contains("No operation was done in this window"),
            "{empty}"
        );
        assert!(!empty.contains("class=\"legend\""));
    }

    #[test]
    fn an_unknown_kind_is_escaped_and_drawn_grey_and_a_prune_is_told() {
        let mut a = activity(
            "2026-03-01",
            "2026-03-03",
            vec![count("2026-03-02", "<b>x</b>", 2)],
        );
        a.pruned_before = Some(
            DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
                .unwrap()
                .to_utc(),
        );
        let svg = svg(&a);
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;"), "{svg}");
        assert!(svg.contains("fill=\"#b3b3b3\""), "{svg}");
        assert!(
            svg.contains("before 2026-03-02T00:00:00Z was pruned"),
            "{svg}"
        );
    }
}
