//! Where the commands write: stdout and stderr themselves, the JSON documents, and the error
//! document. What a table or text looks like is `crate::report`'s; this file picks JSON or text
//! and writes it.
//!
//! Every byte the CLI writes to stdout goes through [`out`] (or the [`outln!`] macro), which
//! never panics: when the reader has gone away (`idbridge plan | head -1`), the rest of the output
//! is dropped and the command carries on to its end and its usual exit code, so what a command
//! does never depends on when its reader stopped reading. Any other write error (a full disk
//! behind `> file`) is remembered and turns the exit into 3 ([`stdout_failure`]). Stderr goes
//! through [`err`] (errors ignored: there is nowhere left to report them), which also keeps
//! progress bars from tearing the lines.

use super::{progress, Exit, Format};
use crate::apply::{Outcome, Status};
use crate::plan::Plan;
use crate::report;
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The reader of stdout went away; later output is dropped.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Writing stdout failed for another reason (the first such error).
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();
/// A JSON document was written: a command writes exactly one.
static JSON_WRITTEN: AtomicBool = AtomicBool::new(false);

/// Write `text` to stdout, as described in the module doc.
pub fn out(text: &str) {
    out_bytes(text.as_bytes());
}

fn out_bytes(bytes: &[u8]) {
    if STDOUT_GONE.load(Ordering::SeqCst) || STDOUT_FAILED.get().is_some() {
        return;
    }
    let written = progress::suspend(|| {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()
    });
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_GONE.store(true, Ordering::SeqCst);
        }
        Err(e) => {
            let _ = STDOUT_FAILED.set(e.to_string());
        }
    }
}

/// Write `text` to stderr. A failed write is ignored: stderr is where failures are reported.
pub fn err(text: &str) {
    progress::suspend(|| {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr
            .write_all(text.as_bytes())
            .and_then(|()| stderr.flush());
    });
}

/// Why stdout could not be written, if it failed for another reason than its reader leaving.
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILED.get().map(String::as_str)
}

/// `println!` through [`out`].
macro_rules! outln {
    () => { $crate::cli::output::out("\n") };
    ($($arg:tt)*) => { $crate::cli::output::out(&format!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use outln;

/// `eprintln!` through [`err`].
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::err(&format!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use errln;

/// stdout through [`out_bytes`], for writers: its errors are [`out`]'s to remember, never the
/// writer's.
struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        out_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Write `doc` as the command's one JSON document, as it is serialised: a plan of 100,000
/// operations is never held as one string (docs/performance.md, "Scale").
pub fn json(doc: &impl Serialize) -> Result<()> {
    JSON_WRITTEN.store(true, Ordering::SeqCst);
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, Stdout);
    serde_json::to_writer_pretty(&mut writer, doc)?;
    writer.write_all(b"\n")?;
    writer.flush()?;
    Ok(())
}

/// Whether the command already wrote its JSON document.
pub fn json_written() -> bool {
    JSON_WRITTEN.load(Ordering::SeqCst)
}

/// What to do about a failure of each class of the exit-code table.
pub fn hint(exit: Exit) -> &'static str {
    match exit {
        Exit::Ok => "",
        Exit::Blocked => {
            "idbridge refused to go on (a guardrail, a stale or foreign plan, an empty source), or the target \
             refused a request; the message says which. Nothing more was applied. Fix the cause, or review and \
             re-plan, before running again: the same input gives the same result."
        }
        Exit::Usage => {
            "Fix the command line or the config (`idbridge check-config` checks the config); retrying unchanged \
             will not help."
        }
        Exit::Environment => {
            "The target, a source or the store could not be used (unreachable, refused token, full disk). A later \
             run may succeed; `idbridge check-config` tests each connection."
        }
        Exit::Locked => {
            "Another run of this store and target is in progress and nothing was written; run again once it \
             has finished."
        }
    }
}

/// The JSON document of a command that failed: `{"error": {"code", "kind", "message", "hint"}}`.
pub fn error_document(message: &str, exit: Exit) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "code": exit.code(),
            "kind": exit.name(),
            "message": message,
            "hint": hint(exit),
        }
    })
}

/// Print a plan to stdout.
pub fn print_plan(plan: &Plan, format: Format) -> Result<()> {
    match format {
        Format::Json => json(plan)?,
        Format::Table => {
            // On a terminal a huge plan shows its first rows and its summary; piped or
            // redirected, every row, as the file or log that keeps it expects.
            use std::io::IsTerminal;
            let rows = std::io::stdout()
                .is_terminal()
                .then_some(report::TERMINAL_ROWS);
            report::write_plan_text(plan, rows, out);
        }
    }
    Ok(())
}

/// The outcome as the text renderer sees it.
pub fn outcome_view(outcome: &Outcome) -> report::OutcomeView<'_> {
    report::OutcomeView {
        run_id: outcome.run_id,
        results: outcome
            .results
            .iter()
            .map(|r| report::OpLine {
                status: match r.status {
                    Status::Done => report::OpStatus::Done,
                    Status::Failed => report::OpStatus::Failed,
                    Status::Skipped => report::OpStatus::Skipped,
                },
                op: r.op,
                subject: &r.user_name,
                detail: r.detail.as_deref(),
            })
            .collect(),
        halted: outcome.halted.as_deref(),
    }
}

/// Print a sync/apply result.
pub fn print_outcome(plan: &Plan, outcome: &Outcome, format: Format) -> Result<()> {
    match format {
        Format::Json => json(&serde_json::json!({ "plan": plan, "outcome": outcome }))?,
        Format::Table => out(&report::outcome_text(&outcome_view(outcome))),
    }
    Ok(())
}

/// Print a plan's error findings to stderr (used where stdout carries something else).
pub fn eprint_errors(plan: &Plan) {
    let text = report::errors_text(plan);
    if !text.is_empty() {
        err(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::OpResult;
    use crate::plan::OpKind;

    /// The view hands every result over as it is: the text renderer counts and lists from it.
    #[test]
    fn the_outcome_view_keeps_every_result_and_the_halt() {
        let result = |seq, status| OpResult {
            seq,
            op: OpKind::PatchUser,
            user_name: format!("u{seq}@x.io"),
            status,
            scim_id: None,
            detail: (status != Status::Done).then(|| format!("why {seq}")),
            environment: false,
        };
        let outcome = Outcome {
            run_id: 7,
            results: vec![
                result(0, Status::Done),
                result(1, Status::Failed),
                result(2, Status::Skipped),
            ],
            halted: Some("token refused".to_owned()),
        };
        assert_eq!(
            report::outcome_text(&outcome_view(&outcome)),
            "  FAILED   patch-user u1@x.io: why 1\n  skipped  patch-user u2@x.io: why 2\n\
             run 7: 1 done, 1 failed, 1 skipped\nwrites stopped: token refused\n"
        );
    }

    #[test]
    fn the_error_document_carries_the_exit_code_and_what_to_do() {
        let doc = error_document("could not reach the SCIM target", Exit::Environment);
        assert_eq!(doc["error"]["code"], 3);
        assert_eq!(doc["error"]["kind"], "environment");
        assert_eq!(doc["error"]["message"], "could not reach the SCIM target");
        assert!(doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("check-config"));
        for exit in [Exit::Blocked, Exit::Usage, Exit::Environment, Exit::Locked] {
            assert!(!hint(exit).is_empty(), "{exit:?}");
        }
    }
}
