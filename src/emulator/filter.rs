//! The emulator's filter parser: the `attr eq value` subset Notion documents
//! (docs/notion.md, "Filters").
//!
//! Only `eq` exists; values may be quoted (RFC 7644 §3.4.2.2) or bare, as in Notion's own
//! `displayName eq Designers` example. Anything else is an error the caller turns into 400
//! `invalidFilter`. Pure: no state, no I/O.

/// A parsed `attr eq value` filter; `attr` keeps the client's spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Attribute as written.
    pub attr: String,
    /// The compared value, unquoted and unescaped.
    pub value: String,
}

/// Why a filter could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

/// Parse `attr eq value`, with a quoted or bare value.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    let text = text.trim();
    let (attr, rest) = split_word(text);
    if attr.is_empty()
        || !attr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
    {
        return Err(FilterError(format!(
            "The filter {text:?} has no attribute name."
        )));
    }
    let (op, rest) = split_word(rest);
    if !op.eq_ignore_ascii_case("eq") {
        return Err(FilterError(format!(
            "The operator {op:?} is not supported; only eq is."
        )));
    }
    let rest = rest.trim();
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        let (value, after) = unquote(quoted)?;
        if !after.trim().is_empty() {
            return Err(FilterError(format!(
                "Only one comparison is supported; {:?} follows the value.",
                after.trim()
            )));
        }
        value
    } else {
        if rest.is_empty() {
            return Err(FilterError("The filter has no value.".to_owned()));
        }
        // A bare value runs to the end, so a logical operator would be swallowed into it.
        let lower = rest.to_ascii_lowercase();
        if lower.contains(" and ") || lower.contains(" or ") || rest.contains('"') {
            return Err(FilterError(
                "Logical operators are not supported in filters.".to_owned(),
            ));
        }
        rest.to_owned()
    };
    Ok(Filter {
        attr: attr.to_owned(),
        value,
    })
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, ""),
    }
}

/// Read a JSON-style string body up to its closing quote; returns the value and what follows.
fn unquote(text: &str) -> Result<(String, &str), FilterError> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[at + 1..])),
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => break,
            },
            other => out.push(other),
        }
    }
    Err(FilterError(
        "The filter value has no closing quote.".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (String, String) {
        let f = parse(text).unwrap();
        (f.attr, f.value)
    }

    #[test]
    fn quoted_and_bare_values() {
        let cases = [
            ("email eq \"a@x.com\"", ("email", "a@x.com")),
            ("userName EQ \"A@X.com\"", ("userName", "A@X.com")),
            ("given_name eq Ada", ("given_name", "Ada")),
            ("displayName eq Designers", ("displayName", "Designers")),
            ("displayName eq Design Team", ("displayName", "Design Team")),
            (
                "displayName eq \"Say \\\"hi\\\"\"",
                ("displayName", "Say \"hi\""),
            ),
            (
                "  family_name   eq   \"Lovelace\"  ",
                ("family_name", "Lovelace"),
            ),
        ];
        for (text, (attr, value)) in cases {
            assert_eq!(ok(text), (attr.to_owned(), value.to_owned()), "{text}");
        }
    }

    #[test]
    fn everything_else_is_an_error() {
        for text in [
            "",
            "email",
            "email eq",
            "email co \"a\"",
            "email sw \"a\"",
            "email pr",
            "email eq \"a\" and userName eq \"b\"",
            "email eq a and userName eq b",
            "email eq \"unterminated",
            "(email eq \"a\")",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
