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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    /// Wrap a user name, trimming surrounding whitespace.
    pub fn new(value: impl AsRef<str>) -> Self {
        Self(value.as_ref().trim().to_owned())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison key: lowercased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl PartialEq for UserName {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
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
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for UserName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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

    #[test]
    fn source_key_round_trips() {
        let key = SourceKey::new("hr", "E-42:x");
        assert_eq!(SourceKey::parse(&key.to_string()), Some(key));
        assert_eq!(SourceKey::parse("nocolon"), None);
    }
}
