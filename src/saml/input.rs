//! Input handling before any XML parsing: the three encodings a response arrives in (raw XML,
//! base64 as posted by a browser, a URL-encoded `SAMLResponse=` form body), raw-DEFLATE
//! (Redirect-binding style) with an output cap, and the hardened pre-parse: no DTD at all, and
//! bounded size, depth, node count and attributes per tag. Pure: bytes in, a document or a
//! finding out.

use super::finding::Finding;
use base64::Engine;
use std::io::Read;

/// Limits applied before and during parsing: the message is the attacker's, so its size before
/// and after decoding and inflating, and its shape, are bounded before anything reads it
/// (docs/saml.md, "How a response is checked").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes, before decoding.
    pub max_bytes: usize,
    /// Largest decoded XML (also the cap on DEFLATE output), in bytes.
    pub max_xml_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one start tag.
    pub max_attributes: usize,
    /// Most nodes in the document.
    pub max_nodes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        // Real responses and metadata are a few KiB to a few hundred KiB (Entra federation
        // metadata is the largest common one, ~100 KiB); these leave room and stay cheap.
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_xml_bytes: 2 * 1024 * 1024,
            max_depth: 64,
            max_attributes: 256,
            max_nodes: 100_000,
        }
    }
}

/// Turn what the admin gave us into XML text: raw XML, base64 (whitespace ignored), a
/// `SAMLResponse=` form body, or raw DEFLATE inside base64.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<String, Finding> {
    if bytes.len() > limits.max_bytes {
        return Err(too_large(bytes.len(), limits.max_bytes));
    }
    let text = strip_bom(bytes);
    let trimmed = trim_ascii(text);
    if trimmed.first() == Some(&b'<') {
        return utf8(trimmed.to_vec(), limits);
    }
    let mut payload = trimmed.to_vec();
    if let Some(value) = form_value(trimmed) {
        payload = value.into_bytes();
    }
    let compact: Vec<u8> = payload
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| {
            Finding::error(
                "invalid-base64",
                format!("The input is neither XML nor valid base64 ({e})."),
                "Pass the raw XML, the base64 SAMLResponse value, or the form body the browser posted.",
            )
        })?;
    let decoded_trimmed = trim_ascii(strip_bom(&decoded));
    if decoded_trimmed.first() == Some(&b'<') {
        return utf8(decoded_trimmed.to_vec(), limits);
    }
    // The Redirect binding deflates before base64; accept it, capped (a deflate bomb expands
    // over 1000:1).
    let mut inflated = Vec::new();
    let cap = limits.max_xml_bytes as u64 + 1;
    let read = flate2::read::DeflateDecoder::new(decoded.as_slice())
        .take(cap)
        .read_to_end(&mut inflated);
    match read {
        Ok(_) if inflated.len() > limits.max_xml_bytes => {
            Err(too_large(inflated.len(), limits.max_xml_bytes))
        }
        Ok(_) if trim_ascii(strip_bom(&inflated)).first() == Some(&b'<') => utf8(inflated, limits),
        _ => Err(Finding::error(
            "malformed-xml",
            "The decoded input is not XML.",
            "Pass the SAMLResponse exactly as the IdP posted it.",
        )),
    }
}

fn too_large(got: usize, max: usize) -> Finding {
    Finding::error(
        "input-too-large",
        format!("The input is {got} bytes, over the limit of {max}."),
        "Check that this is a single SAML message; raise --max-bytes only for trusted input.",
    )
}

fn utf8(bytes: Vec<u8>, limits: &Limits) -> Result<String, Finding> {
    if bytes.len() > limits.max_xml_bytes {
        return Err(too_large(bytes.len(), limits.max_xml_bytes));
    }
    String::from_utf8(bytes).map_err(|_| {
        Finding::error(
            "malformed-xml",
            "The XML is not UTF-8.",
            "SAML messages are UTF-8; re-export the message without re-encoding it.",
        )
    })
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// The `SAMLResponse` value of an `application/x-www-form-urlencoded` body, if it is one.
fn form_value(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(13).any(|w| w == b"SAMLResponse=") {
        return None;
    }
    url::form_urlencoded::parse(bytes)
        .find(|(k, _)| k == "SAMLResponse")
        .map(|(_, v)| v.into_owned())
}

/// Reject what must never reach a parser: any DOCTYPE (XXE, entity expansion) and start tags
/// with too many attributes. A byte scan, so a hostile document costs linear time.
pub fn prescan(xml: &str, limits: &Limits) -> Result<(), Finding> {
    let upper_hit = |needle: &str| {
        xml.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    if upper_hit("<!DOCTYPE") || upper_hit("<!ENTITY") {
        return Err(Finding::error(
            "xxe",
            "The document carries a DOCTYPE (DTD); DTDs and entities are refused before parsing \
             (XXE, billion laughs).",
            "A genuine IdP never sends a DTD: treat this message as an attack or a broken proxy.",
        ));
    }
    let bytes = xml.as_bytes();
    let mut in_tag = false;
    let mut quote: Option<u8> = None;
    let mut attrs = 0usize;
    // Nesting is bounded here too, before any parser recursion can be driven by it.
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        if in_tag {
            match b {
                b'"' | b'\'' => quote = Some(b),
                b'=' => {
                    attrs += 1;
                    if attrs > limits.max_attributes {
                        return Err(Finding::error(
                            "too-many-attributes",
                            format!(
                                "A start tag has more than {} attributes.",
                                limits.max_attributes
                            ),
                            "Treat this message as an attack.",
                        ));
                    }
                }
                b'>' => {
                    in_tag = false;
                    if i > 0 && bytes[i - 1] == b'/' {
                        depth = depth.saturating_sub(1);
                    }
                }
                _ => {}
            }
        } else if b == b'<' && bytes.get(i + 1) == Some(&b'/') {
            depth = depth.saturating_sub(1);
        } else if b == b'<'
            && bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b':' || *c >= 0x80)
        {
            in_tag = true;
            attrs = 0;
            depth += 1;
            if depth > limits.max_depth + 1 {
                return Err(Finding::error(
                    "too-deep",
                    format!("Elements nest deeper than {} levels.", limits.max_depth),
                    "Treat this message as an attack.",
                ));
            }
        }
    }
    Ok(())
}

/// Parse with roxmltree, DTDs off, node count capped, then check depth.
pub fn parse<'a>(xml: &'a str, limits: &Limits) -> Result<roxmltree::Document<'a>, Finding> {
    prescan(xml, limits)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
    };
    let doc = roxmltree::Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => Finding::error(
            "xxe",
            "The document carries a DTD; DTDs are refused.",
            "Treat this message as an attack or a broken proxy.",
        ),
        roxmltree::Error::NodesLimitReached => Finding::error(
            "too-many-nodes",
            format!("The document has more than {} nodes.", limits.max_nodes),
            "Treat this message as an attack.",
        ),
        other => Finding::error(
            "malformed-xml",
            format!("The XML does not parse: {other}."),
            "Pass the message exactly as the IdP sent it; a proxy may have altered it.",
        ),
    })?;
    // Node ids are in document order, so a parent's depth is known before its children's.
    let mut depths = vec![0usize; doc.descendants().count() + 1];
    for node in doc.descendants() {
        let depth = node
            .parent()
            .and_then(|p| depths.get(p.id().get_usize()).copied())
            .map_or(0, |d| d + 1);
        if let Some(slot) = depths.get_mut(node.id().get_usize()) {
            *slot = depth;
        }
        if node.is_element() && depth > limits.max_depth {
            return Err(Finding::error(
                "too-deep",
                format!("Elements nest deeper than {} levels.", limits.max_depth),
                "Treat this message as an attack.",
            ));
        }
    }
    Ok(doc)
}
