//! Digests: `sourceDigest` fingerprints the desired state; `targetDigest` fingerprints the managed
//! fields of the watched target objects, so `apply --plan` can tell whether the target moved;
//! [`attr_hash`] fingerprints one person's attributes for the store's snapshots.

use super::op::{Plan, Watch};
use crate::model::{DesiredUser, Lifecycle, SourceIssue, TargetGroup, TargetUser};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

fn hex_digest(lines: &[String]) -> String {
    let mut hasher = Sha256::new();
    for line in lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

fn attrs_line(attrs: &crate::model::UserAttrs) -> String {
    // serde_json escapes separators inside values, so the line is unambiguous.
    let map: BTreeMap<&str, &str> = attrs.iter().map(|(a, v)| (a.path(), v.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_default()
}

/// The snapshot hash of one person's managed attributes: hex sha256 of `path=value` lines in
/// attribute order, joined by `\n`. Snapshots stored by earlier runs were hashed this way, so the
/// text form must not change (a changed hash would read as every person having drifted).
pub fn attr_hash(attrs: &crate::model::UserAttrs) -> String {
    let text: Vec<String> = attrs
        .iter()
        .map(|(attr, value)| format!("{}={value}", attr.path()))
        .collect();
    hex::encode(Sha256::digest(text.join("\n").as_bytes()))
}

/// sha256 of the desired people and the skipped source records.
pub fn source_digest(desired: &[DesiredUser], issues: &[SourceIssue]) -> String {
    let mut lines: Vec<String> = desired
        .iter()
        .map(|d| {
            let state = match d.lifecycle {
                Lifecycle::Active => "active",
                Lifecycle::Inactive => "inactive",
                Lifecycle::Pending => "pending",
            };
            format!("person {} {state} {}", d.key, attrs_line(&d.attrs))
        })
        .collect();
    lines.extend(
        issues
            .iter()
            .map(|i| format!("issue {} {} {}", i.source, i.location, i.message)),
    );
    lines.sort();
    hex_digest(&lines)
}

/// The ids holding each watched key, sorted, keyed by the watched key. Objects whose key nobody
/// watches are dropped as they stream past, so only watched names are held.
fn holders_by_key<'a>(
    watched: &[String],
    objects: impl Iterator<Item = (String, &'a str)>,
) -> HashMap<String, Vec<&'a str>> {
    let mut holders: HashMap<String, Vec<&'a str>> = HashMap::new();
    if watched.is_empty() {
        return holders;
    }
    let wanted: HashSet<&str> = watched.iter().map(String::as_str).collect();
    for (key, id) in objects {
        if wanted.contains(key.as_str()) {
            holders.entry(key).or_default().push(id);
        }
    }
    for ids in holders.values_mut() {
        ids.sort_unstable();
    }
    holders
}

/// sha256 of the watched target objects: managed fields, `active` and role of each watched id
/// (or `absent`), and who holds each watched userName. List order and `meta` never count.
pub fn target_digest(users: &[TargetUser], groups: &[TargetGroup], watch: &Watch) -> String {
    let by_id: BTreeMap<&str, &TargetUser> = users.iter().map(|u| (u.id.0.as_str(), u)).collect();
    let mut lines = Vec::new();
    for id in &watch.scim_ids {
        lines.push(match by_id.get(id.as_str()) {
            Some(u) => format!(
                "id {id} active={} role={} {}",
                u.active,
                u.role.as_deref().unwrap_or("-"),
                attrs_line(&u.attrs)
            ),
            None => format!("id {id} absent"),
        });
    }
    // One pass builds the holders of every watched name; scanning all users per watched name was
    // quadratic (1,000 hires on a 100k workspace doubled the plan's time).
    let name_holders = holders_by_key(
        &watch.user_names,
        users.iter().map(|u| (u.user_name().key(), u.id.0.as_str())),
    );
    for name in &watch.user_names {
        let holders = name_holders.get(name.as_str()).map(|ids| ids.join(","));
        lines.push(format!(
            "name {name} held-by {}",
            holders.unwrap_or_default()
        ));
    }
    let groups_by_id: BTreeMap<&str, &TargetGroup> =
        groups.iter().map(|g| (g.id.0.as_str(), g)).collect();
    for id in &watch.group_ids {
        lines.push(match groups_by_id.get(id.as_str()) {
            Some(g) => {
                let mut members: Vec<&str> = g.members.iter().map(|m| m.0.as_str()).collect();
                members.sort_unstable();
                format!(
                    "group {id} name={} members={}",
                    serde_json::to_string(&g.display_name).unwrap_or_default(),
                    members.join(",")
                )
            }
            None => format!("group {id} absent"),
        });
    }
    let group_holders = holders_by_key(
        &watch.group_names,
        groups
            .iter()
            .map(|g| (g.display_name.to_lowercase(), g.id.0.as_str())),
    );
    for name in &watch.group_names {
        let holders = group_holders.get(name.as_str()).map(|ids| ids.join(","));
        lines.push(format!(
            "group-name {name} held-by {}",
            holders.unwrap_or_default()
        ));
    }
    hex_digest(&lines)
}

/// Object keys sorted at every level, so the digest depends on the plan's content only, never on
/// how a file spelled it.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// `planDigest`: sha256 of the plan document in canonical JSON (keys sorted, no whitespace)
/// without the `planDigest` field itself.
pub fn plan_digest(plan: &Plan) -> String {
    let mut doc = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        map.remove("planDigest");
    }
    let text = serde_json::to_string(&canonical(doc)).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attr, ScimId, UserAttrs};

    #[test]
    fn attr_hash_keeps_the_stored_form() {
        let mut attrs = UserAttrs::new();
        // Inserted out of order: the hash follows attribute order, not insertion.
        attrs.insert(Attr::Department, "Eng".into());
        attrs.insert(Attr::GivenName, "Ada".into());
        attrs.insert(Attr::UserName, "ada@x.io".into());
        // sha256("userName=ada@x.io\nname.givenName=Ada\nurn:…:User:department=Eng"), the form
        // snapshots have been stored in since they were introduced.
        assert_eq!(
            attr_hash(&attrs),
            "96a3690eb046be4246497e6728ad079b9dd271fa6891e1eaaa627a990387611a"
        );
        let before = attr_hash(&attrs);
        attrs.insert(Attr::GivenName, "Ada ".into());
        assert_ne!(attr_hash(&attrs), before);
        assert_eq!(
            attr_hash(&UserAttrs::new()),
            hex::encode(Sha256::digest(b""))
        );
    }

    /// `target_digest` as it was before the name index: every watched name scans every object and
    /// lowercases per comparison. Kept here as the reference the indexed version must match.
    fn target_digest_by_scan(
        users: &[TargetUser],
        groups: &[TargetGroup],
        watch: &Watch,
    ) -> String {
        let by_id: BTreeMap<&str, &TargetUser> =
            users.iter().map(|u| (u.id.0.as_str(), u)).collect();
        let mut lines = Vec::new();
        for id in &watch.scim_ids {
            lines.push(match by_id.get(id.as_str()) {
                Some(u) => format!(
                    "id {id} active={} role={} {}",
                    u.active,
                    u.role.as_deref().unwrap_or("-"),
                    attrs_line(&u.attrs)
                ),
                None => format!("id {id} absent"),
            });
        }
        for name in &watch.user_names {
            let mut holders: Vec<&str> = users
                .iter()
                .filter(|u| u.user_name().key() == *name)
                .map(|u| u.id.0.as_str())
                .collect();
            holders.sort_unstable();
            lines.push(format!("name {name} held-by {}", holders.join(",")));
        }
        let groups_by_id: BTreeMap<&str, &TargetGroup> =
            groups.iter().map(|g| (g.id.0.as_str(), g)).collect();
        for id in &watch.group_ids {
            lines.push(match groups_by_id.get(id.as_str()) {
                Some(g) => {
                    let mut members: Vec<&str> = g.members.iter().map(|m| m.0.as_str()).collect();
                    members.sort_unstable();
                    format!(
                        "group {id} name={} members={}",
                        serde_json::to_string(&g.display_name).unwrap_or_default(),
                        members.join(",")
                    )
                }
                None => format!("group {id} absent"),
            });
        }
        for name in &watch.group_names {
            let mut holders: Vec<&str> = groups
                .iter()
                .filter(|g| g.display_name.to_lowercase() == *name)
                .map(|g| g.id.0.as_str())
                .collect();
            holders.sort_unstable();
            lines.push(format!("group-name {name} held-by {}", holders.join(",")));
        }
        hex_digest(&lines)
    }

    /// A workspace where names collide in case, several users hold one name, ids are listed out
    /// of order, and the watch list names holders, non-holders and one name twice.
    fn tricky_workspace() -> (Vec<TargetUser>, Vec<TargetGroup>, Watch) {
        let spellings = [
            "ada@x.io",
            "ADA@x.io",
            "bob@x.io",
            "Ünal@x.io",
            "ünal@X.IO",
            "",
        ];
        let users: Vec<TargetUser> = (0..60)
            .rev()
            .map(|i| {
                let mut attrs = UserAttrs::new();
                attrs.insert(Attr::UserName, spellings[i % spellings.len()].into());
                attrs.insert(Attr::GivenName, format!("P{i}"));
                TargetUser {
                    id: ScimId(format!("u{:02}", (i * 37) % 61)),
                    attrs,
                    active: i % 3 != 0,
                    role: (i % 4 == 0).then(|| "member".to_owned()),
                }
            })
            .collect();
        let names = ["Eng", "ENG", "Sales", "Straße", "STRASSE"];
        let groups: Vec<TargetGroup> = (0..20)
            .map(|i| TargetGroup {
                id: ScimId(format!("g{:02}", (i * 7) % 23)),
                display_name: names[i % names.len()].into(),
                members: vec![
                    ScimId(format!("u{:02}", i)),
                    ScimId(format!("u{:02}", 60 - i)),
                ],
            })
            .collect();
        let watch = Watch {
            scim_ids: vec!["u05".into(), "u99".into(), "u00".into()],
            user_names: [
                "ada@x.io",
                "ünal@x.io",
                "nobody@x.io",
                "",
                "ada@x.io",
                "bob@x.io",
            ]
            .map(String::from)
            .to_vec(),
            group_ids: vec!["g07".into(), "g99".into()],
            group_names: ["eng", "straße", "strasse", "none", "eng"]
                .map(String::from)
                .to_vec(),
        };
        (users, groups, watch)
    }

    #[test]
    fn target_digest_matches_the_scan_it_replaced_byte_for_byte() {
        let (users, groups, watch) = tricky_workspace();
        let indexed = target_digest(&users, &groups, &watch);
        assert_eq!(indexed, target_digest_by_scan(&users, &groups, &watch));
        // The same value pinned, so a change to the text form is seen even if both move together.
        assert_eq!(indexed, PINNED_TRICKY_DIGEST);
        // List order never counts.
        let (mut users2, mut groups2) = (users.clone(), groups.clone());
        users2.reverse();
        groups2.rotate_left(7);
        assert_eq!(target_digest(&users2, &groups2, &watch), indexed);
        // A new holder of a watched name changes the digest; one of an unwatched name does not.
        let mut taker = users[0].clone();
        taker.id = ScimId("u77".into());
        taker.attrs.insert(Attr::UserName, "BOB@x.io".into());
        users2.push(taker.clone());
        let moved = target_digest(&users2, &groups, &watch);
        assert_ne!(moved, indexed);
        assert_eq!(moved, target_digest_by_scan(&users2, &groups, &watch));
        users2.pop();
        taker.attrs.insert(Attr::UserName, "zed@x.io".into());
        users2.push(taker);
        assert_eq!(target_digest(&users2, &groups, &watch), indexed);
    }

    #[test]
    fn target_digest_with_nothing_watched_matches_the_scan() {
        let (users, groups, _) = tricky_workspace();
        let watch = Watch {
            scim_ids: vec![],
            user_names: vec![],
            group_ids: vec![],
            group_names: vec![],
        };
        assert_eq!(
            target_digest(&users, &groups, &watch),
            target_digest_by_scan(&users, &groups, &watch)
        );
    }

    const PINNED_TRICKY_DIGEST: &str =
        "ffcb62a80d85c160ed6e1720e459309b66d6275399ddd9b8a13c23758f56a768";
}
