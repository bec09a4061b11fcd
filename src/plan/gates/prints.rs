//! The per-person attribute fingerprints of a read summary, held compactly. A run holds two sets
//! (this read's and the baseline's): as maps of strings they were about 1.2 KB a person, the
//! largest part of a 100k run's gates. Here an attribute name is kept once per set and each
//! print is 16 bytes (the name's position and the 8 bytes of the fingerprint); stored baselines
//! keep their JSON form (`{id: {attr: hex}}`, 16 lowercase hex digits a fingerprint), so older
//! baselines read unchanged.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One person's row: their source id, and (attribute position, fingerprint) pairs.
type Row = (Box<str>, Box<[(u32, u64)]>);

/// Every person's fingerprints: source id → (attribute, fingerprint) pairs.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    /// Attribute names, each once; a person's prints refer to them by position.
    names: Vec<String>,
    /// Sorted by id, ids unique; each person's prints sorted by attribute name.
    people: Vec<Row>,
}

/// One person's prints, by attribute name.
#[derive(Clone, Copy)]
pub struct Person<'f> {
    names: &'f [String],
    prints: &'f [(u32, u64)],
}

impl<'f> Person<'f> {
    /// (attribute, fingerprint), by attribute name.
    pub fn iter(&self) -> impl Iterator<Item = (&'f str, u64)> + 'f {
        let names = self.names;
        self.prints
            .iter()
            .map(move |(i, print)| (names[*i as usize].as_str(), *print))
    }

    /// The fingerprint of `attr`.
    pub fn get(&self, attr: &str) -> Option<u64> {
        self.iter().find(|(a, _)| *a == attr).map(|(_, p)| p)
    }
}

/// Builds a [`Fingerprints`] one person at a time.
#[derive(Default)]
pub struct Builder {
    names: Vec<String>,
    index: BTreeMap<String, u32>,
    people: Vec<Row>,
}

impl Builder {
    /// Add `id`'s prints; a later entry for the same id replaces an earlier one (as a map's
    /// insert did).
    pub fn person<'a>(&mut self, id: &str, prints: impl IntoIterator<Item = (&'a str, u64)>) {
        let mut row: Vec<(u32, u64)> = prints
            .into_iter()
            .map(|(attr, print)| (self.name(attr), print))
            .collect();
        row.sort_by(|a, b| self.names[a.0 as usize].cmp(&self.names[b.0 as usize]));
        // One print an attribute, the last given (as a map's insert kept).
        row.reverse();
        row.dedup_by_key(|(i, _)| *i);
        row.reverse();
        self.people.push((id.into(), row.into_boxed_slice()));
    }

    fn name(&mut self, attr: &str) -> u32 {
        if let Some(i) = self.index.get(attr) {
            return *i;
        }
        // Bounded reads cannot hold four billion distinct names; were it ever reached, the
        // saturated position would still name a real (the last) attribute, never panic.
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(attr.to_owned());
        self.index.insert(attr.to_owned(), i);
        i
    }

    /// The set: sorted by id, the last entry of an id kept.
    pub fn finish(mut self) -> Fingerprints {
        self.people.reverse();
        self.people.sort_by(|a, b| a.0.cmp(&b.0));
        self.people.dedup_by(|later, first| later.0 == first.0);
        self.people.shrink_to_fit();
        Fingerprints {
            names: self.names,
            people: self.people,
        }
    }
}

impl Fingerprints {
    /// The prints of `id`.
    pub fn get(&self, id: &str) -> Option<Person<'_>> {
        let at = self.people.binary_search_by(|(p, _)| (**p).cmp(id)).ok()?;
        Some(self.person(at))
    }

    fn person(&self, at: usize) -> Person<'_> {
        Person {
            names: &self.names,
            prints: &self.people[at].1,
        }
    }

    /// Every person, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Person<'_>)> {
        (0..self.people.len()).map(|at| (&*self.people[at].0, self.person(at)))
    }

    /// People with prints.
    pub fn len(&self) -> usize {
        self.people.len()
    }

    /// Whether nobody has prints.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// Forget every attribute not in `keep`.
    pub fn retain(&mut self, keep: &BTreeSet<String>) {
        let names = &self.names;
        for (_, prints) in &mut self.people {
            if prints
                .iter()
                .all(|(i, _)| keep.contains(&names[*i as usize]))
            {
                continue;
            }
            *prints = prints
                .iter()
                .filter(|(i, _)| keep.contains(&names[*i as usize]))
                .copied()
                .collect();
        }
    }
}

/// Equal when the same people have the same prints under the same names (the name tables'
/// order is how the sets were built, not what they say).
impl PartialEq for Fingerprints {
    fn eq(&self, other: &Self) -> bool {
        self.people.len() == other.people.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((a, pa), (b, pb))| a == b && pa.iter().eq(pb.iter()))
    }
}

impl Eq for Fingerprints {}

/// A fingerprint as stored: 16 lowercase hex digits.
struct Hex(u64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// [`Hex`] as a string value, written without an intermediate `String`.
struct HexValue(u64);

impl Serialize for HexValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Hex(self.0))
    }
}

impl Serialize for Fingerprints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Prints<'f>(Person<'f>);
        impl Serialize for Prints<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.prints.len()))?;
                for (attr, print) in self.0.iter() {
                    map.serialize_key(attr)?;
                    map.serialize_value(&HexValue(print))?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(self.people.len()))?;
        for (id, person) in self.iter() {
            map.serialize_entry(id, &Prints(person))?;
        }
        map.end()
    }
}

/// A stored fingerprint: 16 lowercase hex digits, what every baseline has held. Anything else
/// (a damaged or hand-edited row) is read as a print no real value has, derived from the text:
/// compared with this read it counts as changed, exactly as the old string comparison did, and
/// never stops the run (a baseline that could not be read would hold every run, and no
/// `--override` gets past a read that fails). The next run that applies keeps a sound one.
fn parse_hex(text: &str) -> u64 {
    let sound = text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match u64::from_str_radix(text, 16) {
        Ok(print) if sound => print,
        _ => {
            let mut hasher = Sha256::new();
            hasher.update(b"idbridge: not a fingerprint\0");
            hasher.update(text.as_bytes());
            let digest = hasher.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            u64::from_be_bytes(first)
        }
    }
}

impl<'de> Deserialize<'de> for Fingerprints {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct People;
        impl<'de> Visitor<'de> for People {
            type Value = Fingerprints;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of source ids to maps of attribute fingerprints")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fingerprints, A::Error> {
                let mut builder = Builder::default();
                let mut row: Vec<(String, u64)> = Vec::new();
                while let Some(id) = map.next_key::<String>()? {
                    row.clear();
                    for (attr, hex) in map.next_value::<BTreeMap<String, String>>()? {
                        row.push((attr, parse_hex(&hex)));
                    }
                    builder.person(&id, row.iter().map(|(a, p)| (a.as_str(), *p)));
                }
                Ok(builder.finish())
            }
        }
        deserializer.deserialize_map(People)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Fingerprints {
        let mut b = Builder::default();
        b.person("e2", [("title", 2), ("mail", 0xabc)]);
        b.person("e1", [("mail", 1)]);
        b.person("e3", [("title", 9)]);
        b.person("e3", [("title", 3), ("title", 4)]);
        b.finish()
    }

    #[test]
    fn people_are_found_by_id_and_prints_by_name() {
        let f = sample();
        assert_eq!(f.len(), 3);
        let ids: Vec<&str> = f.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        let e2 = f.get("e2").map(|p| p.iter().collect::<Vec<_>>());
        assert_eq!(e2, Some(vec![("mail", 0xabc), ("title", 2)]));
        // The last entry of an id, and of an attribute, is kept (as a map's insert).
        assert_eq!(f.get("e3").and_then(|p| p.get("title")), Some(4));
        assert!(f.get("e4").is_none());
        assert_eq!(f.get("e1").and_then(|p| p.get("title")), None);
    }

    #[test]
    fn the_stored_form_is_a_map_of_maps_of_16_hex_digits() {
        let text = serde_json::to_string(&sample()).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"e1":{"mail":"0000000000000001"},"e2":{"mail":"0000000000000abc","title":"0000000000000002"},"e3":{"title":"0000000000000004"}}"#
        );
        let back: Fingerprints = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, sample());
        // Built in another order (another name table), the same prints are equal.
        let mut b = Builder::default();
        b.person("e3", [("title", 4)]);
        b.person("e2", [("title", 2), ("mail", 0xabc)]);
        b.person("e1", [("mail", 1)]);
        assert_eq!(b.finish(), sample());
    }

    #[test]
    fn a_damaged_fingerprint_reads_as_changed_and_never_fails() {
        let sound = r#"{"e1":{"mail":"0000000000000001"}}"#;
        let sound: Fingerprints = serde_json::from_str(sound).unwrap_or_default();
        for bad in [
            r#"{"e1":{"mail":"xyz"}}"#,
            r#"{"e1":{"mail":"00000000000000001"}}"#,
            r#"{"e1":{"mail":""}}"#,
            // Upper case was never written: as a string it compared unequal, and still does.
            r#"{"e1":{"mail":"000000000000000A"}}"#,
        ] {
            let read = serde_json::from_str::<Fingerprints>(bad);
            let read = read.as_ref().map_err(ToString::to_string);
            let print = read.map(|f| f.get("e1").and_then(|p| p.get("mail")));
            assert!(matches!(print, Ok(Some(_))), "{bad}: {print:?}");
            assert_ne!(print, Ok(Some(1)), "{bad}");
        }
        assert_eq!(sound.get("e1").and_then(|p| p.get("mail")), Some(1));
        // What is not a map of maps of strings is still refused (the row is not a summary).
        for bad in [r#"{"e1":"x"}"#, r#"{"e1":{"mail":1}}"#, r#"[]"#] {
            assert!(serde_json::from_str::<Fingerprints>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retain_forgets_attributes_not_kept() {
        let mut f = sample();
        f.retain(&BTreeSet::from(["mail".to_owned()]));
        let e2: Vec<_> = f.get("e2").map(|p| p.iter().collect()).unwrap_or_default();
        assert_eq!(e2, [("mail", 0xabc)]);
        assert_eq!(f.get("e3").map(|p| p.iter().count()), Some(0));
    }
}
