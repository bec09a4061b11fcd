//! What a verified assertion says about the user (NameID, its format, attributes), and the
//! checks on it: a comment inside the NameID, and Notion's expectations of the identity.

use super::{child, children, full_text, is, NAMEID_EMAIL, NS_ASSERTION};
use crate::saml::finding::Finding;
use roxmltree::{Document, Node};
use std::collections::BTreeMap;

/// What a verified assertion says about the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// NameID, full text with comments removed, trimmed.
    pub name_id: Option<String>,
    /// NameID Format attribute.
    pub name_id_format: Option<String>,
    /// Attributes by Name, values in order.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// NameID, format and attributes of a verified assertion.
pub fn identity(assertion: Node) -> Identity {
    let name_id =
        child(assertion, NS_ASSERTION, "Subject").and_then(|s| child(s, NS_ASSERTION, "NameID"));
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attr in assertion
        .children()
        .filter(|c| is(*c, NS_ASSERTION, "AttributeStatement"))
        .flat_map(|s| children(s, NS_ASSERTION, "Attribute"))
    {
        let values = children(attr, NS_ASSERTION, "AttributeValue")
            .iter()
            .map(|v| full_text(*v).trim().to_string())
            .collect::<Vec<_>>();
        attributes
            .entry(attr.attribute("Name").unwrap_or_default().to_string())
            .or_default()
            .extend(values);
    }
    Identity {
        name_id: name_id.map(|n| full_text(n).trim().to_string()),
        name_id_format: name_id
            .and_then(|n| n.attribute("Format"))
            .map(str::to_string),
        attributes,
    }
}

/// Comments or CDATA-split text inside the original NameID (a warning: the full text is used).
pub fn comment_in_name_id(doc: &Document, out: &mut Vec<Finding>) {
    for n in doc.descendants().filter(|n| is(*n, NS_ASSERTION, "NameID")) {
        if n.children().any(|c| c.is_comment()) {
            out.push(Finding::warning(
                "comment-injection",
                format!(
                    "The NameID contains an XML comment; its full text {:?} is used, never the part before the comment.",
                    full_text(n).trim()
                ),
                "A genuine IdP does not put comments in a NameID: check who produced this message.",
            ));
        }
    }
}

/// Notion's expectations of the identity (docs/saml.md, "What Notion expects"); warnings, not errors.
pub fn notion_identity(id: &Identity, out: &mut Vec<Finding>) {
    if id.name_id_format.as_deref() != Some(NAMEID_EMAIL) {
        out.push(Finding::warning(
            "nameid-format",
            format!(
                "The NameID format is {:?}; Notion expects {NAMEID_EMAIL}.",
                id.name_id_format.as_deref().unwrap_or("unspecified")
            ),
            "Set the IdP application's NameID format to EmailAddress and its value to the user's email.",
        ));
    }
    if let Some(n) = &id.name_id {
        if !looks_like_email(n) {
            out.push(Finding::warning(
                "nameid-not-email",
                format!("The NameID {n:?} is not an email address; Notion matches users by email."),
                "Map the NameID to the user's primary email in the IdP.",
            ));
        }
    }
    let has = |names: &[&str]| names.iter().any(|n| id.attributes.contains_key(*n));
    if !has(&["email", "emailAddress"]) {
        out.push(Finding::info(
            "attribute-missing",
            "No `email` attribute; Notion falls back to the NameID.",
        ));
    }
    if !has(&["firstName"]) || !has(&["lastName"]) {
        out.push(Finding::info(
            "attribute-missing",
            "No `firstName`/`lastName` attributes; Notion cannot fill in the user's name.",
        ));
    }
}

/// A light shape check (one `@`, a dot in the domain, no spaces).
pub fn looks_like_email(s: &str) -> bool {
    let mut parts = s.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
        }
        _ => false,
    }
}
