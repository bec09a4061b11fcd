//! The service-provider side of `saml test-login`, as pure functions: the SP metadata to
//! register in the IdP, the AuthnRequest, and its HTTP-Redirect encoding (raw DEFLATE, base64,
//! URL-encoding; SAML Bindings §3.4.4.1). The CLI owns the listener, the random request ID and
//! the clock.

use base64::Engine;
use chrono::{DateTime, Utc};
use std::io::Write;

/// Escape text for an XML attribute or text node.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// SP metadata for the test SP: entity ID, the ACS (HTTP-POST), emailAddress NameID.
pub fn sp_metadata(entity_id: &str, acs_url: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = xml_escape(entity_id),
        acs = xml_escape(acs_url)
    )
}

/// An unsigned AuthnRequest asking for an emailAddress NameID, answered by POST to `acs_url`.
pub fn authn_request(
    id: &str,
    issue_instant: DateTime<Utc>,
    sp_entity_id: &str,
    acs_url: &str,
    destination: &str,
) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{entity}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/></samlp:AuthnRequest>"#,
        id = xml_escape(id),
        instant = issue_instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dest = xml_escape(destination),
        acs = xml_escape(acs_url),
        entity = xml_escape(sp_entity_id),
    )
}

/// The HTTP-Redirect binding URL: `sso_url?SAMLRequest=<urlencode(base64(deflate(xml)))>`.
pub fn redirect_url(sso_url: &str, request_xml: &str, relay_state: Option<&str>) -> String {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail; keep the error path anyway rather than unwrap.
    let deflated = encoder
        .write_all(request_xml.as_bytes())
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("SAMLRequest", &b64);
    if let Some(rs) = relay_state {
        query.append_pair("RelayState", rs);
    }
    let sep = if sso_url.contains('?') { '&' } else { '?' };
    format!("{sso_url}{sep}{}", query.finish())
}

/// Decode a `SAMLRequest` value of the Redirect binding back to XML (tests, diagnostics).
pub fn decode_redirect(value: &str) -> Option<String> {
    use std::io::Read;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .take(1 << 20)
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_round_trips() {
        let now = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let xml = authn_request(
            "_r1",
            now,
            "https://sp",
            "http://127.0.0.1:1/acs",
            "https://idp/sso",
        );
        let url = redirect_url("https://idp/sso?x=1", &xml, None);
        assert!(url.starts_with("https://idp/sso?x=1&SAMLRequest="));
        let value = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "SAMLRequest")
            .unwrap()
            .1
            .into_owned();
        assert_eq!(decode_redirect(&value).unwrap(), xml);
    }
}
