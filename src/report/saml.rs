//! The SAML check reports as text: a response check (verdict, the verified NameID and attributes,
//! the findings) and a metadata check (verdict, entity, endpoints, certificates, findings).
//! Everything shown but our own words comes from a SAML document, attacker-controlled in a posted
//! response, so it is made safe for a terminal.

use super::{terminal_safe, MAX_CELL_CHARS};
use crate::saml::metadata::MetaReport;
use crate::saml::{Finding, Report};
use comfy_table::Table;

/// A value from a SAML document, safe for a terminal.
fn safe(text: &str) -> String {
    terminal_safe(text, MAX_CELL_CHARS * 4)
}

fn findings_table(findings: &[Finding]) -> Table {
    let mut table = Table::new();
    table.set_header(vec!["severity", "code", "message", "fix"]);
    for f in findings {
        table.add_row(vec![
            f.severity.as_str().to_owned(),
            safe(&f.code),
            safe(&f.message),
            safe(&f.fix),
        ]);
    }
    table
}

/// `saml check-response` (and each response `saml test-login` receives).
pub fn response_text(report: &Report) -> String {
    let mut out = format!("verdict: {}\n", report.verdict.as_str());
    if let Some(n) = &report.name_id {
        out.push_str(&format!(
            "nameId:  {} ({})\n",
            safe(n),
            safe(report.name_id_format.as_deref().unwrap_or("no format"))
        ));
    }
    for (k, v) in &report.attributes {
        out.push_str(&format!("  {} = {}\n", safe(k), safe(&v.join(", "))));
    }
    out.push_str(&format!("{}\n", findings_table(&report.findings)));
    out
}

/// `saml check-metadata`.
pub fn metadata_text(report: &MetaReport) -> String {
    let mut out = format!("verdict:   {}\n", report.verdict.as_str());
    out.push_str(&format!(
        "entity ID: {}\n",
        safe(report.entity_id.as_deref().unwrap_or("(none)"))
    ));
    for e in &report.sso {
        out.push_str(&format!(
            "sso:       {} {}\n",
            safe(&e.binding),
            safe(&e.location)
        ));
    }
    if !report.certificates.is_empty() {
        let mut t = Table::new();
        t.set_header(vec!["use", "sha256", "notAfter", "daysLeft", "keyBits"]);
        for c in &report.certificates {
            t.add_row(vec![
                safe(&c.use_),
                c.sha256.clone(),
                safe(&c.not_after),
                c.days_left.to_string(),
                c.key_bits.to_string(),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    out.push_str(&format!("{}\n", findings_table(&report.findings)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::Verdict;
    use std::collections::BTreeMap;

    /// A posted response is the attacker's: a NameID or attribute that carries terminal escapes
    /// must not reach the terminal as such.
    #[test]
    fn values_from_the_document_cannot_drive_the_terminal() {
        let report = Report {
            verdict: Verdict::Accept,
            name_id: Some("ada\u{1b}[2J@x.io".to_owned()),
            name_id_format: None,
            attributes: BTreeMap::from([(
                "title\u{202e}".to_owned(),
                vec!["\u{1b}]0;pwned\u{7}".to_owned()],
            )]),
            findings: vec![Finding::info("time-only", "\u{1b}[31mred")],
            assertion_id: None,
        };
        let text = response_text(&report);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert!(text.starts_with("verdict: accept\nnameId:  ada\\u{1b}[2J@x.io (no format)\n"));
        assert!(
            text.contains("  title\\u{202e} = \\u{1b}]0;pwned\\u{7}\n"),
            "{text}"
        );
    }
}
