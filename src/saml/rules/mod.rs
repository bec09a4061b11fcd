//! The pure SAML Response rules, in groups that each own one part of the message: the document
//! shape ([`structure`]: root, assertion placement, IDs, what is signed, status), each signature's
//! structure and algorithm allow-list ([`signature`], before any crypto), the Web-SSO protocol
//! checks on the verified assertion ([`protocol`]), and what the assertion says about the user
//! ([`identity`]). Each rule is a small function that pushes a [`Finding`]; the order of the
//! rules is the order of the findings, and the first error is the report's reason. No I/O, no
//! clock: `now` is an argument.
//!
//! The rules are the XML Signature Wrapping defences of docs/saml.md, "How a response is
//! checked": no signature is trusted for more than it covers. The signature must be a direct
//! child of the
//! Response or the Assertion it references (`URI="#" + parent ID`, one SignedInfo, one
//! Reference), IDs are unique, there is exactly one Assertion and it sits at
//! `/Response/Assertion`, and identity is read only from the subtree the signature verified.

mod identity;
mod protocol;
mod signature;
mod structure;

pub use identity::{comment_in_name_id, identity, looks_like_email, notion_identity, Identity};
pub use protocol::{parse_xs_datetime, protocol};
pub use structure::{first_signature_covers, id_problem, structure, Layout};

use super::finding::Finding;
use roxmltree::Node;
use std::ops::ControlFlow;

/// What a rule that can end the checks returns: `Break` once it pushed an error after which
/// nothing further can be judged (the rest would be read from a message already refused).
type Step = ControlFlow<()>;

/// Push `finding` and stop the checks.
fn stop<T>(out: &mut Vec<Finding>, finding: Finding) -> ControlFlow<(), T> {
    out.push(finding);
    ControlFlow::Break(())
}

/// SAML 2.0 protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// XML-DSig namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// SAML 2.0 metadata namespace.
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_SAML1_PROTOCOL: &str = "urn:oasis:names:tc:SAML:1.0:protocol";
const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The NameID format Notion needs.
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// How far the checks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Signature plus every Web-SSO protocol check.
    #[default]
    Response,
    /// Only the XML-DSig structure and verification (the root may be a bare Assertion).
    Signature,
}

/// Is `node` the element `{ns}name`?
pub fn is(node: Node, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(ns)
}

/// Direct element children named `{ns}name`.
pub fn children<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Vec<Node<'a, 'i>> {
    node.children().filter(|c| is(*c, ns, name)).collect()
}

/// The first direct child named `{ns}name`.
pub fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is(*c, ns, name))
}

/// The text of an element: every descendant text node (CDATA included) joined, comments
/// removed. Never only the first text node (CVE-2017-11427 family).
pub fn full_text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// `/Response/Assertion/…`: where a node sits, by local names.
fn local_path(node: Node) -> String {
    let mut parts: Vec<&str> = node
        .ancestors()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    parts.reverse();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::Document;

    #[test]
    fn ids_are_judged_by_what_a_reference_needs() {
        for ok in [
            "_a0123",
            "28338c8c-39ab-4b94-bcdc-46f68f99d962",
            "id-3992f74e",
            "pfx.1_2",
            "ONELOGIN_0f",
        ] {
            assert_eq!(id_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("_a b", "contains whitespace"),
            ("_a\tb", "contains whitespace"),
            ("_a:b", "contains ':'"),
            ("_a#b", "contains '#'"),
            (
                "_a'b",
                "contains a quote, a parenthesis or '^' (XPointer syntax)",
            ),
            (
                "_a)b",
                "contains a quote, a parenthesis or '^' (XPointer syntax)",
            ),
            (
                "_a^b",
                "contains a quote, a parenthesis or '^' (XPointer syntax)",
            ),
        ] {
            assert_eq!(id_problem(bad), Some(why), "{bad:?}");
        }
    }

    fn covers(xml: &str, id: &str) -> bool {
        let doc = Document::parse(xml).expect("test XML");
        first_signature_covers(&doc, id)
    }

    const SIG: &str = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:Reference URI="#R"/></ds:SignedInfo></ds:Signature>"##;

    #[test]
    fn the_first_signature_must_cover_exactly_its_parent() {
        assert!(covers(&format!(r#"<r ID="R">{SIG}<a ID="A"/></r>"#), "R"));
        // Another ID asked for, or the signature is not the parent's.
        assert!(!covers(&format!(r#"<r ID="R">{SIG}</r>"#), "A"));
        assert!(!covers(
            &format!(r#"<r ID="X"><a ID="R">{SIG}</a></r>"#),
            "X"
        ));
        // The ID is carried twice, in any ID-like attribute.
        for twin in [
            r#"<b ID="R"/>"#,
            r#"<b xmlns:x="urn:x" x:ID="R"/>"#,
            r#"<b xml:id="R"/>"#,
            r#"<b Id="R"/>"#,
        ] {
            assert!(
                !covers(&format!(r#"<r ID="R">{twin}{SIG}</r>"#), "R"),
                "{twin}"
            );
        }
        // No signature, or a signature with two References.
        assert!(!covers(r#"<r ID="R"/>"#, "R"));
        let two = SIG.replace(
            "</ds:SignedInfo>",
            r##"<ds:Reference URI="#R"/></ds:SignedInfo>"##,
        );
        assert!(!covers(&format!(r#"<r ID="R">{two}</r>"#), "R"));
    }
}
