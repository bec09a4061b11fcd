//! The pure core must stay pure: `model`, `mapping`, `plan`, `report` and the SAML rules never name an I/O crate,
//! an edge module, the file system, the environment or the wall clock. And every module imports
//! only the modules its row of docs/architecture.md allows, so imports go one way.

use std::path::{Path, PathBuf};

const PURE: &[&str] = &[
    "src/model",
    "src/mapping",
    "src/plan",
    "src/report",
    "src/saml/rules",
];
const FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "ldap3",
    "axum",
    "std::fs",
    "std::env",
    "std::net",
    "Utc::now",
    "SystemTime",
    "crate::connectors",
    "crate::scim",
    "crate::store",
    "crate::apply",
    "crate::http",
    "crate::cli",
    "crate::emulator",
    "crate::config",
    "crate::clock",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
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
fn pure_modules_do_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in PURE {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() >= 6,
        "expected the pure modules' files, found {files:?}"
    );
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Test modules may read golden files; only the code above them is the core.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let is_test_file = file.file_name().is_some_and(|n| n == "tests.rs");
        if is_test_file {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if line.contains(word) {
                    violations.push(format!("{}:{}: names `{word}`", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "pure modules must not do I/O:\n{}",
        violations.join("\n")
    );
}

/// One row of docs/architecture.md's module table: a module and the modules it may import.
struct Row {
    module: String,
    may_import: Option<Vec<String>>,
}

/// The module table: first cell the module, last cell what it may import (`everything`, or the
/// crate's modules in backticks before a `;`, external crates after it).
fn architecture_rows(doc: &str) -> Vec<Row> {
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 3, "a module row has three cells: {line}");
            let module = cells[0].trim().trim_matches('`').to_owned();
            let last = cells[2].trim();
            let may_import = (last != "everything").then(|| {
                let ours = last.split(';').next().unwrap_or("");
                ours.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect()
            });
            Row { module, may_import }
        })
        .collect()
}

/// The module a file belongs to: the most specific row whose path holds it.
fn owner<'a>(rows: &'a [Row], file: &Path, src: &Path) -> Option<&'a Row> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let path: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    rows.iter()
        .filter(|r| {
            let parts: Vec<&str> = r.module.split("::").collect();
            parts.len() <= path.len() && parts.iter().zip(&path).all(|(a, b)| a == b)
        })
        .max_by_key(|r| r.module.len())
}

/// The first path segments after each `crate::` in `code`, groups (`crate::{a, b::c}`) included.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(item);
        } else {
            out.push(rest.to_owned());
        }
    }
    out.iter()
        .map(|p| {
            p.trim()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .trim_end_matches(':')
                .to_owned()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// Imports go one way and docs/architecture.md says which: every module names only the modules of
/// the crate its row allows (its own submodules aside). Test code is left out.
#[test]
fn modules_import_only_what_the_architecture_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let rows = architecture_rows(&doc);
    assert!(rows.len() >= 12, "module rows: {}", rows.len());
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let is_test = file.file_name().is_some_and(|n| n == "tests.rs")
            || file.components().any(|c| c.as_os_str() == "tests");
        let Some(row) = owner(&rows, file, &src) else {
            continue;
        };
        let Some(allowed) = &row.may_import else {
            continue;
        };
        if is_test {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let own = row.module.split("::").next().unwrap_or("");
        for path in crate_paths(&code) {
            let top = path.split("::").next().unwrap_or("");
            let ok = top == own
                || allowed
                    .iter()
                    .any(|a| path == *a || path.starts_with(&format!("{a}::")) || top == a);
            if !ok {
                violations.push(format!(
                    "{}: `{}` names crate::{path}, not in its row's \"may import\"",
                    file.strip_prefix(root).unwrap().display(),
                    row.module
                ));
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "docs/architecture.md, module table:\n{}",
        violations.join("\n")
    );
}

/// Functions longer than this many lines need a reason in the comment above them.
const MAX_FN_LINES: usize = 80;
/// What that comment says first: `// Over 80 lines: <why it reads best whole>` (or `///`).
const LONG_FN_MARKER: &str = "Over 80 lines:";

/// `text` with comments and string and character literals blanked (line breaks kept), so the
/// braces inside them do not count and line numbers stay true.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let raw_hashes = (c == 'r' && !after_ident)
            .then(|| chars[i + 1..].iter().take_while(|&&h| h == '#').count())
            .filter(|&n| chars.get(i + 1 + n) == Some(&'"'));
        let end = if at(i, "//") {
            (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len())
        } else if at(i, "/*") {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0usize, i);
            while j < chars.len() {
                if at(j, "/*") {
                    depth += 1;
                    j += 2;
                } else if at(j, "*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            j
        } else if let Some(n) = raw_hashes {
            let close: String = std::iter::once('"').chain("#".repeat(n).chars()).collect();
            let from = i + 2 + n;
            (from..chars.len())
                .find(|&j| at(j, &close))
                .map_or(chars.len(), |j| j + close.len())
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            j + 1
        } else if c == '\'' && chars.get(i + 1) == Some(&'\\') {
            (i + 2..chars.len())
                .find(|&j| chars[j] == '\'')
                .map_or(chars.len(), |j| j + 1)
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i + 3
        } else {
            // Code, or a lifetime's quote.
            out.push(c);
            i += 1;
            continue;
        };
        let end = end.min(chars.len());
        out.extend(chars[i..end].iter().map(|&c| blank(c)));
        i = end;
    }
    out
}

/// Every function in `text` longer than [`MAX_FN_LINES`] without [`LONG_FN_MARKER`] in the
/// comments and attributes right above it: `(line, name, length)`.
fn long_functions(text: &str) -> Vec<(usize, String, usize)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let raw: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else {
            continue;
        };
        let Some(end) = body_end(&lines, n) else {
            continue;
        };
        let length = end - n + 1;
        let above = raw[..n]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("//") || l.starts_with("#[") || l.starts_with("#!["));
        if length > MAX_FN_LINES && !above.into_iter().any(|l| l.contains(LONG_FN_MARKER)) {
            out.push((n + 1, name, length));
        }
    }
    out
}

/// The name of the function whose `fn` keyword is on `line` (code only), if any.
fn fn_name(line: &str) -> Option<String> {
    let (i, _) = line.match_indices("fn ").find(|(i, _)| {
        *i == 0 || !line[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
    })?;
    let name: String = line[i + 3..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The line of the brace that closes the body of the function declared on line `start`; `None`
/// for a declaration without a body (`fn f();` in a trait).
fn body_end(lines: &[&str], start: usize) -> Option<usize> {
    let (mut depth, mut nesting, mut open) = (0usize, 0usize, false);
    let first = lines[start].find("fn ")?;
    for (n, line) in lines.iter().enumerate().skip(start) {
        let from = if n == start { first } else { 0 };
        for c in line[from..].chars() {
            match c {
                '(' | '[' | '<' if !open => nesting += 1,
                ')' | ']' | '>' if !open => nesting = nesting.saturating_sub(1),
                ';' if !open && nesting == 0 => return None,
                '{' => {
                    open = true;
                    depth += 1;
                }
                '}' if open => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(n);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// Small functions each doing one thing: a function over 80 lines says why in the comment above
/// it (`// Over 80 lines: ...`), as a route table or a table of test cases does.
#[test]
fn no_function_is_over_80_lines_without_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, name, length) in long_functions(&text) {
            let file = file.strip_prefix(root).unwrap().display();
            long.push(format!("{file}:{line}: fn {name} is {length} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "split these along what they do, or say why one reads best whole in a comment above it \
         starting `{LONG_FN_MARKER}`:\n{}",
        long.join("\n")
    );
}

/// The scan itself: braces in strings, chars and comments do not count, a signature's `->` and
/// generics do not confuse it, and the marker excuses a function.
#[test]
fn the_function_length_scan_counts_only_code() {
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    let long = format!(
        "fn long<T: Into<String>>(a: [u8; 2]) -> Vec<T> {{\n    let s = \"}}{{\"; let c = '}}'; // }}\n{body}}}\n"
    );
    assert_eq!(
        long_functions(&long),
        vec![(1, "long".to_owned(), MAX_FN_LINES + 3)]
    );
    let excused = format!("/// Over 80 lines: a table.\n#[allow(dead_code)]\n{long}");
    assert!(long_functions(&excused).is_empty());
    let short = format!("fn short() -> &'static str {{\n    r#\"{{\"#\n}}\n{long}");
    assert_eq!(
        long_functions(&short),
        vec![(4, "long".to_owned(), MAX_FN_LINES + 3)]
    );
    let declared = "trait T {\n    fn f(&self);\n}\n";
    assert!(long_functions(declared).is_empty());
}

/// Alerts are a sink downstream of a run's report: they may read the report, the store, their
/// settings and the clock, never reach back into what a run does (sources, mapping, planning,
/// applying, the SCIM client) or into the CLI.
#[test]
fn alerts_sit_downstream_of_the_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let rows = architecture_rows(&doc);
    let alert = rows
        .iter()
        .find(|r| r.module == "alert")
        .expect("docs/architecture.md has a row for `alert`");
    let allowed = alert
        .may_import
        .as_ref()
        .expect("`alert` lists what it may import");
    for upstream in [
        "connectors",
        "mapping",
        "plan",
        "apply",
        "scim",
        "cli",
        "emulator",
    ] {
        assert!(
            !allowed.iter().any(|m| m == upstream),
            "`alert` must not import `{upstream}`: {allowed:?}"
        );
    }
    assert!(allowed.iter().any(|m| m == "serve") && allowed.iter().any(|m| m == "store"));
}

/// Each backend's migrations have distinct versions and the two backends have the same ones:
/// two branches that picked the same timestamp once made every fresh store fail to migrate.
#[test]
fn migration_versions_are_unique_and_alike_in_both_backends() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let versions = |backend: &str| {
        let mut seen = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(root.join(backend)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let (version, _) = name
                .split_once('_')
                .unwrap_or_else(|| panic!("{backend}/{name}: no VERSION_ prefix"));
            if let Some(other) = seen.insert(version.to_owned(), name.clone()) {
                panic!("{backend}: {name} and {other} share the version {version}");
            }
        }
        seen
    };
    let sqlite = versions("sqlite");
    let postgres = versions("postgres");
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "sqlite and postgres migrations differ"
    );
}
