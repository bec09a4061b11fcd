//! One `ds:Signature`'s structure, before any crypto: it signs the Response or its Assertion
//! (its own parent, by `#ID`), has one SignedInfo, one SignatureValue and one Reference, no
//! markup inside digest or signature values, only allowed transforms, canonicalizations and
//! algorithms, and sits where the schema puts it. The first error ends the checks.

use super::structure::Layout;
use super::{
    child, children, full_text, is, local_path, stop, Step, NS_ASSERTION, NS_DSIG, NS_PROTOCOL,
};
use crate::saml::finding::Finding;
use crate::saml::Expect;
use roxmltree::Node;
use std::ops::ControlFlow;

/// The structure of one `ds:Signature`; `false` once an error was pushed. Records in `layout`
/// what it signs and the certificates of its KeyInfo.
pub(super) fn signature_rules(
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
    let ControlFlow::Continue(what) = rules(sig, parent, root, assertion, expect, out) else {
        return false;
    };
    for cert in sig
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "X509Certificate"))
    {
        layout.keyinfo_certs.push(full_text(cert));
    }
    if what == "Response" {
        layout.response_signed = true;
    } else {
        layout.assertion_signed = true;
    }
    true
}

/// The rules in their order; `Continue` with what the signature signs.
fn rules(
    sig: Node,
    parent: Node,
    root: Node,
    assertion: Option<Node>,
    expect: &Expect,
    out: &mut Vec<Finding>,
) -> ControlFlow<(), &'static str> {
    let what = signed_element_rule(parent, root, assertion, out)?;
    let parts = parts_rule(sig, what, out)?;
    reference_rule(what, parent, parts.reference, root, out)?;
    markup_rule(what, parts.signed_info, &parts.signature_values, out)?;
    algorithm_rules(what, &parts, expect, out)?;
    position_rule(what, sig, parent, out)?;
    ControlFlow::Continue(what)
}

/// Only the Response and its Assertion may be signed. `Continue` with which one it is.
fn signed_element_rule(
    parent: Node,
    root: Node,
    assertion: Option<Node>,
    out: &mut Vec<Finding>,
) -> ControlFlow<(), &'static str> {
    if parent == root && is(parent, NS_PROTOCOL, "Response") {
        return ControlFlow::Continue("Response");
    }
    if Some(parent) == assertion {
        return ControlFlow::Continue("Assertion");
    }
    stop(out, Finding::error(
        "wrong-signed-element",
        format!(
            "A signature sits in <{}> at {}; only the Response and its Assertion may be signed.",
            parent.tag_name().name(),
            local_path(parent)
        ),
        "Configure the IdP to sign the assertion (or the response); treat anything else as an attack.",
    ))
}

/// The parts of a signature the other rules read.
struct Parts<'a, 'i> {
    signed_info: Node<'a, 'i>,
    signature_values: Vec<Node<'a, 'i>>,
    c14n: &'a str,
    method: &'a str,
    reference: Node<'a, 'i>,
}

/// `malformed-signature`: a part missing or repeated.
fn malformed<T>(what: &str, detail: &str, out: &mut Vec<Finding>) -> ControlFlow<(), T> {
    stop(
        out,
        Finding::error(
            "malformed-signature",
            format!("The {what} signature is malformed: {detail}."),
            "Re-export the message untouched; if the IdP sends this, report it to the vendor.",
        ),
    )
}

/// One SignedInfo, one SignatureValue, a CanonicalizationMethod, a SignatureMethod and one
/// Reference. An empty SignatureValue is left to the verifier (it fails as a bad signature).
fn parts_rule<'a, 'i>(
    sig: Node<'a, 'i>,
    what: &str,
    out: &mut Vec<Finding>,
) -> ControlFlow<(), Parts<'a, 'i>> {
    let signed_infos = children(sig, NS_DSIG, "SignedInfo");
    if signed_infos.len() != 1 {
        let detail = format!("{} SignedInfo elements instead of one", signed_infos.len());
        return malformed(what, &detail, out);
    }
    let signed_info = signed_infos[0];
    let signature_values = children(sig, NS_DSIG, "SignatureValue");
    if signature_values.len() != 1 {
        return malformed(what, "no SignatureValue", out);
    }
    let algorithm =
        |name: &str| child(signed_info, NS_DSIG, name).and_then(|n| n.attribute("Algorithm"));
    let Some(c14n) = algorithm("CanonicalizationMethod") else {
        return malformed(what, "no CanonicalizationMethod", out);
    };
    let Some(method) = algorithm("SignatureMethod") else {
        return malformed(what, "no SignatureMethod", out);
    };
    let references = children(signed_info, NS_DSIG, "Reference");
    if references.len() != 1 {
        let detail = format!("{} Reference elements instead of one", references.len());
        return malformed(what, &detail, out);
    }
    ControlFlow::Continue(Parts {
        signed_info,
        signature_values,
        c14n,
        method,
        reference: references[0],
    })
}

/// Reference URI: exactly "#" + the parent's ID (SAML Core 5.4.2): not empty (the whole
/// document), not an XPointer, not another element (signature wrapping).
fn reference_rule(
    what: &str,
    parent: Node,
    reference: Node,
    root: Node,
    out: &mut Vec<Finding>,
) -> Step {
    let parent_id = parent.attribute("ID").unwrap_or_default();
    let uri = reference.attribute("URI").unwrap_or_default();
    if uri.is_empty() {
        return stop(out, Finding::error(
            "empty-reference-uri",
            format!("The {what} signature's Reference URI is empty (the whole document); SAML requires \"#{parent_id}\"."),
            "Configure the IdP to reference the signed element by its ID.",
        ));
    }
    if uri.starts_with("#xpointer(") || uri.starts_with("#element(") {
        return stop(
            out,
            Finding::error(
                "xpointer",
                format!("The {what} signature's Reference URI {uri:?} is an XPointer expression."),
                "Treat this message as an attack; SAML references are plain \"#ID\".",
            ),
        );
    }
    if uri == format!("#{parent_id}") {
        return ControlFlow::Continue(());
    }
    let target = uri.strip_prefix('#').and_then(|id| {
        root.descendants()
            .find(|n| n.is_element() && n.attribute("ID") == Some(id))
    });
    stop(out, match target {
        Some(t) => Finding::error(
            "xsw",
            format!(
                "The {what} signature references <{}> {uri:?} instead of its own parent \"#{parent_id}\" (signature wrapping).",
                t.tag_name().name()
            ),
            "Treat this message as a signature-wrapping attack.",
        ),
        None => Finding::error(
            "bad-reference",
            format!("The {what} signature's Reference URI {uri:?} does not point at its parent \"#{parent_id}\"."),
            "Treat this message as an attack or a broken IdP.",
        ),
    })
}

/// Digest and signature values: one text node, no comments or markup (CVE-2025-29775).
fn markup_rule(
    what: &str,
    signed_info: Node,
    signature_values: &[Node],
    out: &mut Vec<Finding>,
) -> Step {
    let marked = signed_info
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "DigestValue") || is(*n, NS_DSIG, "SignatureValue"))
        .chain(signature_values.iter().copied())
        .find(|value| value.children().any(|c| c.is_comment() || c.is_element()));
    let Some(value) = marked else {
        return ControlFlow::Continue(());
    };
    stop(
        out,
        Finding::error(
            "digest-comment",
            format!(
                "The {what} signature's {} contains a comment or markup.",
                value.tag_name().name()
            ),
            "Treat this message as an attack (CVE-2025-29775 shape).",
        ),
    )
}

/// Algorithms (docs/saml.md, "How a response is checked"): a DigestMethod, then the transforms, the SignedInfo's
/// canonicalization, the signature and digest algorithms.
fn algorithm_rules(what: &str, parts: &Parts, expect: &Expect, out: &mut Vec<Finding>) -> Step {
    let Some(digest) =
        child(parts.reference, NS_DSIG, "DigestMethod").and_then(|n| n.attribute("Algorithm"))
    else {
        return malformed(what, "no DigestMethod", out);
    };
    transform_rule(what, parts.reference, out)?;
    c14n_rule(what, parts.c14n, out)?;
    for (kind, uri) in [("signature", parts.method), ("digest", digest)] {
        let class = if kind == "signature" {
            signature_kind(uri)
        } else {
            digest_kind(uri)
        };
        allow_list_rule(what, kind, uri, class, expect, out)?;
    }
    ControlFlow::Continue(())
}

/// Only enveloped-signature and C14N without comments as transforms.
fn transform_rule(what: &str, reference: Node, out: &mut Vec<Finding>) -> Step {
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
                return stop(out, Finding::error(
                    "disallowed-c14n",
                    format!("The {what} signature uses a with-comments canonicalization ({t})."),
                    "Configure the IdP for exclusive C14N without comments.",
                ))
            }
            _ => {
                return stop(out, Finding::error(
                    "disallowed-transform",
                    format!("The {what} signature uses the transform {t}; only enveloped-signature and C14N are allowed (no XPath, XSLT, XPointer)."),
                    "Treat this message as an attack; IdPs use enveloped-signature + exclusive C14N.",
                ))
            }
        }
    }
    ControlFlow::Continue(())
}

/// The SignedInfo's canonicalization: C14N without comments.
fn c14n_rule(what: &str, c14n: &str, out: &mut Vec<Finding>) -> Step {
    match c14n_kind(c14n) {
        Alg::Ok => ControlFlow::Continue(()),
        Alg::Comments => stop(
            out,
            Finding::error(
                "disallowed-c14n",
                format!("The {what} SignedInfo uses a with-comments canonicalization ({c14n})."),
                "Configure the IdP for exclusive C14N without comments.",
            ),
        ),
        _ => stop(
            out,
            Finding::error(
                "unknown-algorithm",
                format!("The {what} SignedInfo canonicalization {c14n} is not supported."),
                "Configure the IdP for exclusive C14N.",
            ),
        ),
    }
}

/// A signature or digest algorithm: on the allow-list; SHA-1 only as a warning, and not with
/// `--strict`; never HMAC (key confusion).
fn allow_list_rule(
    what: &str,
    kind: &str,
    uri: &str,
    class: Alg,
    expect: &Expect,
    out: &mut Vec<Finding>,
) -> Step {
    let refused = match class {
        Alg::Ok => return ControlFlow::Continue(()),
        Alg::Sha1 if expect.allow_sha1 => {
            out.push(Finding::warning(
                "sha1",
                format!("The {what} {kind} uses SHA-1 ({uri}); SHA-1 is deprecated."),
                "Switch the IdP's signing algorithm to RSA-SHA256 and digest to SHA-256.",
            ));
            return ControlFlow::Continue(());
        }
        Alg::Sha1 => Finding::error(
            "sha1",
            format!("The {what} {kind} uses SHA-1 ({uri}), which this check does not allow (--strict)."),
            "Switch the IdP's signing algorithm to RSA-SHA256 and digest to SHA-256.",
        ),
        Alg::Hmac => Finding::error(
            "hmac",
            format!("The {what} signature uses HMAC ({uri}); only RSA/ECDSA signatures are accepted (key-confusion risk)."),
            "Treat this message as an attack; IdPs sign with RSA or ECDSA.",
        ),
        Alg::Unsupported => Finding::error(
            "unsupported-algorithm",
            format!("The {what} {kind} algorithm {uri} is not on the allow-list (RSA/ECDSA with SHA-256 or better)."),
            "Switch the IdP to RSA-SHA256 with a SHA-256 digest.",
        ),
        Alg::Unknown | Alg::Comments => Finding::error(
            "unknown-algorithm",
            format!("The {what} {kind} algorithm {uri} is not a defined XML-DSig identifier."),
            "Fix the IdP's algorithm setting (e.g. http://www.w3.org/2001/04/xmldsig-more#rsa-sha256).",
        ),
    };
    stop(out, refused)
}

/// Schema position: right after Issuer (or first) in its parent.
fn position_rule(what: &str, sig: Node, parent: Node, out: &mut Vec<Finding>) -> Step {
    let before: Vec<Node> = parent
        .children()
        .filter(|c| c.is_element())
        .take_while(|c| *c != sig)
        .collect();
    let position_ok =
        before.is_empty() || (before.len() == 1 && is(before[0], NS_ASSERTION, "Issuer"));
    if position_ok {
        return ControlFlow::Continue(());
    }
    stop(out, Finding::error(
        "signature-position",
        format!("The {what} signature is not right after the Issuer, where the SAML schema puts it."),
        "Configure the IdP to emit a schema-valid message; treat a moved signature as suspect.",
    ))
}

/// How an algorithm URI stands on the allow-list (docs/saml.md, "How a response is checked").
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
