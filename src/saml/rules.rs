//! The pure SAML Response rules: document shape, signature structure and algorithm allow-list
//! (before any crypto), then the Web-SSO protocol checks on the verified assertion. Each rule
//! pushes a [`Finding`]; the order of the rules is the order of the findings, and the first error
//! is the report's reason. No I/O, no clock: `now` is an argument.
//!
//! The rules are the XML Signature Wrapping defences of
//! docs/saml.md, "How a response is checked": no signature is trusted for more than it covers.
//! The signature must be a direct child of the Response or the Assertion it references
//! (`URI="#" + parent ID`, one SignedInfo, one Reference), IDs are unique, there is exactly one
//! Assertion and it sits at `/Response/Assertion`, and identity is read only from the subtree the
//! signature verified.

use super::finding::Finding;
use super::Expect;
use chrono::{DateTime, Duration, Utc};
use roxmltree::{Document, Node};
use std::collections::{BTreeMap, HashMap};

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

fn local_path(node: Node) -> String {
    let mut parts: Vec<&str> = node
        .ancestors()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    parts.reverse();
    format!("/{}", parts.join("/"))
}

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
    let root = doc.root_element();
    let root_is_response = is(root, NS_PROTOCOL, "Response");
    let root_is_assertion = is(root, NS_ASSERTION, "Assertion");

    // Root.
    let bare_assertion_ok = expect.level == Level::Signature && root_is_assertion;
    if !(root_is_response || bare_assertion_ok) {
        if root.tag_name().namespace() == Some(NS_SAML1_PROTOCOL)
            || root.tag_name().namespace() == Some("urn:oasis:names:tc:SAML:1.0:assertion")
        {
            out.push(Finding::error(
                "unsupported-version",
                "This is a SAML 1.x message; only SAML 2.0 is supported.",
                "Configure the IdP application for SAML 2.0.",
            ));
        } else {
            out.push(Finding::error(
                "wrong-root",
                format!(
                    "The document's root is <{}> ({}), not a SAML 2.0 <samlp:Response>.",
                    root.tag_name().name(),
                    root.tag_name().namespace().unwrap_or("no namespace")
                ),
                "Pass the SAMLResponse the IdP posted to the ACS URL.",
            ));
        }
        return layout;
    }
    // Signatures inside signatures (XSW1, XSW6, XSW8, ds:Object tricks).
    let signatures: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "Signature"))
        .collect();
    for sig in &signatures {
        if sig.ancestors().skip(1).any(|a| is(a, NS_DSIG, "Signature")) {
            out.push(Finding::error(
                "xsw",
                format!(
                    "A signature is nested inside another signature at {} (signature wrapping).",
                    local_path(*sig)
                ),
                "Treat this message as a signature-wrapping attack.",
            ));
            return layout;
        }
    }

    // Assertions: exactly one, at /Response/Assertion (or the root in signature level).
    let encrypted: Vec<Node> = doc
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "EncryptedAssertion"))
        .collect();
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
        out.push(Finding::error(
            "xsw",
            format!(
                "An Assertion sits at {} instead of /Response/Assertion (signature wrapping).",
                local_path(*hidden)
            ),
            "Treat this message as a signature-wrapping attack.",
        ));
        return layout;
    }
    if !encrypted.is_empty() {
        out.push(Finding::error(
            "encrypted-assertion-unsupported",
            "The assertion is encrypted; idbridge checks plain assertions only.",
            "Turn off assertion encryption in the IdP for this check (Notion does not require it), or test with an unencrypted copy.",
        ));
        return layout;
    }
    if assertions.len() > 1 {
        out.push(Finding::error(
            "multiple-assertions",
            format!(
                "The Response holds {} assertions; exactly one is allowed.",
                assertions.len()
            ),
            "Configure the IdP to send one assertion; several assertions are a known wrapping trick.",
        ));
        return layout;
    }
    // IDs: a Reference must resolve to exactly one element. libxmlsec1 resolves `#X` through
    // an ID table filled from every attribute named `ID` (any namespace) plus libxml2's
    // `xml:id`; `Id` is counted too. Each value may appear once (XSW1/2 duplicate the signed
    // element's ID).
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes().filter(|a| is_id_attribute(a)) {
            *seen.entry(attr.value()).or_default() += 1;
        }
    }
    if let Some((id, n)) = seen.iter().find(|(_, n)| **n > 1) {
        out.push(Finding::error(
            "duplicate-id",
            format!("The ID {id:?} appears {n} times; a signature could point at either copy."),
            "Treat this message as a signature-wrapping attack.",
        ));
        return layout;
    }
    if let Some((bad, problem)) = doc
        .descendants()
        .filter_map(|n| n.attribute("ID"))
        .find_map(|id| id_problem(id).map(|p| (id, p)))
    {
        out.push(Finding::error(
            "invalid-id",
            format!("The ID {bad:?} {problem}, so a Reference to it cannot be resolved to exactly one element."),
            "Ask the IdP vendor to emit IDs without whitespace, ':', '#', quotes or parentheses (UUIDs and '_'-prefixed hex are fine).",
        ));
        return layout;
    }
    let assertion = assertions.first().copied();
    if assertion.is_none() && expect.level == Level::Response {
        // A failed login carries no assertion: say the IdP's reason rather than "no assertion".
        if child(root, NS_PROTOCOL, "Status").is_some() && !status_rule(root, out) {
            return layout;
        }
        out.push(Finding::error(
            "no-assertion",
            "The Response holds no Assertion.",
            "Check the IdP's sign-in log: a successful login must carry an assertion.",
        ));
        return layout;
    }
    layout.assertion_id = assertion
        .and_then(|a| a.attribute("ID"))
        .map(str::to_string);
    if let Some(a) = assertion {
        if a.attribute("ID").is_none_or(|id| id.trim().is_empty()) {
            out.push(Finding::error(
                "missing-id",
                "The Assertion has no ID attribute.",
                "The IdP must set an ID on every Assertion.",
            ));
            return layout;
        }
        if a.attribute("Version") != Some("2.0") {
            out.push(Finding::error(
                "unsupported-version",
                "The Assertion's Version is not \"2.0\".",
                "Configure the IdP application for SAML 2.0.",
            ));
            return layout;
        }
    }

    // At most one signature per element, then each signature's own structure.
    let mut per_parent: HashMap<roxmltree::NodeId, usize> = HashMap::new();
    for sig in &signatures {
        if let Some(parent) = sig.parent_element() {
            *per_parent.entry(parent.id()).or_default() += 1;
        }
    }
    if per_parent.values().any(|n| *n > 1) {
        out.push(Finding::error(
            "multiple-signatures",
            "One element carries more than one signature.",
            "Configure the IdP to sign each element once.",
        ));
        return layout;
    }
    for sig in &signatures {
        if !signature_rules(*sig, root, assertion, expect, out, &mut layout) {
            return layout;
        }
    }

    // Required attributes of the root (after the signature rules: a wrapped or broken signature
    // is the more useful reason).
    if root.attribute("ID").is_none_or(|id| id.trim().is_empty()) {
        out.push(Finding::error(
            "missing-id",
            format!("The {} has no ID attribute.", root.tag_name().name()),
            "The IdP must set an ID on every Response and Assertion; check for a proxy rewriting the message.",
        ));
        return layout;
    }
    match root.attribute("Version") {
        Some("2.0") => {}
        None => {
            out.push(Finding::error(
                "schema-invalid",
                format!("The {} has no Version attribute.", root.tag_name().name()),
                "The IdP must send Version=\"2.0\"; check for a proxy rewriting the message.",
            ));
            return layout;
        }
        Some(v) => {
            out.push(Finding::error(
                "unsupported-version",
                format!(
                    "The {} Version is {v:?}, not \"2.0\".",
                    root.tag_name().name()
                ),
                "Configure the IdP application for SAML 2.0.",
            ));
            return layout;
        }
    }
    if root.attribute("IssueInstant").is_none() {
        out.push(Finding::error(
            "schema-invalid",
            format!(
                "The {} has no IssueInstant attribute.",
                root.tag_name().name()
            ),
            "The IdP must send IssueInstant; check for a proxy rewriting the message.",
        ));
        return layout;
    }

    // Something must be signed, and it must cover the assertion that will be read.
    if signatures.is_empty() {
        out.push(Finding::error(
            "no-signature",
            "Nothing in the message is signed.",
            "Turn on signing in the IdP: sign the assertion (or the response and the assertion) with RSA-SHA256.",
        ));
        return layout;
    }
    if expect.level == Level::Response && !layout.response_signed && !layout.assertion_signed {
        out.push(Finding::error(
            "no-signature",
            "The assertion is not signed and the Response that holds it is not signed either.",
            "Turn on assertion signing in the IdP.",
        ));
        return layout;
    }

    if expect.level == Level::Response && root_is_response && !status_rule(root, out) {
        return layout;
    }

    // A trust anchor must be configured; without one nothing can be verified.
    if expect.certs.is_empty() {
        out.push(Finding::error(
            "no-trust-anchor",
            "No IdP certificate is configured, so no signature can be verified.",
            "Pass --metadata with the IdP metadata or --idp-cert with its signing certificate.",
        ));
    }
    layout
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

/// The structure of one `ds:Signature`; `false` once an error was pushed.
fn signature_rules(
    sig: Node,
    root: Node,
    assertion: Option<Node>,
    expect: &Expect,
    out: &mut Vec<Finding>,
    layout: &mut Layout,
) -> bool {
    let Some(parent) = sig.parent_element() else {
        return false;
    };
    let parent_is_response = parent == root && is(parent, NS_PROTOCOL, "Response");
    let parent_is_assertion = Some(parent) == assertion;
    if !parent_is_response && !parent_is_assertion {
        out.push(Finding::error(
            "wrong-signed-element",
            format!(
                "A signature sits in <{}> at {}; only the Response and its Assertion may be signed.",
                parent.tag_name().name(),
                local_path(parent)
            ),
            "Configure the IdP to sign the assertion (or the response); treat anything else as an attack.",
        ));
        return false;
    }
    let what = if parent_is_response {
        "Response"
    } else {
        "Assertion"
    };
    let malformed = |out: &mut Vec<Finding>, detail: &str| {
        out.push(Finding::error(
            "malformed-signature",
            format!("The {what} signature is malformed: {detail}."),
            "Re-export the message untouched; if the IdP sends this, report it to the vendor.",
        ));
        false
    };
    let signed_infos = children(sig, NS_DSIG, "SignedInfo");
    if signed_infos.len() != 1 {
        return malformed(
            out,
            &format!("{} SignedInfo elements instead of one", signed_infos.len()),
        );
    }
    let signed_info = signed_infos[0];
    let sig_values = children(sig, NS_DSIG, "SignatureValue");
    // An empty SignatureValue is left to the verifier (it fails as a bad signature).
    if sig_values.len() != 1 {
        return malformed(out, "no SignatureValue");
    }
    let Some(c14n) = child(signed_info, NS_DSIG, "CanonicalizationMethod")
        .and_then(|n| n.attribute("Algorithm"))
    else {
        return malformed(out, "no CanonicalizationMethod");
    };
    let Some(method) =
        child(signed_info, NS_DSIG, "SignatureMethod").and_then(|n| n.attribute("Algorithm"))
    else {
        return malformed(out, "no SignatureMethod");
    };
    let references = children(signed_info, NS_DSIG, "Reference");
    if references.len() != 1 {
        return malformed(
            out,
            &format!("{} Reference elements instead of one", references.len()),
        );
    }
    let reference = references[0];

    // Reference URI: exactly "#" + the parent's ID (SAML Core 5.4.2).
    let parent_id = parent.attribute("ID").unwrap_or_default();
    let uri = reference.attribute("URI").unwrap_or_default();
    if uri.is_empty() {
        out.push(Finding::error(
            "empty-reference-uri",
            format!("The {what} signature's Reference URI is empty (the whole document); SAML requires \"#{parent_id}\"."),
            "Configure the IdP to reference the signed element by its ID.",
        ));
        return false;
    }
    if uri.starts_with("#xpointer(") || uri.starts_with("#element(") {
        out.push(Finding::error(
            "xpointer",
            format!("The {what} signature's Reference URI {uri:?} is an XPointer expression."),
            "Treat this message as an attack; SAML references are plain \"#ID\".",
        ));
        return false;
    }
    if uri != format!("#{parent_id}") {
        let target = uri.strip_prefix('#').and_then(|id| {
            root.descendants()
                .find(|n| n.is_element() && n.attribute("ID") == Some(id))
        });
        match target {
            Some(t) => out.push(Finding::error(
                "xsw",
                format!(
                    "The {what} signature references <{}> {uri:?} instead of its own parent \"#{parent_id}\" (signature wrapping).",
                    t.tag_name().name()
                ),
                "Treat this message as a signature-wrapping attack.",
            )),
            None => out.push(Finding::error(
                "bad-reference",
                format!("The {what} signature's Reference URI {uri:?} does not point at its parent \"#{parent_id}\"."),
                "Treat this message as an attack or a broken IdP.",
            )),
        }
        return false;
    }

    // Digest value: one text node, no comments (CVE-2025-29775).
    for value in signed_info
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "DigestValue") || is(*n, NS_DSIG, "SignatureValue"))
        .chain(sig_values.iter().copied())
    {
        if value.children().any(|c| c.is_comment() || c.is_element()) {
            out.push(Finding::error(
                "digest-comment",
                format!(
                    "The {what} signature's {} contains a comment or markup.",
                    value.tag_name().name()
                ),
                "Treat this message as an attack (CVE-2025-29775 shape).",
            ));
            return false;
        }
    }

    // Algorithms: an allow-list (docs/saml.md, "How a response is checked").
    let Some(digest) =
        child(reference, NS_DSIG, "DigestMethod").and_then(|n| n.attribute("Algorithm"))
    else {
        return malformed(out, "no DigestMethod");
    };
    let transforms: Vec<&str> = child(reference, NS_DSIG, "Transforms")
        .map(|t| {
            children(t, NS_DSIG, "Transform")
                .iter()
                .map(|n| n.attribute("Algorithm").unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    for t in &transforms {
        match transform_kind(t) {
            Alg::Ok => {}
            Alg::Comments => {
                out.push(Finding::error(
                    "disallowed-c14n",
                    format!("The {what} signature uses a with-comments canonicalization ({t})."),
                    "Configure the IdP for exclusive C14N without comments.",
                ));
                return false;
            }
            _ => {
                out.push(Finding::error(
                    "disallowed-transform",
                    format!("The {what} signature uses the transform {t}; only enveloped-signature and C14N are allowed (no XPath, XSLT, XPointer)."),
                    "Treat this message as an attack; IdPs use enveloped-signature + exclusive C14N.",
                ));
                return false;
            }
        }
    }
    match c14n_kind(c14n) {
        Alg::Ok => {}
        Alg::Comments => {
            out.push(Finding::error(
                "disallowed-c14n",
                format!("The {what} SignedInfo uses a with-comments canonicalization ({c14n})."),
                "Configure the IdP for exclusive C14N without comments.",
            ));
            return false;
        }
        _ => {
            out.push(Finding::error(
                "unknown-algorithm",
                format!("The {what} SignedInfo canonicalization {c14n} is not supported."),
                "Configure the IdP for exclusive C14N.",
            ));
            return false;
        }
    }
    for (kind, uri) in [("signature", method), ("digest", digest)] {
        let class = if kind == "signature" {
            signature_kind(uri)
        } else {
            digest_kind(uri)
        };
        match class {
            Alg::Ok => {}
            Alg::Sha1 => {
                if expect.allow_sha1 {
                    out.push(Finding::warning(
                        "sha1",
                        format!("The {what} {kind} uses SHA-1 ({uri}); SHA-1 is deprecated."),
                        "Switch the IdP's signing algorithm to RSA-SHA256 and digest to SHA-256.",
                    ));
                } else {
                    out.push(Finding::error(
                        "sha1",
                        format!("The {what} {kind} uses SHA-1 ({uri}), which this check does not allow (--strict)."),
                        "Switch the IdP's signing algorithm to RSA-SHA256 and digest to SHA-256.",
                    ));
                    return false;
                }
            }
            Alg::Hmac => {
                out.push(Finding::error(
                    "hmac",
                    format!("The {what} signature uses HMAC ({uri}); only RSA/ECDSA signatures are accepted (key-confusion risk)."),
                    "Treat this message as an attack; IdPs sign with RSA or ECDSA.",
                ));
                return false;
            }
            Alg::Unsupported => {
                out.push(Finding::error(
                    "unsupported-algorithm",
                    format!("The {what} {kind} algorithm {uri} is not on the allow-list (RSA/ECDSA with SHA-256 or better)."),
                    "Switch the IdP to RSA-SHA256 with a SHA-256 digest.",
                ));
                return false;
            }
            Alg::Unknown | Alg::Comments => {
                out.push(Finding::error(
                    "unknown-algorithm",
                    format!("The {what} {kind} algorithm {uri} is not a defined XML-DSig identifier."),
                    "Fix the IdP's algorithm setting (e.g. http://www.w3.org/2001/04/xmldsig-more#rsa-sha256).",
                ));
                return false;
            }
        }
    }

    // Schema position: right after Issuer (or first) in its parent.
    let expected_prev = parent
        .children()
        .filter(|c| c.is_element())
        .take_while(|c| *c != sig)
        .collect::<Vec<_>>();
    let position_ok = expected_prev.is_empty()
        || (expected_prev.len() == 1 && is(expected_prev[0], NS_ASSERTION, "Issuer"));
    if !position_ok {
        out.push(Finding::error(
            "signature-position",
            format!("The {what} signature is not right after the Issuer, where the SAML schema puts it."),
            "Configure the IdP to emit a schema-valid message; treat a moved signature as suspect.",
        ));
        return false;
    }

    for cert in sig
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "X509Certificate"))
    {
        layout.keyinfo_certs.push(full_text(cert));
    }
    if parent_is_response {
        layout.response_signed = true;
    } else {
        layout.assertion_signed = true;
    }
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Ok,
    Sha1,
    Hmac,
    Unsupported,
    Unknown,
    Comments,
}

fn signature_kind(uri: &str) -> Alg {
    match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => Alg::Ok,
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => Alg::Sha1,
        u if u.contains("hmac") => Alg::Hmac,
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1"
        | "http://www.w3.org/2009/xmldsig11#dsa-sha256"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
        | "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224"
        | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha224"
        | "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
        | "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
        | "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1" => Alg::Unsupported,
        _ => Alg::Unknown,
    }
}

fn digest_kind(uri: &str) -> Alg {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256"
        | "http://www.w3.org/2001/04/xmldsig-more#sha384"
        | "http://www.w3.org/2001/04/xmlenc#sha512" => Alg::Ok,
        "http://www.w3.org/2000/09/xmldsig#sha1" => Alg::Sha1,
        "http://www.w3.org/2001/04/xmldsig-more#md5"
        | "http://www.w3.org/2001/04/xmldsig-more#sha224" => Alg::Unsupported,
        _ => Alg::Unknown,
    }
}

fn c14n_kind(uri: &str) -> Alg {
    match uri {
        "http://www.w3.org/2001/10/xml-exc-c14n#"
        | "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
        | "http://www.w3.org/2006/12/xml-c14n11" => Alg::Ok,
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
        | "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
        | "http://www.w3.org/2006/12/xml-c14n11#WithComments" => Alg::Comments,
        _ => Alg::Unknown,
    }
}

fn transform_kind(uri: &str) -> Alg {
    if uri == "http://www.w3.org/2000/09/xmldsig#enveloped-signature" {
        return Alg::Ok;
    }
    match c14n_kind(uri) {
        Alg::Unknown => Alg::Unsupported,
        other => other,
    }
}

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

fn parse_time(node: Node, attr: &str, out: &mut Vec<Finding>) -> Option<DateTime<Utc>> {
    let raw = node.attribute(attr)?;
    match parse_xs_datetime(raw) {
        Some(t) => Some(t),
        None => {
            out.push(Finding::error(
                "schema-invalid",
                format!(
                    "{}/@{attr} {raw:?} is not an xs:dateTime.",
                    node.tag_name().name()
                ),
                "The IdP must send UTC timestamps such as 2026-01-01T00:00:00Z.",
            ));
            None
        }
    }
}

/// An xs:dateTime: RFC 3339, or without a zone (read as UTC, as SAML requires UTC).
pub fn parse_xs_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Window checks: `not_before` and `not_on_or_after` with the configured skew.
fn window(
    what: &str,
    not_before: Option<DateTime<Utc>>,
    not_on_or_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    skew: Duration,
    out: &mut Vec<Finding>,
) {
    if let Some(nb) = not_before {
        if now + skew < nb {
            out.push(Finding::error(
                "not-yet-valid",
                format!("{what} NotBefore is {}; now is {} (skew {}s).", fmt_time(nb), fmt_time(now), skew.num_seconds()),
                "Check the clocks of the IdP and this machine (NTP); for an old capture pass --now.",
            ));
        }
    }
    if let Some(na) = not_on_or_after {
        if now - skew >= na {
            out.push(Finding::error(
                "expired",
                format!(
                    "{what} NotOnOrAfter was {}; now is {} (skew {}s).",
                    fmt_time(na),
                    fmt_time(now),
                    skew.num_seconds()
                ),
                "Log in again for a fresh response; for an old capture pass --now.",
            ));
        }
    }
}

/// The Web-SSO protocol checks. `response` is the original root (its unsigned fields are
/// checked, never used as identity), `assertion` is the verified assertion.
pub fn protocol(
    response: Option<Node>,
    response_signed: bool,
    assertion: Node,
    expect: &Expect,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    let skew = expect.clock_skew;
    if let Some(resp) = response {
        // Response Issuer: optional unless the Response is signed (Profiles 4.1.4.2).
        match child(resp, NS_ASSERTION, "Issuer") {
            Some(issuer) => issuer_rule("Response", issuer, expect, out),
            None if response_signed => out.push(Finding::warning(
                "no-response-issuer",
                "The signed Response has no Issuer.",
                "Configure the IdP to include its Issuer in the Response.",
            )),
            None => out.push(Finding::info(
                "no-response-issuer",
                "The Response has no Issuer (allowed: the Response is unsigned and the Assertion carries one).",
            )),
        }
        match resp.attribute("Destination") {
            Some("") => out.push(Finding::error(
                "empty-destination",
                "The Response Destination is empty.",
                "Set the IdP application's ACS URL (Destination) to the service provider's ACS URL.",
            )),
            Some(dest) => {
                if let Some(acs) = &expect.recipient {
                    if dest != acs {
                        out.push(Finding::error(
                            "wrong-destination",
                            format!("The Response Destination is {dest:?}; the ACS URL is {acs:?}."),
                            "Set the IdP application's ACS (Reply/SSO) URL to exactly the service provider's ACS URL.",
                        ));
                    }
                }
            }
            None => {}
        }
        if let (Some(want), Some(got)) = (&expect.in_response_to, resp.attribute("InResponseTo")) {
            if want != got {
                out.push(Finding::error(
                    "wrong-inresponseto",
                    format!("The Response answers request {got:?}; the outstanding request is {want:?}."),
                    "Start the login again from the service provider; a response for another request is a replay or a mix-up.",
                ));
            }
        }
        if let Some(t) = parse_time(resp, "IssueInstant", out) {
            issue_instant("Response", t, expect, now, out);
        }
    }

    // Assertion.
    match child(assertion, NS_ASSERTION, "Issuer") {
        Some(issuer) => issuer_rule("Assertion", issuer, expect, out),
        None => out.push(Finding::error(
            "no-issuer",
            "The Assertion has no Issuer.",
            "Configure the IdP to include its entity ID as the Assertion Issuer.",
        )),
    }
    if let Some(t) = parse_time(assertion, "IssueInstant", out) {
        issue_instant("Assertion", t, expect, now, out);
    }

    // Conditions.
    match child(assertion, NS_ASSERTION, "Conditions") {
        None => out.push(Finding::error(
            "no-conditions",
            "The Assertion has no Conditions (validity window and audience).",
            "Configure the IdP to send Conditions with NotBefore, NotOnOrAfter and the audience.",
        )),
        Some(cond) => {
            let nb = parse_time(cond, "NotBefore", out);
            let na = parse_time(cond, "NotOnOrAfter", out);
            window("Conditions", nb, na, now, skew, out);
            let restrictions = children(cond, NS_ASSERTION, "AudienceRestriction");
            if restrictions.is_empty() {
                out.push(Finding::error(
                    "no-audience",
                    "The Assertion has no AudienceRestriction, so any service provider could use it.",
                    "Set the IdP application's Audience (SP entity ID).",
                ));
            } else if let Some(aud) = &expect.audience {
                for r in &restrictions {
                    let values: Vec<String> = children(*r, NS_ASSERTION, "Audience")
                        .iter()
                        .map(|a| full_text(*a).trim().to_string())
                        .collect();
                    if !values.iter().any(|v| v == aud) {
                        out.push(Finding::error(
                            "wrong-audience",
                            format!(
                                "The audience is {values:?}; this service provider is {aud:?}."
                            ),
                            format!("Set the IdP application's Audience URI / Entity ID to {aud}."),
                        ));
                        break;
                    }
                }
            }
        }
    }

    // Subject.
    let subject = child(assertion, NS_ASSERTION, "Subject");
    let name_id = subject.and_then(|s| child(s, NS_ASSERTION, "NameID"));
    match name_id {
        None => out.push(Finding::error(
            "no-nameid",
            "The Assertion has no Subject/NameID.",
            "Configure the IdP to send the user's email as NameID (emailAddress format).",
        )),
        Some(n) => {
            if full_text(n).trim().is_empty() {
                out.push(Finding::error(
                    "empty-nameid",
                    "The NameID is empty.",
                    "Map the NameID to the user's email in the IdP.",
                ));
            }
            if let (Some(q), Some(aud)) = (n.attribute("SPNameQualifier"), &expect.audience) {
                if q != aud {
                    // Not security-relevant (the audience is the binding check): a warning.
                    out.push(Finding::warning(
                        "wrong-spnamequalifier",
                        format!("The NameID SPNameQualifier is {q:?}; this service provider is {aud:?}."),
                        "Set the IdP's SP name qualifier to the SP entity ID, or leave it out.",
                    ));
                }
            }
        }
    }
    let confirmations: Vec<Node> = subject
        .map(|s| children(s, NS_ASSERTION, "SubjectConfirmation"))
        .unwrap_or_default();
    let bearer = confirmations
        .iter()
        .find(|c| c.attribute("Method") == Some(BEARER));
    match bearer {
        None => out.push(Finding::error(
            "no-bearer-confirmation",
            "The Subject has no bearer SubjectConfirmation.",
            "Configure the IdP for the Web Browser SSO profile (bearer confirmation).",
        )),
        Some(b) => match child(*b, NS_ASSERTION, "SubjectConfirmationData") {
            Some(data)
                if data.attribute("Recipient").is_some()
                    && data.attribute("NotOnOrAfter").is_some() =>
            {
                let recipient = data.attribute("Recipient").unwrap_or_default();
                if let Some(acs) = &expect.recipient {
                    if recipient != acs {
                        out.push(Finding::error(
                            "wrong-recipient",
                            format!("The bearer Recipient is {recipient:?}; the ACS URL is {acs:?}."),
                            "Set the IdP application's ACS (Recipient) URL to exactly the service provider's ACS URL.",
                        ));
                    }
                }
                // NotBefore is not allowed here by Profiles 4.1.4.2, but some IdPs send it:
                // honour it as a lower bound rather than fail.
                let nb = parse_time(data, "NotBefore", out);
                let na = parse_time(data, "NotOnOrAfter", out);
                window("SubjectConfirmationData", nb, na, now, skew, out);
                if let (Some(want), Some(got)) =
                    (&expect.in_response_to, data.attribute("InResponseTo"))
                {
                    if want != got {
                        out.push(Finding::error(
                            "wrong-inresponseto",
                            format!("The assertion answers request {got:?}; the outstanding request is {want:?}."),
                            "Start the login again from the service provider.",
                        ));
                    }
                }
            }
            _ => out.push(Finding::error(
                "no-subject-confirmation-data",
                "The bearer SubjectConfirmationData is missing or lacks Recipient/NotOnOrAfter.",
                "Configure the IdP to send Recipient (the ACS URL) and NotOnOrAfter.",
            )),
        },
    }

    // AuthnStatement.
    let authn = children(assertion, NS_ASSERTION, "AuthnStatement");
    if authn.is_empty() {
        out.push(Finding::error(
            "no-authnstatement",
            "The Assertion has no AuthnStatement.",
            "Configure the IdP to include the AuthnStatement.",
        ));
    }
    for a in authn {
        if let Some(t) = parse_time(a, "SessionNotOnOrAfter", out) {
            if now - skew >= t {
                out.push(Finding::error(
                    "session-expired",
                    format!(
                        "The IdP session ended at {} (SessionNotOnOrAfter).",
                        fmt_time(t)
                    ),
                    "Log in again; for an old capture pass --now.",
                ));
            }
        }
    }

    // Attributes: a name twice is ambiguous.
    let mut names: HashMap<String, usize> = HashMap::new();
    for attr in assertion
        .children()
        .filter(|c| is(*c, NS_ASSERTION, "AttributeStatement"))
        .flat_map(|s| children(s, NS_ASSERTION, "Attribute"))
    {
        *names
            .entry(attr.attribute("Name").unwrap_or_default().to_string())
            .or_default() += 1;
    }
    if let Some((name, _)) = names.iter().find(|(_, n)| **n > 1) {
        out.push(Finding::error(
            "duplicate-attribute",
            format!("The attribute {name:?} appears more than once."),
            "Remove the duplicate attribute mapping in the IdP.",
        ));
    }
}

fn issuer_rule(what: &str, issuer: Node, expect: &Expect, out: &mut Vec<Finding>) {
    let got = full_text(issuer);
    let Some(want) = &expect.issuer else {
        return;
    };
    if &got != want {
        let hint = if got.trim() == want {
            " (it differs only in whitespace)"
        } else {
            ""
        };
        out.push(Finding::error(
            "wrong-issuer",
            format!("The {what} Issuer is {got:?}; the IdP's entity ID is {want:?}{hint}."),
            "Use the metadata of the IdP that sends these responses, or fix --issuer.",
        ));
    }
}

fn issue_instant(
    what: &str,
    t: DateTime<Utc>,
    expect: &Expect,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    if t > now + expect.clock_skew {
        out.push(Finding::error(
            "not-yet-valid",
            format!(
                "The {what} IssueInstant {} is in the future (now {}).",
                fmt_time(t),
                fmt_time(now)
            ),
            "Check the clocks of the IdP and this machine (NTP); for a capture pass --now.",
        ));
    }
    if let Some(max_age) = expect.max_age {
        if t + max_age + expect.clock_skew < now {
            out.push(Finding::error(
                "expired",
                format!(
                    "The {what} was issued at {}, more than {}s before now ({}).",
                    fmt_time(t),
                    max_age.num_seconds(),
                    fmt_time(now)
                ),
                "Log in again for a fresh response; for an old capture pass --now.",
            ));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
