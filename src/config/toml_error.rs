//! The TOML parser's errors, rebuilt as config errors that name the file, the line, the column
//! and the key. The parser's own text quotes the offending line, which may hold a secret typed
//! into the file by mistake (`token = "…"` for `token_env`): here the message is built from the
//! error's position instead, and whatever it still quotes goes through [`super::redact`] later.

use super::redact::holds_secret;
use super::{names, ConfigError};
use std::path::Path;

/// A parse error of `text` (the file at `path`) as a config error.
pub fn convert(err: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    convert_with(err, text, path, |_, _| None)
}

/// As [`convert`], but an unknown key `name` (at dotted `key`) is first offered to `explain`,
/// whose sentence, if it has one, replaces the usual suggestion (a `[[sources]]` entry says
/// that a key of another source kind does not apply to its kind).
pub fn convert_with(
    err: &toml::de::Error,
    text: &str,
    path: &Path,
    explain: impl Fn(&str, &str) -> Option<String>,
) -> ConfigError {
    let offset = err.span().map_or(0, |s| s.start).min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[..offset].matches('\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    let line_text = &text[line_start..line_end];
    let message = err.message();
    if let Some(name) = unknown_field(message) {
        let key = key_path(text, line_start, &line_text[..offset - line_start], name);
        let table = key.split(['.', '[']).next().unwrap_or("");
        let message = explain(&key, name)
            .unwrap_or_else(|| unknown_key(name, &expected_fields(message), table));
        return ConfigError::Invalid {
            path: path.to_owned(),
            line,
            key,
            message,
        };
    }
    let snippet = line_text.trim();
    ConfigError::Parse {
        path: path.to_owned(),
        line,
        column,
        message: message.to_owned(),
        snippet: (!snippet.is_empty()).then(|| snippet.chars().take(200).collect()),
    }
}

/// The field of serde's "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The fields serde says the table takes ("expected one of `a`, `b`", "expected `a` or `b`").
fn expected_fields(message: &str) -> Vec<&str> {
    let Some((_, expected)) = message.split_once("expected") else {
        return Vec::new();
    };
    expected.split('`').skip(1).step_by(2).collect()
}

/// `target.token`, `sources[1].password`, `sources[0].users.filtr`: the table the line is in
/// (from the headers above it), the inline table or dotted key the name sits in, and the name.
fn key_path(text: &str, line_start: usize, before: &str, name: &str) -> String {
    let mut path = table_path(&text[..line_start]);
    let before = before.trim_end();
    let parent = if let Some(brace) = before.rfind('{') {
        // Inside `users = { base = "…", filtr = … }`: the key of the inline table.
        before[..brace].trim_end().strip_suffix('=').map(str::trim)
    } else {
        // A dotted key, `columns.emial = …`.
        before.strip_suffix('.').map(str::trim)
    };
    for part in parent.into_iter().filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part.trim_matches('"'));
    }
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    path
}

/// The table the next line belongs to: its last header, with `[[array]]` entries numbered
/// (`sources[1]`, `sources[1].columns`).
fn table_path(text: &str) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = name.trim().to_owned();
            let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((name.clone(), 0));
                    0
                }
            };
            current = format!("{name}[{n}]");
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            let name = name.trim();
            let (head, rest) = name.split_once('.').unwrap_or((name, ""));
            current = match counts.iter().find(|(k, _)| k == head) {
                Some((_, n)) if !rest.is_empty() => format!("{head}[{n}].{rest}"),
                _ => name.to_owned(),
            };
        }
    }
    current
}

/// What to say about an unknown key: the key it was probably meant to be; for a name that holds
/// a secret, where secrets go; otherwise the keys the table takes. Never its value.
fn unknown_key(name: &str, expected: &[&str], table: &str) -> String {
    let suggestion = names::suggest(name, expected.iter().copied());
    match suggestion {
        Some(s) if !holds_secret(name) || super::redact::looks_secret(s) => {
            format!("unknown key; did you mean `{s}`?")
        }
        _ if holds_secret(name) => format!(
            "secrets are not read from the config text (its value is not shown here); put it in \
             an environment variable or a file and set {} (docs/config.md)",
            secret_keys(name, table)
        ),
        _ if expected.is_empty() => "unknown key; this table takes no other keys".to_owned(),
        _ => format!(
            "unknown key; the keys here are {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The `*_env` / `*_file` keys that hold the secret a table needs.
fn secret_keys(name: &str, table: &str) -> &'static str {
    let password = name.to_ascii_lowercase().contains("pass") || name.contains("pw");
    match table {
        "target" => "`token_env` or `token_file`",
        "store" => "`url_env` or `url_file` (the whole store URL)",
        "sources" if password => {
            "`password_env` or `password_file` (an ldap source's bind password)"
        }
        "sources" => "`token_env` or `token_file` (an hr-http source's API token)",
        _ => "the `<name>_env` or `<name>_file` key of the table that needs it",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_with_their_table() {
        let text = "[target]\nkind = \"x\"\n[[sources]]\nname = \"a\"\n[[sources]]\nname = \"b\"\n\
                    [sources.columns]\n";
        assert_eq!(table_path(text), "sources[1].columns");
        assert_eq!(table_path("[target]\n"), "target");
        assert_eq!(table_path(""), "");
        assert_eq!(
            key_path("[[sources]]\n", 12, "users = { base = \"x\", ", "filtr"),
            "sources[0].users.filtr"
        );
        assert_eq!(
            key_path("[[sources]]\n", 12, "columns.", "emial"),
            "sources[0].columns.emial"
        );
        assert_eq!(key_path("", 0, "", "tokn"), "tokn");
    }

    #[test]
    fn unknown_keys_get_a_suggestion_or_the_secret_rule() {
        let target = ["kind", "url", "token_env", "token_file", "token_owner"];
        assert!(unknown_key("tokn_file", &target, "target").contains("did you mean `token_file`"));
        assert!(unknown_key("token_ownr", &target, "target").contains("`token_owner`"));
        let token = unknown_key("token", &target, "target");
        assert!(token.contains("secrets are not read") && token.contains("token_env"));
        let sources = ["name", "kind", "path", "password_env", "password_file"];
        // `pass` is two edits from `path`, but a secret name gets the secret rule.
        let pass = unknown_key("pass", &sources, "sources");
        assert!(pass.contains("password_env"), "{pass}");
        assert!(unknown_key("colour", &target, "target").contains("`token_owner`"));
    }

    #[test]
    fn serde_messages_are_understood() {
        let m = "unknown field `token`, expected one of `kind`, `url`, `token_env`";
        assert_eq!(unknown_field(m), Some("token"));
        assert_eq!(expected_fields(m), ["kind", "url", "token_env"]);
        assert_eq!(
            expected_fields("unknown field `x`, expected `a` or `b`"),
            ["a", "b"]
        );
        assert!(expected_fields("unknown field `x`, there are no fields").is_empty());
        assert_eq!(unknown_field("invalid type: string"), None);
    }
}
