//! `check-config` as text: one line per check, with the rows a source skipped below it. The
//! messages carry data (paths, server replies, CSV cells), so they are made safe for a terminal.

use super::{terminal_safe, MAX_CELL_CHARS};

/// Text of our own with data inside (an error message naming a value from a source or the
/// target), made safe for a terminal line by line: see [`terminal_safe`]. Line breaks stay, so
/// multi-line messages keep their shape.
pub fn safe_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| terminal_safe(line, usize::MAX))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One check: `ok    message` or `FAIL  message`, then each issue indented.
pub fn check_text(ok: bool, message: &str, issues: &[String]) -> String {
    let mut out = format!(
        "{} {}\n",
        if ok { "ok   " } else { "FAIL " },
        safe_lines(message)
    );
    for issue in issues {
        out.push_str(&format!(
            "        {}\n",
            terminal_safe(issue, MAX_CELL_CHARS * 4)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_lines_keeps_line_breaks_and_escapes_the_rest() {
        assert_eq!(
            safe_lines("plan breaks 1 rule:\n  - a\u{1b}[2Jb\r"),
            "plan breaks 1 rule:\n  - a\\u{1b}[2Jb\\u{d}"
        );
    }

    #[test]
    fn a_check_is_one_line_and_its_issues_are_indented_and_escaped() {
        assert_eq!(
            check_text(
                false,
                "source hr: 0 valid people\nsee below",
                &["hr.csv line 2: bad \u{1b}[2J".to_owned()]
            ),
            "FAIL  source hr: 0 valid people\nsee below\n        hr.csv line 2: bad \\u{1b}[2J\n"
        );
        assert_eq!(
            check_text(true, "config x.toml", &[]),
            "ok    config x.toml\n"
        );
    }
}
