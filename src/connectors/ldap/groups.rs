//! Group membership resolution: member DNs and `memberUid` logins to people of the source, nested
//! groups flattened with cycle detection. Pure: the connector hands in what it read.

use super::dn;
use crate::config::NestedGroups;
use crate::model::{FindingCode, SourceGroup, SourceIssue, SourceKey, SourceRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The people of the source, indexed the ways groups and managers refer to them: by position
/// in the read's records, so the index holds no copy of anyone's key (at 100,000 people, two
/// maps of key copies were a fifth of the read's memory).
#[derive(Debug, Default)]
pub struct People {
    /// Normalised DN → its number: the DNs of people and the DNs their `manager` names, each
    /// once.
    dns: HashMap<String, u32>,
    /// DN number → the position of the person at that DN.
    at_dn: Vec<Option<u32>>,
    /// Lowercased login (`uid`) → position, for `posixGroup`'s `memberUid`.
    by_login: HashMap<String, u32>,
    /// Normalised DNs of user entries that were reported as invalid: already reported, so a
    /// group naming them is not reported again.
    pub skipped: HashSet<String>,
}

impl People {
    /// The number of normalised DN `norm`, given a new one the first time.
    pub fn dn_number(&mut self, norm: String) -> u32 {
        let next = u32::try_from(self.at_dn.len()).unwrap_or(u32::MAX);
        let n = *self.dns.entry(norm).or_insert(next);
        if n == next {
            self.at_dn.push(None);
        }
        n
    }

    /// The person at position `person` has DN number `dn`.
    pub fn person_at(&mut self, dn: u32, person: u32) {
        if let Some(slot) = self.at_dn.get_mut(dn as usize) {
            *slot = Some(person);
        }
    }

    /// The person at position `person` logs in as `login` (lowercased).
    pub fn add_login(&mut self, login: String, person: u32) {
        self.by_login.insert(login, person);
    }

    /// The position of the person at DN number `dn`.
    pub fn at(&self, dn: u32) -> Option<usize> {
        self.at_dn
            .get(dn as usize)
            .copied()
            .flatten()
            .map(|p| p as usize)
    }

    fn by_dn(&self, norm: &str) -> Option<usize> {
        self.dns.get(norm).and_then(|&n| self.at(n))
    }

    fn by_login(&self, login: &str) -> Option<usize> {
        self.by_login.get(login).map(|&p| p as usize)
    }
}

/// [`People`] with the records their positions point into: what groups resolve members in.
#[derive(Clone, Copy)]
pub struct Members<'a> {
    /// The index.
    pub people: &'a People,
    /// The read's records, in the order they were taken in.
    pub records: &'a [SourceRecord],
}

impl<'a> Members<'a> {
    fn key(&self, position: Option<usize>) -> Option<&'a SourceKey> {
        Some(&self.records.get(position?)?.key)
    }

    fn by_dn(&self, norm: &str) -> Option<&'a SourceKey> {
        self.key(self.people.by_dn(norm))
    }

    fn by_login(&self, login: &str) -> Option<&'a SourceKey> {
        self.key(self.people.by_login(login))
    }
}

/// One group entry as read.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    /// Stable key.
    pub key: SourceKey,
    /// DN as the server wrote it.
    pub dn: String,
    /// `cn`, `description`, `dn`, `name`.
    pub attrs: BTreeMap<String, String>,
    /// `member` / `uniqueMember` values (DNs, bit-string suffix removed).
    pub member_dns: Vec<String>,
    /// `memberUid` values (logins).
    pub member_uids: Vec<String>,
    /// With the in-chain rule: the DNs of the users the server says are transitive members.
    pub chain_members: Option<Vec<String>>,
}

/// Resolve every group's members to people of the source. Returns the groups (in input order)
/// and the notices: members outside the scope (one per group and member) and cycles (one per
/// strongly connected set of groups).
pub fn resolve(
    source: &str,
    entries: Vec<GroupEntry>,
    people: Members<'_>,
    nested: NestedGroups,
) -> (Vec<SourceGroup>, Vec<SourceIssue>) {
    let mut issues = Vec::new();
    let index: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, g)| (dn::normalize(&g.dn), i))
        .collect();
    let mut direct: Vec<BTreeSet<SourceKey>> = Vec::with_capacity(entries.len());
    let mut children: Vec<Vec<usize>> = Vec::with_capacity(entries.len());
    for g in &entries {
        let (users, kids) = direct_members(source, g, &index, people, &mut issues);
        direct.push(users);
        children.push(kids);
    }
    if nested == NestedGroups::Resolve {
        for cycle in cycles(&children) {
            issues.push(cycle_issue(source, &entries, &cycle));
        }
    }
    let graph = Graph { direct, children };
    let groups = entries
        .iter()
        .enumerate()
        .map(|(i, g)| SourceGroup {
            key: g.key.clone(),
            location: g.dn.clone(),
            attrs: g.attrs.clone(),
            members: graph.members(i, g, people, nested).into_iter().collect(),
        })
        .collect();
    (groups, issues)
}

/// A group's direct members: the people it names and the groups it contains (indexes into the
/// entries, by normalised DN in `index`). A member that is neither is reported once per group.
fn direct_members(
    source: &str,
    g: &GroupEntry,
    index: &HashMap<String, usize>,
    people: Members<'_>,
    issues: &mut Vec<SourceIssue>,
) -> (BTreeSet<SourceKey>, Vec<usize>) {
    let mut users = BTreeSet::new();
    let mut kids = Vec::new();
    let mut reported = HashSet::new();
    for member in &g.member_dns {
        let norm = dn::normalize(member);
        if let Some(key) = people.by_dn(&norm) {
            users.insert(key.clone());
        } else if let Some(&child) = index.get(&norm) {
            kids.push(child);
        } else if !people.people.skipped.contains(&norm) && reported.insert(norm) {
            issues.push(outside(source, g, &format!("member `{member}`")));
        }
    }
    for uid in &g.member_uids {
        match people.by_login(&uid.trim().to_lowercase()) {
            Some(key) => {
                users.insert(key.clone());
            }
            None => {
                if reported.insert(format!("uid:{uid}")) {
                    issues.push(outside(source, g, &format!("memberUid `{uid}`")));
                }
            }
        }
    }
    kids.sort_unstable();
    kids.dedup();
    (users, kids)
}

fn cycle_issue(source: &str, entries: &[GroupEntry], cycle: &[usize]) -> SourceIssue {
    let mut dns: Vec<&str> = cycle.iter().map(|&i| entries[i].dn.as_str()).collect();
    dns.sort_unstable();
    let list = dns
        .iter()
        .map(|d| format!("`{d}`"))
        .collect::<Vec<_>>()
        .join(", ");
    SourceIssue {
        source: source.to_owned(),
        location: dns.first().map(|d| (*d).to_owned()).unwrap_or_default(),
        code: FindingCode::GroupCycle,
        message: format!(
            "groups {list} contain each other in a cycle; each is given the members of all of them. Remove one of the nested-group memberships in the directory to break the cycle."
        ),
        skipped_person: false,
        hints: Vec::new(),
    }
}

/// The groups' direct members and contained groups, by entry index.
struct Graph {
    direct: Vec<BTreeSet<SourceKey>>,
    children: Vec<Vec<usize>>,
}

impl Graph {
    /// Group `i`'s (entry `g`'s) members as `nested` says to count them.
    fn members(
        &self,
        i: usize,
        g: &GroupEntry,
        people: Members<'_>,
        nested: NestedGroups,
    ) -> BTreeSet<SourceKey> {
        let mut members = self.direct[i].clone();
        match nested {
            NestedGroups::Off => {}
            NestedGroups::Resolve => {
                // Breadth-first over nested groups; `seen` stops cycles.
                let mut seen: HashSet<usize> = HashSet::from([i]);
                let mut queue: Vec<usize> = self.children[i].clone();
                while let Some(next) = queue.pop() {
                    if !seen.insert(next) {
                        continue;
                    }
                    members.extend(self.direct[next].iter().cloned());
                    queue.extend(
                        self.children[next]
                            .iter()
                            .copied()
                            .filter(|c| !seen.contains(c)),
                    );
                }
            }
            NestedGroups::InChain => {
                for member in g.chain_members.iter().flatten() {
                    if let Some(key) = people.by_dn(&dn::normalize(member)) {
                        members.insert(key.clone());
                    }
                }
            }
        }
        members
    }
}

fn outside(source: &str, g: &GroupEntry, what: &str) -> SourceIssue {
    SourceIssue {
        source: source.to_owned(),
        location: g.dn.clone(),
        code: FindingCode::MemberOutsideScope,
        message: format!(
            "group `{}` lists {what}, which is not a person read from this source (outside the user base or filter, or no such entry); it is left out of the group. Widen `users` or remove the member if it should not be there.",
            g.dn
        ),
        skipped_person: false,
        hints: Vec::new(),
    }
}

/// Strongly connected sets of groups that form cycles (Tarjan's algorithm, iterative so a deep
/// nesting cannot overflow the stack). A group that contains itself is a cycle of one.
fn cycles(children: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = children.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut counter = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, next_child)) = work.last() {
            if let Some(&w) = children[v].get(next_child) {
                if let Some(top) = work.last_mut() {
                    top.1 += 1;
                }
                if index[w] == UNSEEN {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 || children[v].contains(&v) {
                    out.push(component);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SourceKey {
        SourceKey::new("corp", id)
    }

    fn group(dn: &str, members: &[&str]) -> GroupEntry {
        GroupEntry {
            key: key(dn),
            dn: dn.to_owned(),
            attrs: BTreeMap::new(),
            member_dns: members.iter().map(|m| (*m).to_owned()).collect(),
            member_uids: Vec::new(),
            chain_members: None,
        }
    }

    /// People `a`, `b` and `c` at `uid=…,ou=p`, and their records.
    fn people() -> (People, Vec<SourceRecord>) {
        let mut p = People::default();
        let mut records = Vec::new();
        for (i, u) in (0u32..).zip(["a", "b", "c"]) {
            let dn = p.dn_number(dn::normalize(&format!("uid={u},ou=p")));
            p.person_at(dn, i);
            p.add_login(u.to_owned(), i);
            records.push(SourceRecord {
                key: key(u),
                location: format!("uid={u},ou=p"),
                attrs: crate::model::Attrs::new(),
                employment: None,
            });
        }
        (p, records)
    }

    fn members((people, records): &(People, Vec<SourceRecord>)) -> Members<'_> {
        Members { people, records }
    }

    #[test]
    fn nested_cycle_is_flattened_and_reported_once() {
        let entries = vec![
            group("cn=g1,ou=g", &["uid=a,ou=p", "cn=g2,ou=g"]),
            group("cn=g2,ou=g", &["UID=B, OU=P", "cn=g3,ou=g"]),
            group(
                "cn=g3,ou=g",
                &["uid=c,ou=p", "cn=G1,ou=g", "uid=zed,ou=elsewhere"],
            ),
            group("cn=solo,ou=g", &["cn=solo,ou=g", "uid=a,ou=p"]),
        ];
        let (groups, issues) = resolve("corp", entries, members(&people()), NestedGroups::Resolve);
        for g in &groups[..3] {
            assert_eq!(
                g.members,
                vec![key("a"), key("b"), key("c")],
                "{}",
                g.location
            );
        }
        assert_eq!(groups[3].members, vec![key("a")]);
        let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes.iter().filter(|c| **c == "group-cycle").count(), 2);
        assert_eq!(
            codes
                .iter()
                .filter(|c| **c == "member-outside-scope")
                .count(),
            1
        );
    }

    #[test]
    fn off_keeps_direct_members_only() {
        let entries = vec![
            group("cn=g1,ou=g", &["uid=a,ou=p", "cn=g2,ou=g"]),
            group("cn=g2,ou=g", &["uid=b,ou=p"]),
        ];
        let (groups, issues) = resolve("corp", entries, members(&people()), NestedGroups::Off);
        assert_eq!(groups[0].members, vec![key("a")]);
        assert!(issues.is_empty());
    }

    #[test]
    fn member_uid_resolves_by_login() {
        let mut g = group("cn=posix,ou=g", &[]);
        g.member_uids = vec!["A".into(), "nobody".into()];
        let (groups, issues) = resolve("corp", vec![g], members(&people()), NestedGroups::Resolve);
        assert_eq!(groups[0].members, vec![key("a")]);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("nobody"));
    }

    #[test]
    fn deep_chain_does_not_overflow() {
        let n = 20_000;
        let entries: Vec<GroupEntry> = (0..n)
            .map(|i| {
                let next = format!("cn=g{},ou=g", (i + 1) % n);
                group(&format!("cn=g{i},ou=g"), &[next.as_str()])
            })
            .collect();
        let children: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        assert_eq!(cycles(&children).len(), 1);
        drop(entries);
    }
}
