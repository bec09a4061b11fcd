//! Redaction of the bearer token from text that came from the server (error bodies, `detail`,
//! transport errors): the token as it is and every form a server is known to echo it in.
//!
//! A server that quotes the `Authorization` header back may encode it: base64 (of the token, of
//! `Bearer <token>`, or of `:<token>` / `<token>:` as basic auth would carry it; standard or
//! URL-safe alphabet, padded or not), percent-encoded, or JSON-escaped. Plain string replacement
//! of the token misses all of those, so the redactor derives each form once, up front.
//!
//! Base64 is not substring-preserving: the token encodes differently depending on how many bytes
//! precede it (modulo 3). For each of the three alignments the redactor keeps the run of base64
//! characters that depend on token bytes only; that run appears inside the encoding of *any* text
//! holding the token at that alignment, whatever the prefix (`Bearer `, `:`) or the padding. The
//! one or two characters at either end that mix in neighbouring bits stay, which reveals at most
//! a few bits of the token's first and last byte.

use base64::alphabet::{Alphabet, STANDARD, URL_SAFE};
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::collections::BTreeSet;
use std::fmt;

/// What replaces the token in any of its forms.
pub const MARK: &str = "[REDACTED]";

/// Derived forms shorter than this are left alone: they would match ordinary text, and a token
/// that short has no secret left to keep.
const MIN_FORM_CHARS: usize = 8;

/// Every form of one token, longest first so a longer form is replaced before a shorter one
/// that it contains.
pub struct Redactor {
    forms: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The forms are the token in other clothes: never print them.
        f.debug_struct("Redactor")
            .field("forms", &self.forms.len())
            .finish()
    }
}

impl Redactor {
    /// The forms of `token` (trimmed); an empty token redacts nothing.
    pub fn new(token: &str) -> Self {
        let token = token.trim();
        if token.is_empty() {
            return Self { forms: Vec::new() };
        }
        let mut derived = BTreeSet::new();
        base64_cores(token.as_bytes(), &mut derived);
        percent_forms(token.as_bytes(), &mut derived);
        json_forms(token, &mut derived);
        let mut forms: Vec<String> = derived
            .into_iter()
            .filter(|f| f.chars().count() >= MIN_FORM_CHARS && f != token)
            .collect();
        forms.push(token.to_owned());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Self { forms }
    }

    /// `text` with every form of the token replaced by [`MARK`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MARK);
            }
        }
        out
    }
}

/// The base64 runs that depend on token bytes only, for both alphabets and the three alignments.
fn base64_cores(token: &[u8], out: &mut BTreeSet<String>) {
    let config = GeneralPurposeConfig::new().with_encode_padding(false);
    let alphabets: [&Alphabet; 2] = [&STANDARD, &URL_SAFE];
    for alphabet in alphabets {
        let engine = GeneralPurpose::new(alphabet, config);
        for lead in 0..3usize {
            let mut bytes = vec![0u8; lead];
            bytes.extend_from_slice(token);
            let encoded = engine.encode(&bytes);
            // Character j holds bits [6j, 6j+6); keep those inside the token's bits.
            let first = (8 * lead).div_ceil(6);
            let end = (8 * (lead + token.len())) / 6;
            if let Some(core) = encoded.get(first..end.min(encoded.len())) {
                out.insert(core.to_owned());
            }
        }
    }
}

/// Percent-encodings: every byte encoded; everything but RFC 3986 unreserved characters encoded;
/// everything but letters and digits encoded; each with upper- and lower-case hex; and the
/// `application/x-www-form-urlencoded` form.
fn percent_forms(token: &[u8], out: &mut BTreeSet<String>) {
    let keep_none = |_: u8| false;
    let keep_unreserved =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let keep_alnum = |b: u8| b.is_ascii_alphanumeric();
    let rules: [&dyn Fn(u8) -> bool; 3] = [&keep_none, &keep_unreserved, &keep_alnum];
    for keep in rules {
        for upper in [true, false] {
            let mut text = String::with_capacity(token.len() * 3);
            for &b in token {
                if keep(b) {
                    text.push(char::from(b));
                } else if upper {
                    text.push_str(&format!("%{b:02X}"));
                } else {
                    text.push_str(&format!("%{b:02x}"));
                }
            }
            out.insert(text);
        }
    }
    out.insert(url::form_urlencoded::byte_serialize(token).collect());
}

/// JSON string escapes: the usual escaping (with and without `\/`), and every character as
/// `\uXXXX` in upper- and lower-case hex.
fn json_forms(token: &str, out: &mut BTreeSet<String>) {
    if let Ok(quoted) = serde_json::to_string(token) {
        let inner = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(&quoted)
            .to_owned();
        out.insert(inner.replace('/', "\\/"));
        out.insert(inner);
    }
    for upper in [true, false] {
        let mut text = String::with_capacity(token.len() * 6);
        for unit in token.encode_utf16() {
            if upper {
                text.push_str(&format!("\\u{unit:04X}"));
            } else {
                text.push_str(&format!("\\u{unit:04x}"));
            }
        }
        out.insert(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    /// Has the characters every encoding treats specially: `/` and `+` (base64 and JSON), `"`
    /// and `\` (JSON), `~`, `-`, `.` and `_` (percent-encoding rules differ on them).
    const TOKEN: &str = "secret_Zx9/+q\"w\\e~r-t.y_u1234567890ABCDEF";

    fn every_encoding(token: &str) -> Vec<String> {
        let mut forms = Vec::new();
        for text in [
            token.to_owned(),
            format!("Bearer {token}"),
            format!(":{token}"),
            format!("{token}:"),
            format!("x:{token}"),
        ] {
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                forms.push(engine.encode(text.as_bytes()));
            }
        }
        let mut all = BTreeSet::new();
        percent_forms(token.as_bytes(), &mut all);
        json_forms(token, &mut all);
        forms.extend(all);
        forms.push(token.to_owned());
        forms
    }

    #[test]
    fn every_encoded_form_is_redacted_wherever_it_sits() {
        let redactor = Redactor::new(TOKEN);
        for form in every_encoding(TOKEN) {
            for text in [
                form.clone(),
                format!("bad header {form} here"),
                format!("{{\"detail\":\"echo:{form}\"}}"),
            ] {
                let out = redactor.redact(&text);
                assert!(!out.contains(&form), "{form} survived in {out}");
                assert!(out.contains(MARK), "{out}");
            }
        }
    }

    #[test]
    fn the_middle_of_a_base64_encoding_reveals_no_token_byte() {
        let redactor = Redactor::new(TOKEN);
        let encoded = STANDARD.encode(format!("Bearer {TOKEN}"));
        let out = redactor.redact(&encoded);
        // What is left is at most a few characters either side of the mark.
        let left = out.replace(MARK, "");
        let prefix = STANDARD.encode("Bearer ");
        assert!(left.len() <= prefix.len() + 6, "{out}");
    }

    #[test]
    fn ordinary_text_is_left_alone_and_debug_shows_no_form() {
        let redactor = Redactor::new("canary-token-5f1d2c9e7a");
        let text = "GET /Users failed: bad request (id 3f9a, startIndex 101)";
        assert_eq!(redactor.redact(text), text);
        let debug = format!("{redactor:?}");
        assert!(!debug.contains("canary"), "{debug}");
        assert!(!debug.contains(&STANDARD_NO_PAD.encode("canary-token-5f1d2c9e7a")[..12]));
        assert_eq!(Redactor::new("  ").redact("a b"), "a b");
    }

    #[test]
    fn a_short_token_is_still_redacted_as_is() {
        let redactor = Redactor::new("abc");
        assert_eq!(redactor.redact("x abc y"), format!("x {MARK} y"));
        // Its derived forms would be too short to tell from ordinary text.
        assert_eq!(redactor.redact("YWJj"), "YWJj");
    }
}
