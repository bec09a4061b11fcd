//! What a run did, as text: the operations that did not go through, the counts, and why writes
//! stopped. The CLI hands over a view of `apply`'s outcome ([`OutcomeView`]), so this module
//! never depends on the module that writes.

use super::{terminal_safe, MAX_CELL_CHARS};
use crate::plan::OpKind;

/// How one operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// Done.
    Done,
    /// Refused or not reached.
    Failed,
    /// Not attempted.
    Skipped,
}

/// One operation's result, as shown.
#[derive(Debug, Clone, Copy)]
pub struct OpLine<'a> {
    /// How it ended.
    pub status: OpStatus,
    /// Its kind.
    pub op: OpKind,
    /// The userName or displayName it was about.
    pub subject: &'a str,
    /// The error or the reason it was skipped.
    pub detail: Option<&'a str>,
}

/// A run's outcome, as shown.
#[derive(Debug, Clone)]
pub struct OutcomeView<'a> {
    /// The run's id in the journal.
    pub run_id: i64,
    /// Every operation, in plan order.
    pub results: Vec<OpLine<'a>>,
    /// Why writes stopped, when they did.
    pub halted: Option<&'a str>,
}

impl OutcomeView<'_> {
    fn count(&self, status: OpStatus) -> usize {
        self.results.iter().filter(|r| r.status == status).count()
    }
}

/// The outcome as text. Names and details come from sources and the target's replies, so they
/// are escaped and cut like table cells.
pub fn outcome_text(outcome: &OutcomeView<'_>) -> String {
    let mut text = String::new();
    for r in outcome
        .results
        .iter()
        .filter(|r| r.status != OpStatus::Done)
    {
        let status = match r.status {
            OpStatus::Done => "done",
            OpStatus::Failed => "FAILED",
            OpStatus::Skipped => "skipped",
        };
        text.push_str(&format!(
            "  {status:<8} {} {}: {}\n",
            r.op,
            terminal_safe(r.subject, MAX_CELL_CHARS),
            terminal_safe(r.detail.unwrap_or(""), MAX_CELL_CHARS * 8)
        ));
    }
    text.push_str(&format!(
        "run {}: {} done, {} failed, {} skipped\n",
        outcome.run_id,
        outcome.count(OpStatus::Done),
        outcome.count(OpStatus::Failed),
        outcome.count(OpStatus::Skipped)
    ));
    if let Some(halt) = outcome.halted {
        text.push_str(&format!(
            "writes stopped: {}\n",
            terminal_safe(halt, MAX_CELL_CHARS * 8)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_lines_escape_and_cut_what_the_data_holds() {
        let name = format!("ada\u{1b}[2J\u{202e}{}", "x".repeat(5_000));
        let outcome = OutcomeView {
            run_id: 7,
            results: vec![OpLine {
                status: OpStatus::Failed,
                op: OpKind::PatchUser,
                subject: &name,
                detail: Some("refused: \u{1b}]0;pwned\u{7}"),
            }],
            halted: Some("token \u{1b}[31mrefused"),
        };
        let text = outcome_text(&outcome);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(!text.contains('\u{202e}'), "{text}");
        assert!(text.contains("ada\\u{1b}[2J\\u{202e}x"), "{text}");
        assert!(text.contains("refused: \\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(text.contains("writes stopped: token \\u{1b}[31mrefused"));
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn only_what_did_not_go_through_is_listed_and_every_status_is_counted() {
        let line = |status, subject| OpLine {
            status,
            op: OpKind::CreateUser,
            subject,
            detail: None,
        };
        let outcome = OutcomeView {
            run_id: 3,
            results: vec![
                line(OpStatus::Done, "a@x.io"),
                line(OpStatus::Skipped, "b@x.io"),
                line(OpStatus::Failed, "c@x.io"),
                line(OpStatus::Done, "d@x.io"),
            ],
            halted: None,
        };
        assert_eq!(
            outcome_text(&outcome),
            "  skipped  create-user b@x.io: \n  FAILED   create-user c@x.io: \n\
             run 3: 2 done, 1 failed, 1 skipped\n"
        );
    }
}
