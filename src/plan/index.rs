//! A lookup from a text key (a userName's comparison key, an externalId) to the values that have
//! it, for the planner's indexes of every target user and link. Held as one sorted list of
//! (key, value) pairs, the key borrowed when the value already holds it, where a map with a list
//! per key cost a tree node share, a key copy and a list allocation per user: about 100 bytes a
//! user, three times over, in a 100,000-person plan (docs/performance.md, "Scale").

use std::borrow::Cow;

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
