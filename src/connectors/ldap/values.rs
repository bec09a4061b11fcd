//! Value codecs for directory data: AD `objectGUID` rendering, MS-ADTS range options on attribute
//! descriptions, and RFC 4515 filter building. Pure: no I/O.

/// Render a 16-byte AD `objectGUID` as the standard GUID string.
///
/// The GUID is stored as the Windows `GUID` struct in little-endian order: `Data1` (u32),
/// `Data2` (u16) and `Data3` (u16) are byte-swapped relative to the printed form, `Data4` (8
/// bytes) is not (MS-DTYP §2.3.4.2). Lowercase, as .NET's `Guid.ToString()` prints it.
pub fn guid_string(bytes: &[u8]) -> Option<String> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    ))
}

/// The 16 octets of a GUID string [`guid_string`] rendered: the inverse, for a filter that
/// looks an entry up by its `objectGUID`. `None` when `text` is not a GUID.
pub fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut p = [0u8; 16];
    for (i, byte) in p.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some([
        p[3], p[2], p[1], p[0], p[5], p[4], p[7], p[6], p[8], p[9], p[10], p[11], p[12], p[13],
        p[14], p[15],
    ])
}

/// The range a server returned for one chunk of a multi-valued attribute, from an attribute
/// description such as `member;range=0-1499` or `member;range=1500-*` (MS-ADTS 3.1.1.3.1.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First value index in this chunk.
    pub low: u64,
    /// Last value index, or `None` for `*`: this chunk is the last one.
    pub high: Option<u64>,
}

/// Split an attribute description into its type and its `range=` option, if any. Other options
/// (e.g. `;binary`, language tags) stay part of the type so they never match a plain name.
pub fn split_range(description: &str) -> (String, Option<Result<Range, String>>) {
    let mut base = String::new();
    let mut range = None;
    for (i, part) in description.split(';').enumerate() {
        let lower = part.to_ascii_lowercase();
        if i > 0 {
            if let Some(spec) = lower.strip_prefix("range=") {
                range = Some(parse_range(spec).ok_or_else(|| part.to_owned()));
                continue;
            }
            base.push(';');
        }
        base.push_str(part);
    }
    (base, range)
}

fn parse_range(spec: &str) -> Option<Range> {
    let (low, high) = spec.split_once('-')?;
    let low = low.parse().ok()?;
    let high = match high {
        "*" => None,
        n => {
            let n: u64 = n.parse().ok()?;
            if n < low {
                return None;
            }
            Some(n)
        }
    };
    Some(Range { low, high })
}

/// `(&A B)` for two complete filters.
pub fn and(a: &str, b: &str) -> String {
    format!("(&{a}{b})")
}

/// An equality-style assertion `(attr<rule>=value)` with `value` escaped per RFC 4515 §3, so a
/// value such as `*)(uid=*` cannot change the filter's structure. `rule` is `""` or an extensible
/// match such as `:1.2.840.113556.1.4.1941:`.
pub fn assertion(attr: &str, rule: &str, value: &str) -> String {
    format!("({attr}{rule}={})", ldap3::ldap_escape(value))
}

/// AD's LDAP_MATCHING_RULE_IN_CHAIN (MS-ADTS 3.1.1.3.4.4.1): `memberOf` transitively.
pub const IN_CHAIN: &str = ":1.2.840.113556.1.4.1941:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_first_three_groups_are_swapped() {
        let bytes: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            guid_string(&bytes).as_deref(),
            Some("03020100-0504-0706-0809-0a0b0c0d0e0f")
        );
        // The example from MS-DTYP: {6B29FC40-CA47-1067-B31D-00DD010662DA}.
        let bytes = [
            0x40, 0xfc, 0x29, 0x6b, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1d, 0x00, 0xdd, 0x01, 0x06,
            0x62, 0xda,
        ];
        assert_eq!(
            guid_string(&bytes).as_deref(),
            Some("6b29fc40-ca47-1067-b31d-00dd010662da")
        );
        assert_eq!(guid_string(&[1, 2, 3]), None);
    }

    #[test]
    fn ranges() {
        let r = |low, high| Some(Ok(Range { low, high }));
        assert_eq!(split_range("member"), ("member".into(), None));
        assert_eq!(
            split_range("member;range=0-1499"),
            ("member".into(), r(0, Some(1499)))
        );
        assert_eq!(
            split_range("Member;Range=1500-*"),
            ("Member".into(), r(1500, None))
        );
        assert_eq!(
            split_range("member;binary;range=0-*"),
            ("member;binary".into(), r(0, None))
        );
        assert_eq!(
            split_range("member;range=9-3"),
            ("member".into(), Some(Err("range=9-3".into())))
        );
        assert_eq!(
            split_range("member;range=x-*"),
            ("member".into(), Some(Err("range=x-*".into())))
        );
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(
            assertion("uid", "", "*)(uid=*))(|(uid=*"),
            "(uid=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a)"
        );
        assert_eq!(assertion("cn", "", "a\\b\0"), "(cn=a\\5cb\\00)");
        assert_eq!(
            assertion("memberOf", IN_CHAIN, "cn=x(1),dc=y"),
            "(memberOf:1.2.840.113556.1.4.1941:=cn=x\\281\\29,dc=y)"
        );
        assert_eq!(and("(a=1)", "(b=2)"), "(&(a=1)(b=2))");
    }
}
