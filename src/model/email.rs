//! The one email-address rule every source and the mapping use: a work address must be plain,
//! unambiguous ASCII before it can become a `userName`. An address that could be read two ways
//! (an invisible character, a fullwidth look-alike, a display name in angle brackets) is refused,
//! never "cleaned up": guessing which person was meant is how the wrong person gets an account.
//!
//! The syntax check is the `email_address` crate's (RFC 5321/5322 dot-atom local part, domain
//! labels, the 64-octet local-part limit); internationalised domains go through `idna` (UTS 46,
//! strict STD3 rules) and come out as punycode. The local part must be ASCII (no SMTPUTF8).
//!
//! A domain must already be what UTS 46 makes of it, ASCII letter case aside: the Kelvin sign
//! `K` (U+212A), a bold `𝐚` or `。` would be silently mapped to another name. And each label must
//! be written in one script (UTS 39's "highly restrictive" level, by the scripts of
//! `icu_properties`): `аcme` with a Cyrillic `а` renders as `acme` but is another domain.

use icu_properties::props::Script;
use icu_properties::script::{ScriptExtensionsSet, ScriptWithExtensions};
use icu_properties::PropertyNamesLongBorrowed;
use std::fmt;

/// RFC 5321 §4.5.3.1.3: a forward path is at most 256 octets including the angle brackets.
const MAX_ADDRESS: usize = 254;

/// Why an address was refused. The text completes "… is not a usable address: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing there.
    #[error("it is empty")]
    Empty,
    /// A control character (NUL, a line break, …).
    #[error("it contains the control character {0}")]
    Control(Spot),
    /// A space, tab or other blank.
    #[error("it contains the blank character {0}")]
    Blank(Spot),
    /// A zero-width, bidi, filler or other invisible character.
    #[error("it contains the invisible character {0}; retype the address")]
    Invisible(Spot),
    /// A fullwidth or halfwidth form that looks like an ASCII character.
    #[error("it contains the fullwidth look-alike character {0}; use plain ASCII")]
    Fullwidth(Spot),
    /// `Name <a@b>` or a stray bracket.
    #[error("it contains angle brackets; give the bare address without a display name")]
    AngleBrackets,
    /// No `@` at all.
    #[error("it has no `@`")]
    NoAt,
    /// The local part must be ASCII.
    #[error("the part before `@` must be ASCII, but it contains {0}")]
    NonAsciiLocal(Spot),
    /// `"john doe"@example.com`.
    #[error("quoted local parts (`\"…\"@`) are not accepted")]
    Quoted,
    /// Longer than 64 octets before the `@`.
    #[error("the part before `@` is {0} characters long; at most 64 are allowed (RFC 5321)")]
    LocalTooLong(usize),
    /// Longer than 254 octets in all.
    #[error("it is {0} characters long; at most {MAX_ADDRESS} are allowed (RFC 5321)")]
    TooLong(usize),
    /// The domain is not a valid (internationalised) domain name.
    #[error("the domain `{0}` is not a valid domain name")]
    Domain(String),
    /// The domain only becomes valid after UTS 46 changes it (a mapped look-alike, a decomposed
    /// accent, an ideographic full stop): two spellings for one name.
    #[error("the domain `{given}` is not written in its normal form (it would turn into `{normal}`); write it as `{normal}`")]
    NotNormal {
        /// As given.
        given: String,
        /// What UTS 46 makes of it.
        normal: String,
    },
    /// A domain label mixes letters of scripts no language writes together, so it can pass for
    /// another name (`аcme`, with a Cyrillic `а`, looks like `acme`).
    #[error(
        "the domain label `{label}` mixes {scripts}; it could pass for another domain, so each label must be written \
         in one script (retype the domain, or check that it is the one meant)"
    )]
    MixedScripts {
        /// The label, in Unicode.
        label: String,
        /// The scripts, each with its first letter: "Cyrillic (`а` U+0430) and Latin (`c` U+0063) letters".
        scripts: String,
    },
    /// Anything else the syntax check refused.
    #[error("{0}")]
    Syntax(String),
}

/// One offending character and where it is (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spot {
    /// The character.
    pub ch: char,
    /// Its position in the value.
    pub at: usize,
}

impl fmt::Display for Spot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X} at position {}", u32::from(self.ch), self.at)
    }
}

/// Characters that render as nothing and so make two different addresses look the same:
/// Unicode's default-ignorable code points and the bidi controls.
fn invisible(c: char) -> bool {
    matches!(u32::from(c),
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
            | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF)
}

fn fullwidth(c: char) -> bool {
    // Halfwidth and Fullwidth Forms (U+FF00..U+FFEF), less the halfwidth filler caught above.
    matches!(u32::from(c), 0xFF00..=0xFFEF)
}

fn first(text: &str, bad: impl Fn(char) -> bool) -> Option<Spot> {
    text.chars()
        .enumerate()
        .find(|(_, c)| bad(*c))
        .map(|(i, ch)| Spot { ch, at: i + 1 })
}

/// The part of the rule that holds for any identifier (a `userName` that is not an address
/// included): not empty, and nothing that renders as something else or as nothing.
pub fn check_plain(text: &str) -> Result<(), EmailError> {
    if text.is_empty() {
        return Err(EmailError::Empty);
    }
    if let Some(spot) = first(text, char::is_control) {
        return Err(EmailError::Control(spot));
    }
    if let Some(spot) = first(text, char::is_whitespace) {
        return Err(EmailError::Blank(spot));
    }
    if let Some(spot) = first(text, invisible) {
        return Err(EmailError::Invisible(spot));
    }
    if let Some(spot) = first(text, fullwidth) {
        return Err(EmailError::Fullwidth(spot));
    }
    if text.contains(['<', '>']) {
        return Err(EmailError::AngleBrackets);
    }
    Ok(())
}

/// Check a work email address and return it in the form idbridge uses: the local part as given,
/// the domain as ASCII (punycode for an internationalised domain, lowercased). Surrounding
/// whitespace is the caller's to trim; inside the value nothing is forgiven.
pub fn parse_email(text: &str) -> Result<String, EmailError> {
    check_plain(text)?;
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(EmailError::NoAt);
    };
    if let Some(spot) = first(local, |c| !c.is_ascii()) {
        return Err(EmailError::NonAsciiLocal(spot));
    }
    if local.starts_with('"') {
        return Err(EmailError::Quoted);
    }
    if local.len() > 64 {
        return Err(EmailError::LocalTooLong(local.len()));
    }
    let domain = checked_domain(domain)?;
    let address = format!("{local}@{domain}");
    if address.len() > MAX_ADDRESS {
        return Err(EmailError::TooLong(address.len()));
    }
    let options = email_address::Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    email_address::EmailAddress::parse_with_options(&address, options)
        .map_err(|e| EmailError::Syntax(syntax_message(&e)))?;
    Ok(address)
}

/// How many domains' verdicts [`checked_domain`] keeps a thread.
const DOMAIN_MEMO: usize = 16;

thread_local! {
    /// The last domains checked and their verdicts, newest last.
    static DOMAINS: std::cell::RefCell<Vec<(String, Result<String, EmailError>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`ascii_domain`], remembered for the last few domains: a workforce uses a handful of domains,
/// and checking one (UTS 46 both ways, a script check per label) is most of an address check's
/// cost. The verdict is a function of the text alone,
/// so remembering it changes nothing but the time.
fn checked_domain(domain: &str) -> Result<String, EmailError> {
    let known = DOMAINS.with(|memo| {
        memo.borrow()
            .iter()
            .find(|(d, _)| d == domain)
            .map(|(_, verdict)| verdict.clone())
    });
    if let Some(verdict) = known {
        return verdict;
    }
    let verdict = ascii_domain(domain);
    DOMAINS.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.len() == DOMAIN_MEMO {
            drop(memo.remove(0));
        }
        memo.push((domain.to_owned(), verdict.clone()));
    });
    verdict
}

/// The domain as ASCII. An ASCII domain is kept as written (only checked); a non-ASCII one must
/// already be in the form UTS 46 would give it, label by label, before it is turned to punycode.
/// Either way every label, punycode ones as decoded, must be in one script.
fn ascii_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() {
        return Err(EmailError::Syntax(
            "the domain after `@` is empty".to_owned(),
        ));
    }
    let ascii =
        idna::domain_to_ascii_strict(domain).map_err(|_| EmailError::Domain(domain.to_owned()))?;
    let (unicode, checked) = idna::domain_to_unicode(&ascii);
    if checked.is_err() {
        return Err(EmailError::Domain(domain.to_owned()));
    }
    let given: Vec<&str> = domain.split('.').collect();
    let normal: Vec<&str> = unicode.split('.').collect();
    // Only ASCII case is forgiven. Unicode lowercasing is part of the mapping: it turns the
    // Kelvin sign into an ASCII `k`, so comparing lowercased labels would let `K` through.
    let same = given.len() == normal.len()
        && given.iter().zip(&normal).all(|(g, n)| {
            let g = g.to_ascii_lowercase();
            g == *n || (g.is_ascii() && g.starts_with("xn--"))
        });
    if !same {
        return Err(EmailError::NotNormal {
            given: domain.to_owned(),
            normal: unicode,
        });
    }
    if let Some(error) = normal.iter().find_map(|label| mixed_scripts(label)) {
        return Err(error);
    }
    Ok(if domain.is_ascii() {
        domain.to_owned()
    } else {
        ascii
    })
}

/// Sets of scripts one label may mix (UTS 39 §5.2, "highly restrictive"): Japanese, Chinese with
/// Bopomofo, and Korean, each with Latin. Any single script is allowed on its own.
const SCRIPT_MIXES: [&[Script]; 3] = [
    &[
        Script::Latin,
        Script::Han,
        Script::Hiragana,
        Script::Katakana,
    ],
    &[Script::Latin, Script::Han, Script::Bopomofo],
    &[Script::Latin, Script::Han, Script::Hangul],
];

/// Why `label` (in Unicode) mixes scripts, if it does. Digits, hyphens and combining marks
/// (script Common or Inherited) go with any script; a character used by several scripts
/// (Script_Extensions) fits any of them.
fn mixed_scripts(label: &str) -> Option<EmailError> {
    let scripts = ScriptWithExtensions::new();
    let letters: Vec<(char, ScriptExtensionsSet<'_>)> = label
        .chars()
        .map(|c| (c, scripts.get_script_extensions_val(c)))
        .filter(|(_, set)| !set.contains(&Script::Common) && !set.contains(&Script::Inherited))
        .collect();
    let (_, first) = letters.first()?;
    let one_script = first
        .iter()
        .any(|s| letters.iter().all(|(_, set)| set.contains(&s)));
    let allowed_mix = SCRIPT_MIXES.iter().any(|mix| {
        letters
            .iter()
            .all(|(_, set)| mix.iter().any(|s| set.contains(s)))
    });
    if one_script || allowed_mix {
        return None;
    }
    let names = PropertyNamesLongBorrowed::<Script>::new();
    let mut seen: Vec<(Script, char)> = Vec::new();
    for (c, set) in &letters {
        // A character shared by several scripts has Common as its own: name one it belongs to.
        let script = Some(scripts.get_script_val(*c))
            .filter(|s| *s != Script::Common && *s != Script::Inherited)
            .or_else(|| set.iter().next())
            .unwrap_or(Script::Unknown);
        if !seen.iter().any(|(s, _)| *s == script) {
            seen.push((script, *c));
        }
    }
    let shown: Vec<String> = seen
        .iter()
        .map(|(script, c)| {
            format!(
                "{} (`{c}` U+{:04X})",
                names.get(*script).unwrap_or("unknown-script"),
                u32::from(*c)
            )
        })
        .collect();
    let scripts = match shown.split_last() {
        Some((last, [])) => format!("{last} letters"),
        Some((last, rest)) => format!("{} and {last} letters", rest.join(", ")),
        None => String::new(),
    };
    Some(EmailError::MixedScripts {
        label: label.to_owned(),
        scripts,
    })
}

fn syntax_message(e: &email_address::Error) -> String {
    use email_address::Error as E;
    match e {
        E::InvalidCharacter => {
            "it contains a character not allowed in an address (allowed before `@`: letters, digits and !#$%&'*+-/=?^_`{|}~ with single dots between them)".to_owned()
        }
        E::LocalPartEmpty => "nothing comes before `@`".to_owned(),
        E::DomainTooFew => "the domain has no dot (e.g. `example.com`)".to_owned(),
        E::SubDomainEmpty => "the domain has an empty label (two dots in a row, or a dot at an end)".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembered verdicts are the verdicts: the same answers in any order, for good and bad
    /// domains, and after more domains than the memo holds have pushed the first ones out.
    #[test]
    fn remembered_domain_verdicts_are_the_checked_ones() {
        let texts: Vec<String> = (0..40)
            .map(|i| match i % 4 {
                0 => format!("ada@d{i}.example.com"),
                1 => format!("ada@D{i}.Example.COM"),
                2 => "ada@exa mple.com".to_owned(),
                _ => "ada@xn--80ak6aa92e.com".to_owned(),
            })
            .collect();
        let first: Vec<_> = texts.iter().map(|t| parse_email(t)).collect();
        for (text, verdict) in texts.iter().zip(&first).rev() {
            assert_eq!(&parse_email(text), verdict, "{text}");
            let domain = text.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            assert_eq!(checked_domain(domain), ascii_domain(domain), "{domain}");
        }
        assert!(first[0].is_ok() && first[2].is_err());
    }

    #[test]
    fn plain_addresses_pass_unchanged() {
        for ok in [
            "ada@acme.test",
            "Ada.Lovelace@Example.COM",
            "o'brien+hr@sub.example.co.uk",
            "x@a.io",
        ] {
            assert_eq!(parse_email(ok).as_deref(), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn internationalised_domains_become_punycode() {
        assert_eq!(
            parse_email("anna@bücher.de").as_deref(),
            Ok("anna@xn--bcher-kva.de")
        );
        assert_eq!(
            parse_email("anna@xn--bcher-kva.de").as_deref(),
            Ok("anna@xn--bcher-kva.de")
        );
        // ASCII letter case is forgiven, in any label.
        assert_eq!(
            parse_email("anna@Bücher.DE").as_deref(),
            Ok("anna@xn--bcher-kva.de")
        );
    }

    /// Unicode lowercasing is a UTS 46 mapping like any other: the Kelvin sign `K` (U+212A)
    /// lowercases to an ASCII `k`, the Angstrom sign to `å`, `Ü` to `ü`. Each is refused with the
    /// spelling to use instead, and so is a punycode label that hides one.
    #[test]
    fn a_domain_that_unicode_case_mapping_changes_is_refused() {
        for (bad, normal) in [
            ("u5@\u{212A}acme.test", "kacme.test"),
            ("u5@acme.te\u{212A}t", "acme.tekt"),
            (
                "u5@\u{212B}ngstr\u{00F6}m.test",
                "\u{00E5}ngstr\u{00F6}m.test",
            ),
            ("anna@B\u{00DC}CHER.de", "b\u{00FC}cher.de"),
        ] {
            match parse_email(bad) {
                Err(EmailError::NotNormal { normal: n, .. }) => assert_eq!(n, normal, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // `\u{212A}acme` as punycode.
        assert!(matches!(
            parse_email("u5@xn--acme-ue8a.test"),
            Err(EmailError::Domain(_))
        ));
    }

    /// A label that mixes Latin with Cyrillic or Greek letters renders like another name and is
    /// refused, in Unicode or in punycode, in any label; the error names the scripts.
    #[test]
    fn a_label_that_mixes_scripts_is_refused() {
        for (bad, label) in [
            ("u5@\u{0430}cme.test", "\u{0430}cme"),
            ("u5@xn--cme-5cd.test", "\u{0430}cme"),
            ("u5@acm\u{03B5}.test", "acm\u{03B5}"),
            ("u5@p\u{0430}y.acme.test", "p\u{0430}y"),
            ("u5@\u{0430}\u{03B2}.test", "\u{0430}\u{03B2}"),
        ] {
            match parse_email(bad) {
                Err(EmailError::MixedScripts { label: l, .. }) => assert_eq!(l, label, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let text = parse_email("u5@\u{0430}cme.test").unwrap_err().to_string();
        assert!(
            text.contains(
                "`\u{0430}cme` mixes Cyrillic (`\u{0430}` U+0430) and Latin (`c` U+0063) letters"
            ),
            "{text}"
        );
    }

    /// Real internationalised domains stay allowed: one script a label, the scripts languages
    /// write together (Japanese, Korean, Chinese with Latin), digits and hyphens with any, and
    /// different scripts in different labels.
    #[test]
    fn single_script_and_customary_mixes_are_accepted() {
        for (ok, ascii) in [
            (
                "u@\u{043F}\u{0440}\u{0438}\u{043C}\u{0435}\u{0440}.\u{0440}\u{0444}",
                "u@xn--e1afmkfd.xn--p1ai",
            ),
            ("u@\u{03B1}\u{03B2}\u{03B3}.gr", "u@xn--mxacd.gr"),
            ("u@\u{65E5}\u{672C}\u{8A9E}.jp", "u@xn--wgv71a119e.jp"),
            ("u@tokyo\u{6771}\u{4EAC}.jp", "u@xn--tokyo-191hq39l.jp"),
            (
                "u@\u{3072}\u{3089}\u{30AB}\u{30BF}\u{6F22}.jp",
                "u@xn--y9j3b8e8c9501b.jp",
            ),
            ("u@\u{D55C}\u{AD6D}\u{C5B4}.kr", "u@xn--3e0bk47br7k.kr"),
            ("u@ma\u{00F1}ana1-2.es", "u@xn--maana1-2-e3a.es"),
            (
                "u@\u{043F}\u{0440}\u{0438}\u{043C}\u{0435}\u{0440}.acme.test",
                "u@xn--e1afmkfd.acme.test",
            ),
        ] {
            assert_eq!(parse_email(ok).as_deref(), Ok(ascii), "{ok}");
        }
    }

    #[test]
    fn every_kind_of_ambiguous_address_is_refused() {
        type Expect = fn(&EmailError) -> bool;
        let cases: [(&str, Expect); 14] = [
            ("", |e| *e == EmailError::Empty),
            (
                "ada\0@acme.test",
                |e| matches!(e, EmailError::Control(s) if s.ch == '\0' && s.at == 4),
            ),
            ("ada@acme.test\n", |e| matches!(e, EmailError::Control(_))),
            (
                "ad\u{200B}a@acme.test",
                |e| matches!(e, EmailError::Invisible(s) if s.at == 3),
            ),
            ("ada@ac\u{00AD}me.test", |e| {
                matches!(e, EmailError::Invisible(_))
            }),
            ("ada@acme.test\u{FEFF}", |e| {
                matches!(e, EmailError::Invisible(_))
            }),
            ("ada\u{00A0}@acme.test", |e| {
                matches!(e, EmailError::Blank(_))
            }),
            (
                "ａda@acme.test",
                |e| matches!(e, EmailError::Fullwidth(s) if s.ch == 'ａ'),
            ),
            ("ada@ａcme.test", |e| matches!(e, EmailError::Fullwidth(_))),
            ("Ada <ada@acme.test>", |e| matches!(e, EmailError::Blank(_))),
            ("<ada@acme.test>", |e| *e == EmailError::AngleBrackets),
            (
                "josé@acme.test",
                |e| matches!(e, EmailError::NonAsciiLocal(s) if s.ch == 'é'),
            ),
            ("\"ada\"@acme.test", |e| *e == EmailError::Quoted),
            ("ada", |e| *e == EmailError::NoAt),
        ];
        for (text, want) in cases {
            let err = parse_email(text).expect_err(text);
            assert!(want(&err), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn length_limits_hold() {
        let local = "a".repeat(64);
        assert!(parse_email(&format!("{local}@acme.test")).is_ok());
        assert_eq!(
            parse_email(&format!("{local}b@acme.test")),
            Err(EmailError::LocalTooLong(65))
        );
        let long = format!("a@{}.test", vec!["b".repeat(60); 5].join("."));
        assert!(matches!(
            parse_email(&long),
            Err(EmailError::TooLong(_) | EmailError::Domain(_))
        ));
    }

    #[test]
    fn syntax_errors_are_refused() {
        for bad in [
            "ada@acme",
            "@acme.test",
            "ada@",
            "ada..x@acme.test",
            "ada@acme..test",
            "ada@[127.0.0.1]",
            "a,b@acme.test",
            "ada@-acme.test",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_domain_that_only_uts46_mapping_makes_valid_is_refused() {
        // U+3002 IDEOGRAPHIC FULL STOP would silently become a dot; U+1D41A is a bold 'a'.
        for bad in [
            "ada@acme\u{3002}test",
            "ada@\u{1D41A}cme.test",
            "ada@mu\u{0308}nchen.de",
        ] {
            assert!(
                matches!(parse_email(bad), Err(EmailError::NotNormal { .. })),
                "{bad}: {:?}",
                parse_email(bad)
            );
        }
    }
}
