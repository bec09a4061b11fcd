//! The Web-SSO protocol checks (SAML Profiles 4.1.4) on the verified assertion, and on the
//! unsigned fields of the Response that holds it (checked, never used as identity): issuers,
//! Destination and InResponseTo, issue instants, the Conditions window and audience, the
//! Subject's NameID and bearer confirmation, the AuthnStatement's session, and attributes named
//! twice. Every rule runs and reports; none stops the others.

use super::{child, children, full_text, is, BEARER, NS_ASSERTION};
use crate::saml::finding::Finding;
use crate::saml::Expect;
use chrono::{DateTime, Duration, Utc};
use roxmltree::Node;
use std::collections::HashMap;

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
    if let Some(resp) = response {
        response_rules(resp, response_signed, expect, now, out);
    }
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
    conditions_rules(assertion, expect, now, out);
    let subject = child(assertion, NS_ASSERTION, "Subject");
    name_id_rules(subject, expect, out);
    bearer_rules(subject, expect, now, out);
    authn_rules(assertion, expect, now, out);
    duplicate_attribute_rule(assertion, out);
}

/// The Response's own fields: Issuer (optional unless the Response is signed, Profiles
/// 4.1.4.2), Destination, InResponseTo, IssueInstant.
fn response_rules(
    resp: Node,
    response_signed: bool,
    expect: &Expect,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
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
            if let Some(acs) = expect.recipient.as_ref().filter(|acs| dest != *acs) {
                out.push(Finding::error(
                    "wrong-destination",
                    format!("The Response Destination is {dest:?}; the ACS URL is {acs:?}."),
                    "Set the IdP application's ACS (Reply/SSO) URL to exactly the service provider's ACS URL.",
                ));
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

/// Conditions: there, with a validity window that holds now and an audience that names this
/// service provider.
fn conditions_rules(assertion: Node, expect: &Expect, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let Some(cond) = child(assertion, NS_ASSERTION, "Conditions") else {
        out.push(Finding::error(
            "no-conditions",
            "The Assertion has no Conditions (validity window and audience).",
            "Configure the IdP to send Conditions with NotBefore, NotOnOrAfter and the audience.",
        ));
        return;
    };
    let nb = parse_time(cond, "NotBefore", out);
    let na = parse_time(cond, "NotOnOrAfter", out);
    window("Conditions", nb, na, now, expect.clock_skew, out);
    let restrictions = children(cond, NS_ASSERTION, "AudienceRestriction");
    if restrictions.is_empty() {
        out.push(Finding::error(
            "no-audience",
            "The Assertion has no AudienceRestriction, so any service provider could use it.",
            "Set the IdP application's Audience (SP entity ID).",
        ));
        return;
    }
    let Some(aud) = &expect.audience else {
        return;
    };
    // Every restriction must name this SP; one finding is enough.
    for r in &restrictions {
        let values: Vec<String> = children(*r, NS_ASSERTION, "Audience")
            .iter()
            .map(|a| full_text(*a).trim().to_string())
            .collect();
        if !values.iter().any(|v| v == aud) {
            out.push(Finding::error(
                "wrong-audience",
                format!("The audience is {values:?}; this service provider is {aud:?}."),
                format!("Set the IdP application's Audience URI / Entity ID to {aud}."),
            ));
            break;
        }
    }
}

/// Subject/NameID: there, not empty, and its SPNameQualifier (if any) this service provider.
fn name_id_rules(subject: Option<Node>, expect: &Expect, out: &mut Vec<Finding>) {
    let Some(n) = subject.and_then(|s| child(s, NS_ASSERTION, "NameID")) else {
        out.push(Finding::error(
            "no-nameid",
            "The Assertion has no Subject/NameID.",
            "Configure the IdP to send the user's email as NameID (emailAddress format).",
        ));
        return;
    };
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

/// A bearer SubjectConfirmation whose data names the ACS URL as Recipient, holds now, and
/// answers the outstanding request.
fn bearer_rules(
    subject: Option<Node>,
    expect: &Expect,
    now: DateTime<Utc>,
    out: &mut Vec<Finding>,
) {
    let confirmations: Vec<Node> = subject
        .map(|s| children(s, NS_ASSERTION, "SubjectConfirmation"))
        .unwrap_or_default();
    let Some(bearer) = confirmations
        .iter()
        .find(|c| c.attribute("Method") == Some(BEARER))
    else {
        out.push(Finding::error(
            "no-bearer-confirmation",
            "The Subject has no bearer SubjectConfirmation.",
            "Configure the IdP for the Web Browser SSO profile (bearer confirmation).",
        ));
        return;
    };
    let data = child(*bearer, NS_ASSERTION, "SubjectConfirmationData").filter(|data| {
        data.attribute("Recipient").is_some() && data.attribute("NotOnOrAfter").is_some()
    });
    let Some(data) = data else {
        out.push(Finding::error(
            "no-subject-confirmation-data",
            "The bearer SubjectConfirmationData is missing or lacks Recipient/NotOnOrAfter.",
            "Configure the IdP to send Recipient (the ACS URL) and NotOnOrAfter.",
        ));
        return;
    };
    let recipient = data.attribute("Recipient").unwrap_or_default();
    if let Some(acs) = expect.recipient.as_ref().filter(|acs| recipient != *acs) {
        out.push(Finding::error(
            "wrong-recipient",
            format!("The bearer Recipient is {recipient:?}; the ACS URL is {acs:?}."),
            "Set the IdP application's ACS (Recipient) URL to exactly the service provider's ACS URL.",
        ));
    }
    // NotBefore is not allowed here by Profiles 4.1.4.2, but some IdPs send it: honour it as a
    // lower bound rather than fail.
    let nb = parse_time(data, "NotBefore", out);
    let na = parse_time(data, "NotOnOrAfter", out);
    window(
        "SubjectConfirmationData",
        nb,
        na,
        now,
        expect.clock_skew,
        out,
    );
    if let (Some(want), Some(got)) = (&expect.in_response_to, data.attribute("InResponseTo")) {
        if want != got {
            out.push(Finding::error(
                "wrong-inresponseto",
                format!(
                    "The assertion answers request {got:?}; the outstanding request is {want:?}."
                ),
                "Start the login again from the service provider.",
            ));
        }
    }
}

/// An AuthnStatement, whose session (SessionNotOnOrAfter) has not ended.
fn authn_rules(assertion: Node, expect: &Expect, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let authn = children(assertion, NS_ASSERTION, "AuthnStatement");
    if authn.is_empty() {
        out.push(Finding::error(
            "no-authnstatement",
            "The Assertion has no AuthnStatement.",
            "Configure the IdP to include the AuthnStatement.",
        ));
    }
    for a in authn {
        let Some(t) = parse_time(a, "SessionNotOnOrAfter", out) else {
            continue;
        };
        if now - expect.clock_skew >= t {
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

/// Attributes: a name twice is ambiguous.
fn duplicate_attribute_rule(assertion: Node, out: &mut Vec<Finding>) {
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

/// `node`'s `attr` as a time; a value that is not an xs:dateTime is a finding.
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

/// A time as findings show it: RFC 3339 in UTC, whole seconds.
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

/// The Issuer is the IdP's entity ID, exactly.
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

/// IssueInstant: not in the future, and not older than `--max-age`.
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
