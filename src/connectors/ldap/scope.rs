//! Why linked people are missing from this source's read (issue 13, movers): an entry moved out
//! of `users.base` (another OU), or still under it but no longer matching `users.filter` (a
//! group or attribute condition in the filter), is a mover out of scope, not a deletion. The
//! planner treats both alike (a leaver, with the absence grace); this lookup only names the rule
//! that no longer matches, so an admin reading the plan sees "moved to ou=former" instead of
//! "absent from every source".
//!
//! Only the ids the caller asks about are looked up (the linked people this read missed), in the
//! subtree above `users.base`, so the cost is a few small searches, not a second full read.

use super::conn::Conn;
use super::{dn, stable_id, values, Error};
use crate::config::LdapSettings;
use std::collections::BTreeMap;

/// Ids per search: keeps each filter short for servers that bound its size.
const CHUNK: usize = 50;

/// For each of `ids` (this source's stable ids, missing from its read) found in the directory
/// outside the read's scope, the scope rule it no longer matches; an id the directory does not
/// have at all (deleted) is left out.
pub async fn explain_missing(
    settings: &LdapSettings,
    ids: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut conn = Conn::open(settings).await?;
    let result = lookup(&mut conn, settings, ids, &mut out).await;
    conn.close().await;
    result.map(|()| out)
}

async fn lookup(
    conn: &mut Conn,
    settings: &LdapSettings,
    ids: &[String],
    out: &mut BTreeMap<String, String>,
) -> Result<(), Error> {
    let id_attr = settings.attributes.id.clone();
    let base = &settings.users.base;
    let root = parent(base);
    for chunk in ids.chunks(CHUNK) {
        let terms: String = chunk
            .iter()
            .filter_map(|id| id_term(&id_attr, id))
            .collect();
        if terms.is_empty() {
            continue;
        }
        let filter = format!("(|{terms})");
        let mut found: Vec<(String, String)> = Vec::new();
        conn.search_paged(
            &root,
            crate::config::LdapScope::Sub,
            &filter,
            std::slice::from_ref(&id_attr),
            |e| {
                if let Some(id) = stable_id(&e, &id_attr) {
                    found.push((id, e.dn.clone()));
                }
                Ok(())
            },
        )
        .await?;
        for (id, at) in found {
            out.insert(id, rule(settings, &at));
        }
    }
    Ok(())
}

/// The scope rule an entry now at `at` no longer matches.
fn rule(settings: &LdapSettings, at: &str) -> String {
    let base = &settings.users.base;
    if under(at, base) {
        format!(
            "no longer matches users.filter `{}` (still at {at})",
            settings.users.filter
        )
    } else {
        format!("moved out of users.base `{base}` (now at {at})")
    }
}

/// Whether `dn` is `base` or below it (compared in normal form).
fn under(entry: &str, base: &str) -> bool {
    let (entry, base) = (dn::normalize(entry), dn::normalize(base));
    entry == base || entry.ends_with(&format!(",{base}"))
}

/// The DN one level above `base` (where an admin moves people to a sibling OU), or `base`
/// itself when it has no parent.
fn parent(base: &str) -> String {
    let norm = dn::normalize(base);
    match norm.split_once(',') {
        Some((_, rest)) if !rest.is_empty() => rest.to_owned(),
        _ => norm,
    }
}

/// `(attr=value)` for one stable id: a GUID attribute is matched on its bytes (AD stores
/// `objectGUID` as 16 octets), anything else as escaped text.
fn id_term(attr: &str, id: &str) -> Option<String> {
    if super::is_guid_attribute(attr) {
        let bytes = values::guid_bytes(id)?;
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        return Some(format!("({attr}={escaped})"));
    }
    Some(values::assertion(attr, "", id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_and_the_base_test_compare_normal_forms() {
        assert_eq!(parent("ou=People, dc=Example,dc=com"), "dc=example,dc=com");
        assert_eq!(parent("dc=com"), "dc=com");
        assert!(under("uid=a,OU=people,dc=x", "ou=people,dc=x"));
        assert!(!under("uid=a,ou=former,dc=x", "ou=people,dc=x"));
        assert!(!under("uid=a,ou=xpeople,dc=x", "ou=people,dc=x"));
    }

    #[test]
    fn ids_become_escaped_terms() {
        assert_eq!(id_term("entryUUID", "a*b").unwrap(), "(entryUUID=a\\2ab)");
        let guid = "33221100-5544-7766-8899-aabbccddeeff";
        assert_eq!(
            id_term("objectGUID", guid).unwrap(),
            "(objectGUID=\\00\\11\\22\\33\\44\\55\\66\\77\\88\\99\\aa\\bb\\cc\\dd\\ee\\ff)"
        );
        assert_eq!(id_term("objectGUID", "not-a-guid"), None);
    }
}
