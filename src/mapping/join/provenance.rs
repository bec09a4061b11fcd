//! Where each mapped attribute's value comes from, for the plan's reasons: a lookup that answers
//! exactly as the person's view does (precedence included) and notes the record behind every
//! read, so a patch can cite `hr: title=Lead Engineer (hr.csv line 4)` rather than an unrelated
//! fact.

use super::View;
use crate::mapping::rules::ATTR_KEYS;
use crate::mapping::template::{Lookup, Template};
use crate::model::{Attr, SourceFact, SourceRecord};
use std::cell::RefCell;
use std::sync::Arc;

/// The view, plus the (record, attribute name) of every read it answered.
struct Traced<'v, 'a, 'r> {
    view: &'v View<'a, 'r>,
    reads: RefCell<Vec<(&'v SourceRecord, String)>>,
}

impl<'v> Traced<'v, '_, '_> {
    fn note(&self, record: &'v SourceRecord, name: &str) {
        self.reads.borrow_mut().push((record, name.to_owned()));
    }
}

impl Lookup for Traced<'_, '_, '_> {
    fn attr(&self, name: &str) -> Option<&str> {
        // The view's answer (the first record in precedence order with a value), found once:
        // the record it comes from is noted; when none has one, the record that would.
        let ordered = self.view.ordered(name);
        let valued = ordered.iter().find_map(|r| value(r, name).map(|v| (*r, v)));
        if let Some(record) = valued.map(|(r, _)| r).or(ordered.first().copied()) {
            self.note(record, name);
        }
        valued.map(|(_, v)| v)
    }

    fn source_attr(&self, source: &str, name: &str) -> Option<&str> {
        if let Some((_, record)) = self.view.person.records.iter().find(|(s, _)| *s == source) {
            self.note(record, name);
        }
        self.view.source_attr(source, name)
    }
}

fn value<'r>(record: &'r SourceRecord, name: &str) -> Option<&'r str> {
    record.attrs.get(name).filter(|v| !v.trim().is_empty())
}

/// The source name and location of each of a person's records, made once a person and shared by
/// the facts of all their attributes.
pub(super) struct Places<'r> {
    places: Vec<(&'r SourceRecord, Arc<str>, Arc<str>)>,
}

impl<'r> Places<'r> {
    pub(super) fn of(view: &View<'_, 'r>) -> Self {
        Places {
            places: view
                .person
                .records
                .iter()
                .map(|(_, r)| {
                    (
                        *r,
                        Arc::from(r.key.source.as_str()),
                        Arc::from(r.location.as_str()),
                    )
                })
                .collect(),
        }
    }

    fn of_record(&self, record: &SourceRecord) -> (Arc<str>, Arc<str>) {
        match self
            .places
            .iter()
            .find(|(r, _, _)| std::ptr::eq(*r, record))
        {
            Some((_, source, location)) => (source.clone(), location.clone()),
            None => (
                Arc::from(record.key.source.as_str()),
                Arc::from(record.location.as_str()),
            ),
        }
    }
}

/// Render `template` (the one of `attr`) for the person in `view`, with the facts behind the
/// value: the records read that had a value, or, when none had, the records read (their values
/// cited as empty), or, for a template that reads nothing, the template itself.
pub(super) fn render(
    view: &View<'_, '_>,
    places: &Places<'_>,
    attr: Attr,
    template: &Template,
) -> (Option<String>, Vec<SourceFact>) {
    let traced = Traced {
        view,
        reads: RefCell::default(),
    };
    let rendered = template.render(&traced);
    let reads = traced.reads.into_inner();
    let valued: Vec<&(&SourceRecord, String)> = reads
        .iter()
        .filter(|(r, name)| value(r, name).is_some())
        .collect();
    let cited = if valued.is_empty() {
        reads.iter().collect()
    } else {
        valued
    };
    let mut facts: Vec<SourceFact> = Vec::new();
    for (record, name) in cited {
        let read = (
            name.clone(),
            value(record, name).unwrap_or_default().to_owned(),
        );
        let same = facts
            .iter_mut()
            .find(|f| *f.source == *record.key.source && *f.location == *record.location);
        match same {
            Some(fact) if fact.values.iter().any(|(n, _)| n == name) => {}
            Some(fact) => fact.values.push(read),
            None => {
                let (source, location) = places.of_record(record);
                facts.push(SourceFact {
                    source,
                    location,
                    values: vec![read],
                });
            }
        }
    }
    if facts.is_empty() {
        let key = ATTR_KEYS
            .iter()
            .find(|(_, a, _)| *a == attr)
            .map_or(attr.path(), |(key, _, _)| key);
        facts.push(SourceFact {
            source: Arc::from("config"),
            location: Arc::from(format!("[mapping] {key} = {:?}", template.as_str())),
            values: Vec::new(),
        });
    }
    (rendered, facts)
}
