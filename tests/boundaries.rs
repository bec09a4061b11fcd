//! The pure core must stay pure: `model`, `mapping`, `plan`, `report` and the SAML rules never name an I/O crate,
//! an edge module, the file system, the environment or the wall clock.

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
