//! A source record's attributes: a map from name to value with the `BTreeMap<String, String>`
//! surface the mapping, the planner and the reports read (`get`, `contains_key`, iteration in
//! name order as `(&String, &String)`), stored so that a large read does not pay for each name
//! once per record. Every record built from one [`AttrNames`] points at the same name list; a
//! record holds only its values, in one slice parallel to the names. A directory read of 100,000
//! people otherwise held 100,000 copies of `"email"`, `"givenName"`, … and a B-tree node each.

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
#[derive(Clone, Default)]
pub struct Attrs {
    names: AttrNames,
    /// Parallel to `names`.
    values: Box<[Option<String>]>,
}

impl Attrs {
    /// No attributes, and no names to share.
    pub fn new() -> Self {
        Self::default()
    }

    /// No attributes yet, with room for `names`: setting one of them allocates only its value.
    pub fn with_names(names: &AttrNames) -> Self {
        Self {
            names: names.clone(),
            values: vec![None; names.0.len()].into_boxed_slice(),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&String> {
        let i = self.names.position(name).ok()?;
        self.values.get(i)?.as_ref()
    }

    /// Whether `name` has a value.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Set `name` to `value`; returns the value it had. A name outside the shared list gives
    /// this record a list of its own (the rare case: connectors build records from the names
    /// they fill).
    pub fn insert(&mut self, name: String, value: String) -> Option<String> {
        match self.names.position(&name) {
            Ok(i) => self.values.get_mut(i).and_then(|slot| slot.replace(value)),
            Err(i) => {
                let mut names: Vec<String> = self.names.0.to_vec();
                names.insert(i, name);
                let mut values = std::mem::take(&mut self.values).into_vec();
                values.insert(i, Some(value));
                self.names = AttrNames(names.into());
                self.values = values.into_boxed_slice();
                None
            }
        }
    }

    /// Set `name` to `value`, without allocating the name when it is in the shared list (as
    /// [`Attrs::insert`] otherwise).
    pub fn set(&mut self, name: &str, value: String) {
        match self.names.position(name) {
            Ok(i) => {
                if let Some(slot) = self.values.get_mut(i) {
                    *slot = Some(value);
                }
            }
            Err(_) => {
                self.insert(name.to_owned(), value);
            }
        }
    }

    /// Remove `name`; returns the value it had.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.names.position(name).ok()?;
        self.values.get_mut(i)?.take()
    }

    /// The names with a value and their values, in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            names: self.names.0.iter(),
            values: self.values.iter(),
        }
    }

    /// The names with a value, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(k, _)| k)
    }

    /// The values, in name order.
    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(_, v)| v)
    }

    /// How many names have a value.
    pub fn len(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }

    /// Whether no name has a value.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// The attributes as an ordinary map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// [`Attrs::iter`].
#[derive(Clone)]
pub struct Iter<'a> {
    names: std::slice::Iter<'a, String>,
    values: std::slice::Iter<'a, Option<String>>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a String);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let name = self.names.next()?;
            if let Some(value) = self.values.next()? {
                return Some((name, value));
            }
        }
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = (&'a String, &'a String);
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
        let (names, values): (Vec<String>, Vec<Option<String>>) =
            map.into_iter().map(|(k, v)| (k, Some(v))).unzip();
        // A BTreeMap's keys are sorted and unique already.
        Self {
            names: AttrNames(names.into()),
            values: values.into_boxed_slice(),
        }
    }
}

impl<const N: usize> From<[(String, String); N]> for Attrs {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Attrs {
    type Output = String;

    /// The value of `name`, for tests and callers that know it is there.
    ///
    /// # Panics
    ///
    /// When `name` has no value, as `BTreeMap`'s indexing does.
    #[allow(clippy::panic)] // The map this replaces panics here too; `get` is the checked form.
    fn index(&self, name: &str) -> &String {
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

    fn pairs(attrs: &Attrs) -> Vec<(&str, &str)> {
        attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
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
        assert_eq!(pairs(&a), [("email", "a@x.io"), ("title", "Engineer")]);
        assert_eq!(a.get("title").map(String::as_str), Some("Engineer"));
        assert_eq!(a.get("dn"), None);
        assert!(!a.contains_key("dn") && a.contains_key("email"));
        assert_eq!((a.len(), b.len()), (2, 1));
        assert_ne!(a, b);
        b.insert("title".into(), "Engineer".into());
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a.names.0, &b.names.0), "one name list");
        assert_eq!(a.remove("title").as_deref(), Some("Engineer"));
        assert_eq!(pairs(&a), [("email", "a@x.io")]);
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
        assert_eq!(pairs(&a), [("age", "1"), ("zone", "us")]);
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
}
