//! The IdP metadata checker: is this `EntityDescriptor` usable by a service provider (Notion by
//! default), and what must the admin fix before switching SSO on? Certificates (expiry, key size,
//! rollover), SSO endpoints and bindings, NameID formats, `validUntil`, the metadata signature
//! when a signer is given, and Notion's rules (one `EntityDescriptor`, emailAddress NameID, the SP
//! values to configure). Pure: bytes and `now` in, a [`MetaReport`] out.

use super::cert::{Certificate, KeyKind};
use super::finding::{Finding, Severity, Verdict};
use super::input::{self, Limits};
use super::rules::{
    child, children, full_text, is, parse_xs_datetime, NAMEID_EMAIL, NS_DSIG, NS_METADATA,
};
use super::{crypto, short};
use chrono::{DateTime, Utc};
use roxmltree::Node;
use serde::Serialize;

/// Notion's SP entity ID (docs/saml.md, "What Notion expects").
pub const NOTION_ENTITY_ID: &str = "https://www.notion.so/sso/saml";
/// The other published spelling, accepted with a warning.
pub const NOTION_ENTITY_ID_ALT: &str = "https://notion.so/sso/saml";
/// Notion's ACS URL prefix; the workspace or SAML config ID follows.
pub const NOTION_ACS_PREFIX: &str = "https://www.notion.so/sso/saml/";

const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Which service provider's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Notion: one EntityDescriptor, emailAddress NameID, Notion's SP values.
    #[default]
    Notion,
    /// Any SAML 2.0 SP.
    Generic,
}

/// What the metadata check is given.
#[derive(Debug, Clone)]
pub struct MetaExpect {
    /// Service provider rules.
    pub profile: Profile,
    /// Certificates that may have signed the metadata (`--metadata-signer`).
    pub signers: Vec<Certificate>,
    /// Which entity to check when there are several.
    pub entity: Option<String>,
    /// The ACS URL the SP shows (Notion: `https://www.notion.so/sso/saml/<id>`).
    pub acs: Option<String>,
    /// Warn when a signing certificate expires within this many days.
    pub warn_days: i64,
    /// Certificate expiry and weak keys are errors instead of warnings.
    pub strict: bool,
    /// Input limits.
    pub limits: Limits,
}

impl Default for MetaExpect {
    fn default() -> Self {
        MetaExpect {
            profile: Profile::Notion,
            signers: Vec::new(),
            entity: None,
            acs: None,
            warn_days: 30,
            strict: false,
            limits: Limits::default(),
        }
    }
}

/// One SingleSignOnService.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Binding URI.
    pub binding: String,
    /// Location, verbatim.
    pub location: String,
}

/// One IdP certificate as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    /// `signing`, `encryption` or `unspecified` (both).
    #[serde(rename = "use")]
    pub use_: String,
    /// SHA-256 fingerprint of the DER.
    pub sha256: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days from now to `notAfter` (negative: expired).
    pub days_left: i64,
    /// Key size in bits.
    pub key_bits: usize,
}

/// The result: the JSON document of `saml check-metadata --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaReport {
    /// Accept when no finding is an error.
    pub verdict: Verdict,
    /// The checked IdP entity.
    pub entity_id: Option<String>,
    /// Its SSO endpoints.
    pub sso: Vec<Endpoint>,
    /// Its certificates.
    pub certificates: Vec<CertSummary>,
    /// Every finding.
    pub findings: Vec<Finding>,
}

impl MetaReport {
    fn new(findings: Vec<Finding>) -> Self {
        MetaReport {
            verdict: Verdict::from_findings(&findings),
            entity_id: None,
            sso: Vec::new(),
            certificates: Vec::new(),
            findings,
        }
    }

    /// The signing certificates (use `signing` or unspecified), for a response check.
    pub fn signing_certs(&self) -> Vec<&CertSummary> {
        self.certificates
            .iter()
            .filter(|c| c.use_ != "encryption")
            .collect()
    }
}

/// The trust material a response check needs from metadata.
#[derive(Debug, Clone, Default)]
pub struct IdpTrust {
    /// The IdP entity ID.
    pub entity_id: Option<String>,
    /// Its signing certificates.
    pub certs: Vec<Certificate>,
}

/// Read the entity ID and signing certificates of the (selected) IdP; no judgement.
pub fn idp_trust(bytes: &[u8], entity: Option<&str>) -> Result<IdpTrust, Finding> {
    let limits = Limits::default();
    let xml = input::decode(bytes, &limits)?;
    let doc = input::parse(&xml, &limits)?;
    let idps = idp_entities(doc.root_element());
    let chosen = match entity {
        Some(e) => idps.iter().find(|n| n.attribute("entityID") == Some(e)),
        None => idps.first(),
    };
    let Some(chosen) = chosen else {
        return Err(Finding::error(
            "not-idp-metadata",
            "The metadata holds no IdP entity (IDPSSODescriptor).",
            "Download the IdP's metadata (not the SP's).",
        ));
    };
    let mut certs = Vec::new();
    for (use_, text) in key_descriptors(*chosen) {
        if use_ != "encryption" {
            if let Ok(c) = Certificate::from_base64(&text) {
                if !certs.contains(&c) {
                    certs.push(c);
                }
            }
        }
    }
    Ok(IdpTrust {
        entity_id: chosen.attribute("entityID").map(str::to_string),
        certs,
    })
}

fn idp_entities<'a, 'i>(root: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    root.descendants()
        .filter(|n| is(*n, NS_METADATA, "EntityDescriptor"))
        .filter(|n| child(*n, NS_METADATA, "IDPSSODescriptor").is_some())
        .collect()
}

/// `(use, base64 certificate)` of every KeyDescriptor of the entity's IDPSSODescriptor.
fn key_descriptors(entity: Node) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for idp in children(entity, NS_METADATA, "IDPSSODescriptor") {
        for kd in children(idp, NS_METADATA, "KeyDescriptor") {
            let use_ = kd.attribute("use").unwrap_or("unspecified").to_string();
            for cert in kd
                .descendants()
                .filter(|n| is(*n, NS_DSIG, "X509Certificate"))
            {
                out.push((use_.clone(), full_text(cert)));
            }
        }
    }
    out
}

/// Check IdP metadata at `now`.
pub fn check(bytes: &[u8], expect: &MetaExpect, now: DateTime<Utc>) -> MetaReport {
    let xml = match input::decode(bytes, &expect.limits) {
        Ok(x) => x,
        Err(f) => return MetaReport::new(vec![f]),
    };
    let doc = match input::parse(&xml, &expect.limits) {
        Ok(d) => d,
        Err(f) => return MetaReport::new(vec![f]),
    };
    let mut out = Vec::new();
    let root = doc.root_element();
    if let Some(wrong) = root_rule(root) {
        return MetaReport::new(vec![wrong]);
    }
    let idps = idp_entities(root);
    entities_rules(root, &idps, expect, &mut out);
    let chosen = chosen_entity(&idps, expect, &mut out);
    if idps.is_empty() {
        out.push(Finding::error(
            "not-idp-metadata",
            "The metadata holds no IDPSSODescriptor: it describes a service provider, not an IdP.",
            "Download the IdP's metadata (in the IdP's SAML app: \"IdP metadata\" / \"Federation metadata\").",
        ));
    }
    validity_rules(root, now, &mut out);
    endpoint_url_rules(root, &mut out);
    let mut report_entity = None;
    let mut sso = Vec::new();
    let mut certificates = Vec::new();
    if let Some(entity) = chosen {
        report_entity = entity.attribute("entityID").map(str::to_string);
        entity_checks(entity, expect, now, &mut out, &mut sso, &mut certificates);
    }
    signature_checks(root, &xml, expect, &mut out);
    if expect.profile == Profile::Notion {
        notion_values(expect, &mut out);
    }
    MetaReport {
        verdict: Verdict::from_findings(&out),
        entity_id: report_entity,
        sso,
        certificates,
        findings: out,
    }
}

/// The root is an `EntityDescriptor` or an `EntitiesDescriptor`; the error when it is not.
fn root_rule(root: Node) -> Option<Finding> {
    if is(root, NS_METADATA, "EntityDescriptor") || is(root, NS_METADATA, "EntitiesDescriptor") {
        return None;
    }
    Some(Finding::error(
        "no-entity-descriptor",
        format!(
            "The root element is <{}> ({}), not a SAML 2.0 md:EntityDescriptor.",
            root.tag_name().name(),
            root.tag_name().namespace().unwrap_or("no namespace")
        ),
        "Download the IdP's SAML 2.0 metadata (an EntityDescriptor).",
    ))
}

/// Several entities: which one to keep (Notion takes exactly one EntityDescriptor), and no
/// entityID twice.
fn entities_rules(root: Node, idps: &[Node], expect: &MetaExpect, out: &mut Vec<Finding>) {
    let entities: Vec<Node> = root
        .descendants()
        .filter(|n| is(*n, NS_METADATA, "EntityDescriptor"))
        .collect();
    if is(root, NS_METADATA, "EntitiesDescriptor") {
        let keep = match (&expect.entity, idps.first()) {
            (Some(e), _) => format!("keep the EntityDescriptor with entityID=\"{e}\""),
            (None, Some(first)) => format!(
                "keep the EntityDescriptor with entityID=\"{}\" (the IdP)",
                first.attribute("entityID").unwrap_or_default()
            ),
            (None, None) => "none of them is an IdP".to_string(),
        };
        let severity = match expect.profile {
            Profile::Notion => Severity::Error,
            Profile::Generic => Severity::Info,
        };
        out.push(Finding::new(
            severity,
            "entities-descriptor",
            format!(
                "The metadata is an EntitiesDescriptor with {} entities; Notion accepts a single EntityDescriptor: {keep}.",
                entities.len()
            ),
            format!("Paste only one EntityDescriptor into Notion: {keep}."),
        ));
    }
    let mut ids: Vec<&str> = entities
        .iter()
        .filter_map(|e| e.attribute("entityID"))
        .collect();
    ids.sort_unstable();
    if let Some(dup) = ids.windows(2).find(|w| w[0] == w[1]) {
        out.push(Finding::warning(
            "duplicate-entity-id",
            format!("The entityID {:?} appears more than once.", dup[0]),
            "Keep one EntityDescriptor per entityID.",
        ));
    }
}

/// The IdP entity to check: the one `--entity` names, else the first (with a warning when
/// there are several).
fn chosen_entity<'a, 'i>(
    idps: &[Node<'a, 'i>],
    expect: &MetaExpect,
    out: &mut Vec<Finding>,
) -> Option<Node<'a, 'i>> {
    if let Some(e) = &expect.entity {
        let found = idps
            .iter()
            .find(|n| n.attribute("entityID") == Some(e.as_str()));
        if found.is_none() {
            out.push(Finding::error(
                "entity-not-found",
                format!("No IdP entity has entityID {e:?}."),
                "Pick one of the IdP entityIDs listed in the metadata.",
            ));
        }
        return found.copied();
    }
    if idps.len() > 1 {
        out.push(Finding::warning(
            "multiple-idps",
            format!(
                "The metadata describes {} IdPs ({}); the first is checked.",
                idps.len(),
                idps.iter()
                    .filter_map(|n| n.attribute("entityID"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "Select the IdP with --entity ID.",
        ));
    }
    idps.first().copied()
}

/// validUntil / cacheDuration anywhere in the document, and SAML 1.x protocols offered.
fn validity_rules(root: Node, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let valid_until = root
        .descendants()
        .filter_map(|n| n.attribute("validUntil"))
        .filter_map(parse_xs_datetime)
        .min();
    match valid_until {
        Some(t) if t <= now => out.push(Finding::warning(
            "valid-until-expired",
            format!(
                "The metadata's validUntil ({}) has passed.",
                t.format("%Y-%m-%d")
            ),
            "Download fresh metadata from the IdP (or use its metadata URL).",
        )),
        Some(_) => {}
        None => {
            if root
                .descendants()
                .any(|n| n.attribute("cacheDuration").is_some())
            {
                out.push(Finding::info(
                    "cache-duration-only",
                    "The metadata has a cacheDuration but no validUntil.",
                ));
            }
        }
    }
    if root.descendants().any(|n| {
        n.attribute("protocolSupportEnumeration")
            .is_some_and(|p| p.contains("urn:oasis:names:tc:SAML:1."))
    }) {
        out.push(Finding::info(
            "saml1-protocols",
            "The metadata also offers SAML 1.x protocols; only SAML 2.0 is used.",
        ));
    }
}

/// Endpoint URLs anywhere (an SP's ACS is attack surface too: CVE-2023-45683): no surrounding
/// whitespace, HTTPS, and never another scheme.
fn endpoint_url_rules(root: Node, out: &mut Vec<Finding>) {
    for n in root.descendants().filter(|n| n.is_element()) {
        for attr in ["Location", "ResponseLocation"] {
            let Some(url) = n.attribute(attr) else {
                continue;
            };
            let element = n.tag_name().name();
            let trimmed = url.trim();
            if trimmed != url {
                out.push(Finding::warning(
                    "url-whitespace",
                    format!("The {element} {attr} {url:?} has leading or trailing whitespace."),
                    "Remove the whitespace from the URL in the IdP.",
                ));
            }
            let lower = trimmed.to_ascii_lowercase();
            if lower.starts_with("https://") {
                continue;
            }
            out.push(if lower.starts_with("http://") {
                Finding::warning(
                    "non-https-endpoint",
                    format!("The {element} {attr} {trimmed:?} is not HTTPS."),
                    "Use the IdP's HTTPS endpoint.",
                )
            } else {
                Finding::error(
                    "bad-url-scheme",
                    format!("The {element} {attr} {trimmed:?} is not an http(s) URL."),
                    "Treat this metadata as hostile; a javascript: or data: endpoint is an attack.",
                )
            });
        }
    }
}

/// The chosen IdP entity: its certificates, SSO endpoints and NameID formats.
fn entity_checks(
    entity: Node,
    expect: &MetaExpect,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
    sso: &mut Vec<Endpoint>,
    certificates: &mut Vec<CertSummary>,
) {
    let keys = key_descriptors(entity);
    if keys.iter().any(|(u, _)| u == "unspecified") {
        out.push(Finding::info(
            "key-use-unspecified",
            "A KeyDescriptor has no use attribute; its certificate counts for signing and encryption.",
        ));
    }
    let (signing, encryption) = read_certificates(&keys, now, out, certificates);
    signing_set_rules(&signing, &encryption, now, out);
    for cert in &signing {
        signing_cert_rules(cert, expect, now, out);
    }
    sso_rules(entity, out, sso);
    nameid_format_rule(entity, expect, out);
}

/// The certificates of `keys`, `(signing, encryption)`, each summarised in `certificates`; one
/// that cannot be read is a warning (`no-signing-cert` is the error when nothing usable is left).
fn read_certificates(
    keys: &[(String, String)],
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
    certificates: &mut Vec<CertSummary>,
) -> (Vec<Certificate>, Vec<Certificate>) {
    let mut signing: Vec<Certificate> = Vec::new();
    let mut encryption: Vec<Certificate> = Vec::new();
    for (use_, text) in keys {
        let cert = match Certificate::from_base64(text) {
            Ok(c) => c,
            Err(e) => {
                out.push(Finding::warning(
                    "bad-certificate",
                    format!("A {use_} certificate cannot be read: {e}"),
                    "Re-download the metadata; the certificate must be base64 DER.",
                ));
                continue;
            }
        };
        if let Some(info) = cert.info() {
            certificates.push(CertSummary {
                use_: use_.clone(),
                sha256: info.sha256.clone(),
                not_after: info
                    .not_after
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                days_left: (info.not_after - now).num_days(),
                key_bits: info.key_bits,
            });
        }
        if use_ == "encryption" {
            encryption.push(cert);
        } else {
            signing.push(cert);
        }
    }
    (signing, encryption)
}

/// At least one signing certificate; several are a rollover (each listed once); a separate
/// encryption certificate never verifies signatures.
fn signing_set_rules(
    signing: &[Certificate],
    encryption: &[Certificate],
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    if signing.is_empty() {
        out.push(Finding::error(
            "no-signing-cert",
            "The IdP publishes no signing certificate, so no response could be verified.",
            "Add the signing certificate to the IdP metadata (KeyDescriptor use=\"signing\").",
        ));
    }
    if signing.len() > 1 {
        let mut distinct: Vec<&Certificate> = Vec::new();
        for c in signing {
            if distinct.contains(&c) {
                out.push(Finding::info(
                    "duplicate-signing-cert",
                    format!(
                        "The signing certificate {} is listed twice.",
                        short(&c.sha256())
                    ),
                ));
            } else {
                distinct.push(c);
            }
        }
        let current = distinct
            .iter()
            .filter_map(|c| c.info())
            .filter(|i| i.not_before <= now && now < i.not_after)
            .max_by_key(|i| i.not_before);
        out.push(Finding::info(
            "multiple-signing-certs",
            format!(
                "{} signing certificates (rollover): a response signed with any of them is accepted{}.",
                signing.len(),
                current
                    .map(|i| format!("; the newest valid one is {} (until {})", short(&i.sha256), i.not_after.format("%Y-%m-%d")))
                    .unwrap_or_default()
            ),
        ));
    }
    if encryption.iter().any(|c| !signing.contains(c)) {
        out.push(Finding::info(
            "separate-encryption-cert",
            "A separate encryption certificate is published; it is never used to verify signatures.",
        ));
    }
}

/// One signing certificate: its dates, its key, its own signature algorithm. Dates and weak RSA
/// keys are errors with `--strict`, warnings otherwise.
fn signing_cert_rules(
    cert: &Certificate,
    expect: &MetaExpect,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    let strict = if expect.strict {
        Severity::Error
    } else {
        Severity::Warning
    };
    let Some(info) = cert.info() else { return };
    let fp = short(&info.sha256).to_string();
    if info.not_after <= now {
        out.push(Finding::new(
            strict,
            "signing-cert-expired",
            format!("The signing certificate {fp} expired on {}.", info.not_after.format("%Y-%m-%d")),
            "Create a new signing certificate in the IdP, activate it, and update the metadata in Notion.",
        ));
    } else if info.not_before > now {
        out.push(Finding::new(
            strict,
            "signing-cert-not-yet-valid",
            format!(
                "The signing certificate {fp} is valid only from {}.",
                info.not_before.format("%Y-%m-%d")
            ),
            "Check the certificate dates and this machine's clock.",
        ));
    } else if (info.not_after - now).num_days() < expect.warn_days {
        out.push(Finding::warning(
            "signing-cert-expiring",
            format!(
                "The signing certificate {fp} expires on {} ({} days left).",
                info.not_after.format("%Y-%m-%d"),
                (info.not_after - now).num_days()
            ),
            "Roll the certificate over now: add the new one in the IdP and update the metadata in Notion before the old one expires.",
        ));
    }
    match info.key_kind {
        KeyKind::Rsa if info.key_bits < 2048 => out.push(Finding::new(
            strict,
            "weak-key",
            format!(
                "The signing certificate {fp} has a {}-bit RSA key (under 2048).",
                info.key_bits
            ),
            "Create a 2048-bit (or larger) RSA signing certificate in the IdP.",
        )),
        KeyKind::Ec => out.push(Finding::info(
            "ec-key",
            format!("The signing certificate {fp} has an EC key (ECDSA signatures)."),
        )),
        KeyKind::Dsa => out.push(Finding::error(
            "weak-key",
            format!("The signing certificate {fp} has a DSA key, which is not accepted."),
            "Create an RSA 2048+ signing certificate in the IdP.",
        )),
        _ => {}
    }
    if info.sha1_signed {
        out.push(Finding::info(
            "sha1-certificate",
            format!("The certificate {fp} is self-signed with SHA-1; harmless for a pinned key, but old."),
        ));
    }
}

/// The SSO endpoints, one of them HTTP-Redirect or HTTP-POST.
fn sso_rules(entity: Node, out: &mut Vec<Finding>, sso: &mut Vec<Endpoint>) {
    for idp in children(entity, NS_METADATA, "IDPSSODescriptor") {
        for s in children(idp, NS_METADATA, "SingleSignOnService") {
            sso.push(Endpoint {
                binding: s.attribute("Binding").unwrap_or_default().to_string(),
                location: s.attribute("Location").unwrap_or_default().to_string(),
            });
        }
    }
    if !sso
        .iter()
        .any(|e| e.binding == HTTP_REDIRECT || e.binding == HTTP_POST)
    {
        out.push(Finding::error(
            "no-sso-binding",
            "The IdP offers no HTTP-Redirect or HTTP-POST SingleSignOnService.",
            "Enable the HTTP-Redirect (or HTTP-POST) SSO binding in the IdP.",
        ));
    }
}

/// The emailAddress NameID format, when the IdP lists formats at all.
fn nameid_format_rule(entity: Node, expect: &MetaExpect, out: &mut Vec<Finding>) {
    let formats: Vec<String> = children(entity, NS_METADATA, "IDPSSODescriptor")
        .into_iter()
        .flat_map(|d| children(d, NS_METADATA, "NameIDFormat"))
        .map(|n| full_text(n).trim().to_string())
        .collect();
    if !formats.is_empty() && !formats.iter().any(|f| f == NAMEID_EMAIL) {
        let message = format!(
            "The IdP does not offer the emailAddress NameID format (offers: {}).",
            formats.join(", ")
        );
        let fix = "Enable the EmailAddress NameID format in the IdP application.";
        out.push(match expect.profile {
            Profile::Notion => Finding::warning("nameid-format", message, fix),
            Profile::Generic => Finding::info("nameid-format", message),
        });
    }
}

fn signature_checks(root: Node, xml: &str, expect: &MetaExpect, out: &mut Vec<Finding>) {
    let signatures: Vec<Node> = root
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "Signature"))
        .collect();
    if signatures.is_empty() {
        if !expect.signers.is_empty() {
            out.push(Finding::error(
                "signature-missing",
                "A metadata signer was given but the metadata is not signed.",
                "Download the signed metadata from the IdP, or drop --metadata-signer.",
            ));
        }
        return;
    }
    out.push(Finding::info(
        "signed",
        format!("The metadata carries {} signature(s).", signatures.len()),
    ));
    if expect.signers.is_empty() {
        out.push(Finding::info(
            "signature-not-checked",
            "The metadata signature was not checked (pass --metadata-signer PEM to check it).",
        ));
        return;
    }
    for sig in &signatures {
        let parent = sig.parent_element();
        let id = parent.and_then(|p| p.attribute("ID")).unwrap_or_default();
        let uri = child(*sig, NS_DSIG, "SignedInfo")
            .and_then(|si| child(si, NS_DSIG, "Reference"))
            .and_then(|r| r.attribute("URI"))
            .unwrap_or_default();
        if id.is_empty() || uri != format!("#{id}") {
            out.push(Finding::error(
                "signature-invalid",
                format!("A metadata signature references {uri:?} instead of its parent \"#{id}\"."),
                "Treat this metadata as tampered; download it again from the IdP.",
            ));
            return;
        }
    }
    match crypto::verify_all(xml, &expect.signers) {
        crypto::Outcome::Verified => out.push(Finding::info(
            "signature-verified",
            "The metadata signature verified with the given signer certificate.",
        )),
        crypto::Outcome::Failed(detail) => out.push(Finding::error(
            "signature-invalid",
            format!("The metadata signature does not verify with the given signer ({detail})."),
            "Download the metadata again from the IdP and check the signer certificate.",
        )),
        crypto::Outcome::Unavailable => out.push(Finding::error(
            "signature-not-verified",
            super::NOT_VERIFIED,
            "Build idbridge with the default features (saml-xmlsec) to verify signatures.",
        )),
    }
}

fn notion_values(expect: &MetaExpect, out: &mut Vec<Finding>) {
    let acs = expect
        .acs
        .clone()
        .unwrap_or_else(|| format!("{NOTION_ACS_PREFIX}<workspace or SAML config id>"));
    if let Some(given) = &expect.acs {
        if !notion_acs_ok(given) {
            out.push(Finding::error(
                "notion-acs",
                format!("{given:?} is not a Notion ACS URL (https://www.notion.so/sso/saml/<id>)."),
                "Copy the ACS URL from Notion's SAML settings (Settings → Identity, or Manage organization → SAML).",
            ));
        }
    }
    out.push(Finding::info(
        "notion-sp-values",
        format!(
            "Configure the IdP with: ACS (Reply/SSO) URL {acs}; SP Entity ID (Audience) {NOTION_ENTITY_ID}; NameID format emailAddress = the user's email; attributes email, firstName, lastName."
        ),
    ));
}

/// Whether `url` has Notion's ACS shape: `https://(www.)notion.so/sso/saml/<id>`.
pub fn notion_acs_ok(url: &str) -> bool {
    [
        "https://www.notion.so/sso/saml/",
        "https://notion.so/sso/saml/",
    ]
    .iter()
    .any(|p| {
        url.strip_prefix(p).is_some_and(|id| {
            !id.is_empty() && !id.contains('/') && !id.contains(char::is_whitespace)
        })
    })
}
