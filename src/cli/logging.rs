//! Log setup: which events are shown (`RUST_LOG`, else `-v`), whether they are coloured (only on
//! a terminal, never with `NO_COLOR`), and where they go (stderr, around any progress bar).
//! docs/cli.md, "Output for scripts and terminals", states the rules.

use super::{progress, Cli, LogFormat};
use std::io::{IsTerminal, Write};
use tracing_subscriber::EnvFilter;

/// Crates whose own logs stay at `warn` unless `RUST_LOG` says otherwise.
const QUIET: &str = "hyper=warn,h2=warn,rustls=warn,sqlx=warn";

/// The log filter: `RUST_LOG` when it is set and not empty (the whole filter, as tracing users
/// expect; `-v` then changes nothing), else the level of `-v` with the noisy crates kept quiet.
/// A `RUST_LOG` that does not parse is ignored with the returned warning: logging is never a
/// reason to stop a run.
pub fn filter(verbose: u8, rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let default = || EnvFilter::new(format!("{level},{QUIET}"));
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (default(), None),
        Some(directives) => match EnvFilter::builder().parse(directives) {
            Ok(filter) => (filter, None),
            Err(e) => (
                default(),
                Some(format!(
                    "ignoring RUST_LOG={directives:?}: {e}; logging at `{level}` (from -v) instead. \
                     RUST_LOG takes tracing directives such as `idbridge=debug` or `info,sqlx=debug`."
                )),
            ),
        },
    }
}

/// Whether log lines carry ANSI colours: only on a terminal, and not when `NO_COLOR` is set to
/// anything but the empty string (no-color.org).
pub fn ansi(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Stderr for log lines, written around the progress bars.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        progress::suspend(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Install the global subscriber for `cli`'s options and this process's environment.
pub fn init(cli: &Cli) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, warning) = filter(cli.verbose, rust_log.as_deref());
    let colour = ansi(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let shown = filter.to_string();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(|| LogWriter);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    tracing::debug!(filter = %shown, colour, "idbridge {} logging", env!("CARGO_PKG_VERSION"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(ansi(true, None));
        assert!(ansi(true, Some(OsStr::new(""))));
        assert!(!ansi(true, Some(OsStr::new("1"))));
        assert!(!ansi(false, None));
    }

    /// The filter's directives, in no particular order.
    fn directives(f: &EnvFilter) -> std::collections::BTreeSet<String> {
        f.to_string().split(',').map(str::to_owned).collect()
    }

    #[test]
    fn rust_log_is_the_filter_when_set_and_v_otherwise() {
        let (f, w) = filter(0, Some("idbridge=debug"));
        assert_eq!(f.to_string(), "idbridge=debug");
        assert!(w.is_none());
        let (f, _) = filter(1, None);
        assert!(directives(&f).contains("info"), "{f}");
        assert!(directives(&f).contains("sqlx=warn"), "{f}");
        let (f, _) = filter(2, Some("  "));
        assert!(directives(&f).contains("debug"), "{f}");
        let (f, w) = filter(1, Some("idbridge=loud"));
        assert!(directives(&f).contains("info"), "{f}");
        assert!(w.unwrap().contains("ignoring RUST_LOG"));
    }
}
