//! Keeping secrets out of what config loading says: which names look like secrets, credentials
//! written into URLs, and a [`Scrubber`] that masks every secret-looking value of the config text
//! in a message before it is shown.
//!
//! The config never holds a secret (secrets come from `*_env` / `*_file`), but an admin may
//! still write one there by mistake (`token = "…"` for `token_env`, a token in a URL's query).
//! Parse errors quote the offending line and serde quotes bad values, so every error of a config
//! load goes through the scrubber, whatever produced it.

/// Name parts that make a key or a query parameter look like a secret wherever they appear
/// (`sslpassword`, `accessToken`, `client_secret`, `X-BINDPW`).
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "authorization",
    "bearer",
    "signature",
    "bindpw",
    "privatekey",
];

/// Short names that are secrets only as the whole name (`key=`, `sig=`), not as part of another
/// (`sort_key`, `auth_type`, `monkey`, `passage`): a false alarm would refuse a working URL.
const SECRET_NAMES: &[&str] = &["key", "sig", "pwd", "pass", "pw", "auth", "jwt", "sas"];

/// Words that make a following `key` a secret (`access_key`, `subscription-key`).
const KEY_OWNERS: &[&str] = &[
    "api",
    "access",
    "secret",
    "private",
    "client",
    "app",
    "auth",
    "subscription",
    "master",
    "signing",
    "account",
];

/// Known keys whose names contain a secret word but whose values are not secrets.
const PLAIN_KEYS: &[&str] = &["token_owner"];

/// The words of a name: split at anything not alphanumeric and where a lower-case letter is
/// followed by an upper-case one (`accessToken` → `access`, `token`).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            out.push(std::mem::take(&mut word));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    out.push(word);
    out.retain(|w| !w.is_empty());
    out
}

/// Whether a key or parameter name looks like it holds a secret (`token`, `api_key`,
/// `access_key`, `bind_password`, `sig`). Says nothing about `*_env` / `*_file`: see
/// [`holds_secret`].
pub fn looks_secret(name: &str) -> bool {
    let squashed: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_PARTS.iter().any(|p| squashed.contains(p))
        || SECRET_NAMES.contains(&squashed.as_str())
        || words(name)
            .windows(2)
            .any(|w| w[1] == "key" && KEY_OWNERS.contains(&w[0].as_str()))
}

/// Whether the value of the config key `name` would be a secret: its name looks like one and it is
/// not a reference to one (`token_env` names a variable, `token_file` a file) nor a known plain
/// key (`token_owner` is an email).
pub fn holds_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    looks_secret(name)
        && !lower.ends_with("_env")
        && !lower.ends_with("_file")
        && !PLAIN_KEYS.contains(&lower.as_str())
}

/// A credential written into a URL, named without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlCredential {
    /// `user:password@` or `user@` before the host.
    UserInfo,
    /// A query (or fragment) parameter whose name looks like a secret.
    Param(String),
}

impl std::fmt::Display for UrlCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlCredential::UserInfo => {
                f.write_str("a user name or password before the host (`user:…@`)")
            }
            UrlCredential::Param(name) => write!(f, "a credential in the parameter `{name}=…`"),
        }
    }
}

/// The first credential in URL text, if any. Works on the raw text, so a URL too broken to parse
/// is checked as well.
pub fn url_credential(text: &str) -> Option<UrlCredential> {
    if let Some(start) = text.find("://").map(|i| i + 3) {
        let rest = &text[start..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let before_query = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
        // A password may hold an unescaped `/`, which ends the authority early; `user:pa/ss@host`
        // still has its `@` before the query and a `:` before that.
        // `host:8443/Users/a@b` is a port and a path, not a password.
        let slashed_password = before_query.find('@').is_some_and(|at| {
            let info = &before_query[..at];
            match (info.find(':'), info.find('/')) {
                (Some(colon), Some(slash)) if colon < slash => {
                    !info[colon + 1..slash].chars().all(|c| c.is_ascii_digit())
                }
                _ => false,
            }
        });
        if rest[..authority_end].contains('@') || slashed_password {
            return Some(UrlCredential::UserInfo);
        }
    }
    let params_start = text.find(['?', '#'])?;
    text[params_start + 1..]
        .split(['&', ';', ',', '?', '#'])
        .filter_map(|pair| pair.split_once('='))
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, _)| percent_decode(name))
        .find(|name| looks_secret(name))
        .map(UrlCredential::Param)
}

/// Masks, in any text, the values the config text gives to secret-looking keys and the
/// credentials written into its URLs.
#[derive(Default)]
pub struct Scrubber {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

// By hand, so the secrets it holds can never be printed.
impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} values)", self.secrets.len())
    }
}

/// The mask written in place of a secret.
pub const MASK: &str = "***";

impl Scrubber {
    /// Collect the secrets of a config text: every `name = value` (TOML keys, inline tables, URL
    /// query parameters) whose name holds a secret, and every URL password.
    pub fn new(text: &str) -> Self {
        let mut secrets = Vec::new();
        for (eq, _) in text.match_indices('=') {
            let name = name_before(&text[..eq]);
            let last = name.rsplit('.').next().unwrap_or(name);
            if holds_secret(last) {
                if let Some(value) = value_after(&text[eq + 1..]) {
                    secrets.push(value.to_owned());
                }
            }
        }
        for (i, _) in text.match_indices("://") {
            if let Some(password) = userinfo_password(&text[i + 3..]) {
                secrets.push(password.to_owned());
            }
        }
        let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
        secrets.extend(decoded);
        secrets.retain(|s| !s.trim().is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every collected secret replaced by [`MASK`].
    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), MASK);
        }
        out
    }
}

/// The key or parameter name that ends right before an `=`: a bare key (`token`), a dotted one
/// (`target.token`), a quoted one (`"token"`), or a URL parameter (`?api_key`).
fn name_before(text: &str) -> &str {
    let text = text.trim_end_matches([' ', '\t']);
    let text = text.strip_suffix(['"', '\'']).unwrap_or(text);
    let start = text
        .rfind(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '%')))
        .map_or(0, |i| {
            i + text[i..].chars().next().map_or(1, char::len_utf8)
        });
    &text[start..]
}

/// The value that starts right after an `=`: a TOML string (basic, literal or multi-line, up to
/// its closing quote or the end of the line), or a bare value up to a separator.
fn value_after(text: &str) -> Option<&str> {
    let text = text.trim_start_matches([' ', '\t']);
    for quote in ["\"\"\"", "'''"] {
        if let Some(body) = text.strip_prefix(quote) {
            return Some(&body[..body.find(quote).unwrap_or(body.len())]);
        }
    }
    if let Some(body) = text.strip_prefix('"') {
        let mut escaped = false;
        let end = body
            .char_indices()
            .find(|&(_, c)| {
                let closes = (c == '"' && !escaped) || c == '\n';
                escaped = c == '\\' && !escaped;
                closes
            })
            .map_or(body.len(), |(i, _)| i);
        return Some(&body[..end]);
    }
    if let Some(body) = text.strip_prefix('\'') {
        return Some(&body[..body.find(['\'', '\n']).unwrap_or(body.len())]);
    }
    let end = text
        .find(|c: char| {
            c.is_whitespace() || matches!(c, '&' | ';' | '#' | ',' | '"' | '\'' | '}' | ']')
        })
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The password of `user:password@host`, given the text after `://`.
fn userinfo_password(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| c.is_whitespace() || matches!(c, '?' | '#' | '"' | '\''))
        .unwrap_or(text.len());
    let authority = &text[..end];
    let at = authority.rfind('@')?;
    let (_, password) = authority[..at].split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// Decode `%XX` escapes; invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names() {
        for name in [
            "token",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "key",
            "bind_password",
            "sslpassword",
            "client_secret",
            "access_token",
            "accessToken",
            "sig",
            "pwd",
            "credentials",
            "Authorization",
            "x-bindpw",
            "access_key",
            "subscription-key",
            "sas",
        ] {
            assert!(looks_secret(name), "{name}");
            assert!(holds_secret(name), "{name}");
        }
        for name in [
            "monkey",
            "name",
            "kind",
            "url",
            "page",
            "passage",
            "sort",
            "keys",
            "sort_key",
            "auth_type",
            "keyword",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
        for name in [
            "token_env",
            "token_file",
            "password_env",
            "url_file",
            "token_owner",
        ] {
            assert!(!holds_secret(name), "{name}");
        }
    }

    #[test]
    fn credentials_in_urls_are_found_by_name() {
        let cases = [
            ("https://x.test/scim/v2?token=abc", Some("token")),
            ("https://x.test/v1?page=1&api_key=abc", Some("api_key")),
            ("https://x.test/v1?access%5Ftoken=abc", Some("access_token")),
            ("https://x.test/v1#access_token=abc", Some("access_token")),
            ("https://x.test/v1?sig=abc&se=2030", Some("sig")),
            ("ldap://h:389/????x-bindpw=abc", Some("x-bindpw")),
            ("https://x.test/v1?page=1&count=100", None),
            ("https://x.test/v1?token=", None),
            ("https://x.test/Users/ada@x.test", None),
            ("https://x.test:8443/scim/v2", None),
        ];
        for (url, want) in cases {
            let got = url_credential(url);
            assert_eq!(
                got,
                want.map(|n| UrlCredential::Param(n.to_owned())),
                "{url}"
            );
        }
        for url in [
            "https://user:pw@x.test/scim",
            "https://user@x.test/scim",
            "ldap://cn=admin:pw@h:389",
            "https://u:pa/ss@x.test/scim",
        ] {
            assert_eq!(url_credential(url), Some(UrlCredential::UserInfo), "{url}");
        }
    }

    #[test]
    fn the_scrubber_masks_every_form_a_secret_takes_in_a_config() {
        let text = "[target]\ntoken = \"s3cr3t-1\"\nurl = \"https://x.test/v2?access_token=s3cr3t-2&a=b\"\n\
                    creds = { api_key = 's3cr3t-3' }\npassword=s3cr3t-4\n[store]\n\
                    url = \"postgres://u:s3cr3t-5@h/d\"\nsecret = \"\"\"\ns3cr3t-6\n\"\"\"\n\
                    token_env = \"NOTION_SCIM_TOKEN\"\n";
        let scrubber = Scrubber::new(text);
        let clean = scrubber.clean(text);
        for n in 1..=6 {
            assert!(!clean.contains(&format!("s3cr3t-{n}")), "{n}: {clean}");
        }
        assert!(clean.contains("NOTION_SCIM_TOKEN"), "{clean}");
        assert!(!format!("{scrubber:?}").contains("s3cr3t"));
        let encoded = Scrubber::new("url = \"https://x/?token=a%2Fb\"");
        assert_eq!(encoded.clean("got a/b and a%2Fb"), "got *** and ***");
    }
}
