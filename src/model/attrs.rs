//! A source record's attributes: a map from name to value with the map-like surface the
//! mapping, the planner and the reports read (`get`, `contains_key`, iteration in name order as
//! `(&String, &str)`), stored so that a large read does not pay for each name once per record.
//! Every record built from one [`AttrNames`] points at the same name list; a record holds only
//! its values, as one text with an end offset per name. A directory read of 100,000 people
//! otherwise held 100,000 copies of `"email"`, `"givenName"`, … and a B-tree node each.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A sorted list of attribute names, shared by the records built from it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttrNames(Arc<[String]>);

impl AttrNames {
    /// The names, sorted and without duplicates.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        Self(names.into())
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|n| n.as_str().cmp(name))
    }
}

impl fmt::Debug for AttrNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// A record's attributes by name; empty unless set. Compared, printed and iterated as the map
/// of the names that have a value.
///
/// The values are one text, end to end in name order, with each name's end offset beside it:
/// two allocations a record instead of a slot and a `String` per name (about 170 bytes less a
/// record of an HR read; docs/performance.md, "Scale").
#[derive(Clone, Default)]
pub struct Attrs {
    names: AttrNames,
    /// The values, end to end in the order of `names`.
    text: Box<str>,
    /// Parallel to `names`: where each value ends in `text`, with [`PRESENT`] set when the name
    /// has a value (an empty one included).
    ends: Box<[usize]>,
}

/// The flag of a name that has a value. A text cannot reach it: no allocation passes
/// `isize::MAX` bytes.
const PRESENT: usize = 1 << (usize::BITS - 1);

impl Attrs {
    /// No attributes, and no names to share.
    pub fn new() -> Self {
        Self::default()
    }

    /// No attributes yet, sharing `names`, for tests that set values one by one: a connector
    /// builds each record at once ([`Attrs::build`]), as each value set rewrites the text.
    #[cfg(test)]
    pub(crate) fn with_names(names: &AttrNames) -> Self {
        Self {
            names: names.clone(),
            text: Box::default(),
            ends: vec![0; names.0.len()].into_boxed_slice(),
        }
    }

    /// A record of `names` with these values, as setting each pair in turn would make it (the
    /// last value of a name wins): the values of listed names are packed in one pass; a name
    /// outside the list is then added as [`Attrs::insert`] adds it (a list of its own).
    pub fn build<S: AsRef<str>>(names: &AttrNames, pairs: &[(&str, S)]) -> Self {
        let values: Vec<Option<&str>> = names
            .0
            .iter()
            .map(|name| {
                pairs
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_ref())
            })
            .collect();
        let mut attrs = Self::packed(names.clone(), &values);
        for (name, value) in pairs {
            if names.position(name).is_err() {
                attrs.set(name, value.as_ref().to_owned());
            }
        }
        attrs
    }

    /// Where the value of the `i`th name lies in `text`, and whether it has one.
    fn span(&self, i: usize) -> (std::ops::Range<usize>, bool) {
        let start = match i.checked_sub(1) {
            Some(before) => self.ends.get(before).map_or(0, |e| e & !PRESENT),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(0);
        (start..(end & !PRESENT).max(start), end & PRESENT != 0)
    }

    fn value_at(&self, i: usize) -> Option<&str> {
        match self.span(i) {
            (range, true) => self.text.get(range),
            (_, false) => None,
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.value_at(self.names.position(name).ok()?)
    }

    /// Whether `name` has a value.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Set (or, with `None`, clear) the value of the `i`th name. The text is rewritten around it
    /// and the later ends move by the change in length.
    fn put(&mut self, i: usize, value: Option<&str>) {
        let (range, _) = self.span(i);
        let new = value.unwrap_or_default();
        let mut text = String::with_capacity(self.text.len() - range.len() + new.len());
        text.push_str(self.text.get(..range.start).unwrap_or_default());
        text.push_str(new);
        text.push_str(self.text.get(range.end..).unwrap_or_default());
        self.text = text.into_boxed_str();
        let (grown, shrunk) = (new.len(), range.len());
        let flag = if value.is_some() { PRESENT } else { 0 };
        if let Some(end) = self.ends.get_mut(i) {
            *end = (range.start + grown) | flag;
        }
        // Every later end is at or past this value's old end, so the subtraction cannot wrap.
        for end in self.ends.iter_mut().skip(i + 1) {
            *end = ((*end & !PRESENT) + grown - shrunk) | (*end & PRESENT);
        }
    }

    /// Set `name` to `value`; returns the value it had. A name outside the shared list gives
    /// this record a list of its own (the rare case: connectors build records from the names
    /// they fill).
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        match self.names.position(&name) {
            Ok(i) => {
                let old = self.value_at(i).map(str::to_owned);
                self.put(i, Some(&value));
                old
            }
            Err(i) => {
                let mut names: Vec<String> = self.names.0.to_vec();
                names.insert(i, name);
                let mut values: Vec<Option<&str>> =
                    (0..self.ends.len()).map(|j| self.value_at(j)).collect();
                values.insert(i, Some(&value));
                *self = Self::packed(AttrNames(names.into()), &values);
                None
            }
        }
    }

    /// A record of `names` with `values` (parallel to them).
    fn packed(names: AttrNames, values: &[Option<&str>]) -> Self {
        let mut text = String::with_capacity(values.iter().flatten().map(|v| v.len()).sum());
        let ends = values
            .iter()
            .map(|value| {
                text.push_str(value.unwrap_or_default());
                text.len() | if value.is_some() { PRESENT } else { 0 }
            })
            .collect();
        Self {
            names,
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// Set `name` to `value`, without allocating the name when it is in the shared list (as
    /// [`Attrs::insert`] otherwise).
    pub fn set(&mut self, name: &str, value: String) {
        match self.names.position(name) {
            Ok(i) => {
                self.put(i, Some(&value));
            }
            Err(_) => {
                self.insert(name.to_owned(), value);
            }
        }
    }

    /// Remove `name`; returns the value it had.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.names.position(name).ok()?;
        let old = self.value_at(i)?.to_owned();
        self.put(i, None);
        Some(old)
    }

    /// The names with a value and their values, in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            attrs: self,
            next: 0,
        }
    }

    /// The names with a value, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in name order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(_, v)| v)
    }

    /// How many names have a value.
    pub fn len(&self) -> usize {
        self.ends.iter().filter(|e| *e & PRESENT != 0).count()
    }

    /// Whether no name has a value.
    pub fn is_empty(&self) -> bool {
        self.ends.iter().all(|e| e & PRESENT == 0)
    }

    /// The attributes as an ordinary map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.clone(), v.to_owned()))
            .collect()
    }
}

/// [`Attrs::iter`].
#[derive(Clone)]
pub struct Iter<'a> {
    attrs: &'a Attrs,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let attrs = self.attrs;
        while self.next < attrs.ends.len() {
            let i = self.next;
            self.next += 1;
            if let Some(value) = attrs.value_at(i) {
                return Some((attrs.names.0.get(i)?, value));
            }
        }
        None
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a String, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<(String, String)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl From<BTreeMap<String, String>> for Attrs {
    fn from(map: BTreeMap<String, String>) -> Self {
        let values: Vec<Option<&str>> = map.values().map(|v| Some(v.as_str())).collect();
        // A BTreeMap's keys are sorted and unique already.
        let names = AttrNames(map.keys().cloned().collect());
        Self::packed(names, &values)
    }
}

impl<const N: usize> From<[(String, String); N]> for Attrs {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Attrs {
    type Output = str;

    /// The value of `name`, for tests and callers that know it is there.
    ///
    /// # Panics
    ///
    /// When `name` has no value, as `BTreeMap`'s indexing does.
    #[allow(clippy::panic)] // The map this replaces panics here too; `get` is the checked form.
    fn index(&self, name: &str) -> &str {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no attribute `{name}`"),
        }
    }
}

impl PartialEq for Attrs {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Attrs {}

impl fmt::Debug for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs_of(attrs: &Attrs) -> Vec<(&str, &str)> {
        attrs.iter().map(|(k, v)| (k.as_str(), v)).collect()
    }

    /// Records built from one name list share it and read like the map they replace: name
    /// order, only the names that have a value, equal when their values are.
    #[test]
    fn shared_names_read_like_a_map() {
        let names = AttrNames::new(["title", "email", "dn", "email"].map(str::to_owned));
        let mut a = Attrs::with_names(&names);
        let mut b = Attrs::with_names(&names);
        assert!(a.is_empty());
        a.insert("title".into(), "Engineer".into());
        a.set("email", "a@x.io".into());
        b.insert("email".into(), "a@x.io".into());
        assert_eq!(pairs_of(&a), [("email", "a@x.io"), ("title", "Engineer")]);
        assert_eq!(a.get("title"), Some("Engineer"));
        assert_eq!(a.get("dn"), None);
        assert!(!a.contains_key("dn") && a.contains_key("email"));
        assert_eq!((a.len(), b.len()), (2, 1));
        assert_ne!(a, b);
        b.insert("title".into(), "Engineer".into());
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a.names.0, &b.names.0), "one name list");
        assert_eq!(a.remove("title").as_deref(), Some("Engineer"));
        assert_eq!(pairs_of(&a), [("email", "a@x.io")]);
        assert_eq!(format!("{a:?}"), r#"{"email": "a@x.io"}"#);
    }

    /// A name outside the list is added to this record alone; the others keep theirs.
    #[test]
    fn a_new_name_does_not_change_the_shared_list() {
        let names = AttrNames::new(["email".to_owned()]);
        let mut a = Attrs::with_names(&names);
        let b = Attrs::with_names(&names);
        assert_eq!(a.insert("zone".into(), "eu".into()), None);
        a.set("age", "1".into());
        assert_eq!(a.insert("zone".into(), "us".into()).as_deref(), Some("eu"));
        assert_eq!(pairs_of(&a), [("age", "1"), ("zone", "us")]);
        assert_eq!(names.0.len(), 1);
        assert!(b.is_empty());
        assert_eq!(Attrs::new().get("email"), None);
    }

    /// Built from pairs or a map, the same as a `BTreeMap` of them: the last value of a name wins.
    #[test]
    fn collected_like_a_map() {
        let list = [("b", "2"), ("a", "1"), ("b", "3")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        let attrs: Attrs = list.clone().into_iter().collect();
        let map: BTreeMap<String, String> = list.into_iter().collect();
        assert_eq!(attrs.to_map(), map);
        assert_eq!(Attrs::from(map.clone()), attrs);
        assert_eq!(
            attrs.keys().collect::<Vec<_>>(),
            map.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            attrs.values().collect::<Vec<_>>(),
            map.values().collect::<Vec<_>>()
        );
    }

    /// Inserts, sets and removes of empty, long and non-ASCII values, on shared names and new
    /// ones, read back as a `BTreeMap` given the same steps reads (fixed seeds).
    #[test]
    fn packed_values_read_as_a_map_through_every_change() {
        let values = ["", "a", "Zoë ΟΔΟΣ 東京", "x,y\"z", &"long".repeat(300)];
        let names = ["dn", "email", "givenName", "title", "zone"];
        let shared = AttrNames::new(names[..3].iter().map(|n| (*n).to_owned()));
        for seed in 0..100u64 {
            let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(7);
            let mut next = |n: usize| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 33) % n as u64) as usize
            };
            let mut attrs = Attrs::with_names(&shared);
            let mut map: BTreeMap<String, String> = BTreeMap::new();
            for _ in 0..20 {
                let name = names[next(names.len())];
                let value = values[next(values.len())];
                match next(3) {
                    0 => assert_eq!(
                        attrs.insert(name.to_owned(), value.to_owned()),
                        map.insert(name.to_owned(), value.to_owned())
                    ),
                    1 => {
                        attrs.set(name, value.to_owned());
                        map.insert(name.to_owned(), value.to_owned());
                    }
                    _ => assert_eq!(attrs.remove(name), map.remove(name)),
                }
                assert_eq!(attrs.to_map(), map, "seed {seed}");
                assert_eq!((attrs.len(), attrs.is_empty()), (map.len(), map.is_empty()));
                for n in names {
                    assert_eq!(attrs.get(n), map.get(n).map(String::as_str));
                }
            }
        }
    }

    /// Built in one pass, a record is the one setting its pairs in turn makes: last value wins,
    /// a name outside the list added, an empty value kept.
    #[test]
    fn built_like_set_one_by_one() {
        let names = AttrNames::new(["dn", "email", "title"].map(str::to_owned));
        let pairs = [
            ("title", "Lead"),
            ("zone", "eu"),
            ("email", ""),
            ("title", "Engineer"),
            ("zone", "us"),
        ];
        let mut one_by_one = Attrs::with_names(&names);
        for (name, value) in pairs {
            one_by_one.set(name, value.to_owned());
        }
        let built = Attrs::build(&names, &pairs);
        assert_eq!(built, one_by_one);
        assert_eq!(
            pairs_of(&built),
            [("email", ""), ("title", "Engineer"), ("zone", "us")]
        );
        assert_eq!(built.get("dn"), None);
    }

    /// A name outside the list that sorts before the shared names with values: the values keep
    /// their names, and the shared list is left as it was.
    #[test]
    fn a_new_name_before_the_shared_ones_keeps_every_value() {
        let names = AttrNames::new(["email", "title"].map(str::to_owned));
        let mut a = Attrs::with_names(&names);
        a.set("email", "a@x.io".into());
        a.set("title", "".into());
        a.set("dn", "cn=a".into());
        assert_eq!(
            pairs_of(&a),
            [("dn", "cn=a"), ("email", "a@x.io"), ("title", "")]
        );
        assert_eq!(a.remove("title").as_deref(), Some(""));
        assert_eq!(a.remove("title"), None);
        assert_eq!(pairs_of(&a), [("dn", "cn=a"), ("email", "a@x.io")]);
        assert_eq!(names.0.len(), 2);
    }
}
