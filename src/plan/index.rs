//! A lookup from a text key (a userName's comparison key, an externalId) to the values that have
//! it, for the planner's indexes of every target user and link. Held as one sorted list of
//! (key, value) pairs, the key borrowed when the value already holds it, where a map with a list
//! per key cost a tree node share, a key copy and a list allocation per user: about 100 bytes a
//! user, three times over, in a 100,000-person plan (docs/performance.md, "Scale").
//! Exact lookups (by id, by source key) are seeded hash maps sized before they are filled.

use crate::model::TargetUser;
use std::borrow::Cow;
use std::hash::Hash;

/// A hash map of `len` entries, sized before it is filled: grown by doubling, a million entries
/// were hashed again at every doubling. A repeated key keeps its last value, as a B-tree's
/// `collect` does.
pub(super) fn sized_map<K: Eq + Hash, V>(
    len: usize,
    entries: impl Iterator<Item = (K, V)>,
) -> foldhash::HashMap<K, V> {
    let mut map = foldhash::HashMap::with_capacity_and_hasher(len, Default::default());
    map.extend(entries);
    map
}

/// A hash set of about `len` items, sized before it is filled ([`sized_map`]).
pub(super) fn sized_set<K: Eq + Hash>(
    len: usize,
    items: impl Iterator<Item = K>,
) -> foldhash::HashSet<K> {
    let mut set = foldhash::HashSet::with_capacity_and_hasher(len, Default::default());
    set.extend(items);
    set
}

/// The target's users by id: the planner's index, which the target digest reads too.
pub(super) fn users_by_id(users: &[TargetUser]) -> foldhash::HashMap<&str, &TargetUser> {
    sized_map(users.len(), users.iter().map(|u| (u.id.0.as_str(), u)))
}

/// Values by key; values of one key keep the order they were given in.
pub(super) struct ByKey<'a, T> {
    entries: Vec<(Cow<'a, str>, &'a T)>,
}

impl<'a, T> ByKey<'a, T> {
    /// The index of `entries`.
    pub(super) fn new(entries: impl IntoIterator<Item = (Cow<'a, str>, &'a T)>) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        // Stable, so a key's values stay in input order, as the lists they replace kept them.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Self { entries }
    }

    /// The values with `key`, in input order.
    pub(super) fn get(&self, key: &str) -> impl Iterator<Item = &'a T> + '_ {
        let start = self.entries.partition_point(|(k, _)| k.as_ref() < key);
        let end = self.entries.partition_point(|(k, _)| k.as_ref() <= key);
        self.entries[start..end].iter().map(|(_, v)| *v)
    }

    /// Each key that more than one value has, in key order, with those values in input order.
    pub(super) fn shared(&self) -> impl Iterator<Item = (&str, Vec<&'a T>)> + '_ {
        self.entries
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
            .map(|run| (run[0].0.as_ref(), run.iter().map(|(_, v)| *v).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_value_of_a_key_in_input_order() {
        let values = ["a1", "b1", "a2", "c1", "a3"];
        let index = ByKey::new(values.iter().map(|v| (Cow::Borrowed(&v[..1]), v)));
        assert_eq!(
            index.get("a").copied().collect::<Vec<_>>(),
            ["a1", "a2", "a3"]
        );
        assert_eq!(index.get("c").copied().collect::<Vec<_>>(), ["c1"]);
        assert_eq!(index.get("").count(), 0);
        assert_eq!(index.get("bb").count(), 0);
        assert_eq!(index.get("z").count(), 0);
        let shared: Vec<(&str, Vec<&&str>)> = index.shared().collect();
        assert_eq!(shared, [("a", vec![&"a1", &"a2", &"a3"])]);
        let empty: ByKey<'_, &str> = ByKey::new([]);
        assert_eq!(empty.get("a").count(), 0);
        assert_eq!(empty.shared().count(), 0);
    }
}
