//! A user's managed attributes ([`UserAttrs`]): a map from [`Attr`] to its value, read like the
//! `BTreeMap<Attr, String>` it replaces (`get`, `contains_key`, `insert`, `remove`, iteration in
//! plan order), held as one text. A run holds every desired and every target user at once; as a
//! map each held a B-tree node (288 bytes) and an allocation per value, about 0.5 KB a user, the
//! largest single consumer of a 100,000-person plan's heap (docs/performance.md, "Scale"). Packed,
//! a user's values are one allocation and twelve offsets.

use super::Attr;
use std::fmt;

/// How many attributes there are.
const COUNT: usize = <Attr as strum::VariantArray>::VARIANTS.len();
const _: () = assert!(COUNT <= 16, "`present` is a u16");

/// The managed attributes of one user. An absent attribute means "no value"; a present one may
/// be empty, as a map's could.
#[derive(Clone, Default)]
pub struct UserAttrs(Repr);

#[derive(Clone)]
enum Repr {
    /// The present values in attribute order, one after another; attribute `i`'s value is
    /// `text[ends[i - 1]..ends[i]]` (from 0 for the first) when bit `i` of `present` is set.
    Packed {
        text: Box<str>,
        ends: [u32; COUNT],
        present: u16,
    },
    /// Values whose total length does not fit a `u32` offset: never seen in practice (a source
    /// field or a target reply is bounded far below it), kept so such a user is still exact.
    Wide(Box<[Option<String>; COUNT]>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed {
            text: Box::default(),
            ends: [0; COUNT],
            present: 0,
        }
    }
}

/// The attributes in declaration order: `ALL[attr as usize] == attr` (a test holds it).
const ALL: &[Attr] = <Attr as strum::VariantArray>::VARIANTS;

impl UserAttrs {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Packs `values` (indexed by [`Attr`] position), wide when the text would pass `limit`.
    fn pack<S: AsRef<str>>(values: &[Option<S>; COUNT], limit: usize) -> Self {
        let total: usize = values.iter().flatten().map(|v| v.as_ref().len()).sum();
        if total > limit {
            let wide = values
                .each_ref()
                .map(|v| v.as_ref().map(|v| v.as_ref().to_owned()));
            return Self(Repr::Wide(Box::new(wide)));
        }
        let mut text = String::with_capacity(total);
        let mut ends = [0u32; COUNT];
        let mut present = 0u16;
        for (i, value) in values.iter().enumerate() {
            if let Some(v) = value {
                text.push_str(v.as_ref());
                present |= 1 << i;
            }
            // Within `limit`, which is at most `u32::MAX`.
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Self(Repr::Packed {
            text: text.into_boxed_str(),
            ends,
            present,
        })
    }

    fn packed<S: AsRef<str>>(values: &[Option<S>; COUNT]) -> Self {
        Self::pack(values, u32::MAX as usize)
    }

    /// Every position's value, borrowed.
    fn slots(&self) -> [Option<&str>; COUNT] {
        std::array::from_fn(|i| self.at(i))
    }

    fn at(&self, i: usize) -> Option<&str> {
        match &self.0 {
            Repr::Packed {
                text,
                ends,
                present,
            } => {
                if present & (1 << i) == 0 {
                    return None;
                }
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                text.get(start..ends[i] as usize)
            }
            Repr::Wide(values) => values[i].as_deref(),
        }
    }

    /// The value of `attr`.
    pub fn get(&self, attr: &Attr) -> Option<&str> {
        self.at(*attr as usize)
    }

    /// Whether `attr` has a value.
    pub fn contains_key(&self, attr: &Attr) -> bool {
        self.get(attr).is_some()
    }

    /// Sets `attr` to `value`; returns the value it had. Repacks the user: for building one
    /// attribute by attribute, collect the pairs instead.
    pub fn insert(&mut self, attr: Attr, value: String) -> Option<String> {
        let mut slots = self.slots();
        let old = slots[attr as usize].map(str::to_owned);
        slots[attr as usize] = Some(&value);
        *self = Self::packed(&slots);
        old
    }

    /// Removes `attr`; returns the value it had.
    pub fn remove(&mut self, attr: &Attr) -> Option<String> {
        let mut slots = self.slots();
        let old = slots[*attr as usize].take().map(str::to_owned);
        if old.is_some() {
            *self = Self::packed(&slots);
        }
        old
    }

    /// The attributes with a value and their values, in plan order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            attrs: self,
            next: 0,
        }
    }

    /// The attributes with a value, in plan order.
    pub fn keys(&self) -> impl Iterator<Item = Attr> + '_ {
        self.iter().map(|(attr, _)| attr)
    }

    /// How many attributes have a value.
    pub fn len(&self) -> usize {
        self.iter().len()
    }

    /// Whether no attribute has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`UserAttrs::iter`]: each attribute with a value, in plan order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    attrs: &'a UserAttrs,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Attr, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < COUNT {
            let i = self.next;
            self.next += 1;
            if let Some(value) = self.attrs.at(i) {
                return Some((ALL[i], value));
            }
        }
        None
    }

    /// Exact, so a list collected from it is allocated once at its length: a plan of 100,000
    /// creates holds one such list of changes per person.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.attrs.0 {
            Repr::Packed { present, .. } => {
                let shift = u32::try_from(self.next).unwrap_or(u32::MAX);
                present.checked_shr(shift).unwrap_or(0).count_ones() as usize
            }
            Repr::Wide(values) => values.iter().skip(self.next).flatten().count(),
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a UserAttrs {
    type Item = (Attr, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<S: AsRef<str>> FromIterator<(Attr, S)> for UserAttrs {
    /// The pairs as a map would keep them: the last value of an attribute wins.
    fn from_iter<I: IntoIterator<Item = (Attr, S)>>(pairs: I) -> Self {
        let mut slots: [Option<S>; COUNT] = std::array::from_fn(|_| None);
        for (attr, value) in pairs {
            slots[attr as usize] = Some(value);
        }
        Self::packed(&slots)
    }
}

impl<S: AsRef<str>, const N: usize> From<[(Attr, S); N]> for UserAttrs {
    fn from(pairs: [(Attr, S); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl PartialEq for UserAttrs {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UserAttrs {}

impl fmt::Debug for UserAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use strum::IntoEnumIterator;

    fn as_map(attrs: &UserAttrs) -> BTreeMap<Attr, String> {
        attrs.iter().map(|(a, v)| (a, v.to_owned())).collect()
    }

    #[test]
    fn positions_follow_the_declaration_order() {
        for (i, attr) in Attr::iter().enumerate() {
            assert_eq!(attr as usize, i);
            assert_eq!(ALL[i], attr);
        }
        // One allocation and the offsets: no larger than the map's header and node pointer.
        assert!(std::mem::size_of::<UserAttrs>() <= 72);
        assert_eq!(Attr::iter().count(), COUNT);
    }

    #[test]
    fn answers_as_a_map_through_inserts_and_removes() {
        let mut attrs = UserAttrs::new();
        let mut map = BTreeMap::new();
        assert!(attrs.is_empty());
        // A fixed walk over every attribute: set, overwrite with longer and empty values,
        // remove, in an order that is not the attributes' own.
        let values = ["ada@example.com", "", "Ada Lovelace", "é ü 字 🦀", "x"];
        for step in 0..(COUNT * 7) {
            let attr = ALL[(step * 5) % COUNT];
            if step % 4 == 3 {
                assert_eq!(attrs.remove(&attr), map.remove(&attr), "step {step}");
            } else {
                let value = values[step % values.len()].to_owned();
                assert_eq!(
                    attrs.insert(attr, value.clone()),
                    map.insert(attr, value),
                    "step {step}"
                );
            }
            assert_eq!(as_map(&attrs), map, "step {step}");
            assert_eq!(attrs.len(), map.len());
            let mut iter = attrs.iter();
            for left in (0..=map.len()).rev() {
                assert_eq!(iter.size_hint(), (left, Some(left)), "step {step}");
                iter.next();
            }
            for attr in Attr::iter() {
                assert_eq!(attrs.get(&attr), map.get(&attr).map(String::as_str));
                assert_eq!(attrs.contains_key(&attr), map.contains_key(&attr));
            }
        }
    }

    #[test]
    fn an_empty_value_is_present_and_the_last_pair_wins() {
        let attrs = UserAttrs::from([
            (Attr::Title, "first"),
            (Attr::UserName, ""),
            (Attr::Title, "second"),
        ]);
        assert_eq!(attrs.get(&Attr::UserName), Some(""));
        assert_eq!(attrs.get(&Attr::Title), Some("second"));
        assert_eq!(attrs.get(&Attr::GivenName), None);
        assert_eq!(
            attrs.keys().collect::<Vec<_>>(),
            vec![Attr::UserName, Attr::Title]
        );
        assert_ne!(attrs, UserAttrs::from([(Attr::Title, "second")]));
        assert_eq!(format!("{attrs:?}"), r#"{UserName: "", Title: "second"}"#);
    }

    #[test]
    fn values_past_the_offsets_range_stay_exact() {
        let mut slots: [Option<&str>; COUNT] = [None; COUNT];
        slots[Attr::UserName as usize] = Some("ada@example.com");
        slots[Attr::Roles as usize] = Some("owner");
        let wide = UserAttrs::pack(&slots, 8);
        assert!(matches!(wide.0, Repr::Wide(_)));
        let packed = UserAttrs::packed(&slots);
        assert!(matches!(packed.0, Repr::Packed { .. }));
        assert_eq!(wide, packed);
        assert_eq!(as_map(&wide), as_map(&packed));
        assert_eq!((wide.len(), wide.iter().len()), (2, 2));
        let mut wide = wide;
        assert_eq!(wide.remove(&Attr::Roles).as_deref(), Some("owner"));
        assert_eq!(wide.get(&Attr::UserName), Some("ada@example.com"));
    }
}
