//! Where each mapped attribute's value comes from: the source facts (`hr: title=Lead Engineer
//! (hr.csv line 4)`) a patch's reason, the drift report and the access review cite, and the
//! compact form a run holds them in for every person it maps.

use super::Attr;
use std::sync::Arc;

/// What one source record contributed to a mapped attribute: the values its template read there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFact {
    /// The source's name, or `config` for a value the `[mapping]` template itself supplies.
    /// Shared: every attribute of a person read from one record names the same source and place,
    /// and a large read holds eight or more facts a person.
    pub source: Arc<str>,
    /// Where: the record's location (`hr.csv line 4`, a DN), or the template for `config`.
    pub location: Arc<str>,
    /// (attribute name as the template reads it, the value as the source has it; empty when the
    /// record has no value there).
    pub values: Vec<(String, String)>,
}

impl std::fmt::Display for SourceFact {
    /// `hr: title=Lead Engineer (hr.csv line 4)`; an empty value shows as `title=""`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.values.is_empty() {
            return write!(f, "{}: {}", self.source, self.location);
        }
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(name, value)| {
                if value.is_empty() {
                    format!("{name}=\"\"")
                } else {
                    format!("{name}={value}")
                }
            })
            .collect();
        write!(
            f,
            "{}: {} ({})",
            self.source,
            values.join(", "),
            self.location
        )
    }
}

/// The facts as one reason: facts of one record are merged (each value named once), records
/// keep their first-seen order and are separated by `; `.
pub fn cite<'a>(facts: impl IntoIterator<Item = &'a SourceFact>) -> String {
    let mut merged: Vec<SourceFact> = Vec::new();
    for fact in facts {
        let same = merged
            .iter_mut()
            .find(|m| m.source == fact.source && m.location == fact.location);
        match same {
            Some(m) => {
                for value in &fact.values {
                    if !m.values.iter().any(|(name, _)| *name == value.0) {
                        m.values.push(value.clone());
                    }
                }
            }
            None => merged.push(fact.clone()),
        }
    }
    merged
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A person's provenance: for each mapped attribute, the facts behind its value, in the order the
/// template read them.
///
/// A run holds one for every person it maps (100,000 and more), and reasons cite only the few a
/// plan patches, so it is kept as one list of reads into one text, with each record's place once,
/// instead of a map of fact lists of string pairs (about a quarter of the size: docs/performance.md,
/// "Scale"). The facts are rebuilt when asked for.
#[derive(Clone, Default)]
pub struct Provenance {
    /// (source, location) of each fact, once per person.
    places: Box<[(Arc<str>, Arc<str>)]>,
    /// Sorted by attribute; a fact's reads follow one another.
    reads: Box<[Read]>,
    /// Each read's name then value, end to end, in the order of `reads`.
    text: Box<str>,
}

#[derive(Clone, Copy)]
struct Read {
    attr: Attr,
    kind: Kind,
    place: u32,
    name_len: u32,
    value_len: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The attribute is known and has no facts.
    Empty,
    /// A fact without values (a template that reads nothing).
    Bare,
    /// The first value of a fact.
    Opens,
    /// A further value of the fact before it.
    More,
}

impl Provenance {
    /// The facts behind `attr`, or `None` when nothing was recorded for it.
    pub fn get(&self, attr: &Attr) -> Option<Vec<SourceFact>> {
        let mut facts: Option<Vec<SourceFact>> = None;
        self.each_read(|read, name, value| {
            if read.attr != *attr {
                return;
            }
            let facts = facts.get_or_insert_with(Vec::new);
            if matches!(read.kind, Kind::Bare | Kind::Opens) {
                let (source, location) = &self.places[read.place as usize];
                facts.push(SourceFact {
                    source: source.clone(),
                    location: location.clone(),
                    values: Vec::new(),
                });
            }
            if let (Kind::Opens | Kind::More, Some(fact)) = (read.kind, facts.last_mut()) {
                fact.values.push((name.to_owned(), value.to_owned()));
            }
        });
        facts
    }

    /// Whether anything was recorded for `attr`.
    pub fn contains_key(&self, attr: &Attr) -> bool {
        self.reads.iter().any(|r| r.attr == *attr)
    }

    /// The attributes with something recorded, in attribute order.
    pub fn attrs(&self) -> impl Iterator<Item = Attr> + '_ {
        let mut last = None;
        self.reads.iter().filter_map(move |r| {
            let new = last != Some(r.attr);
            last = Some(r.attr);
            new.then_some(r.attr)
        })
    }

    /// Every attribute with its facts, in attribute order.
    pub fn iter(&self) -> impl Iterator<Item = (Attr, Vec<SourceFact>)> + '_ {
        self.attrs()
            .map(|attr| (attr, self.get(&attr).unwrap_or_default()))
    }

    /// Record `facts` for `attr`, replacing what was there.
    pub fn insert(&mut self, attr: Attr, facts: Vec<SourceFact>) {
        // The role rules set one attribute for every person of a run: the other attributes'
        // reads are copied as they are, not rebuilt as facts and encoded again.
        let mut out = Builder::default();
        let mut pending = Some(facts);
        self.each_read(|read, name, value| {
            if read.attr > attr {
                if let Some(facts) = pending.take() {
                    out.facts(attr, facts);
                }
            }
            if read.attr != attr {
                out.copy(self, read, name, value);
            }
        });
        if let Some(facts) = pending {
            out.facts(attr, facts);
        }
        *self = out.finish();
    }

    /// Forget what was recorded for `attr`.
    pub fn remove(&mut self, attr: &Attr) {
        let mut out = Builder::default();
        self.each_read(|read, name, value| {
            if read.attr != *attr {
                out.copy(self, read, name, value);
            }
        });
        *self = out.finish();
    }

    /// Each read in order, with its name and value.
    fn each_read(&self, mut each: impl FnMut(&Read, &str, &str)) {
        let mut at = 0;
        for read in self.reads.iter() {
            let (name_end, end) = read.ends(at);
            each(read, &self.text[at..name_end], &self.text[name_end..end]);
            at = end;
        }
    }
}

/// A provenance being written: reads in attribute order, each record's place once.
#[derive(Default)]
struct Builder {
    places: Vec<(Arc<str>, Arc<str>)>,
    reads: Vec<Read>,
    text: String,
}

impl Builder {
    fn read(&mut self, attr: Attr, kind: Kind, place: u32, name: &str, value: &str) {
        let (name_len, name) = clipped(name);
        let (value_len, value) = clipped(value);
        self.text.push_str(name);
        self.text.push_str(value);
        self.reads.push(Read {
            attr,
            kind,
            place,
            name_len,
            value_len,
        });
    }

    /// `facts` as the reads of `attr`, which must come after every attribute written so far.
    fn facts(&mut self, attr: Attr, facts: Vec<SourceFact>) {
        if facts.is_empty() {
            self.read(attr, Kind::Empty, 0, "", "");
        }
        for fact in facts {
            let place = place_of(&mut self.places, fact.source, fact.location);
            if fact.values.is_empty() {
                self.read(attr, Kind::Bare, place, "", "");
            }
            for (i, (name, value)) in fact.values.iter().enumerate() {
                let kind = if i == 0 { Kind::Opens } else { Kind::More };
                self.read(attr, kind, place, name, value);
            }
        }
    }

    /// `read` of `from` (with its name and value) as it is.
    fn copy(&mut self, from: &Provenance, read: &Read, name: &str, value: &str) {
        let place = match (read.kind, from.places.get(read.place as usize)) {
            (Kind::Empty, _) | (_, None) => 0,
            (_, Some((source, location))) => {
                place_of(&mut self.places, source.clone(), location.clone())
            }
        };
        self.read(read.attr, read.kind, place, name, value);
    }

    fn finish(self) -> Provenance {
        Provenance {
            places: self.places.into_boxed_slice(),
            reads: self.reads.into_boxed_slice(),
            text: self.text.into_boxed_str(),
        }
    }
}

impl Read {
    /// Where this read's name ends and its value ends, when it starts at `at` in the text.
    fn ends(&self, at: usize) -> (usize, usize) {
        let name_end = at + self.name_len as usize;
        (name_end, name_end + self.value_len as usize)
    }
}

/// A text's length as kept in a read, and the text cut to it: 4 GiB and more of one value is
/// cited up to that (no read lets a value near that size through).
fn clipped(text: &str) -> (u32, &str) {
    let mut end = text.len().min(u32::MAX as usize);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (end as u32, &text[..end])
}

impl FromIterator<(Attr, Vec<SourceFact>)> for Provenance {
    /// As a map would collect them: the last facts given for an attribute are kept.
    fn from_iter<I: IntoIterator<Item = (Attr, Vec<SourceFact>)>>(entries: I) -> Self {
        let mut entries: Vec<(Attr, Vec<SourceFact>)> = entries.into_iter().collect();
        entries.reverse();
        // Stable: of an attribute's entries, the last given now comes first and is kept.
        entries.sort_by_key(|(attr, _)| *attr);
        entries.dedup_by_key(|(attr, _)| *attr);
        let mut out = Builder::default();
        for (attr, facts) in entries {
            out.facts(attr, facts);
        }
        out.finish()
    }
}

/// The position of (source, location) among `places`, added when new. A person's facts name one
/// place per record, so the list stays a few long.
fn place_of(places: &mut Vec<(Arc<str>, Arc<str>)>, source: Arc<str>, location: Arc<str>) -> u32 {
    let same = |(s, l): &(Arc<str>, Arc<str>)| {
        (Arc::ptr_eq(s, &source) || *s == source) && (Arc::ptr_eq(l, &location) || *l == location)
    };
    let found = places.iter().position(same);
    let at = found.unwrap_or_else(|| {
        places.push((source, location));
        places.len() - 1
    });
    // A person has one place per record and per constant template: far fewer than 2^32.
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl PartialEq for Provenance {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Provenance {}

impl std::fmt::Debug for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(source: &str, location: &str, values: &[(&str, &str)]) -> SourceFact {
        SourceFact {
            source: source.into(),
            location: location.into(),
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn facts_of_one_record_are_cited_once() {
        let title = fact("hr", "hr.csv line 4", &[("title", "Lead Engineer")]);
        assert_eq!(cite([&title]), "hr: title=Lead Engineer (hr.csv line 4)");
        let given = fact("hr", "hr.csv line 4", &[("givenName", "Ada")]);
        let display = fact(
            "hr",
            "hr.csv line 4",
            &[("givenName", "Ada"), ("familyName", "Lovelace")],
        );
        let dept = fact(
            "corp",
            "uid=ada,ou=people,dc=example,dc=com",
            &[("department", "")],
        );
        let constant = fact("config", "[mapping] title = \"Staff\"", &[]);
        assert_eq!(
            cite([&given, &dept, &display, &constant]),
            "hr: givenName=Ada, familyName=Lovelace (hr.csv line 4); \
             corp: department=\"\" (uid=ada,ou=people,dc=example,dc=com); config: [mapping] title = \"Staff\""
        );
    }

    fn sample() -> Vec<(Attr, Vec<SourceFact>)> {
        vec![
            (
                Attr::DisplayName,
                vec![
                    fact(
                        "hr",
                        "hr.csv line 4",
                        &[("givenName", "Ada"), ("familyName", "Lovelace")],
                    ),
                    fact("corp", "uid=ada,dc=x", &[("displayName", "")]),
                ],
            ),
            (
                Attr::UserName,
                vec![fact("hr", "hr.csv line 4", &[("email", "ADA@x.test")])],
            ),
            (
                Attr::Department,
                vec![fact("config", "[mapping] department = \"R&D\"", &[])],
            ),
            (Attr::Title, Vec::new()),
            (
                Attr::Manager,
                vec![
                    fact("hr", "hr.csv line 4", &[("manager", "é")]),
                    fact("hr", "hr.csv line 4", &[("manager", "")]),
                ],
            ),
        ]
    }

    #[test]
    fn facts_come_back_as_they_were_recorded() {
        let provenance: Provenance = sample().into_iter().collect();
        for (attr, facts) in sample() {
            assert_eq!(provenance.get(&attr), Some(facts), "{attr:?}");
            assert!(provenance.contains_key(&attr));
        }
        assert_eq!(provenance.get(&Attr::Email), None);
        assert!(!provenance.contains_key(&Attr::Email));
        let mut sorted = sample();
        sorted.sort_by_key(|(a, _)| *a);
        assert_eq!(provenance.iter().collect::<Vec<_>>(), sorted);
        // Two facts of one place stay two facts; a place is kept once.
        assert_eq!(provenance.get(&Attr::Manager).map(|f| f.len()), Some(2));
        assert_eq!(provenance.places.len(), 3);
    }

    #[test]
    fn insert_replaces_and_remove_forgets() {
        let mut provenance: Provenance = sample().into_iter().collect();
        let role = fact("roles", "[[roles]] 1", &[("department", "Eng")]);
        provenance.insert(Attr::UserName, vec![role.clone()]);
        assert_eq!(provenance.get(&Attr::UserName), Some(vec![role.clone()]));
        provenance.insert(Attr::Email, vec![role.clone()]);
        assert_eq!(provenance.get(&Attr::Email), Some(vec![role]));
        provenance.remove(&Attr::DisplayName);
        assert_eq!(provenance.get(&Attr::DisplayName), None);
        assert_eq!(
            provenance.get(&Attr::Department),
            sample()
                .into_iter()
                .find(|(a, _)| *a == Attr::Department)
                .map(|(_, f)| f)
        );
        // The last facts given for an attribute win, as a map's collect would have it.
        let twice: Provenance = [
            (Attr::Title, vec![fact("a", "1", &[("t", "x")])]),
            (Attr::Title, vec![fact("b", "2", &[("t", "y")])]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            twice.get(&Attr::Title),
            Some(vec![fact("b", "2", &[("t", "y")])])
        );
    }

    #[test]
    fn inserts_and_removes_read_as_a_map_would() {
        use std::collections::BTreeMap;
        let mut model: BTreeMap<Attr, Vec<SourceFact>> = sample().into_iter().collect();
        let mut provenance: Provenance = sample().into_iter().collect();
        let role = fact("roles", "[[roles]] 1", &[("department", "Eng")]);
        let steps: Vec<(Attr, Option<Vec<SourceFact>>)> = vec![
            (Attr::Roles, Some(vec![role.clone()])),
            (Attr::UserName, Some(Vec::new())),
            (
                Attr::Email,
                Some(vec![fact("config", "[mapping] email", &[])]),
            ),
            (Attr::Manager, None),
            (Attr::DisplayName, Some(vec![role.clone(), role])),
            (Attr::Department, None),
            (Attr::GivenName, None),
        ];
        for (attr, facts) in steps {
            match facts {
                Some(facts) => {
                    model.insert(attr, facts.clone());
                    provenance.insert(attr, facts);
                }
                None => {
                    model.remove(&attr);
                    provenance.remove(&attr);
                }
            }
            let read: Vec<_> = provenance.iter().collect();
            let want: Vec<_> = model.clone().into_iter().collect();
            assert_eq!(read, want, "after {attr:?}");
        }
        // The places of facts no longer held are not kept.
        let mut places: Vec<(String, String)> = model
            .values()
            .flatten()
            .map(|f| (f.source.to_string(), f.location.to_string()))
            .collect();
        places.sort();
        places.dedup();
        assert_eq!(provenance.places.len(), places.len());
    }

    #[test]
    fn equal_whatever_order_the_facts_were_given_in() {
        let mut reversed = sample();
        reversed.reverse();
        let a: Provenance = sample().into_iter().collect();
        let b: Provenance = reversed.into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, Provenance::default());
        assert!(format!("{a:?}").contains("Lovelace"));
    }
}
