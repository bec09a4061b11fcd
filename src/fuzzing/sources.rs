//! Targets for what the sources and the config hand idbridge: config text, HR CSV, HR JSON
//! pages, LDAP entries, and the mapping templates.

use super::fixture::{self, SECRET};
use crate::connectors::hr::{csv, http};
use crate::connectors::ldap::{self, dn};
use crate::connectors::SourceRead;
use crate::mapping::template::Template;
use crate::model::{SourceIssue, SourceRecord};
use std::collections::{BTreeMap, HashSet};

/// The most JSON pages one input is taken as (each a reply of the HR API).
const MAX_PAGES: usize = 16;

/// Config text through the parser *and* the resolver (secrets read from the fixture's files,
/// paths resolved against its folder). An error must say something and never show a secret.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture::get();
    if let Err(e) = crate::config::parse(text, &f.dir.join("idbridge.toml"), &f.dir) {
        let shown = e.to_string();
        assert!(!shown.trim().is_empty(), "a config error with no message");
        assert!(
            text.contains(SECRET) || !shown.contains(SECRET),
            "a config error shows the secret read from a file: {shown}"
        );
    }
}

/// HR CSV bytes, read with the configured bounds and with tight ones.
pub fn hr_csv(data: &[u8]) {
    let f = fixture::get();
    for settings in &f.csv {
        if let Ok(read) = csv::read_csv(settings, data, "hr.csv") {
            check_read(&read.records, &read.issues);
        }
    }
}

/// Consecutive JSON documents, each one page of an HR API reply, read by every HR API source.
pub fn hr_json(data: &[u8]) {
    let f = fixture::get();
    let pages: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(data)
        .into_iter()
        .map_while(Result::ok)
        .take(MAX_PAGES)
        .collect();
    if pages.is_empty() {
        return;
    }
    for settings in &f.http {
        if let Ok(SourceRead {
            records, issues, ..
        }) = http::read_pages(settings, &pages)
        {
            check_read(&records, &issues);
        }
    }
}

/// Consecutive BER messages, each a search result entry, read by the OpenLDAP and AD sources.
/// Every DN met is also held to its normal form being stable.
pub fn ldap_entry(data: &[u8]) {
    let f = fixture::get();
    let disabled: HashSet<String> = [dn::normalize("uid=gone,ou=people,dc=example")].into();
    for settings in &f.ldap {
        if let Ok((records, issues)) = ldap::read_entries(settings, data, &disabled) {
            check_read(&records, &issues);
            for record in &records {
                stable_dn(&record.location);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        stable_dn(text);
    }
}

/// A mapping template: compiled, and rendered against attributes of awkward shapes.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::compile(text) else {
        return;
    };
    let _ = template.attrs();
    let _ = template.references();
    let attrs: BTreeMap<String, String> = [
        ("givenName", "Ådа"),
        ("familyName", " O'Brien-\u{301}Łukasz "),
        ("email", "Ada.Lovelace+x@Example.COM"),
        ("employeeId", "007"),
        ("department", ""),
        ("title", "\u{0}\u{202e}\t\n"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let _ = template.render(&attrs);
    let _ = template.render(&BTreeMap::new());
}

/// What every source read must hold: each issue says what is wrong, never shows a secret, and
/// each record has an identity.
fn check_read(records: &[SourceRecord], issues: &[SourceIssue]) {
    for issue in issues {
        assert!(!issue.message.trim().is_empty(), "an issue with no message");
        assert!(!issue.message.contains(SECRET), "an issue shows a secret");
    }
    for record in records {
        assert!(!record.key.id.is_empty(), "a record without an id");
    }
}

/// A DN's normal form is its own normal form: two spellings that compare equal once compare
/// equal however often they are normalised (group members are matched on it).
fn stable_dn(text: &str) {
    let once = dn::normalize(text);
    assert_eq!(
        dn::normalize(&once),
        once,
        "normal form of {text:?} is not stable"
    );
}
