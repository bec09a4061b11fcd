//! Digests: `sourceDigest` fingerprints the desired state; `targetDigest` fingerprints the managed
//! fields of the watched target objects, so `apply --plan` can tell whether the target moved;
//! [`attr_hash`] fingerprints one person's attributes for the store's snapshots.

use super::index::users_by_id;
use super::op::{Plan, Watch};
use crate::model::{DesiredUser, Lifecycle, SourceIssue, TargetGroup, TargetUser};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

#[cfg(test)]
fn hex_digest(lines: &[String]) -> String {
    let mut hasher = Sha256::new();
    for line in lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Every attribute, in the order of its path: the order a JSON object with sorted keys lists
/// them in.
fn attrs_by_path() -> &'static [crate::model::Attr] {
    static ORDER: std::sync::OnceLock<Vec<crate::model::Attr>> = std::sync::OnceLock::new();
    ORDER.get_or_init(|| {
        use strum::IntoEnumIterator;
        let mut all: Vec<_> = crate::model::Attr::iter().collect();
        all.sort_by_key(|a| a.path());
        all
    })
}

/// The attributes as a JSON object keyed by path, keys sorted, appended to `out`. serde_json
/// escapes separators inside values, so the line is unambiguous. Written straight into the line
/// (no map, no string per value): both digests write one for every person.
fn write_attrs_line(out: &mut Vec<u8>, attrs: &crate::model::UserAttrs) {
    out.push(b'{');
    let mut first = true;
    for attr in attrs_by_path() {
        let Some(value) = attrs.get(attr) else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, attr.path());
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.push(b'}');
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

/// sha256 of the desired people and the skipped source records: of their lines, sorted as
/// text, each ended by `\n`.
///
/// A person's line is written only to be hashed, one at a time into one buffer: the people are
/// sorted by their lines' beginnings (`person <key> <state> `), read in place, and only people
/// whose beginnings tie or run into each other have their whole lines written to compare.
/// Holding every line held 25 MB of a 100,000-person plan, its peak (docs/performance.md,
/// "Scale").
pub fn source_digest(desired: &[DesiredUser], issues: &[SourceIssue]) -> String {
    // Every issue line (`issue …`) sorts before every person line (`person …`).
    let mut issue_lines: Vec<String> = issues
        .iter()
        .map(|i| format!("issue {} {} {}", i.source, i.location, i.message))
        .collect();
    issue_lines.sort_unstable();
    let mut people: Vec<&DesiredUser> = desired.iter().collect();
    people.sort_unstable_by(|a, b| {
        cmp_heads(a, b).unwrap_or_else(|| {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            write_person_line(&mut x, a);
            write_person_line(&mut y, b);
            x.cmp(&y)
        })
    });
    let mut hasher = Sha256::new();
    for line in &issue_lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let mut line: Vec<u8> = Vec::with_capacity(512);
    for d in people {
        line.clear();
        write_person_line(&mut line, d);
        line.push(b'\n');
        hasher.update(&line);
    }
    hex::encode(hasher.finalize())
}

fn state_word(lifecycle: &Lifecycle) -> &'static str {
    match lifecycle {
        Lifecycle::Active => "active",
        Lifecycle::Inactive => "inactive",
        Lifecycle::Pending => "pending",
    }
}

/// The bytes a person's line begins with: `person <source>:<id> <state> `.
fn line_head(d: &DesiredUser) -> impl Iterator<Item = u8> + '_ {
    let colon = std::iter::once(b':');
    let space = std::iter::once(b' ');
    b"person "
        .iter()
        .copied()
        .chain(d.key.source.bytes())
        .chain(colon)
        .chain(d.key.id.bytes())
        .chain(space.clone())
        .chain(state_word(&d.lifecycle).bytes())
        .chain(space)
}

/// How two people's lines compare, read from their beginnings alone; `None` when one beginning
/// is the other's or starts it (the rest of the lines decides).
fn cmp_heads(a: &DesiredUser, b: &DesiredUser) -> Option<std::cmp::Ordering> {
    let (mut a, mut b) = (line_head(a), line_head(b));
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => return Some(x.cmp(&y)),
            _ => return None,
        }
    }
}

/// A person's whole line (without its `\n`), appended to `out`: [`line_head`] then the
/// attributes.
fn write_person_line(out: &mut Vec<u8>, d: &DesiredUser) {
    // The beginning the sort compares is the one written: one definition of it.
    out.extend(line_head(d));
    write_attrs_line(out, &d.attrs);
}

/// The ids holding each watched key, sorted, keyed by the watched key. Objects whose key nobody
/// watches are dropped as they stream past, so only watched names are held.
fn holders_by_key<'a>(
    watched: &[String],
    objects: impl Iterator<Item = (Cow<'a, str>, &'a str)>,
) -> HashMap<String, Vec<&'a str>> {
    let mut holders: HashMap<String, Vec<&'a str>> = HashMap::new();
    if watched.is_empty() {
        return holders;
    }
    let wanted: HashSet<&str> = watched.iter().map(String::as_str).collect();
    // Keys are borrowed where they are already lowercase and copied only when watched: a plan
    // that creates anyone streams every target user past here.
    for (key, id) in objects {
        if wanted.contains(key.as_ref()) {
            holders.entry(key.into_owned()).or_default().push(id);
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
    target_digest_by(users, &users_by_id(users), None, groups, watch)
}

/// [`target_digest`] with the users already indexed by id (the planner's index: a million users
/// were indexed twice).
/// `ahead`: id lines made before the watch was known ([`id_lines`]), used when their ids are
/// exactly the watched ones.
pub(super) fn target_digest_by(
    users: &[TargetUser],
    by_id: &foldhash::HashMap<&str, &TargetUser>,
    ahead: Option<IdLines<'_>>,
    groups: &[TargetGroup],
    watch: &Watch,
) -> String {
    let watched = || watch.scim_ids.iter().map(String::as_str);
    let mut lines = match ahead {
        Some(made) if made.ids.iter().copied().eq(watched()) => Lines {
            hasher: made.hasher,
            line: Vec::with_capacity(256),
        },
        _ => {
            let mut lines = Lines::default();
            write_id_lines(&mut lines, watched(), by_id);
            lines
        }
    };
    name_lines(&mut lines, users, watch);
    group_lines(&mut lines, groups, watch);
    hex::encode(lines.hasher.finalize())
}

/// The target digest's first lines, one per watched id, hashed for a list of ids given before
/// the plan knows what it watches: the planner makes them for its links' ids beside the diff
/// (`diff::plan`), and they stand when the watched ids turn out to be those.
pub(crate) struct IdLines<'t> {
    /// The ids, sorted and without duplicates, as a plan's watch holds them.
    ids: Vec<&'t str>,
    /// The hash after their lines.
    hasher: Sha256,
}

/// [`IdLines`] of `ids` (any order, repeats allowed).
pub(super) fn id_lines<'t>(
    mut ids: Vec<&'t str>,
    by_id: &foldhash::HashMap<&str, &TargetUser>,
) -> IdLines<'t> {
    ids.sort_unstable();
    ids.dedup();
    let mut lines = Lines::default();
    write_id_lines(&mut lines, ids.iter().copied(), by_id);
    IdLines {
        ids,
        hasher: lines.hasher,
    }
}

/// Lines hashed as they are made (one buffer for all), as `hex_digest` would hash them.
#[derive(Default)]
struct Lines {
    hasher: Sha256,
    line: Vec<u8>,
}

impl Lines {
    /// End the line being written and hash it.
    fn emit(&mut self) {
        self.line.push(b'\n');
        self.hasher.update(&self.line[..]);
        self.line.clear();
    }
}

/// The watched users' lines.
fn write_id_lines<'i>(
    lines: &mut Lines,
    ids: impl Iterator<Item = &'i str>,
    by_id: &foldhash::HashMap<&str, &TargetUser>,
) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    for id in ids {
        let line = &mut lines.line;
        match by_id.get(id) {
            Some(u) => {
                let _ = write!(
                    line,
                    "id {id} active={} role={} ",
                    u.active,
                    u.role.as_deref().unwrap_or("-"),
                );
                write_attrs_line(line, &u.attrs);
            }
            None => {
                let _ = write!(line, "id {id} absent");
            }
        }
        lines.emit();
    }
}

/// The watched userNames' lines: who holds each.
fn name_lines(lines: &mut Lines, users: &[TargetUser], watch: &Watch) {
    use std::io::Write as _;
    // One pass builds the holders of every watched name; scanning all users per watched name was
    // quadratic (1,000 hires on a 100k workspace doubled the plan's time).
    let name_holders = holders_by_key(
        &watch.user_names,
        users.iter().map(|u| (u.user_name_key(), u.id.0.as_str())),
    );
    for name in &watch.user_names {
        let holders = name_holders.get(name.as_str()).map(|ids| ids.join(","));
        let _ = write!(
            lines.line,
            "name {name} held-by {}",
            holders.unwrap_or_default()
        );
        lines.emit();
    }
}

/// The watched groups' lines, then the watched group names'.
fn group_lines(lines: &mut Lines, groups: &[TargetGroup], watch: &Watch) {
    use std::io::Write as _;
    let groups_by_id: BTreeMap<&str, &TargetGroup> =
        groups.iter().map(|g| (g.id.0.as_str(), g)).collect();
    for id in &watch.group_ids {
        match groups_by_id.get(id.as_str()) {
            Some(g) => {
                let mut members: Vec<&str> = g.members.iter().map(|m| m.0.as_str()).collect();
                members.sort_unstable();
                let _ = write!(
                    lines.line,
                    "group {id} name={} members={}",
                    serde_json::to_string(&g.display_name).unwrap_or_default(),
                    members.join(",")
                );
            }
            None => {
                let _ = write!(lines.line, "group {id} absent");
            }
        }
        lines.emit();
    }
    let group_holders = holders_by_key(
        &watch.group_names,
        groups
            .iter()
            .map(|g| (Cow::Owned(g.display_name.to_lowercase()), g.id.0.as_str())),
    );
    for name in &watch.group_names {
        let holders = group_holders.get(name.as_str()).map(|ids| ids.join(","));
        let _ = write!(
            lines.line,
            "group-name {name} held-by {}",
            holders.unwrap_or_default()
        );
        lines.emit();
    }
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

/// The plan's fields but its operations and its own digest, as the plan document spells them.
/// Built by destructuring the whole plan, so a field added to [`Plan`] does not compile until it
/// is placed here (or named as left out).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'p> {
    version: u32,
    generated_at: &'p str,
    target: &'p super::op::TargetRef,
    source_digest: &'p str,
    target_digest: &'p str,
    watch: &'p Watch,
    blocked: bool,
    summary: &'p BTreeMap<String, usize>,
    findings: &'p [super::op::Finding],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    gates: &'p [super::gates::GateHit],
    #[serde(skip_serializing_if = "absence_is_default")]
    absence: &'p super::absence::AbsenceSection,
}

fn absence_is_default(section: &&super::absence::AbsenceSection) -> bool {
    section.is_default()
}

impl<'p> Head<'p> {
    fn of(plan: &'p Plan) -> Self {
        let Plan {
            version,
            generated_at,
            target,
            source_digest,
            target_digest,
            plan_digest: _,
            watch,
            blocked,
            summary,
            operations: _,
            findings,
            gates,
            absence,
        } = plan;
        Head {
            version: *version,
            generated_at,
            target,
            source_digest,
            target_digest,
            watch,
            blocked: *blocked,
            summary,
            findings,
            gates,
            absence,
        }
    }
}

/// `planDigest`: sha256 of the plan document in canonical JSON (keys sorted, no whitespace)
/// without the `planDigest` field itself.
///
/// The document is hashed as it is written, one operation at a time: a plan of 100,000 creates
/// made as one JSON tree, then sorted, then as text, held all three at once.
pub fn plan_digest(plan: &Plan) -> String {
    // Sha256 is an `io::Write` that hashes what is written into it. Writing into a hash cannot
    // fail, nor can serialising these types (string keys only).
    let mut out = Sha256::new();
    let _ = write_canonical_plan(plan, &mut out);
    hex::encode(out.finalize())
}

fn write_canonical_plan(plan: &Plan, out: &mut Sha256) -> std::io::Result<()> {
    use std::io::Write as _;
    let Value::Object(head) = serde_json::to_value(Head::of(plan))? else {
        return Ok(());
    };
    let mut fields: Vec<(String, Option<Value>)> =
        head.into_iter().map(|(k, v)| (k, Some(v))).collect();
    fields.push(("operations".to_owned(), None));
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    out.write_all(b"{")?;
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &key)?;
        out.write_all(b":")?;
        match value {
            Some(value) => serde_json::to_writer(&mut *out, &canonical(value))?,
            None => {
                out.write_all(b"[")?;
                for (n, op) in plan.operations.iter().enumerate() {
                    if n > 0 {
                        out.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *out, &canonical(serde_json::to_value(op)?))?;
                }
                out.write_all(b"]")?;
            }
        }
    }
    out.write_all(b"}")
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

    /// The attributes line as it was made before it was written in place: a map sorted by path,
    /// serialised by serde_json. The reference `write_attrs_line` must match byte for byte.
    fn attrs_line_by_map(attrs: &UserAttrs) -> String {
        let map: BTreeMap<&str, &str> = attrs.iter().map(|(a, v)| (a.path(), v)).collect();
        serde_json::to_string(&map).unwrap()
    }

    /// `source_digest` as it was before: a line per person made by `format!`, sorted as text.
    fn source_digest_by_lines(desired: &[DesiredUser], issues: &[SourceIssue]) -> String {
        let mut lines: Vec<String> = desired
            .iter()
            .map(|d| {
                let state = match d.lifecycle {
                    Lifecycle::Active => "active",
                    Lifecycle::Inactive => "inactive",
                    Lifecycle::Pending => "pending",
                };
                format!("person {} {state} {}", d.key, attrs_line_by_map(&d.attrs))
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

    /// Values with quotes, backslashes, control characters, separators and non-ASCII text, every
    /// attribute set or some missing, keys that sort differently as text than as tuples
    /// (`hr:E1` before `hr:E1x`, `hr:E1 `-prefixed lines), and issues: the written lines hash
    /// as the formatted ones did.
    #[test]
    fn written_lines_hash_as_the_formatted_ones_did() {
        use strum::IntoEnumIterator;
        let values = [
            "plain",
            "a \"quote\"",
            "back\\slash",
            "tab\tnl\n",
            "Zoë ΟΔΟΣ 東京",
            ",:{}",
            "",
        ];
        let mut people = Vec::new();
        for (n, id) in ["E1", "E1x", "E1 x", "E10", "e1", "É1"].iter().enumerate() {
            let mut attrs = UserAttrs::new();
            for (i, attr) in Attr::iter().enumerate() {
                if (i + n) % 3 != 0 {
                    attrs.insert(attr, values[(i * 7 + n) % values.len()].to_owned());
                }
            }
            assert_eq!(
                {
                    let mut out = Vec::new();
                    write_attrs_line(&mut out, &attrs);
                    String::from_utf8(out).unwrap()
                },
                attrs_line_by_map(&attrs)
            );
            let mut person = crate::plan::tests::person(id, "a@x.io", None, Lifecycle::Active);
            person.attrs = attrs;
            person.lifecycle = match n % 3 {
                0 => Lifecycle::Active,
                1 => Lifecycle::Inactive,
                _ => Lifecycle::Pending,
            };
            people.push(person);
        }
        // Two lines of one key: their order is the rest of the line's.
        let mut twin = people[0].clone();
        twin.lifecycle = Lifecycle::Pending;
        people.insert(0, twin);
        // One key and state, other values: only the whole lines tell them apart.
        let mut same_head = people[1].clone();
        same_head.attrs.insert(Attr::Title, "Zz".to_owned());
        people.push(same_head);
        // A line's beginning that starts another's (`person hr:E1 active ` and
        // `person hr:E1 active x pending `).
        let mut longer =
            crate::plan::tests::person("E1 active x", "b@x.io", None, Lifecycle::Pending);
        longer.attrs = people[1].attrs.clone();
        people.push(longer);
        let issues = vec![SourceIssue {
            source: "hr".to_owned(),
            location: "hr.csv line 7".to_owned(),
            code: crate::model::FindingCode::SourceRowInvalid,
            message: "bad \"row\"".to_owned(),
            skipped_person: true,
            hints: Vec::new(),
        }];
        assert_eq!(
            source_digest(&people, &issues),
            source_digest_by_lines(&people, &issues)
        );
        people.reverse();
        assert_eq!(
            source_digest(&people, &[]),
            source_digest_by_lines(&people, &[])
        );
        assert_eq!(source_digest(&[], &[]), source_digest_by_lines(&[], &[]));
    }

    /// `plan_digest` as it was before it streamed: the whole document as one JSON tree, sorted,
    /// then hashed. Kept as the reference the streamed digest must match byte for byte.
    fn plan_digest_whole(plan: &Plan) -> String {
        let mut doc = serde_json::to_value(plan).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut doc {
            map.remove("planDigest");
        }
        let text = serde_json::to_string(&canonical(doc)).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// Every kind of plan the planner's own tests make, with and without operations, gates,
    /// findings and an absence section: the streamed digest is the whole-document one.
    #[test]
    fn the_streamed_plan_digest_is_the_whole_documents() {
        let plans = crate::plan::tests::sample_plans();
        assert!(plans.len() >= 3);
        assert!(plans.iter().any(|p| p.operations.len() > 1));
        assert!(plans.iter().any(|p| p.operations.is_empty()));
        for plan in &plans {
            assert_eq!(plan_digest(plan), plan_digest_whole(plan));
            let mut digested = plan.clone();
            digested.plan_digest = Some("ignored".to_owned());
            assert_eq!(plan_digest(&digested), plan_digest_whole(plan));
        }
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
                    attrs_line_by_map(&u.attrs)
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

    /// Id lines made ahead (beside the diff) give the digest only when their ids are exactly the
    /// watched ones; made for other ids, they are not used.
    #[test]
    fn id_lines_made_ahead_stand_only_for_the_ids_they_were_made_for() {
        let (users, groups, watch) = tricky_workspace();
        let plain = target_digest(&users, &groups, &watch);
        let by_id = users_by_id(&users);
        // Given in any order and with repeats, as links may be.
        let mut given: Vec<&str> = watch.scim_ids.iter().rev().map(String::as_str).collect();
        given.extend(watch.scim_ids.first().map(String::as_str));
        let ahead = id_lines(given, &by_id);
        assert_eq!(
            target_digest_by(&users, &by_id, Some(ahead), &groups, &watch),
            plain
        );
        // One id fewer, or one more: the watched ids' own lines are written.
        let fewer = id_lines(
            watch.scim_ids.iter().skip(1).map(String::as_str).collect(),
            &by_id,
        );
        assert_eq!(
            target_digest_by(&users, &by_id, Some(fewer), &groups, &watch),
            plain
        );
        let mut more: Vec<&str> = watch.scim_ids.iter().map(String::as_str).collect();
        more.push("u-not-watched");
        let more = id_lines(more, &by_id);
        assert_eq!(
            target_digest_by(&users, &by_id, Some(more), &groups, &watch),
            plain
        );
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
