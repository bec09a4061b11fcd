//! Distinguished-name comparison. A group's `member: uid=Bob, ou=People,dc=x` must find the entry
//! the server returned as `uid=bob,ou=people,dc=x`, so DNs are compared in a normal form rather
//! than as strings. Pure: no I/O, imports nothing from the rest of the crate.
//!
//! The normal form follows RFC 4514 (string representation of DNs) and the matching rules
//! directories apply to naming attributes (`caseIgnoreMatch` with RFC 4518 insignificant-space
//! handling): attribute types are case-insensitive, escapes (`\,`, `\2B`, `\c3\a9`) are decoded,
//! spaces around `=`, `,` and `+` are dropped, runs of inner spaces collapse to one, values are
//! compared without case, and the AVAs of a multi-valued RDN are sorted (their order carries no
//! meaning, RFC 4512 §2.3.1).

/// The normal form of `dn`, suitable as a map key. A DN that does not parse as RFC 4514 falls
/// back to its text without the spaces around it and in ASCII lower case, so that identical
/// strings still compare equal. Only what the parser itself ignores is changed: a wider trim
/// (tabs, vertical tabs) or Unicode case folding (the Kelvin sign becomes `k`) could turn text
/// that does not parse into a DN that does, and the normal form would change when taken again.
pub fn normalize(dn: &str) -> String {
    if plain(dn) {
        return dn.to_ascii_lowercase();
    }
    parse(dn).unwrap_or_else(|| dn.trim_matches(' ').to_ascii_lowercase())
}

/// Whether `dn` is `descr=value` RDNs joined by `,` with nothing to decode, fold beyond ASCII
/// case, escape, sort or trim: letters, digits, `-`, `.`, `_` and `@` in the values. Its normal
/// form is then its ASCII lower case, as [`parse`] would render it, without the allocations of
/// parsing: a directory read normalises two DNs per person (issue 14's profile).
fn plain(dn: &str) -> bool {
    !dn.is_empty()
        && dn.split(',').all(|rdn| {
            let Some((ty, value)) = rdn.split_once('=') else {
                return false;
            };
            let mut ty = ty.bytes();
            ty.next().is_some_and(|b| b.is_ascii_alphabetic())
                && ty.all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'@'))
        })
}

/// Whether entry `entry` is `base` or below it, compared in normal form.
pub fn within(entry: &str, base: &str) -> bool {
    let (entry, base) = (normalize(entry), normalize(base));
    base.is_empty() || entry == base || entry.ends_with(&format!(",{base}"))
}

/// Parse and render in normal form; `None` when `dn` is not an RFC 4514 string.
fn parse(dn: &str) -> Option<String> {
    let bytes = dn.as_bytes();
    let mut pos = 0;
    let mut rdns: Vec<String> = Vec::new();
    skip_spaces(bytes, &mut pos);
    if pos == bytes.len() {
        // RFC 4514 §2.1: the empty string is the DN of the root DSE.
        return Some(String::new());
    }
    loop {
        let mut avas: Vec<String> = Vec::new();
        loop {
            skip_spaces(bytes, &mut pos);
            let ty = attribute_type(bytes, &mut pos)?;
            skip_spaces(bytes, &mut pos);
            if bytes.get(pos) != Some(&b'=') {
                return None;
            }
            pos += 1;
            skip_spaces(bytes, &mut pos);
            let value = match attribute_value(bytes, &mut pos)? {
                Value::Text(text) => escape(&fold(&text)),
                Value::Hex(hex) => hex,
            };
            avas.push(format!("{ty}={value}"));
            match bytes.get(pos) {
                Some(b'+') => pos += 1,
                _ => break,
            }
        }
        avas.sort();
        rdns.push(avas.join("+"));
        match bytes.get(pos) {
            // RFC 4514 §2.1 uses ',' only; ';' is the RFC 1779 separator that older
            // servers and hand-written configs still use.
            Some(b',') | Some(b';') => pos += 1,
            None => break,
            Some(_) => return None,
        }
    }
    Some(rdns.join(","))
}

fn skip_spaces(bytes: &[u8], pos: &mut usize) {
    while bytes.get(*pos) == Some(&b' ') {
        *pos += 1;
    }
}

/// `descr` (a letter, then letters, digits, hyphens) or a numeric OID, lowercased; an `oid.`
/// prefix before a numeric OID (RFC 1779) is dropped. Anything else is not an attribute type.
fn attribute_type(bytes: &[u8], pos: &mut usize) -> Option<String> {
    let start = *pos;
    while let Some(c) = bytes.get(*pos) {
        if c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.' {
            *pos += 1;
        } else {
            break;
        }
    }
    if *pos == start {
        return None;
    }
    let text = std::str::from_utf8(&bytes[start..*pos])
        .ok()?
        .to_ascii_lowercase();
    let numeric = |t: &str| {
        t.split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let descr = |t: &str| {
        t.starts_with(|c: char| c.is_ascii_alphabetic())
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    match text.strip_prefix("oid.") {
        Some(rest) if numeric(rest) => Some(rest.to_owned()),
        _ if descr(&text) || numeric(&text) => Some(text),
        _ => None,
    }
}

/// An attribute value as written: a string (decoded), or RFC 4514's `#` + hex form.
enum Value {
    Text(String),
    /// `#` and the hex pairs, lowercased: the BER encoding, compared as its hex text.
    Hex(String),
}

/// One attribute value up to the next unescaped `,`, `;`, `+` or the end, decoded. Trailing
/// unescaped spaces are dropped (RFC 4514 §2.4 requires a significant trailing space to be
/// escaped).
fn attribute_value(bytes: &[u8], pos: &mut usize) -> Option<Value> {
    if bytes.get(*pos) == Some(&b'#') {
        return hex_value(bytes, pos).map(Value::Hex);
    }
    let mut out: Vec<u8> = Vec::new();
    // Length of `out` up to the last byte that must be kept (escaped or non-space).
    let mut keep = 0;
    while let Some(&c) = bytes.get(*pos) {
        match c {
            b',' | b';' | b'+' => break,
            b'\\' => {
                let next = *bytes.get(*pos + 1)?;
                if next.is_ascii_hexdigit() {
                    let hi = hex_val(next)?;
                    let lo = hex_val(*bytes.get(*pos + 2)?)?;
                    out.push(hi * 16 + lo);
                    *pos += 3;
                } else {
                    out.push(next);
                    *pos += 2;
                }
                keep = out.len();
            }
            _ => {
                out.push(c);
                *pos += 1;
                if c != b' ' {
                    keep = out.len();
                }
            }
        }
    }
    out.truncate(keep);
    String::from_utf8(out).ok().map(Value::Text)
}

/// RFC 4514 §2.4 `hexstring`: `#` and one or more hex pairs, then only spaces before the next
/// separator. Anything else is not a DN (`None`): rendering a malformed `#` value as it is would
/// make the normal form change each time it is normalised again.
fn hex_value(bytes: &[u8], pos: &mut usize) -> Option<String> {
    let start = *pos;
    *pos += 1;
    while bytes.get(*pos).is_some_and(u8::is_ascii_hexdigit) {
        *pos += 1;
    }
    let digits = *pos - start - 1;
    if digits == 0 || !digits.is_multiple_of(2) {
        return None;
    }
    let hex = std::str::from_utf8(&bytes[start..*pos])
        .ok()?
        .to_ascii_lowercase();
    skip_spaces(bytes, pos);
    match bytes.get(*pos) {
        None | Some(b',' | b';' | b'+') => Some(hex),
        Some(_) => None,
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Case-fold and collapse inner space runs, as `caseIgnoreMatch` does (RFC 4518 §2.6.1).
fn fold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Escape the characters that would make the rendered normal form ambiguous, and a leading `#`,
/// which would otherwise read back as the hex form.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 1);
    if value.starts_with('#') {
        out.push('\\');
    }
    for c in value.chars() {
        if matches!(c, ',' | '+' | ';' | '\\' | '=' | '"' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{normalize, parse, plain, within};

    /// The shortcut for plain DNs renders what the parser renders, and leaves everything else
    /// (spaces, escapes, `+`, `#`, `;`, `oid.`, other characters, a missing `=`) to it.
    #[test]
    fn the_plain_shortcut_agrees_with_the_parser() {
        let plain_dns = [
            "uid=User000123,ou=People,dc=bench,dc=test",
            "CN=Ada-Lovelace,OU=Staff.EU,DC=ad,DC=test",
            "mail=a_b@x.io,o=X",
            "uid=,dc=x",
            "x=y",
        ];
        for dn in plain_dns {
            assert!(plain(dn), "{dn}");
            assert_eq!(Some(dn.to_ascii_lowercase()), parse(dn), "{dn}");
            assert_eq!(normalize(dn), dn.to_ascii_lowercase());
        }
        let others = [
            "",
            "uid=a, dc=x",
            "uid=a\\,b,dc=x",
            "cn=a+sn=b,dc=x",
            "cn=#04,dc=x",
            "cn=a;dc=x",
            "oid.2.5.4.3=a,dc=x",
            "2.5.4.3=a,dc=x",
            "cn=a=b,dc=x",
            "cn=Ä,dc=x",
            "cn=a,,dc=x",
            "dc=x,",
            "=a",
            "1cn=a",
        ];
        for dn in others {
            assert!(!plain(dn), "{dn}");
        }
    }

    /// A tombstone's `lastKnownParent` is matched against `users.base` this way: in normal form,
    /// on whole RDNs (`OU=Staff2` is not below `OU=Staff`).
    #[test]
    fn within_compares_whole_rdns_in_normal_form() {
        let base = "OU=Staff,DC=ad,DC=test";
        assert!(within("ou=staff, dc=AD,dc=test", base));
        assert!(within("OU=Paris,OU=Staff,DC=ad,DC=test", base));
        assert!(!within("OU=Staff2,DC=ad,DC=test", base));
        assert!(!within("OU=Contractors,DC=ad,DC=test", base));
        assert!(!within("DC=ad,DC=test", base));
    }

    #[test]
    fn equal_forms() {
        let cases = [
            (
                "uid=bob,ou=people,dc=example,dc=com",
                "UID=Bob, OU=People ,dc=Example,DC=com",
            ),
            ("cn=Smith\\, John,ou=x", "CN = smith\\2c john , ou=X"),
            ("uid=o\\2Bbrien,ou=x", "uid=O\\+Brien,ou=x"),
            ("cn=a+uid=b,ou=x", "uid=B + cn=A,ou=x"),
            (
                "cn=Zoë Ñúñez,ou=x",
                "cn=zo\\c3\\ab \\c3\\91\\c3\\ba\\c3\\b1ez,ou=x",
            ),
            ("cn=a  b,ou=x", "cn=a b,ou=x"),
            ("cn=渡辺,ou=x", "cn=\\e6\\b8\\a1\\e8\\be\\ba,ou=x"),
            ("oid.2.5.4.3=a,ou=x", "2.5.4.3=A,ou=x"),
            ("cn=a;ou=x", "cn=a,ou=x"),
        ];
        for (a, b) in cases {
            assert_eq!(normalize(a), normalize(b), "{a} vs {b}");
        }
    }

    #[test]
    fn different_forms() {
        let cases = [
            ("uid=bob,ou=people", "uid=bob,ou=groups"),
            ("cn=Smith\\, John,ou=x", "cn=Smith,cn=John,ou=x"),
            ("cn=a+uid=b,ou=x", "cn=a,uid=b,ou=x"),
            ("uid=o\\2Bbrien,ou=x", "uid=o,brien,ou=x"),
        ];
        for (a, b) in cases {
            assert_ne!(normalize(a), normalize(b), "{a} vs {b}");
        }
    }

    /// Found by the `ldap_entry` fuzz target: a `#` value that is not hex was kept as written
    /// and its backslashes escaped again at each normalisation.
    #[test]
    fn the_normal_form_is_its_own_normal_form() {
        for dn in [
            "de0-0tqn=A\\+B + sn=C  ( Of = x\\=A\\+B + sn=C ,  Of =# x\\11 ;dn=COe",
            "cn=#x\\11,dc=x",
            "cn=#0411 ,dc=x",
            "cn=\\#0411,dc=x",
            "cn=#,dc=x",
            "cn=#041,dc=x",
            "cn=\\23ab,dc=x",
            "oid.oid.0tqncn=a=A\\+B \\10 zz=COe",
            "OID.2.5.4.3=Ada,dc=x",
            "oid.cn=a,dc=x",
            "\u{b}\u{b}cn=A\\+B # sn=CC ,U =\u{19}x\\ ;dc=example",
            "\u{212a}n=a,dc=x",
        ] {
            let once = normalize(dn);
            assert_eq!(normalize(&once), once, "{dn}");
        }
        assert_eq!(normalize("OID.2.5.4.3=Ada, DC=x"), "2.5.4.3=ada,dc=x");
        // The hex form and an escaped `#` string are different values.
        assert_eq!(normalize("CN=#04AB , DC=x"), "cn=#04ab,dc=x");
        assert_eq!(normalize("cn=\\#04ab,dc=x"), "cn=\\#04ab,dc=x");
        assert_ne!(normalize("cn=#04ab,dc=x"), normalize("cn=\\#04ab,dc=x"));
    }

    #[test]
    fn malformed_falls_back_to_lowercase_text() {
        assert_eq!(normalize(" Not A DN "), "not a dn");
        assert_eq!(normalize("cn=a\\"), "cn=a\\");
        assert_eq!(normalize(""), "");
    }
}
