//! Indexes over the workspace's accounts, so a large workspace (100,000 members) is served in
//! seconds: by id, by email (the ASCII-lowercased `userName` and every address in `emails`), and
//! the list order of the accounts a user list can show.
//!
//! The indexes only narrow: every caller still checks its own predicate (`owns_email`,
//! `visible`, a filter) on what an index hands it, so an index that holds a few accounts too many
//! can never change an answer. The rule that keeps them complete is that every change to an
//! account's id, documents' emails, status or list position goes through [`State::edit_account`]
//! (or [`State::push_account`] for a new one); `index_is_current` checks this in the tests.

use super::{emails_of, Account, State};
use crate::emulator::profile::RemovedUser;
use std::collections::HashMap;

/// The indexes; rebuilt from scratch nowhere but in tests (`rebuilt`).
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Account position by id.
    by_id: HashMap<String, usize>,
    /// Account positions by email key, ascending and without repeats.
    by_email: HashMap<String, Vec<usize>>,
    /// The positions of the accounts a user list shows, in list order, for the `removed_user`
    /// switch it was computed under; `None` after any change that could move or hide someone.
    listed: Option<(RemovedUser, Vec<usize>)>,
}

/// The keys an account is found under by email: its `userName` (ASCII-lowercased, as
/// `owns_email` compares it) and its emails (stored lowercased).
fn email_keys(account: &Account) -> Vec<String> {
    let mut keys = emails_of(&account.doc);
    keys.push(account.user_name().to_ascii_lowercase());
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl Index {
    fn add(&mut self, at: usize, account: &Account) {
        self.by_id.insert(account.id.clone(), at);
        for key in email_keys(account) {
            let positions = self.by_email.entry(key).or_default();
            if let Err(slot) = positions.binary_search(&at) {
                positions.insert(slot, at);
            }
        }
        self.listed = None;
    }

    fn remove(&mut self, at: usize, account: &Account) {
        if self.by_id.get(&account.id) == Some(&at) {
            self.by_id.remove(&account.id);
        }
        for key in email_keys(account) {
            if let Some(positions) = self.by_email.get_mut(&key) {
                positions.retain(|p| *p != at);
                if positions.is_empty() {
                    self.by_email.remove(&key);
                }
            }
        }
        self.listed = None;
    }
}

impl State {
    /// Add a new account at the end and index it; returns its position.
    pub(super) fn push_account(&mut self, account: Account) -> usize {
        let at = self.accounts.len();
        self.index.add(at, &account);
        self.accounts.push(account);
        at
    }

    /// Change the account at `at` through `edit`, keeping the indexes in step.
    pub(super) fn edit_account<R>(&mut self, at: usize, edit: impl FnOnce(&mut Account) -> R) -> R {
        self.index.remove(at, &self.accounts[at]);
        let out = edit(&mut self.accounts[at]);
        self.index.add(at, &self.accounts[at]);
        out
    }

    /// The position of the account with this id, whatever its status.
    pub(super) fn account_at(&self, id: &str) -> Option<usize> {
        self.index.by_id.get(id).copied()
    }

    /// The account with this id, whatever its status.
    pub(super) fn account(&self, id: &str) -> Option<&Account> {
        self.account_at(id).map(|at| &self.accounts[at])
    }

    /// Positions of the accounts found under `email` (any case), ascending: a superset of those
    /// that own it or carry it as `userName`; callers check which really do.
    pub(super) fn email_candidates(&self, email: &str) -> &[usize] {
        self.index
            .by_email
            .get(&email.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Positions of the accounts that own `email` (`Account::owns_email`), ascending: the same
    /// accounts, in the same order, as scanning every account would find.
    pub(super) fn owners_of(&self, email: &str) -> Vec<usize> {
        self.email_candidates(email)
            .iter()
            .copied()
            .filter(|at| self.accounts[*at].owns_email(email))
            .collect()
    }

    /// Positions of the accounts a user list shows, in stable list order (by `seq`). Computed
    /// once after each change and reused by every page of a read, so paging costs the page, not
    /// the workspace.
    pub(super) fn listed(&mut self) -> &[usize] {
        let mode = self.switches.removed_user;
        let current = matches!(&self.index.listed, Some((m, _)) if *m == mode);
        if !current {
            let mut positions: Vec<usize> = (0..self.accounts.len())
                .filter(|at| self.visible(&self.accounts[*at]))
                .collect();
            positions.sort_by_key(|at| self.accounts[*at].seq);
            self.index.listed = Some((mode, positions));
        }
        match &self.index.listed {
            Some((_, positions)) => positions,
            None => &[],
        }
    }

    /// Whether the maintained indexes equal ones built from scratch (tests call it after every
    /// kind of change).
    #[cfg(test)]
    pub(super) fn index_is_current(&self) -> bool {
        let mut fresh = Index::default();
        for (at, account) in self.accounts.iter().enumerate() {
            fresh.add(at, account);
        }
        let listed_ok = match &self.index.listed {
            None => true,
            Some((mode, positions)) => {
                let mut want: Vec<usize> = (0..self.accounts.len())
                    .filter(|at| match self.accounts[*at].status {
                        super::Status::Member => true,
                        super::Status::Removed => *mode == RemovedUser::Inactive,
                        super::Status::Guest => false,
                    })
                    .collect();
                want.sort_by_key(|at| self.accounts[*at].seq);
                *positions == want
            }
        };
        fresh.by_id == self.index.by_id && fresh.by_email == self.index.by_email && listed_ok
    }
}

#[cfg(test)]
mod tests {
    use super::super::ListQuery;
    use super::*;
    use crate::clock::SystemClock;
    use crate::emulator::profile::{Profile, SeedUser};
    use serde_json::{json, Value};
    use std::sync::Arc;

    fn state() -> State {
        let mut profile = Profile::default();
        profile.switches.readd_keeps_id = false;
        profile.switches.email_filter_secondary = true;
        profile.seed.verified_domains = vec!["x.io".into()];
        State::new(profile, Arc::new(SystemClock))
    }

    fn ids(reply: &Value) -> Vec<String> {
        reply["Resources"]
            .as_array()
            .map(|items| {
                let id = |u: &Value| u["id"].as_str().map(str::to_owned);
                items.iter().filter_map(id).collect()
            })
            .unwrap_or_default()
    }

    fn list(state: &mut State, filter: Option<&str>, start: usize) -> Value {
        let query = ListQuery {
            filter: filter.map(str::to_owned),
            start_index: Some(start.to_string()),
            count: Some("2".into()),
            ..ListQuery::default()
        };
        state.list_users(&query).unwrap().1.unwrap()
    }

    /// Every id a stable full read returns, page by page, against the accounts a scan finds.
    fn full_read_matches_a_scan(state: &mut State) {
        let mut scan: Vec<&Account> = state.accounts.iter().filter(|a| state.visible(a)).collect();
        scan.sort_by_key(|a| a.seq);
        let want: Vec<String> = scan.iter().map(|a| a.id.clone()).collect();
        let mut got = Vec::new();
        let mut start = 1;
        while start <= want.len() {
            got.extend(ids(&list(state, None, start)));
            start += 2;
        }
        assert_eq!(got, want);
    }

    #[test]
    fn every_kind_of_change_keeps_the_indexes_complete() {
        let mut s = state();
        let seeded = s.seed_user(&SeedUser {
            user_name: "Ada@X.io".into(),
            secondary_emails: vec!["ada.l@x.io".into()],
            active: true,
            ..SeedUser::default()
        });
        s.seed_user(&SeedUser {
            user_name: "guest@y.io".into(),
            guest: true,
            ..SeedUser::default()
        });
        s.add_token("t-owner", "owner@x.io");
        assert!(s.index_is_current());
        let bob = json!({"userName": "bob@x.io", "name": {"givenName": "Bob"}});
        let (_, body) = s.create_user(&bob).unwrap();
        let bob_id = body.unwrap()["id"].as_str().unwrap().to_owned();
        assert!(s.index_is_current());
        full_read_matches_a_scan(&mut s);
        // A new secondary email is found at once; the old one no longer is.
        let put = json!({"userName": "bob@x.io", "emails": [{"value": "BOB2@x.io"}]});
        s.replace_user(&bob_id, &put, "t-owner").unwrap();
        assert!(s.index_is_current());
        assert_eq!(
            ids(&list(&mut s, Some("email eq \"bob2@X.IO\""), 1)),
            [bob_id.as_str()]
        );
        assert_eq!(
            ids(&list(&mut s, Some("email eq \"ada.l@x.io\""), 1)),
            [seeded.as_str()]
        );
        // Removed (hidden by default), then added back under a new id.
        let off = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
        s.patch_user(&bob_id, &off, "t-owner").unwrap();
        assert!(s.index_is_current());
        full_read_matches_a_scan(&mut s);
        assert!(ids(&list(&mut s, Some("email eq \"bob@x.io\""), 1)).is_empty());
        let (_, body) = s.create_user(&bob).unwrap();
        let readded = body.unwrap()["id"].as_str().unwrap().to_owned();
        assert_ne!(readded, bob_id);
        assert!(s.index_is_current());
        assert!(s.get_user(&bob_id).is_err() && s.get_user(&readded).is_ok());
        s.delete_user(&seeded, "t-owner").unwrap();
        assert!(s.index_is_current());
        full_read_matches_a_scan(&mut s);
        // A member joining mid-read goes first in list order.
        s.switches.insert_during_read = true;
        list(&mut s, None, 1);
        assert!(s.index_is_current());
        s.switches.insert_during_read = false;
        full_read_matches_a_scan(&mut s);
        let first = ids(&list(&mut s, None, 1));
        assert!(s
            .account(&first[0])
            .unwrap()
            .user_name()
            .starts_with("joined-mid-read-"));
        // The list order follows the removed-user switch as it is now.
        s.switches.removed_user = RemovedUser::Inactive;
        full_read_matches_a_scan(&mut s);
        assert!(s.index_is_current());
    }
}
