//! Identifier newtypes.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// A person's stable identity in one source: the source's configured name plus the source's own id
/// (HR employee id, LDAP `entryUUID`, AD `objectGUID`). Never a DN or an email: those change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceKey {
    /// The `name` of the `[[sources]]` entry.
    pub source: String,
    /// The source's stable id for the person.
    pub id: String,
}

impl SourceKey {
    /// A key for `id` in source `source`.
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            id: id.into(),
        }
    }

    /// Parse the `source:id` form written by [`fmt::Display`].
    pub fn parse(text: &str) -> Option<Self> {
        let (source, id) = text.split_once(':')?;
        if source.is_empty() || id.is_empty() {
            return None;
        }
        Some(Self::new(source, id))
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.id)
    }
}

/// The id a SCIM service assigned to a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScimId(pub String);

impl fmt::Display for ScimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ScimId {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A SCIM `userName`. For Notion it is an email address, so it compares without case; the original
/// spelling is kept for display and for the wire.
///
/// Names are compared, ordered and hashed by their lowercased form. Almost every name is already
/// lowercase, so that is noted once, at construction: comparing two such names compares the text
/// as it is, with no lowercased copy (a 100,000-person plan makes millions of comparisons in its
/// maps; each used to allocate two strings).
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct UserName {
    name: String,
    #[serde(skip)]
    lower: bool,
}

impl UserName {
    /// Wrap a user name, trimming surrounding whitespace.
    pub fn new(value: impl AsRef<str>) -> Self {
        let name = value.as_ref().trim().to_owned();
        let lower = is_own_lowercase(&name);
        Self { name, lower }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The comparison key: lowercased.
    pub fn key(&self) -> String {
        self.key_ref().into_owned()
    }

    /// The comparison key, borrowed when the name is already lowercase.
    pub fn key_ref(&self) -> std::borrow::Cow<'_, str> {
        if self.lower {
            std::borrow::Cow::Borrowed(&self.name)
        } else {
            std::borrow::Cow::Owned(self.name.to_lowercase())
        }
    }

    /// The comparison key of `text` taken as a userName (what `UserName::new(text).key()`
    /// gives), borrowed from `text` when it needs no change: an index of every target user by
    /// name then holds no copy of the names.
    pub fn key_of(text: &str) -> std::borrow::Cow<'_, str> {
        let name = text.trim();
        if is_own_lowercase(name) {
            std::borrow::Cow::Borrowed(name)
        } else {
            std::borrow::Cow::Owned(name.to_lowercase())
        }
    }
}

/// Whether `text` is its own lowercase form. ASCII is checked byte by byte; other text is
/// compared with `to_lowercase`, whose context rules (a final sigma) a per-character test would
/// miss.
fn is_own_lowercase(text: &str) -> bool {
    if text.is_ascii() {
        !text.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        text.to_lowercase() == text
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserName").field(&self.name).finish()
    }
}

impl<'de> Deserialize<'de> for UserName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // As written: a saved plan holds the name exactly as it was sent.
        let name = String::deserialize(deserializer)?;
        let lower = is_own_lowercase(&name);
        Ok(Self { name, lower })
    }
}

impl PartialEq for UserName {
    fn eq(&self, other: &Self) -> bool {
        if self.lower && other.lower {
            return self.name == other.name;
        }
        self.key_ref() == other.key_ref()
    }
}

impl Eq for UserName {}

impl PartialOrd for UserName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for UserName {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.lower && other.lower {
            return self.name.cmp(&other.name);
        }
        self.key_ref().cmp(&other.key_ref())
    }
}

impl std::hash::Hash for UserName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The same bytes as hashing `key()`, so equal names hash alike whatever their case.
        self.key_ref().hash(state);
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_compare_without_case() {
        assert_eq!(
            UserName::new("Ada@Example.com"),
            UserName::new(" ada@example.COM ")
        );
        assert_ne!(
            UserName::new("ada@example.com"),
            UserName::new("bob@example.com")
        );
    }

    /// Comparing, ordering and hashing must agree with the lowercased key whether or not a name
    /// was noted as lowercase, including where `to_lowercase` differs from a per-character
    /// lowering (a final sigma) and where lowering changes the length.
    #[test]
    fn the_shortcut_for_lowercase_names_agrees_with_the_key() {
        use std::hash::{BuildHasher, RandomState};
        let names = [
            "ada@example.com",
            "Ada@Example.com",
            "ADA@EXAMPLE.COM",
            "ada@example.co",
            "zoë@example.com",
            "ZOË@example.com",
            "ΟΔΟΣ@example.com",
            "οδος@example.com",
            "οδοσ@example.com",
            "İ@example.com",
            "i̇@example.com",
            "",
        ];
        let hasher = RandomState::new();
        for a in names {
            for b in names {
                let (x, y) = (UserName::new(a), UserName::new(b));
                let (kx, ky) = (x.key(), y.key());
                assert_eq!(x == y, kx == ky, "{a:?} == {b:?}");
                assert_eq!(x.cmp(&y), kx.cmp(&ky), "{a:?} cmp {b:?}");
                if x == y {
                    assert_eq!(hasher.hash_one(&x), hasher.hash_one(&y), "{a:?} hash {b:?}");
                }
                assert_eq!(hasher.hash_one(&x), hasher.hash_one(kx.as_str()));
            }
            for padded in [a.to_owned(), format!("  {a}\t")] {
                assert_eq!(
                    UserName::key_of(&padded),
                    UserName::new(&padded).key(),
                    "{a:?}"
                );
            }
        }
        let read: UserName = serde_json::from_str("\"Ada@Example.com\"").unwrap();
        assert_eq!(read.as_str(), "Ada@Example.com");
        assert_eq!(read, UserName::new("ada@example.com"));
        assert_eq!(serde_json::to_string(&read).unwrap(), "\"Ada@Example.com\"");
        assert_eq!(format!("{read:?}"), "UserName(\"Ada@Example.com\")");
    }

    #[test]
    fn source_key_round_trips() {
        let key = SourceKey::new("hr", "E-42:x");
        assert_eq!(SourceKey::parse(&key.to_string()), Some(key));
        assert_eq!(SourceKey::parse("nocolon"), None);
    }
}
