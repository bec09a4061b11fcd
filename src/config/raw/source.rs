//! `[[sources]]` entries as serde reads them: one struct per source kind ([`RawHrCsv`],
//! [`RawHrHttp`], [`RawLdap`]), each refusing every key it does not take, chosen by the entry's
//! `kind`. So a key of another kind (`max_pages` on an `hr-csv` source) is refused by serde, at
//! its line, like any unknown key, and no list of the keys each kind refuses is kept by hand.
//!
//! Serde's internally tagged enums would choose the struct for us, but they buffer the entry
//! first, and toml's spans (`Spanned`, error positions) do not survive the buffer. So the entry's
//! `kind` is read from the parsed document ([`toml::de::DeTable`], which keeps every span), and
//! the entry is then deserialized as that kind's struct from its spanned value: positions are the
//! file's, as for every other table.

use crate::config::resolve::{choices, Resolver};
use crate::config::{names, toml_error, ConfigError};
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use strum::IntoEnumIterator;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// The kind of a source, as `[[sources]] kind` spells it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[strum(serialize_all = "kebab-case")]
pub enum SourceKind {
    /// `hr-csv`.
    HrCsv,
    /// `hr-http`.
    HrHttp,
    /// `ldap`.
    Ldap,
}

impl SourceKind {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The keys an entry of this kind takes, as serde's derive lists them.
    fn keys(self) -> &'static [&'static str] {
        match self {
            SourceKind::HrCsv => keys_of::<RawHrCsv>(),
            SourceKind::HrHttp => keys_of::<RawHrHttp>(),
            SourceKind::Ldap => keys_of::<RawLdap>(),
        }
    }
}

/// One `[[sources]]` entry, read as the struct of its `kind`.
#[derive(Debug)]
pub enum RawSource {
    /// `kind = "hr-csv"`.
    HrCsv(RawHrCsv),
    /// `kind = "hr-http"`.
    HrHttp(RawHrHttp),
    /// `kind = "ldap"`.
    Ldap(RawLdap),
}

impl RawSource {
    /// `name`.
    pub fn name(&self) -> &Spanned<String> {
        match self {
            RawSource::HrCsv(s) => &s.name,
            RawSource::HrHttp(s) => &s.name,
            RawSource::Ldap(s) => &s.name,
        }
    }

    /// `join_attr`.
    pub fn join_attr(&self) -> Option<&Spanned<String>> {
        match self {
            RawSource::HrCsv(s) => s.join_attr.as_ref(),
            RawSource::HrHttp(s) => s.join_attr.as_ref(),
            RawSource::Ldap(s) => s.join_attr.as_ref(),
        }
    }
}

/// `kind = "hr-csv"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHrCsv {
    /// Unique source name (part of every source key).
    pub name: Spanned<String>,
    /// `hr-csv` (read before this struct is chosen).
    pub kind: Spanned<String>,
    /// The attribute of this source's records that joins them to other sources' records.
    pub join_attr: Option<Spanned<String>>,
    /// CSV file path, relative to the config file.
    pub path: Option<Spanned<String>>,
    /// Time zone of HR dates, e.g. "Europe/Paris".
    pub timezone: Option<Spanned<String>>,
    /// strftime format of HR dates.
    pub date_format: Option<Spanned<String>>,
    /// Field delimiter (one ASCII character).
    pub delimiter: Option<Spanned<String>>,
    /// Largest trusted field, in bytes.
    pub max_field_bytes: Option<Spanned<i64>>,
    /// Most lines one quoted field may span.
    pub max_field_lines: Option<Spanned<i64>>,
    /// Largest file read, in bytes.
    pub max_file_bytes: Option<Spanned<i64>>,
    /// Header names of the columns idbridge reads.
    #[serde(default)]
    pub columns: RawColumns,
    /// HR status value -> `active` or `inactive`.
    pub status_map: Option<Spanned<BTreeMap<String, String>>>,
}

/// `kind = "hr-http"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHrHttp {
    /// Unique source name.
    pub name: Spanned<String>,
    /// `hr-http`.
    pub kind: Spanned<String>,
    /// The join attribute.
    pub join_attr: Option<Spanned<String>>,
    /// First page URL.
    pub url: Option<Spanned<String>>,
    /// Env var holding the API token.
    pub token_env: Option<Spanned<String>>,
    /// File holding the API token.
    pub token_file: Option<Spanned<String>>,
    /// `bearer` (default) or `basic` (the token as user name, BambooHR style).
    pub auth: Option<Spanned<String>>,
    /// Dotted path to the records array in each reply (e.g. `employees`, `data.items`).
    pub records: Option<Spanned<String>>,
    /// Dotted path to the record count the API reports (checked against what was read).
    pub total: Option<Spanned<String>>,
    /// Dotted path to the next page's URL (next-link paging).
    pub next: Option<Spanned<String>>,
    /// Query parameter of page-number paging.
    pub page_param: Option<Spanned<String>>,
    /// First page number (default 1).
    pub page_start: Option<i64>,
    /// A preset for a known HR system (`bamboohr`).
    pub preset: Option<Spanned<String>>,
    /// Per-request timeout.
    pub timeout: Option<Spanned<String>>,
    /// Most pages read before giving up.
    pub max_pages: Option<Spanned<i64>>,
    /// Largest reply read, in bytes.
    pub max_reply_bytes: Option<Spanned<i64>>,
    /// Field names of the roles idbridge reads.
    #[serde(default)]
    pub columns: RawColumns,
    /// HR status value -> `active` or `inactive`.
    pub status_map: Option<Spanned<BTreeMap<String, String>>>,
    /// Time zone of HR dates.
    pub timezone: Option<Spanned<String>>,
    /// strftime format of HR dates.
    pub date_format: Option<Spanned<String>>,
}

/// `kind = "ldap"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLdap {
    /// Unique source name.
    pub name: Spanned<String>,
    /// `ldap`.
    pub kind: Spanned<String>,
    /// The join attribute.
    pub join_attr: Option<Spanned<String>>,
    /// `ldap://host:389` (StartTLS with `starttls = true`) or `ldaps://host:636`.
    pub url: Option<Spanned<String>>,
    /// Upgrade `ldap://` with StartTLS (never falls back to cleartext).
    pub starttls: Option<bool>,
    /// PEM file of the CA that signed the server certificate.
    pub ca_file: Option<Spanned<String>>,
    /// Skip certificate verification (logs a warning on every run).
    pub insecure_skip_verify: Option<bool>,
    /// Bind DN (simple bind).
    pub bind_dn: Option<Spanned<String>>,
    /// Env var holding the bind password.
    pub password_env: Option<Spanned<String>>,
    /// File holding the bind password.
    pub password_file: Option<Spanned<String>>,
    /// `openldap` (also 389-DS) or `ad`.
    pub dialect: Option<Spanned<String>>,
    /// The user search.
    pub users: Option<Spanned<RawQuery>>,
    /// The group search.
    pub groups: Option<Spanned<RawQuery>>,
    /// Paged-results page size (RFC 2696).
    pub page_size: Option<Spanned<i64>>,
    /// Connect timeout, e.g. "10s".
    pub connect_timeout: Option<Spanned<String>>,
    /// Per-search timeout, e.g. "120s".
    pub search_timeout: Option<Spanned<String>>,
    /// An extra filter that marks disabled accounts (OpenLDAP has no standard flag).
    pub disabled_filter: Option<Spanned<String>>,
    /// Nested groups: `resolve` (client side, cycle-safe), `in-chain` (AD matching rule) or `off`.
    pub nested: Option<Spanned<String>>,
    /// Active Directory: also read deleted users (tombstones) with the Show Deleted control.
    pub deleted_objects: Option<Spanned<bool>>,
    /// Attribute names, per role, overriding the dialect's defaults.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Extra attributes to fetch for mapping templates.
    #[serde(default)]
    pub extra_attributes: Vec<String>,
}

/// An LDAP search: base, scope and filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// Search base DN.
    pub base: String,
    /// `sub` (default), `one` or `base`.
    pub scope: Option<String>,
    /// LDAP filter (RFC 4515).
    pub filter: Option<String>,
}

/// `[sources.columns]`: header names; every key is optional and has a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumns {
    /// Stable employee id column.
    pub employee_id: Option<String>,
    /// Work email column.
    pub email: Option<String>,
    /// Given name column.
    pub given_name: Option<String>,
    /// Family name column.
    pub family_name: Option<String>,
    /// Job title column.
    pub title: Option<String>,
    /// Department column.
    pub department: Option<String>,
    /// Manager's email column.
    pub manager_email: Option<String>,
    /// Employment status column.
    pub status: Option<String>,
    /// Start date column.
    pub start_date: Option<String>,
    /// Termination date column.
    pub termination_date: Option<String>,
}

/// Only an entry's `kind`: read through serde when it is missing or not a string, so the error
/// is serde's, at the entry's position.
#[derive(Deserialize)]
#[allow(dead_code)] // Only its errors are used.
struct SourceKindKey {
    kind: Spanned<String>,
}

/// Every `[[sources]]` entry of the config text, each read as the struct of its `kind`. The text
/// has been parsed once already ([`super::Raw`]), so it is TOML and `sources` is an array.
pub(in crate::config) fn read_sources(
    cx: &Resolver<'_>,
) -> Result<Vec<Spanned<RawSource>>, ConfigError> {
    let doc = DeTable::parse(cx.text).map_err(|e| toml_error::convert(&e, cx.text, cx.path))?;
    let Some(entries) = doc.get_ref().get("sources") else {
        return Ok(Vec::new());
    };
    let Some(entries) = entries.get_ref().as_array() else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| read_entry(cx, i, entry.clone()))
        .collect()
}

/// Entry `i`: its kind first, then the kind's struct from the same spanned value.
fn read_entry(
    cx: &Resolver<'_>,
    i: usize,
    entry: Spanned<DeValue<'_>>,
) -> Result<Spanned<RawSource>, ConfigError> {
    let kind = entry_kind(cx, i, &entry)?;
    let span = entry.span();
    let read = match kind {
        SourceKind::HrCsv => {
            RawHrCsv::deserialize(ValueDeserializer::from(entry)).map(RawSource::HrCsv)
        }
        SourceKind::HrHttp => {
            RawHrHttp::deserialize(ValueDeserializer::from(entry)).map(RawSource::HrHttp)
        }
        SourceKind::Ldap => {
            RawLdap::deserialize(ValueDeserializer::from(entry)).map(RawSource::Ldap)
        }
    };
    let source = read.map_err(|e| {
        let own = format!("sources[{i}].");
        toml_error::convert_with(&e, cx.text, cx.path, |key, name| {
            let top_level = key.strip_prefix(&own) == Some(name);
            let elsewhere = SourceKind::iter().any(|k| k.keys().contains(&name));
            (top_level && elsewhere)
                .then(|| format!("`{name}` does not apply to a `{}` source", kind.as_str()))
        })
    })?;
    Ok(Spanned::new(span, source))
}

/// The kind an entry names. A spelling that is no kind is an error at its line listing every
/// kind; a missing `kind` next to a key that looks like a misspelling of it (`knid`) names that
/// key, as an unknown key would be named.
fn entry_kind(
    cx: &Resolver<'_>,
    i: usize,
    entry: &Spanned<DeValue<'_>>,
) -> Result<SourceKind, ConfigError> {
    let table = entry.get_ref().as_table();
    if let Some(kind) = table.and_then(|t| t.get("kind")) {
        if let Some(spelling) = kind.get_ref().as_str() {
            let key = format!("sources[{i}].kind");
            return cx.pick(spelling, kind.span().start, &key, &choices::<SourceKind>());
        }
    } else if let Some(slip) = table.and_then(misspelt_kind) {
        return cx.invalid(
            slip.span().start,
            &format!("sources[{i}].{}", slip.get_ref()),
            "unknown key; did you mean `kind`?",
        );
    }
    // Missing, or not a string: serde says so, at the entry or the value.
    match SourceKindKey::deserialize(ValueDeserializer::from(entry.clone())) {
        Err(e) => Err(toml_error::convert(&e, cx.text, cx.path)),
        Ok(_) => cx.invalid(
            entry.span().start,
            &format!("sources[{i}].kind"),
            "must be a string",
        ),
    }
}

/// A key of `table` that is no source kind's key and is close to `kind`.
fn misspelt_kind<'a, 'i>(table: &'a DeTable<'i>) -> Option<&'a Spanned<toml::de::DeString<'i>>> {
    table.keys().find(|key| {
        let key = key.get_ref().as_ref();
        let known = SourceKind::iter().any(|k| k.keys().contains(&key));
        !known && names::suggest(key, ["kind"]).is_some()
    })
}

/// The field names a derived `Deserialize` struct takes: serde hands them to
/// `deserialize_struct`, so a deserializer that only records them reads them off the derive.
fn keys_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut keys: &'static [&'static str] = &[];
    // The probe always fails: it has recorded the keys by then.
    let _ = T::deserialize(KeyProbe(&mut keys));
    keys
}

/// The deserializer [`keys_of`] uses.
struct KeyProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for KeyProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("keys recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_takes_its_own_keys() {
        let csv = SourceKind::HrCsv.keys();
        let http = SourceKind::HrHttp.keys();
        let ldap = SourceKind::Ldap.keys();
        for common in ["name", "kind", "join_attr"] {
            assert!(csv.contains(&common) && http.contains(&common) && ldap.contains(&common));
        }
        assert!(csv.contains(&"max_file_bytes") && !http.contains(&"max_file_bytes"));
        assert!(http.contains(&"max_pages") && !csv.contains(&"max_pages"));
        assert!(
            ldap.contains(&"bind_dn") && !csv.contains(&"bind_dn") && !http.contains(&"bind_dn")
        );
        assert!(!ldap.contains(&"status_map") && !ldap.contains(&"columns"));
    }
}
