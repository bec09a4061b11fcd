//! Docs that stay true: the lists in `docs/` that name things in the code are checked against the
//! code, and every document a source comment cites is in this repository.

use idbridge::model::FindingCode;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use strum::VariantArray;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of a `## heading` section, up to the next heading of the same or a higher level.
fn section<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "no section `{heading}`");
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// The first cells of a Markdown table's rows that are a single code span (`` `x` ``).
fn first_cells(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(code, _)| code.to_owned())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn plan_format_lists_every_finding_code_and_no_other() {
    let doc = read("docs/plan-format.md");
    let listed = first_cells(&section(&doc, "## Finding codes"));
    let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), listed.len(), "a code is listed twice");
    let codes: BTreeSet<&str> = FindingCode::VARIANTS.iter().map(|c| c.as_str()).collect();
    let missing: Vec<_> = codes.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&codes).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/plan-format.md, \"Finding codes\": missing {missing:?}; not a FindingCode {unknown:?}"
    );
}

/// Every module of the crate has a row of its own in the module table, and so does every
/// connector (each has its own reads, bounds and failure modes).
#[test]
fn architecture_has_a_row_for_every_module() {
    let doc = read("docs/architecture.md");
    let rows: BTreeSet<String> = first_cells(&doc.lines().collect::<Vec<_>>())
        .into_iter()
        .collect();
    let mut modules: Vec<String> = read("src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_owned())
        .collect();
    assert!(modules.len() >= 10, "{modules:?}");
    for entry in std::fs::read_dir(root().join("src/connectors")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            modules.push(format!("connectors::{name}"));
        }
    }
    let missing: Vec<_> = modules.iter().filter(|m| !rows.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md has no row for {missing:?}"
    );
}

/// A comment that cites a document points at one a reader of this repository can open: a file
/// of the repository (`docs/notion.md`; a bare `cli.md` is looked up in `docs/`), with the cited
/// section (`docs/notion.md, "Tokens"`) a heading of it; a section sign (`§`) only after the name
/// of a public specification.
#[test]
fn source_comments_cite_documents_in_the_repository() {
    const SPECS: &[&str] = &[
        "RFC ",
        "UTS ",
        "MS-",
        "SAML ",
        "XML-DSig ",
        "XML Signature ",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("tests"), &mut files);
    // This file's own comments show the forms it checks.
    files.retain(|f| !f.ends_with("tests/docs.rs"));
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(root()).unwrap().display().to_string();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{shown}:{}", n + 1);
            for cited in cited_documents(line) {
                let path = if cited.contains('/') || root().join(&cited).exists() {
                    root().join(&cited)
                } else {
                    root().join("docs").join(&cited)
                };
                if !path.is_file() {
                    wrong.push(format!(
                        "{at}: cites {cited}, which is not in the repository"
                    ));
                }
            }
            for (doc, title) in cited_sections(line) {
                let text = std::fs::read_to_string(root().join(&doc)).unwrap_or_default();
                let found = text
                    .lines()
                    .any(|l| l.trim_start_matches('#').trim() == title && l.starts_with('#'));
                if !found {
                    wrong.push(format!("{at}: {doc} has no section \"{title}\""));
                }
            }
            for (i, _) in line.match_indices('§') {
                let before = &line[..i];
                let named = SPECS
                    .iter()
                    .filter_map(|s| before.rfind(s))
                    .any(|p| before[p..].chars().count() <= 40);
                if !named {
                    wrong.push(format!(
                        "{at}: a section sign without the specification it belongs to"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Names ending in `.md` on a line (a path or a bare file name).
fn cited_documents(line: &str) -> Vec<String> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-')))
        .filter(|w| w.ends_with(".md") && w.len() > 3)
        .map(|w| w.trim_start_matches("./").to_owned())
        .collect()
}

/// `docs/x.md, "Title"` citations on a line.
fn cited_sections(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find(".md, \"") {
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')))
            .map_or(0, |p| p + 1);
        let doc = format!("{}.md", &rest[start..i]);
        let after = &rest[i + 6..];
        let Some(end) = after.find('"') else { break };
        let doc = if doc.contains('/') {
            doc
        } else {
            format!("docs/{doc}")
        };
        out.push((doc, after[..end].to_owned()));
        rest = &after[end..];
    }
    out
}

#[test]
fn notion_md_lists_every_emulator_switch_and_no_other() {
    let switches = serde_json::to_value(idbridge::emulator::Switches::default()).unwrap();
    let mut code: Vec<String> = switches.as_object().unwrap().keys().cloned().collect();
    code.sort();
    let doc = read("docs/notion.md");
    let mut listed = first_cells(&section(&doc, "## The emulator's switches"));
    listed.sort();
    assert_eq!(listed, code, "docs/notion.md, \"The emulator's switches\"");
}

#[test]
fn notion_md_lists_every_chaos_key_and_no_other() {
    let chaos = serde_json::to_value(idbridge::emulator::Chaos::default()).unwrap();
    let mut code: Vec<String> = chaos.as_object().unwrap().keys().cloned().collect();
    code.sort();
    let doc = read("docs/notion.md");
    let mut listed = first_cells(&section(&doc, "## The emulator's faults and chaos"));
    listed.sort();
    assert_eq!(
        listed, code,
        "docs/notion.md, \"The emulator's faults and chaos\""
    );
}
