//! Seeding the workspace from a profile (and adding accounts the control API asks for): users
//! with their documents as Notion would store them, groups of members.

use super::{Account, Group, State, Status};
use crate::emulator::profile::{SeedGroup, SeedUser};
use crate::emulator::NOTION_SCHEMA;
use serde_json::{json, Map, Value};

impl State {
    pub fn seed_user(&mut self, user: &SeedUser) -> String {
        let user_name = user.user_name.trim().to_ascii_lowercase();
        let mut doc = Map::new();
        if let Some(external_id) = &user.external_id {
            doc.insert("externalId".into(), json!(external_id));
        }
        doc.insert("userName".into(), json!(user_name));
        let mut name = Map::new();
        if let Some(formatted) = &user.formatted {
            name.insert("formatted".into(), json!(formatted));
        }
        if let Some(given) = &user.given_name {
            name.insert("givenName".into(), json!(given));
        }
        if let Some(family) = &user.family_name {
            name.insert("familyName".into(), json!(family));
        }
        let display = user.formatted.clone().or_else(|| {
            let joined = [user.given_name.as_deref(), user.family_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        });
        if !name.is_empty() {
            doc.insert("name".into(), Value::Object(name));
        }
        if let Some(display) = display {
            doc.insert("displayName".into(), json!(display));
        }
        let mut emails = vec![json!({"value": user_name, "primary": true, "type": "work"})];
        for extra in &user.secondary_emails {
            emails.push(json!({"value": extra.to_ascii_lowercase(), "primary": false}));
        }
        doc.insert("emails".into(), Value::Array(emails));
        if let Some(title) = &user.title {
            doc.insert("title".into(), json!(title));
        }
        doc.insert("photos".into(), json!([]));
        if let Some(role) = user.role.as_deref().filter(|r| !r.is_empty()) {
            doc.insert(NOTION_SCHEMA.into(), json!({ "role": role }));
        }
        self.rewrite(&mut doc);
        let status = if user.guest {
            Status::Guest
        } else if user.active {
            Status::Member
        } else {
            Status::Removed
        };
        let now = self.now_ms();
        if let Some(at) = self.owners_of(&user_name).first().copied() {
            return self.edit_account(at, |existing| {
                existing.doc = doc;
                existing.status = status;
                existing.modified_ms = now;
                existing.id.clone()
            });
        }
        let id = match &user.id {
            Some(id) => id.clone(),
            None => self.new_id(),
        };
        let seq = self.seq();
        self.push_account(Account {
            id: id.clone(),
            seq,
            status,
            doc,
            created_ms: now,
            modified_ms: now,
        });
        id
    }

    pub fn seed_group(&mut self, group: &SeedGroup) -> String {
        let members = group
            .members
            .iter()
            .filter_map(|m| {
                // The first account, in creation order, with this id or userName.
                let named = self
                    .email_candidates(m)
                    .iter()
                    .copied()
                    .find(|at| self.accounts[*at].user_name().eq_ignore_ascii_case(m));
                [self.account_at(m), named]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|at| &self.accounts[at])
                    .filter(|a| a.status == Status::Member)
                    .map(|a| a.id.clone())
            })
            .collect();
        let id = match &group.id {
            Some(id) => id.clone(),
            None => self.new_id(),
        };
        let seq = self.seq();
        let now = self.now_ms();
        self.groups.push(Group {
            id: id.clone(),
            seq,
            display_name: group.display_name.clone(),
            members,
            external_id: group.external_id.clone(),
            sole_full_access: group.sole_full_access,
            created_ms: now,
            modified_ms: now,
        });
        id
    }
}
