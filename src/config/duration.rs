//! The one duration grammar of idbridge, for config keys (`timeout`, `max_retry_after`, LDAP
//! timeouts, `[store] retention`) and command-line flags (`saml … --timeout`, `--clock-skew`,
//! `--max-age`) alike: `humantime`'s (`500ms`, `30s`, `2m`, `1h`, `2d`, `8w`, `1h 30m`, `1.5h`;
//! docs/config.md, "Durations"). Before it, config and CLI each had a hand-written parser and
//! each refused a unit the other took.
//!
//! A number without a unit is seconds on the command line only, where `--clock-skew 180` always
//! meant that; in the config file a unit is required, as it always was (`timeout = "30"` is
//! more likely a slip than a choice).

use std::time::Duration;

/// A duration with a unit: `"30s"`, `"500ms"`, `"2m"`, `"1h"`, `"2d"`, `"8w"`, `"1h 30m"`.
/// `None` for anything else, a bare number included.
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

/// A command-line duration: [`parse_duration`]'s grammar, or a bare number of seconds. The
/// error is the sentence clap prints after the flag.
pub fn parse_flag(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("{text:?} is too many seconds"));
    }
    parse_duration(text).ok_or_else(|| {
        format!(
            "{text:?} is not a duration such as 180s, 5m, 1h or 2d (a bare number is seconds; \
             docs/config.md, \"Durations\")"
        )
    })
}

/// The shortest `[store] retention`: a shorter one would erase the evidence of the run that
/// just ended before anyone could read it.
pub const MIN_RETENTION: Duration = Duration::from_secs(86_400);

/// Parse `[store] retention`: `"keep"` is `None`; otherwise a duration of at least
/// [`MIN_RETENTION`] (`"400d"`, `"8w"`).
pub fn parse_retention(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text == "keep" {
        return Ok(None);
    }
    match parse_duration(text) {
        Some(d) if d >= MIN_RETENTION => Ok(Some(d)),
        Some(_) => Err(format!(
            "`{text}` is shorter than one day; keep the journal at least \"1d\" (it is the evidence \
             of what each run did), or write \"keep\""
        )),
        None => Err(format!(
            "`{text}` is not a retention; write \"keep\" or a duration such as \"400d\", \"8w\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_durations_need_a_unit() {
        let cases = [
            ("30s", Some(30)),
            ("2m", Some(120)),
            ("1h", Some(3_600)),
            ("2d", Some(172_800)),
            ("1w", Some(604_800)),
            ("1h 30m", Some(5_400)),
            (" 45s ", Some(45)),
            ("30", None),
            ("s", None),
            ("", None),
            ("-3s", None),
            ("10 parsecs", None),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_duration(text),
                secs.map(Duration::from_secs),
                "{text:?}"
            );
        }
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    }

    #[test]
    fn flags_take_the_same_grammar_and_bare_seconds() {
        assert_eq!(parse_flag("180"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_flag("180s"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_flag("2d"), Ok(Duration::from_secs(172_800)));
        // The CLI's old parser refused milliseconds; one grammar takes them everywhere.
        assert_eq!(parse_flag("1500ms"), Ok(Duration::from_millis(1_500)));
        for bad in ["", "soon", "-5", "5 parsecs", "99999999999999999999999"] {
            let err = parse_flag(bad).unwrap_err();
            assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
        }
    }

    #[test]
    fn retention_is_keep_or_at_least_a_day() {
        assert_eq!(parse_retention("keep"), Ok(None));
        assert_eq!(
            parse_retention("400d"),
            Ok(Some(Duration::from_secs(400 * 86_400)))
        );
        assert_eq!(parse_retention("24h"), Ok(Some(MIN_RETENTION)));
        assert!(parse_retention("23h")
            .unwrap_err()
            .contains("shorter than one day"));
        assert!(parse_retention("forever")
            .unwrap_err()
            .contains("not a retention"));
    }
}
