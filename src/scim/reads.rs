//! The read side of a SCIM target ([`TargetRead`] for [`Reader`]): the token check, single gets,
//! filtered lookups, and full paged reads.
//!
//! Offset pagination over an unstable order can skip and duplicate records while `totalResults`
//! still adds up (RFC 7644 §3.4.2.4), so a full read checks itself (`paging`), is read again from
//! page 1 when it does not add up, and says so when it still does not; a listing that makes no
//! progress stops at once, and after every attempt stalls it is an error ([`Error::Paging`]).

use super::client::Reader;
use super::error::{Error, Result};
use super::paging::{Pager, Step};
use super::profile::{eq_filter, Profile};
use super::target::{GroupRead, TargetRead, TargetUserRead, UserRead};
use super::transport::Core;
use super::wire;
use crate::model::ScimId;
use futures_util::StreamExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How many times a full read that does not add up is read again from page 1.
const READ_RETRIES: u32 = 3;

/// One pass of a paged read.
struct Pass<T> {
    items: Vec<T>,
    problems: Vec<String>,
    /// Why the listing stopped for lack of progress, if it did.
    stalled: Option<String>,
    /// Page requests made.
    pages: u64,
}

/// What a full read ended with: the items, whether it added up, why not, and the passes made.
struct Listing<T> {
    items: Vec<T>,
    consistent: bool,
    problems: Vec<String>,
    attempts: u32,
}

impl TargetRead for Reader {
    fn profile(&self) -> &Profile {
        &self.core.profile
    }

    /// `GET /Users?count=1`. (Notion answers `/ServiceProviderConfig` without a token, so that
    /// endpoint cannot test one.)
    async fn probe(&self) -> Result<()> {
        let core = &self.core;
        let query = [("startIndex", "1".to_owned()), ("count", "1".to_owned())];
        let reply = core.send(Method::GET, &["Users"], &query, None).await?;
        let path = "/Users";
        core.expect_ok("GET", path, &reply)?;
        core.parse::<wire::ListResponse<Value>>("GET", path, &reply.body)?;
        Ok(())
    }

    async fn read_users(&self) -> Result<UserRead> {
        let listing = self
            .core
            .read_consistent::<wire::User, _>("Users", |u| &u.id, &|u| u)
            .await?;
        Ok(UserRead {
            users: listing.items,
            consistent: listing.consistent,
            problems: listing.problems,
            attempts: listing.attempts,
        })
    }

    async fn read_groups(&self) -> Result<GroupRead> {
        let listing = self
            .core
            .read_consistent::<wire::Group, _>("Groups", |g| &g.id, &|g| g)
            .await?;
        Ok(GroupRead {
            groups: listing.items,
            consistent: listing.consistent,
            problems: listing.problems,
            attempts: listing.attempts,
        })
    }

    async fn get_user(&self, id: &ScimId) -> Result<Option<wire::User>> {
        let core = &self.core;
        let path = format!("/Users/{id}");
        let reply = core.send(Method::GET, &["Users", &id.0], &[], None).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        core.expect_ok("GET", &path, &reply)?;
        core.parse_user("GET", &path, &reply.body).map(Some)
    }

    async fn get_group(&self, id: &ScimId) -> Result<Option<wire::Group>> {
        let core = &self.core;
        let path = format!("/Groups/{id}");
        let reply = core
            .send(Method::GET, &["Groups", &id.0], &[], None)
            .await?;
        if reply.status == 404 {
            return Ok(None);
        }
        core.expect_ok("GET", &path, &reply)?;
        core.parse_group("GET", &path, &reply.body).map(Some)
    }

    async fn find_user(&self, user_name: &str) -> Result<Option<wire::User>> {
        let profile = &self.core.profile;
        let filter = profile.user_filter(user_name);
        let list: wire::ListResponse<wire::User> = self.core.filtered("Users", filter).await?;
        Ok(list
            .resources
            .into_iter()
            .find(|u| !u.id.is_empty() && profile.matches_user_name(u, user_name)))
    }

    async fn find_group(&self, display_name: &str) -> Result<Option<wire::Group>> {
        let filter = eq_filter("displayName", display_name);
        let list: wire::ListResponse<wire::Group> = self.core.filtered("Groups", filter).await?;
        Ok(list
            .resources
            .into_iter()
            .find(|g| !g.id.is_empty() && g.display_name == display_name))
    }
}

impl Reader {
    /// A full read of `/Users` (as [`TargetRead::read_users`]) with each user normalised by the
    /// profile as its page arrives: the wire form of a page is dropped once read, so a large
    /// workspace is never held twice (its wire form is several times the size of the
    /// normalised one).
    pub async fn read_target_users(&self) -> Result<TargetUserRead> {
        let profile = &self.core.profile;
        let listing = self
            .core
            .read_consistent::<wire::User, _>("Users", |u| &u.id, &|u| profile.to_target_user(&u))
            .await?;
        Ok(TargetUserRead {
            users: listing.items,
            consistent: listing.consistent,
            problems: listing.problems,
            attempts: listing.attempts,
        })
    }
}

impl Core {
    /// The first page of `resource` matching `filter`.
    async fn filtered<T: DeserializeOwned>(&self, resource: &str, filter: String) -> Result<T> {
        let query = [
            ("filter", filter),
            ("startIndex", "1".to_owned()),
            ("count", self.page_size.to_string()),
        ];
        let path = format!("/{resource}");
        let reply = self.send(Method::GET, &[resource], &query, None).await?;
        self.expect_ok("GET", &path, &reply)?;
        self.parse("GET", &path, &reply.body)
    }

    /// Read every page, up to `1 + READ_RETRIES` times until a read adds up. A listing that
    /// makes no progress in every attempt is an error ([`Error::Paging`]): nothing it returned
    /// can be trusted, not even for creates.
    async fn read_consistent<T: DeserializeOwned, U>(
        &self,
        resource: &str,
        id_of: fn(&T) -> &String,
        keep: &(dyn Fn(T) -> U + Sync),
    ) -> Result<Listing<U>> {
        let mut attempts = 0;
        let mut requests = 0;
        loop {
            attempts += 1;
            let pass = self.read_pages(resource, id_of, keep).await?;
            requests += pass.pages;
            let retry = attempts <= READ_RETRIES;
            if let Some(detail) = pass.stalled {
                if !retry {
                    return Err(Error::Paging {
                        path: format!("/{resource}"),
                        detail: self.redact(&detail),
                        requests,
                    });
                }
                tracing::warn!(
                    resource,
                    attempts,
                    detail,
                    "SCIM listing makes no progress; reading again"
                );
                continue;
            }
            let consistent = pass.problems.is_empty();
            if consistent || !retry {
                if !consistent {
                    tracing::warn!(
                        resource,
                        attempts,
                        problems = ?pass.problems,
                        "SCIM read still inconsistent; giving up"
                    );
                }
                return Ok(Listing {
                    items: pass.items,
                    consistent,
                    problems: pass.problems,
                    attempts,
                });
            }
            tracing::warn!(
                resource,
                attempts,
                problems = ?pass.problems,
                "SCIM read inconsistent; reading again"
            );
        }
    }

    /// One full paged read: items de-duplicated by id, the reasons it does not add up, and
    /// whether it stopped for lack of progress.
    ///
    /// Pages 1 and 2 are read one after the other: page 1 tells `totalResults`, page 2 shows
    /// that the target honours `startIndex` (a target that ignores it stalls there, after two
    /// requests, as a sequential read would). The pages the first one implies are then fetched
    /// up to the concurrency bound at once (the rate budget and the bound still apply to every
    /// request) and handed to the pager strictly in `startIndex` order, so its checks see
    /// exactly the pages a sequential read would. A page that ends somewhere other than where
    /// the next fetched one starts (a short page, a server serving fewer than asked) drops the
    /// fetched pages and the read goes on one page at a time.
    async fn read_pages<T: DeserializeOwned, U>(
        &self,
        resource: &str,
        id_of: fn(&T) -> &String,
        keep: &(dyn Fn(T) -> U + Sync),
    ) -> Result<Pass<U>> {
        let mut read = PagedRead {
            items: Vec::new(),
            pager: Pager::new(resource, self.page_size),
            id_of,
            keep,
        };
        let mut step = read.take(self.fetch_page(resource, 1).await?);
        if let Step::Next(start) = step {
            step = read.take(self.fetch_page(resource, start).await?);
        }
        if let Step::Next(start) = step {
            let window = self.permits.limit();
            let starts = read.planned_starts(start, u64::from(self.page_size));
            if window > 1 && starts.len() > 1 {
                step = self
                    .take_concurrently(resource, &mut read, starts, window)
                    .await?;
            }
        }
        let stalled = loop {
            match step {
                Step::Next(start) => step = read.take(self.fetch_page(resource, start).await?),
                Step::Done => break None,
                Step::Stalled(why) => break Some(why),
            }
        };
        let problems = read.pager.problems(read.items.len());
        Ok(Pass {
            items: read.items,
            problems,
            stalled,
            pages: read.pager.pages(),
        })
    }

    /// Fetch the pages at `starts`, up to `window` at once, and feed them to the pager in order
    /// while each starts where the pager expects the next page. Returns the pager's last step;
    /// pages fetched past a mismatch, a stall or the end are dropped (reads only, so dropping
    /// one in flight changes nothing on the target).
    async fn take_concurrently<T: DeserializeOwned, U>(
        &self,
        resource: &str,
        read: &mut PagedRead<'_, T, U>,
        starts: Vec<u64>,
        window: usize,
    ) -> Result<Step> {
        let mut pages = std::pin::pin!(futures_util::stream::iter(starts)
            .map(|start| async move { (start, self.fetch_page::<T>(resource, start).await) })
            .buffered(window));
        let mut step = Step::Next(read.pager.start());
        while let Some((start, page)) = pages.next().await {
            if step != Step::Next(start) {
                break;
            }
            step = read.take(page?);
        }
        Ok(step)
    }

    /// One page of `resource` from `start`.
    async fn fetch_page<T: DeserializeOwned>(
        &self,
        resource: &str,
        start: u64,
    ) -> Result<wire::ListResponse<T>> {
        let path = format!("/{resource}");
        let query = [
            ("startIndex", start.to_string()),
            ("count", self.page_size.to_string()),
        ];
        let reply = self.send(Method::GET, &[resource], &query, None).await?;
        self.expect_ok("GET", &path, &reply)?;
        self.parse("GET", &path, &reply.body)
    }
}

/// A full read in progress: what it kept (each new item turned into what the caller keeps) and
/// the pager checking it.
struct PagedRead<'k, T, U> {
    items: Vec<U>,
    pager: Pager,
    id_of: fn(&T) -> &String,
    keep: &'k (dyn Fn(T) -> U + Sync),
}

impl<T, U> PagedRead<'_, T, U> {
    /// Keep the new items of a page and close it in the pager.
    fn take(&mut self, page: wire::ListResponse<T>) -> Step {
        let got = page.resources.len() as u64;
        let mut new = 0;
        for item in page.resources {
            if self.pager.accept((self.id_of)(&item)) {
                new += 1;
                self.items.push((self.keep)(item));
            }
        }
        self.pager.end_page(page.total_results, got, new)
    }

    /// Where the remaining pages start if every page is full, from `next` up to the first
    /// `totalResults`; empty unless the pages so far were full (a server that serves fewer
    /// than asked is read one page at a time).
    fn planned_starts(&self, next: u64, page_size: u64) -> Vec<u64> {
        let Some(total) = self.pager.first_total() else {
            return Vec::new();
        };
        if next != 1 + self.pager.pages() * page_size {
            return Vec::new();
        }
        let last = total.min(super::paging::MAX_PAGES * page_size);
        (0..)
            .map(|k| next + k * page_size)
            .take_while(|start| *start <= last)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::scim::test_support::{accept_and_drop, closed_port, quick, CANARY};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_refused_connection_fails_at_once_as_cannot_connect() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let port = closed_port();
        let reader = Reader::new(
            quick(&format!("http://u:p@127.0.0.1:{port}/scim/v2?x=1")),
            Profile::notion(),
            clock,
        )
        .unwrap();
        let err = reader.get_user(&ScimId::from("x")).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot connect to http://127.0.0.1:{port}/scim/v2: the connection was refused"
            )),
            "{text}"
        );
        assert!(
            text.contains("GET /Users/x") && !text.contains(CANARY),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_connection_dropped_after_the_request_is_a_lost_reply() {
        // Plain HTTP to a port that closes every connection: the request went out, the reply
        // never came. The request may have been processed, so it is the lost-reply path with
        // every retry.
        let (port, connections) = accept_and_drop().await;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut settings = quick(&format!("http://127.0.0.1:{port}/scim/v2"));
        settings.max_retries = 3;
        let reader = Reader::new(settings, Profile::notion(), clock).unwrap();
        let err = reader.get_user(&ScimId::from("x")).await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.to_string().contains("GET /Users/x"));
        assert!(!err.to_string().contains(CANARY));
        assert!(connections.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    }

    fn ids_page(total: u64, ids: std::ops::Range<u32>) -> wire::ListResponse<wire::User> {
        serde_json::from_value(serde_json::json!({
            "totalResults": total,
            "Resources": ids.map(|i| serde_json::json!({"id": format!("u{i}"), "userName": format!("u{i}@x.io")})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn paged_read() -> PagedRead<'static, wire::User, wire::User> {
        PagedRead {
            items: Vec::new(),
            pager: Pager::new("Users", 100),
            id_of: |u: &wire::User| &u.id,
            keep: &|u| u,
        }
    }

    #[test]
    fn pages_are_planned_ahead_only_after_full_pages() {
        // Two full pages of 100 out of 450: pages at 201, 301 and 401 remain.
        let mut read = paged_read();
        assert_eq!(read.take(ids_page(450, 0..100)), Step::Next(101));
        assert_eq!(read.take(ids_page(450, 100..200)), Step::Next(201));
        assert_eq!(read.planned_starts(201, 100), vec![201, 301, 401]);
        // A target that serves 40 when asked 100: nothing is planned, pages go one by one.
        let mut read = paged_read();
        assert_eq!(read.take(ids_page(450, 0..40)), Step::Next(41));
        assert_eq!(read.take(ids_page(450, 40..80)), Step::Next(81));
        assert!(read.planned_starts(81, 100).is_empty());
        // Nothing said totalResults: nothing is planned.
        let read = paged_read();
        assert!(read.planned_starts(1, 100).is_empty());
    }
}
