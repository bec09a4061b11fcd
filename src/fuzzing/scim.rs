//! Target for what a SCIM service answers: list pages (users, groups) through the pager and the
//! profiles' conversions, and error bodies through the explanation a run shows an admin.

use super::fixture::SECRET;
use crate::scim::error::parse_error_body_with;
use crate::scim::paging::{Pager, Step};
use crate::scim::redact::Redactor;
use crate::scim::wire::{Group, ListResponse, User};
use crate::scim::Profile;

/// The most list pages one input is taken as.
const MAX_PAGES: usize = 16;

/// The first byte chooses the reply: `0` user list pages, `1` group list pages, anything else an
/// error reply (two bytes of status, then the body). The rest is the reply's bytes.
pub fn reply(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind {
        0 => users(rest),
        1 => groups(rest),
        _ => error(rest),
    }
}

fn pages<T: serde::de::DeserializeOwned>(data: &[u8]) -> Vec<ListResponse<T>> {
    serde_json::Deserializer::from_slice(data)
        .into_iter()
        .map_while(Result::ok)
        .take(MAX_PAGES)
        .collect()
}

/// The pages as a read takes them: items de-duplicated by id, until the pager stops.
fn paged<T>(resource: &str, pages: Vec<ListResponse<T>>, id_of: fn(&T) -> &String) -> Vec<T> {
    let mut pager = Pager::new(resource, 2);
    let mut items = Vec::new();
    for page in pages {
        let got = page.resources.len() as u64;
        let mut new = 0;
        for item in page.resources {
            if pager.accept(id_of(&item)) {
                new += 1;
                items.push(item);
            }
        }
        match pager.end_page(page.total_results, got, new) {
            Step::Next(start) => assert!(start >= 1, "a startIndex below 1"),
            Step::Done => break,
            Step::Stalled(why) => {
                assert!(!why.is_empty(), "a stall without a reason");
                break;
            }
        }
    }
    let _ = pager.problems(items.len());
    items
}

fn users(data: &[u8]) {
    let users = paged("Users", pages::<User>(data), |u| &u.id);
    for profile in [Profile::notion(), Profile::scim()] {
        for user in &users {
            let _ = profile.to_target_user(user);
            let _ = profile.matches_user_name(user, &user.user_name.to_uppercase());
            let _ = user.primary_email();
        }
    }
}

fn groups(data: &[u8]) {
    let _ = paged("Groups", pages::<Group>(data), |g| &g.id);
}

/// An error body is explained with the token redacted: the explanation must say something and
/// never carry the token, however the body wraps it.
fn error(data: &[u8]) {
    let status = data
        .get(..2)
        .map_or(400, |b| u16::from_be_bytes([b[0], b[1]]));
    let body = String::from_utf8_lossy(data.get(2..).unwrap_or_default());
    let redactor = Redactor::new(SECRET);
    let (kind, detail) = parse_error_body_with(status, &body, &|text| redactor.redact(text));
    assert!(!detail.trim().is_empty(), "an error explained by nothing");
    for shown in kind.iter().chain([&detail]) {
        assert!(
            !shown.contains(SECRET),
            "the token in an explanation: {shown}"
        );
    }
}
