//! The document's shape, before any crypto: the root, signatures nested in signatures, where the
//! one assertion sits, IDs that a Reference resolves to exactly one element, the assertion's and
//! the root's required attributes, one signature per element (each checked by
//! [`super::signature`]), that what is read is signed, the status, and a trust anchor. The first
//! error ends the checks: what follows would be read from a message already refused.

use super::signature::signature_rules;
use super::{
    child, children, full_text, is, local_path, stop, Level, Step, NS_ASSERTION, NS_DSIG,
    NS_PROTOCOL, NS_SAML1_PROTOCOL, STATUS_SUCCESS,
};
use crate::saml::finding::Finding;
use crate::saml::Expect;
use roxmltree::{Document, Node};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// What the structure checks learnt, for the crypto and protocol steps.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The root Response carries a signature over itself.
    pub response_signed: bool,
    /// The assertion carries a signature over itself.
    pub assertion_signed: bool,
    /// ID of the one assertion (at `/Response/Assertion`, or the root).
    pub assertion_id: Option<String>,
    /// Certificates found in `KeyInfo` (base64 bodies); only used to explain a failure.
    pub keyinfo_certs: Vec<String>,
}

/// Root element, status, IDs, assertion placement, signature structure and algorithms.
pub fn structure(doc: &Document, expect: &Expect, out: &mut Vec<Finding>) -> Layout {
    let mut layout = Layout::default();
    // Where the rules stopped is in `out`; the layout holds what they learnt until then.
    let _ = structure_rules(doc, expect, out, &mut layout);
    layout
}

/// The rules in their order.
fn structure_rules(
    doc: &Document,
    expect: &Expect,
    out: &mut Vec<Finding>,
    layout: &mut Layout,
) -> Step {
    let root = doc.root_element();
    root_rule(root, expect, out)?;
    let signatures: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "Signature"))
        .collect();
    nested_signature_rule(&signatures, out)?;
    let assertion = assertion_placement_rules(doc, root, out)?;
    id_rules(doc, out)?;
    assertion_rules(root, assertion, expect, out, layout)?;
    one_signature_per_element_rule(&signatures, out)?;
    for sig in &signatures {
        if !signature_rules(*sig, root, assertion, expect, out, layout) {
            return ControlFlow::Break(());
        }
    }
    // After the signature rules: a wrapped or broken signature is the more useful reason.
    root_attribute_rules(root, out)?;
    signed_rules(&signatures, expect, layout, out)?;
    if expect.level == Level::Response
        && is(root, NS_PROTOCOL, "Response")
        && !status_rule(root, out)
    {
        return ControlFlow::Break(());
    }
    trust_anchor_rule(expect, out);
    ControlFlow::Continue(())
}

/// The root is a SAML 2.0 Response (or, at signature level, a bare Assertion).
fn root_rule(root: Node, expect: &Expect, out: &mut Vec<Finding>) -> Step {
    let bare_assertion_ok = expect.level == Level::Signature && is(root, NS_ASSERTION, "Assertion");
    if is(root, NS_PROTOCOL, "Response") || bare_assertion_ok {
        return ControlFlow::Continue(());
    }
    if root.tag_name().namespace() == Some(NS_SAML1_PROTOCOL)
        || root.tag_name().namespace() == Some("urn:oasis:names:tc:SAML:1.0:assertion")
    {
        return stop(
            out,
            Finding::error(
                "unsupported-version",
                "This is a SAML 1.x message; only SAML 2.0 is supported.",
                "Configure the IdP application for SAML 2.0.",
            ),
        );
    }
    stop(
        out,
        Finding::error(
            "wrong-root",
            format!(
                "The document's root is <{}> ({}), not a SAML 2.0 <samlp:Response>.",
                root.tag_name().name(),
                root.tag_name().namespace().unwrap_or("no namespace")
            ),
            "Pass the SAMLResponse the IdP posted to the ACS URL.",
        ),
    )
}

/// Signatures inside signatures (XSW1, XSW6, XSW8, ds:Object tricks).
fn nested_signature_rule(signatures: &[Node], out: &mut Vec<Finding>) -> Step {
    let Some(sig) = signatures
        .iter()
        .find(|sig| sig.ancestors().skip(1).any(|a| is(a, NS_DSIG, "Signature")))
    else {
        return ControlFlow::Continue(());
    };
    stop(
        out,
        Finding::error(
            "xsw",
            format!(
                "A signature is nested inside another signature at {} (signature wrapping).",
                local_path(*sig)
            ),
            "Treat this message as a signature-wrapping attack.",
        ),
    )
}

/// Assertions: exactly one, at /Response/Assertion (or the root at signature level), not
/// encrypted. `Continue` with the assertion, if there is one.
fn assertion_placement_rules<'a, 'i>(
    doc: &'a Document<'i>,
    root: Node<'a, 'i>,
    out: &mut Vec<Finding>,
) -> ControlFlow<(), Option<Node<'a, 'i>>> {
    let root_is_assertion = is(root, NS_ASSERTION, "Assertion");
    let assertions: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
        .collect();
    let placed = |a: &Node| {
        if root_is_assertion {
            *a == root
        } else {
            a.parent_element() == Some(root)
        }
    };
    if let Some(hidden) = assertions.iter().find(|a| !placed(a)) {
        return stop(
            out,
            Finding::error(
                "xsw",
                format!(
                    "An Assertion sits at {} instead of /Response/Assertion (signature wrapping).",
                    local_path(*hidden)
                ),
                "Treat this message as a signature-wrapping attack.",
            ),
        );
    }
    if doc
        .descendants()
        .any(|n| is(n, NS_ASSERTION, "EncryptedAssertion"))
    {
        return stop(out, Finding::error(
            "encrypted-assertion-unsupported",
            "The assertion is encrypted; idbridge checks plain assertions only.",
            "Turn off assertion encryption in the IdP for this check (Notion does not require it), or test with an unencrypted copy.",
        ));
    }
    if assertions.len() > 1 {
        return stop(out, Finding::error(
            "multiple-assertions",
            format!(
                "The Response holds {} assertions; exactly one is allowed.",
                assertions.len()
            ),
            "Configure the IdP to send one assertion; several assertions are a known wrapping trick.",
        ));
    }
    ControlFlow::Continue(assertions.first().copied())
}

/// IDs: a Reference must resolve to exactly one element. libxmlsec1 resolves `#X` through an ID
/// table filled from every attribute named `ID` (any namespace) plus libxml2's `xml:id`; `Id` is
/// counted too. Each value may appear once (XSW1/2 duplicate the signed element's ID), and each
/// `ID` must be one a Reference can name ([`id_problem`]).
fn id_rules(doc: &Document, out: &mut Vec<Finding>) -> Step {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes().filter(|a| is_id_attribute(a)) {
            *seen.entry(attr.value()).or_default() += 1;
        }
    }
    if let Some((id, n)) = seen.iter().find(|(_, n)| **n > 1) {
        return stop(
            out,
            Finding::error(
                "duplicate-id",
                format!("The ID {id:?} appears {n} times; a signature could point at either copy."),
                "Treat this message as a signature-wrapping attack.",
            ),
        );
    }
    if let Some((bad, problem)) = doc
        .descendants()
        .filter_map(|n| n.attribute("ID"))
        .find_map(|id| id_problem(id).map(|p| (id, p)))
    {
        return stop(out, Finding::error(
            "invalid-id",
            format!("The ID {bad:?} {problem}, so a Reference to it cannot be resolved to exactly one element."),
            "Ask the IdP vendor to emit IDs without whitespace, ':', '#', quotes or parentheses (UUIDs and '_'-prefixed hex are fine).",
        ));
    }
    ControlFlow::Continue(())
}

/// The assertion is there (at response level) with an ID and Version 2.0. A failed login carries
/// no assertion: its status is the reason then, rather than "no assertion".
fn assertion_rules(
    root: Node,
    assertion: Option<Node>,
    expect: &Expect,
    out: &mut Vec<Finding>,
    layout: &mut Layout,
) -> Step {
    if assertion.is_none() && expect.level == Level::Response {
        if child(root, NS_PROTOCOL, "Status").is_some() && !status_rule(root, out) {
            return ControlFlow::Break(());
        }
        return stop(
            out,
            Finding::error(
                "no-assertion",
                "The Response holds no Assertion.",
                "Check the IdP's sign-in log: a successful login must carry an assertion.",
            ),
        );
    }
    layout.assertion_id = assertion
        .and_then(|a| a.attribute("ID"))
        .map(str::to_string);
    let Some(a) = assertion else {
        return ControlFlow::Continue(());
    };
    if a.attribute("ID").is_none_or(|id| id.trim().is_empty()) {
        return stop(
            out,
            Finding::error(
                "missing-id",
                "The Assertion has no ID attribute.",
                "The IdP must set an ID on every Assertion.",
            ),
        );
    }
    if a.attribute("Version") != Some("2.0") {
        return stop(
            out,
            Finding::error(
                "unsupported-version",
                "The Assertion's Version is not \"2.0\".",
                "Configure the IdP application for SAML 2.0.",
            ),
        );
    }
    ControlFlow::Continue(())
}

/// At most one signature per element.
fn one_signature_per_element_rule(signatures: &[Node], out: &mut Vec<Finding>) -> Step {
    let mut per_parent: HashMap<roxmltree::NodeId, usize> = HashMap::new();
    for sig in signatures {
        if let Some(parent) = sig.parent_element() {
            *per_parent.entry(parent.id()).or_default() += 1;
        }
    }
    if per_parent.values().any(|n| *n > 1) {
        return stop(
            out,
            Finding::error(
                "multiple-signatures",
                "One element carries more than one signature.",
                "Configure the IdP to sign each element once.",
            ),
        );
    }
    ControlFlow::Continue(())
}

/// The root's required attributes: ID, Version 2.0, IssueInstant.
fn root_attribute_rules(root: Node, out: &mut Vec<Finding>) -> Step {
    let name = root.tag_name().name();
    if root.attribute("ID").is_none_or(|id| id.trim().is_empty()) {
        return stop(out, Finding::error(
            "missing-id",
            format!("The {name} has no ID attribute."),
            "The IdP must set an ID on every Response and Assertion; check for a proxy rewriting the message.",
        ));
    }
    match root.attribute("Version") {
        Some("2.0") => {}
        None => {
            return stop(
                out,
                Finding::error(
                    "schema-invalid",
                    format!("The {name} has no Version attribute."),
                    "The IdP must send Version=\"2.0\"; check for a proxy rewriting the message.",
                ),
            )
        }
        Some(v) => {
            return stop(
                out,
                Finding::error(
                    "unsupported-version",
                    format!("The {name} Version is {v:?}, not \"2.0\"."),
                    "Configure the IdP application for SAML 2.0.",
                ),
            )
        }
    }
    if root.attribute("IssueInstant").is_none() {
        return stop(
            out,
            Finding::error(
                "schema-invalid",
                format!("The {name} has no IssueInstant attribute."),
                "The IdP must send IssueInstant; check for a proxy rewriting the message.",
            ),
        );
    }
    ControlFlow::Continue(())
}

/// Something must be signed, and it must cover the assertion that will be read.
fn signed_rules(
    signatures: &[Node],
    expect: &Expect,
    layout: &Layout,
    out: &mut Vec<Finding>,
) -> Step {
    if signatures.is_empty() {
        return stop(out, Finding::error(
            "no-signature",
            "Nothing in the message is signed.",
            "Turn on signing in the IdP: sign the assertion (or the response and the assertion) with RSA-SHA256.",
        ));
    }
    if expect.level == Level::Response && !layout.response_signed && !layout.assertion_signed {
        return stop(
            out,
            Finding::error(
                "no-signature",
                "The assertion is not signed and the Response that holds it is not signed either.",
                "Turn on assertion signing in the IdP.",
            ),
        );
    }
    ControlFlow::Continue(())
}

/// A trust anchor must be configured; without one nothing can be verified.
fn trust_anchor_rule(expect: &Expect, out: &mut Vec<Finding>) {
    if expect.certs.is_empty() {
        out.push(Finding::error(
            "no-trust-anchor",
            "No IdP certificate is configured, so no signature can be verified.",
            "Pass --metadata with the IdP metadata or --idp-cert with its signing certificate.",
        ));
    }
}

/// Status must be Success; `false` once an error was pushed.
fn status_rule(root: Node, out: &mut Vec<Finding>) -> bool {
    match child(root, NS_PROTOCOL, "Status").and_then(|s| child(s, NS_PROTOCOL, "StatusCode")) {
        None => {
            out.push(Finding::error(
                "no-status",
                "The Response has no Status/StatusCode.",
                "The IdP must send <samlp:Status> with a StatusCode.",
            ));
            false
        }
        Some(code) if code.attribute("Value") != Some(STATUS_SUCCESS) => {
            let sub = child(code, NS_PROTOCOL, "StatusCode")
                .and_then(|c| c.attribute("Value"))
                .map(|v| format!(" ({v})"))
                .unwrap_or_default();
            let message = root
                .descendants()
                .find(|n| is(*n, NS_PROTOCOL, "StatusMessage"))
                .map(|n| format!(": {}", full_text(n).trim()))
                .unwrap_or_default();
            out.push(Finding::error(
                "status-not-success",
                format!(
                    "The IdP reported a failed login: {}{sub}{message}.",
                    code.attribute("Value").unwrap_or("no value")
                ),
                "Look at the IdP's sign-in log for this user and application (assignment, MFA, policy).",
            ));
            false
        }
        Some(_) => true,
    }
}

/// Whether the first `ds:Signature` of `doc` (document order: the one libxmlsec1 verifies) is
/// a direct child of the element whose `ID` is `id`, references `#id`, and whether `id` is
/// carried by that element only (so the ID table can resolve the Reference to nothing else).
pub fn first_signature_covers(doc: &Document, id: &str) -> bool {
    let Some(sig) = doc.descendants().find(|n| is(*n, NS_DSIG, "Signature")) else {
        return false;
    };
    let Some(parent) = sig.parent_element() else {
        return false;
    };
    let references: Vec<Node> = children(sig, NS_DSIG, "SignedInfo")
        .into_iter()
        .flat_map(|si| children(si, NS_DSIG, "Reference"))
        .collect();
    let carriers = doc
        .descendants()
        .filter(|n| n.is_element())
        .filter(|n| {
            n.attributes()
                .any(|a| is_id_attribute(&a) && a.value() == id)
        })
        .count();
    !id.is_empty()
        && parent.attribute("ID") == Some(id)
        && references.len() == 1
        && references[0].attribute("URI") == Some(format!("#{id}").as_str())
        && carriers == 1
}

/// Whether `attr` is one of the attributes an ID lookup may match: `ID` or `Id` in any
/// namespace, or `xml:id`.
fn is_id_attribute(attr: &roxmltree::Attribute) -> bool {
    matches!(attr.name(), "ID" | "Id")
        || (attr.name() == "id" && attr.namespace() == Some("http://www.w3.org/XML/1998/namespace"))
}

/// Why an `ID` cannot be referenced unambiguously, if it cannot. This replaces the xs:ID
/// (NCName) rule: what the signature argument needs is that `#ID` names exactly one element.
/// libxmlsec1 evaluates `#X` as the XPointer `xpointer(id('X'))`, where whitespace separates
/// several IDs, a quote ends the literal and `(`, `)`, `^` are XPointer syntax; `#` and `:`
/// make the fragment ambiguous (a second fragment, a scheme). A leading digit is harmless.
pub fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("is empty")
    } else if id.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if id.contains(':') {
        Some("contains ':'")
    } else if id.contains('#') {
        Some("contains '#'")
    } else if id.contains(['\'', '(', ')', '^']) {
        Some("contains a quote, a parenthesis or '^' (XPointer syntax)")
    } else {
        None
    }
}
