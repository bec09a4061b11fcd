//! A model target for the convergence law: the world after a plan is carried out, in memory.
//! It does what apply and a SCIM service do between them: creates, patches and switches users,
//! and keeps the links the store keeps. Built from the plan's operations only (their `changes`,
//! ids and keys), never from the planner's internals, so a plan that misstates what it does
//! cannot converge by accident.

use super::World;
use crate::model::{Attr, ScimId, SourceKey, TargetUser, UserName};
use crate::plan::{Change, DeactivateMode, KnownLink, Op, Plan};

/// The world once every operation of `plan` succeeded (the sources do not change).
pub(in crate::plan) fn apply(world: &World, plan: &Plan) -> World {
    let mut w = world.clone();
    for (n, op) in plan.operations.iter().enumerate() {
        match op {
            Op::LinkUser(o) => {
                if let Some(previous) = &o.previous_key {
                    w.links.retain(|l| &l.key != previous);
                }
                relink(&mut w, &o.source_key, &o.scim_id, &o.user_name);
            }
            Op::CreateUser(o) => {
                let id = create(&mut w, n, &o.changes);
                relink(&mut w, &o.source_key, &id, &o.user_name);
            }
            Op::PatchUser(o) => {
                if let Some(user) = user(&mut w, &o.scim_id) {
                    patch(user, &o.changes);
                }
                if let Some(l) = w.links.iter_mut().find(|l| l.key == o.source_key) {
                    l.user_name = o.user_name.clone();
                }
            }
            Op::ReaddUser(o) => {
                let id = match o.scim_id.as_ref().and_then(|id| user(&mut w, id)) {
                    Some(user) => {
                        user.active = true;
                        patch(user, &o.changes);
                        user.id.clone()
                    }
                    None => create(&mut w, n, &o.changes),
                };
                relink(&mut w, &o.source_key, &id, &o.user_name);
            }
            Op::DeactivateUser(o) => deactivate(&mut w, &o.scim_id, &o.source_key),
            // Worlds have no groups.
            _ => {}
        }
    }
    w
}

fn user<'w>(w: &'w mut World, id: &ScimId) -> Option<&'w mut TargetUser> {
    w.target.iter_mut().find(|u| &u.id == id)
}

/// The store's one-key-per-id rule: the key points at `id`, and no other key does.
fn relink(w: &mut World, key: &SourceKey, id: &ScimId, name: &UserName) {
    w.links.retain(|l| &l.key != key && &l.scim_id != id);
    w.links.push(KnownLink {
        key: key.clone(),
        scim_id: id.clone(),
        user_name: name.clone(),
        active: true,
    });
}

/// A new active member with the `after` side of every change; its id is new to the world.
fn create(w: &mut World, n: usize, changes: &[Change]) -> ScimId {
    let id = ScimId(format!("new-{n}"));
    let mut user = TargetUser {
        id: id.clone(),
        attrs: Default::default(),
        active: true,
        role: Some("member".to_owned()),
    };
    patch(&mut user, changes);
    w.target.push(user);
    id
}

/// Each changed attribute takes its `after` value; `null` removes it.
fn patch(user: &mut TargetUser, changes: &[Change]) {
    for c in changes {
        let Some(attr) = Attr::from_path(&c.attr) else {
            continue;
        };
        match c.after.as_ref().and_then(|v| v.as_str()) {
            Some(value) => {
                user.attrs.insert(attr, value.to_owned());
            }
            None => {
                user.attrs.remove(&attr);
            }
        }
    }
}

fn deactivate(w: &mut World, id: &ScimId, key: &SourceKey) {
    match w.policy.deactivate {
        DeactivateMode::ActiveFalse => {
            if let Some(user) = user(w, id) {
                user.active = false;
            }
        }
        DeactivateMode::Delete => w.target.retain(|u| &u.id != id),
    }
    if let Some(l) = w.links.iter_mut().find(|l| &l.key == key) {
        l.active = false;
    }
}
