//! Progress on a terminal (indicatif): a bar of operations done during apply, and a spinner while
//! the sources and the target are read. Shown only when stderr is a terminal and no JSON was asked
//! for (`--format json`, `--log-format json`); otherwise nothing is drawn at all, so scheduled
//! runs and pipes see no `\r` or bar characters.
//!
//! The library knows nothing of terminals: apply reports each finished operation through
//! [`apply::Progress`], implemented here. Everything else written to stderr (log lines, messages)
//! goes through [`suspend`], which lifts the bars for the moment of the write.

use super::{Format, LogFormat};
use crate::apply::{self, Status};
use crate::plan::OpKind;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Set once, at start, when progress is wanted.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Whether to show progress: on a terminal, and never next to JSON.
pub fn wanted(stderr_is_terminal: bool, format: Format, log_format: LogFormat) -> bool {
    stderr_is_terminal && format == Format::Table && log_format == LogFormat::Text
}

/// Turn progress on for this process (call once, at start, when [`wanted`]).
pub fn enable() {
    let _ = BARS.set(MultiProgress::new());
}

/// Run `write` with the bars lifted, so a line written to the terminal does not tear them.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    match BARS.get() {
        Some(bars) => bars.suspend(write),
        None => write(),
    }
}

/// A spinner with a message and the time spent, cleared when dropped; nothing without progress.
pub struct Spinner(Option<ProgressBar>);

/// Start a spinner saying what is going on.
pub fn spinner(message: &str) -> Spinner {
    Spinner(BARS.get().map(|bars| {
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }))
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// The apply bar: operations done out of the plan's, the kind being applied, failures so far.
struct ApplyBar {
    bar: ProgressBar,
    failed: std::sync::atomic::AtomicUsize,
}

impl apply::Progress for ApplyBar {
    fn start(&self, total: usize) {
        self.bar.set_length(total as u64);
    }

    fn finished(&self, kind: OpKind, status: Status) {
        use std::sync::atomic::Ordering;
        if status == Status::Failed {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        let failed = self.failed.load(Ordering::SeqCst);
        self.bar.set_message(if failed == 0 {
            kind.to_string()
        } else {
            format!("{kind} ({failed} failed)")
        });
        self.bar.inc(1);
    }
}

impl Drop for ApplyBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// The apply bar, or none without progress.
pub fn apply_bar() -> Option<Arc<dyn apply::Progress>> {
    let bars = BARS.get()?;
    let bar = bars.add(ProgressBar::new(0));
    bar.set_style(
        ProgressStyle::with_template("applying [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    Some(Arc::new(ApplyBar {
        bar,
        failed: std::sync::atomic::AtomicUsize::new(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_only_on_a_terminal_and_never_next_to_json() {
        assert!(wanted(true, Format::Table, LogFormat::Text));
        assert!(!wanted(false, Format::Table, LogFormat::Text));
        assert!(!wanted(true, Format::Json, LogFormat::Text));
        assert!(!wanted(true, Format::Table, LogFormat::Json));
    }
}
