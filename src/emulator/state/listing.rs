//! List calls: paging (`startIndex`, `count` and Notion's cap), the `totalResults` a list
//! reports, order (stable, or shuffled when a profile asks), which accounts a list shows, the
//! filters Notion supports, and a member who joins while a client pages.

use super::faults::ListOrder;
use super::users::UserOut;
use super::{Account, ApiError, Reply, State, Status};
use crate::emulator::filter;
use crate::emulator::profile::{MaxCount, RemovedUser, SeedUser};
use crate::emulator::LIST_SCHEMA;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

/// Notion's page size cap (docs/notion.md, "Paging").
const MAX_COUNT: usize = 100;

/// One `/Users` list call's accounts (positions, in the order shown) and what it reports.
struct UserPage {
    positions: Vec<usize>,
    total: u64,
    start: usize,
}

/// A list page written as [`State::envelope`] writes it, over users serialized in place.
struct PageOut<'p, 'a> {
    total: u64,
    start: usize,
    resources: &'p [UserOut<'a>],
}

impl Serialize for PageOut<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(5))?;
        out.serialize_entry("schemas", &[LIST_SCHEMA])?;
        out.serialize_entry("totalResults", &self.total)?;
        out.serialize_entry("startIndex", &self.start)?;
        out.serialize_entry("itemsPerPage", &self.resources.len())?;
        out.serialize_entry("Resources", self.resources)?;
        out.end()
    }
}

/// Paging and filter parameters of a list call.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<String>,
    /// `startIndex`, raw.
    pub start_index: Option<String>,
    /// `count`, raw.
    pub count: Option<String>,
    /// `excludedAttributes`, lowercased (Entra asks groups without `members`).
    pub excluded: Vec<String>,
}

impl ListQuery {
    /// Read the parameters from a raw query string (names are case-insensitive).
    pub fn parse(query: Option<&str>) -> Self {
        let mut out = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.to_ascii_lowercase().as_str() {
                "filter" => out.filter = Some(value.into_owned()),
                "startindex" => out.start_index = Some(value.into_owned()),
                "count" => out.count = Some(value.into_owned()),
                "excludedattributes" => {
                    out.excluded = value
                        .split(',')
                        .map(|a| a.trim().to_ascii_lowercase())
                        .filter(|a| !a.is_empty())
                        .collect();
                }
                _ => {}
            }
        }
        out
    }
}

impl State {
    fn page(&self, query: &ListQuery) -> Result<(usize, usize), ApiError> {
        let start = match &query.start_index {
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                ApiError::typed(
                    400,
                    "invalidValue",
                    format!("startIndex {raw:?} is not a number."),
                )
            })?,
            None => 1,
        };
        // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0.
        let start = if self.switches.ignore_start_index {
            1
        } else {
            usize::try_from(start.max(1)).unwrap_or(1)
        };
        let count = match &query.count {
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                ApiError::typed(
                    400,
                    "invalidValue",
                    format!("count {raw:?} is not a number."),
                )
            })?,
            None => MAX_COUNT as i64,
        };
        let mut count = usize::try_from(count.max(0)).unwrap_or(0);
        if count > MAX_COUNT {
            match self.switches.max_count {
                MaxCount::Clamp => count = MAX_COUNT,
                MaxCount::Reject => {
                    return Err(ApiError::typed(
                        400,
                        "invalidValue",
                        format!("count may not exceed {MAX_COUNT}."),
                    ))
                }
            }
        }
        Ok((start, count))
    }

    /// The `totalResults` a list reports: the true count, or the lie the switches ask for
    /// (unfiltered lists only, so lookups stay truthful).
    fn reported_total(&self, query: &ListQuery, total: usize) -> u64 {
        match (self.switches.total_results, &query.filter) {
            (Some(lie), None) => lie,
            _ => total as u64,
        }
    }

    fn envelope(resources: Vec<Value>, total: u64, start: usize) -> Value {
        // Built by hand: `json!` would serialize the page into a second copy of itself.
        let mut out = Map::with_capacity(5);
        out.insert("schemas".into(), json!([LIST_SCHEMA]));
        out.insert("totalResults".into(), json!(total));
        out.insert("startIndex".into(), json!(start));
        out.insert("itemsPerPage".into(), json!(resources.len()));
        out.insert("Resources".into(), Value::Array(resources));
        Value::Object(out)
    }

    /// Groups in list order (few enough to sort per page); users use the maintained order.
    fn order<T>(&mut self, items: &mut [T], seq: impl Fn(&T) -> i64) {
        items.sort_by_key(seq);
        self.arrange(items);
    }

    pub(super) fn visible(&self, a: &Account) -> bool {
        match a.status {
            Status::Member => true,
            Status::Removed => self.switches.removed_user == RemovedUser::Inactive,
            Status::Guest => false,
        }
    }

    /// [`State::list_users_body`] as a JSON tree (what tests read).
    #[cfg(test)]
    pub fn list_users(&mut self, query: &ListQuery) -> Reply {
        let page = self.user_page(query)?;
        let resources: Vec<Value> = page
            .positions
            .iter()
            .map(|at| self.user_json(&self.accounts[*at]))
            .collect();
        let body = Self::envelope(resources, page.total, page.start);
        self.after_user_page(query, page.start);
        Ok((200, Some(body)))
    }

    /// A `/Users` list page as the bytes of its JSON body (status 200), written straight from
    /// the accounts: a page of a million-user workspace is not built as a tree first.
    ///
    /// With `drop_last` (the truncated-page fault) the page's last user is left out, as a
    /// server that loses one does.
    pub fn list_users_body(
        &mut self,
        query: &ListQuery,
        drop_last: bool,
    ) -> Result<Vec<u8>, ApiError> {
        let mut page = self.user_page(query)?;
        if drop_last {
            page.positions.pop();
        }
        let users: Vec<UserOut<'_>> = page
            .positions
            .iter()
            .map(|at| UserOut {
                a: &self.accounts[*at],
            })
            .collect();
        let out = PageOut {
            total: page.total,
            start: page.start,
            resources: &users,
        };
        let bytes = serde_json::to_vec(&out).map_err(|e| ApiError::new(500, e.to_string()))?;
        drop(users);
        self.after_user_page(query, page.start);
        Ok(bytes)
    }

    fn after_user_page(&mut self, query: &ListQuery, start: usize) {
        if self.switches.insert_during_read && query.filter.is_none() && start == 1 {
            self.insert_member();
        }
    }

    /// Which accounts one `/Users` list call shows, in its order, and what it reports.
    fn user_page(&mut self, query: &ListQuery) -> Result<UserPage, ApiError> {
        let (matcher, key) = match &query.filter {
            Some(text) => self.user_filter(text)?,
            None => (None, None),
        };
        let order = self.next_order();
        // Only the accounts an index hands over are looked at: the list order for a full list,
        // the owners of one email for an email lookup. Both come in list order (by `seq`). A
        // full list in that order serves its page from the maintained order itself: copying a
        // million positions for each page of a hundred made a large workspace's read quadratic.
        // Any other list is put in its order before the paging parameters are checked, so a
        // refused page draws from the RNG as a served one does.
        let found: Option<Vec<usize>> = match (&key, &matcher, order) {
            (None, None, ListOrder::Listed) => None,
            _ => {
                let mut found: Vec<usize> = match &key {
                    Some(key) => {
                        let mut found = self.email_candidates(key).to_vec();
                        found.sort_by_key(|at| self.accounts[*at].seq);
                        found
                    }
                    None => self.listed().to_vec(),
                };
                if let Some(matcher) = &matcher {
                    found.retain(|at| {
                        let a = &self.accounts[*at];
                        self.visible(a) && matcher(a)
                    });
                }
                self.put_in_order(order, &mut found);
                Some(found)
            }
        };
        let (start, count) = self.page(query)?;
        let all: &[usize] = match &found {
            Some(found) => found,
            None => self.listed(),
        };
        let page = all.get(start - 1..).unwrap_or_default();
        let (total, page) = (all.len(), page.iter().take(count).copied().collect());
        Ok(UserPage {
            positions: page,
            total: self.reported_total(query, total),
            start,
        })
    }

    /// A member who joins while a client pages through `/Users`: first in order, so every
    /// later page shifts by one and `totalResults` grows (docs/notion.md, "Paging").
    fn insert_member(&mut self) {
        self.inserted += 1;
        let domain = self
            .verified_domains
            .first()
            .cloned()
            .unwrap_or_else(|| "example.com".to_owned());
        let user = SeedUser {
            user_name: format!("joined-mid-read-{}@{domain}", self.inserted),
            given_name: Some("Joined".into()),
            family_name: Some(format!("Midread{}", self.inserted)),
            ..SeedUser::default()
        };
        let id = self.seed_user(&user);
        self.first_seq -= 1;
        let seq = self.first_seq;
        if let Some(at) = self.account_at(&id) {
            self.edit_account(at, |a| a.seq = seq);
        }
    }

    /// The matcher of a user filter (`None`: the filter is ignored and everyone listed), and the
    /// email every match is found under, when there is one (the index then narrows the search).
    #[allow(clippy::type_complexity)]
    fn user_filter(
        &self,
        text: &str,
    ) -> Result<(Option<Box<dyn Fn(&Account) -> bool>>, Option<String>), ApiError> {
        let invalid = |detail: String| ApiError::typed(400, "invalidFilter", detail);
        let parsed = match filter::parse(text) {
            Ok(parsed) => parsed,
            Err(e) if self.switches.reject_unknown_filter => return Err(invalid(e.0)),
            Err(_) => return Ok((None, None)),
        };
        let value = parsed.value.clone();
        let attr = parsed.attr.to_ascii_lowercase();
        let name_part = |part: &'static str, value: String| -> Box<dyn Fn(&Account) -> bool> {
            Box::new(move |a: &Account| {
                a.doc
                    .get("name")
                    .and_then(|n| n.get(part))
                    .and_then(Value::as_str)
                    == Some(value.as_str())
            })
        };
        // Every email and userName match is found under the value's email key (`index`).
        let key = Some(value.to_ascii_lowercase());
        let (matcher, key): (Box<dyn Fn(&Account) -> bool>, _) = match attr.as_str() {
            // Notion lowercases emails, so email lookups ignore case (docs/notion.md, "Filters").
            // Whether secondary emails match is unconfirmed: by default only the primary one
            // (the userName) does (docs/notion.md, "Filters").
            "email" if self.switches.email_filter_secondary => {
                let value = value.to_ascii_lowercase();
                (Box::new(move |a: &Account| a.owns_email(&value)), key)
            }
            "email" => (
                Box::new(move |a: &Account| a.user_name().eq_ignore_ascii_case(&value)),
                key,
            ),
            "username" if self.switches.user_name_filter => (
                Box::new(move |a: &Account| a.user_name().eq_ignore_ascii_case(&value)),
                key,
            ),
            // The snake_case names are Notion's own and match case-sensitively
            // (docs/notion.md, "Filters").
            "given_name" if parsed.attr == "given_name" => (name_part("givenName", value), None),
            "family_name" if parsed.attr == "family_name" => (name_part("familyName", value), None),
            _ if self.switches.reject_unknown_filter => {
                return Err(invalid(format!(
                    "Filtering on {:?} is not supported; use email, given_name or family_name.",
                    parsed.attr
                )))
            }
            _ => return Ok((None, None)),
        };
        Ok((Some(matcher), key))
    }

    pub fn list_groups(&mut self, query: &ListQuery) -> Reply {
        let wanted = match &query.filter {
            Some(text) => {
                let parsed =
                    filter::parse(text).map_err(|e| ApiError::typed(400, "invalidFilter", e.0))?;
                if !parsed.attr.eq_ignore_ascii_case("displayName") {
                    return Err(ApiError::typed(
                        400,
                        "invalidFilter",
                        "Groups can only be filtered on displayName.",
                    ));
                }
                Some(parsed.value)
            }
            None => None,
        };
        // Whether the name filter ignores case is unconfirmed: by default it does not
        // (docs/notion.md, "Filters").
        let ignore_case = self.switches.group_filter_ignores_case;
        let mut found: Vec<(i64, String)> = self
            .groups
            .iter()
            .filter(|g| {
                wanted.as_deref().is_none_or(|w| {
                    g.display_name == w || (ignore_case && g.display_name.eq_ignore_ascii_case(w))
                })
            })
            .map(|g| (g.seq, g.id.clone()))
            .collect();
        self.order(&mut found, |(seq, _)| *seq);
        let total = found.len();
        let (start, count) = self.page(query)?;
        let resources = found
            .iter()
            .skip(start - 1)
            .take(count)
            .filter_map(|(_, id)| self.groups.iter().find(|g| g.id == *id))
            .map(|g| {
                let mut body = self.group_json(g);
                exclude(&mut body, &query.excluded);
                body
            })
            .collect();
        let reported = self.reported_total(query, total);
        Ok((200, Some(Self::envelope(resources, reported, start))))
    }
}

/// Honour `excludedAttributes` for the one attribute clients leave out: group `members`.
pub(super) fn exclude(body: &mut Value, excluded: &[String]) {
    if let Some(object) = body.as_object_mut() {
        if excluded.iter().any(|a| a == "members") {
            object.remove("members");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::emulator::profile::{Profile, RemovedUser};
    use std::sync::Arc;

    fn query(filter: Option<&str>, start: &str, count: &str) -> ListQuery {
        ListQuery {
            filter: filter.map(str::to_owned),
            start_index: Some(start.into()),
            count: Some(count.into()),
            ..ListQuery::default()
        }
    }

    #[test]
    fn a_written_page_is_the_page_the_tree_form_gives() {
        let mut profile = Profile::default();
        profile.seed.verified_domains = vec!["x.io".into()];
        profile.switches.removed_user = RemovedUser::Inactive;
        let mut st = State::new(profile, Arc::new(SystemClock));
        for i in 0..7 {
            st.seed_user(&SeedUser {
                user_name: format!("p{i}@x.io"),
                given_name: (i % 2 == 0).then(|| format!("Given \"{i}\"")),
                family_name: Some("Ünicode".into()),
                role: (i % 3 == 0).then(|| "member".into()),
                active: i != 4,
                title: (i == 5).then(|| "Lead\nEngineer".into()),
                secondary_emails: if i == 6 {
                    vec!["alt@x.io".into()]
                } else {
                    Vec::new()
                },
                external_id: Some(format!("E{i}")),
                ..SeedUser::default()
            });
        }
        let queries = [
            query(None, "1", "100"),
            query(None, "3", "2"),
            query(None, "0", "-1"),
            query(None, "99", "5"),
            query(Some("userName eq \"p3@x.io\""), "1", "100"),
            query(Some("email eq \"ALT@x.io\""), "1", "100"),
        ];
        for q in &queries {
            let written = st.list_users_body(q, false).unwrap();
            let (tree_status, tree) = st.list_users(q).unwrap();
            assert_eq!(tree_status, 200);
            let tree = serde_json::to_vec(&tree.unwrap()).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(tree).unwrap(),
                "{q:?}"
            );
        }
        // The truncated-page fault: the same page without its last user, totalResults kept.
        let short = st.list_users_body(&query(None, "2", "3"), true).unwrap();
        let short: Value = serde_json::from_slice(&short).unwrap();
        let (_, mut full) = st.list_users(&query(None, "2", "3")).unwrap();
        let full = full.as_mut().unwrap();
        full["Resources"].as_array_mut().unwrap().pop();
        full["itemsPerPage"] = json!(2);
        assert_eq!(&short, full);
        let (_, page) = st.list_users(&query(None, "1", "1")).unwrap();
        let user = &page.unwrap()["Resources"][0];
        let keys: Vec<&str> = user
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "schemas",
                "id",
                "externalId",
                "userName",
                "name",
                "displayName",
                "emails",
                "photos",
                "active",
                crate::emulator::NOTION_SCHEMA,
                "meta"
            ],
            "{user}"
        );
        assert_eq!(
            user["meta"]["location"],
            format!("{LOCATION}/Users/{}", user["id"].as_str().unwrap())
        );
    }

    const LOCATION: &str = "https://app.notion.com/scim/v2";
}
