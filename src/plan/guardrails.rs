//! Guardrails on the planner's inputs: checks that stop a run before any plan is made, as pure
//! functions returning a typed refusal, so every front end (`plan`, `sync`, `apply --plan`, `serve`)
//! refuses the same inputs with the same words. The guardrails on the plan itself (the deactivation
//! limit, held deactivations) live with the planner (`diff`) and its re-check (`verify`).

use crate::model::SourceIssue;
use std::fmt;

/// Skipped rows quoted when a source yields nobody: enough to see the pattern (a wrong delimiter,
/// a renamed status) without a flood.
const SKIPPED_QUOTED: usize = 3;
/// Longest reason quoted, in characters: a reason can quote a cell of up to `max_field_bytes`.
const REASON_QUOTED: usize = 300;

/// A source that yielded no valid person. The run is refused: an empty or broken export must
/// never look like everybody left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptySource {
    /// The source's name.
    pub source: String,
    /// Rows it reported (every issue it raised).
    pub issues: usize,
    /// The first rows it skipped, to show what went wrong.
    pub first_skipped: Vec<SkippedRow>,
    /// Skipped rows beyond those quoted.
    pub more_skipped: usize,
}

/// A skipped row as a refusal quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// Where (`hr.csv line 2`, a DN, an API page and record).
    pub location: String,
    /// Why it was skipped, control characters escaped and cut at [`REASON_QUOTED`] characters
    /// (`…` marks a cut): source text is quoted to a terminal.
    pub reason: String,
}

impl fmt::Display for EmptySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "source `{}` yielded no valid person ({} rows skipped); refusing to run, because an \
             empty or broken export must never look like everybody left. ",
            self.source, self.issues
        )?;
        if self.first_skipped.is_empty() {
            return f.write_str(
                "The source has no rows (only a header?); check the file and the column names",
            );
        }
        f.write_str("Check the file and the column names. The first skipped rows:")?;
        for row in &self.first_skipped {
            write!(f, "\n  {}: {}", row.location, row.reason)?;
        }
        if self.more_skipped > 0 {
            write!(f, "\n  and {} more", self.more_skipped)?;
        }
        Ok(())
    }
}

// By hand rather than with `thiserror`, which would take the field `source` for a cause.
impl std::error::Error for EmptySource {}

/// Refuse source `source` when it yielded no valid person (`people` is how many it yielded);
/// `issues` are the rows it reported, of which those that skipped a person are quoted.
pub fn empty_source(
    source: &str,
    people: usize,
    issues: &[SourceIssue],
) -> Result<(), EmptySource> {
    if people > 0 {
        return Ok(());
    }
    let skipped: Vec<&SourceIssue> = issues.iter().filter(|i| i.skipped_person).collect();
    Err(EmptySource {
        source: source.to_owned(),
        issues: issues.len(),
        first_skipped: skipped
            .iter()
            .take(SKIPPED_QUOTED)
            .map(|issue| SkippedRow {
                location: issue.location.clone(),
                reason: quoted(&issue.message),
            })
            .collect(),
        more_skipped: skipped.len().saturating_sub(SKIPPED_QUOTED),
    })
}

/// `text` safe to quote on one line: control characters escaped, at most [`REASON_QUOTED`]
/// characters of it.
fn quoted(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(REASON_QUOTED) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(REASON_QUOTED).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(line: usize, message: &str, skipped_person: bool) -> SourceIssue {
        SourceIssue {
            source: "hr".into(),
            location: format!("hr.csv line {line}"),
            code: crate::model::FindingCode::SourceRowInvalid,
            message: message.into(),
            skipped_person,
            hints: Vec::new(),
        }
    }

    #[test]
    fn a_source_with_people_passes() {
        assert_eq!(empty_source("hr", 1, &[issue(2, "bad", true)]), Ok(()));
    }

    #[test]
    fn a_header_only_source_is_refused() {
        let err = empty_source("hr", 0, &[]).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            text,
            "source `hr` yielded no valid person (0 rows skipped); refusing to run, because an \
             empty or broken export must never look like everybody left. The source has no rows \
             (only a header?); check the file and the column names"
        );
    }

    #[test]
    fn the_first_skipped_rows_are_quoted_safely() {
        let long = "x".repeat(REASON_QUOTED + 5);
        let issues = [
            issue(2, "unknown status `retired`", true),
            issue(3, "a notice that skipped nobody", false),
            issue(4, "bell\u{7} and\nnewline", true),
            issue(5, &long, true),
            issue(6, "one more", true),
            issue(7, "and another", true),
        ];
        let Err(refusal) = empty_source("hr", 0, &issues) else {
            panic!("nobody was yielded")
        };
        assert_eq!(refusal.issues, 6);
        assert_eq!(refusal.more_skipped, 2);
        let reasons: Vec<&str> = refusal
            .first_skipped
            .iter()
            .map(|r| r.reason.as_str())
            .collect();
        assert_eq!(reasons[0], "unknown status `retired`");
        assert_eq!(reasons[1], "bell\\u{7} and\\nnewline");
        assert_eq!(reasons[2], format!("{}…", "x".repeat(REASON_QUOTED)));
        let text = refusal.to_string();
        assert!(
            text.contains(
                "(6 rows skipped)"
            ) && text.contains(
                "The first skipped rows:\n  hr.csv line 2: unknown status `retired`\n  hr.csv line 4: "
            ) && text.ends_with("\n  and 2 more"),
            "{text}"
        );
    }
}
