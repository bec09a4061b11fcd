//! Names compared the way the target keeps them. A target that keeps every part as sent
//! (`NameModel::Parts`) is compared part by part. Notion keeps one name per person
//! (`NameModel::Single`, docs/notion.md, "Users"): what it returns need not equal what was sent
//! (parts dropped or re-split, `displayName` always its one name), so only the whole name
//! (`givenName` and `familyName` joined) is compared, and a no-change run makes no write however
//! the target re-split it; when it differs, the name attributes that differ are sent.

use super::diff::diff;
use super::op::Change;
use crate::model::{Attr, NameModel, UserAttrs};
use std::collections::BTreeSet;

/// The name parts a single-name target takes.
const PARTS: [Attr; 2] = [Attr::GivenName, Attr::FamilyName];

/// Changes that turn `current` into `desired` over the managed attributes, names compared as
/// `model` says the target keeps them; in plan order.
pub(super) fn compare(
    model: NameModel,
    desired: &UserAttrs,
    current: &UserAttrs,
    managed: &BTreeSet<Attr>,
) -> Vec<Change> {
    match model {
        NameModel::Parts => diff(desired, current, managed),
        NameModel::Single => single(desired, current, managed),
    }
}

fn single(desired: &UserAttrs, current: &UserAttrs, managed: &BTreeSet<Attr>) -> Vec<Change> {
    let others: BTreeSet<Attr> = managed
        .iter()
        .copied()
        .filter(|a| !PARTS.contains(a) && *a != Attr::DisplayName)
        .collect();
    let mut changes = diff(desired, current, &others);
    // `displayName` goes with the parts: Notion drops it, a workspace that keeps it as sent
    // (the emulator's `as-sent`) would otherwise keep the old name there.
    let name: BTreeSet<Attr> = [Attr::GivenName, Attr::FamilyName, Attr::DisplayName]
        .into_iter()
        .filter(|a| managed.contains(a))
        .collect();
    // A person the sources give no name part has nothing the target would take as a name.
    let Some(want) = whole_name(desired) else {
        return changes;
    };
    let have = whole_name(current).or_else(|| current.get(&Attr::DisplayName).map(collapse));
    if have.as_deref() != Some(want.as_str()) {
        changes.extend(diff(desired, current, &name));
        changes.sort_by_key(|c| Attr::from_path(&c.attr));
    }
    changes
}

/// `givenName` and `familyName` joined, whitespace collapsed; `None` without either.
fn whole_name(attrs: &UserAttrs) -> Option<String> {
    let joined = PARTS
        .iter()
        .filter_map(|a| attrs.get(a))
        .collect::<Vec<_>>()
        .join(" ");
    let name = collapse(&joined);
    (!name.is_empty()).then_some(name)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(Attr, &str)]) -> UserAttrs {
        pairs.iter().map(|(a, v)| (*a, (*v).to_owned())).collect()
    }

    fn managed() -> BTreeSet<Attr> {
        [
            Attr::GivenName,
            Attr::FamilyName,
            Attr::DisplayName,
            Attr::Title,
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_re_split_or_dropped_name_is_no_change_under_one_name() {
        let want = attrs(&[
            (Attr::GivenName, "Mary Ann"),
            (Attr::FamilyName, "Smith"),
            (Attr::DisplayName, "M. A. Smith"),
            (Attr::Title, "Lead"),
        ]);
        let re_split = attrs(&[
            (Attr::GivenName, "Mary"),
            (Attr::FamilyName, "Ann Smith"),
            (Attr::DisplayName, "Mary Ann Smith"),
            (Attr::Title, "Lead"),
        ]);
        assert!(compare(NameModel::Single, &want, &re_split, &managed()).is_empty());
        let only_display = attrs(&[(Attr::DisplayName, "Mary Ann Smith"), (Attr::Title, "Lead")]);
        assert!(compare(NameModel::Single, &want, &only_display, &managed()).is_empty());
        // Kept as sent, the same target differs in three attributes.
        assert_eq!(
            compare(NameModel::Parts, &want, &re_split, &managed()).len(),
            3
        );
    }

    #[test]
    fn a_new_name_sends_the_parts_and_display_name() {
        let want = attrs(&[
            (Attr::GivenName, "Mary Ann"),
            (Attr::FamilyName, "Jones"),
            (Attr::DisplayName, "Mary Ann Jones"),
        ]);
        let have = attrs(&[
            (Attr::GivenName, "Mary"),
            (Attr::FamilyName, "Ann Smith"),
            (Attr::DisplayName, "Mary Ann Smith"),
        ]);
        let changes = compare(NameModel::Single, &want, &have, &managed());
        let attrs: Vec<&str> = changes.iter().map(|c| c.attr.as_ref()).collect();
        assert_eq!(attrs, ["name.givenName", "name.familyName", "displayName"]);
        assert_eq!(changes[0].after, Some("Mary Ann".into()));
        // No part in the sources: nothing Notion would take as a name is sent.
        let nameless = attrs_of_display();
        assert!(compare(NameModel::Single, &nameless, &have, &managed()).is_empty());
    }

    fn attrs_of_display() -> UserAttrs {
        attrs(&[(Attr::DisplayName, "Someone")])
    }
}
