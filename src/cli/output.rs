//! Rendering for the terminal: plans, outcomes and checks as tables or JSON.

use super::Format;
use crate::apply::{Outcome, Status};
use crate::plan::{Plan, Severity};
use crate::report;
use anyhow::Result;

/// Print a plan to stdout.
pub fn print_plan(plan: &Plan, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(plan)?),
        Format::Table => print!("{}", report::plan_text(plan)),
    }
    Ok(())
}

/// The outcome as text.
pub fn outcome_text(outcome: &Outcome) -> String {
    let mut out = String::new();
    for r in outcome.results.iter().filter(|r| r.status != Status::Done) {
        let status = match r.status {
            Status::Done => "done",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        };
        out.push_str(&format!(
            "  {status:<8} {} {}: {}\n",
            r.op,
            r.user_name,
            r.detail.as_deref().unwrap_or("")
        ));
    }
    out.push_str(&format!(
        "run {}: {} done, {} failed, {} skipped\n",
        outcome.run_id,
        outcome.count(Status::Done),
        outcome.count(Status::Failed),
        outcome.count(Status::Skipped)
    ));
    if let Some(halt) = &outcome.halted {
        out.push_str(&format!("writes stopped: {halt}\n"));
    }
    out
}

/// Print a sync/apply result.
pub fn print_outcome(plan: &Plan, outcome: &Outcome, format: Format) -> Result<()> {
    match format {
        Format::Json => {
            let doc = serde_json::json!({ "plan": plan, "outcome": outcome });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => print!("{}", outcome_text(outcome)),
    }
    Ok(())
}

/// Print a plan's findings to stderr (used where stdout carries something else).
pub fn eprint_errors(plan: &Plan) {
    for f in plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
    {
        eprintln!("error [{}]: {}", f.code, f.message);
    }
}
