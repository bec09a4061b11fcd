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
use super::target::{GroupRead, TargetRead, UserRead};
use super::transport::Core;
use super::wire;
use crate::model::ScimId;
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
            .read_consistent::<wire::User>("Users", |u| &u.id)
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
            .read_consistent::<wire::Group>("Groups", |g| &g.id)
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
    async fn read_consistent<T: DeserializeOwned>(
        &self,
        resource: &str,
        id_of: fn(&T) -> &String,
    ) -> Result<Listing<T>> {
        let mut attempts = 0;
        let mut requests = 0;
        loop {
            attempts += 1;
            let pass = self.read_pages(resource, id_of).await?;
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
    async fn read_pages<T: DeserializeOwned>(
        &self,
        resource: &str,
        id_of: fn(&T) -> &String,
    ) -> Result<Pass<T>> {
        let path = format!("/{resource}");
        let mut items = Vec::new();
        let mut pager = Pager::new(resource, self.page_size);
        let stalled = loop {
            let query = [
                ("startIndex", pager.start().to_string()),
                ("count", self.page_size.to_string()),
            ];
            let reply = self.send(Method::GET, &[resource], &query, None).await?;
            self.expect_ok("GET", &path, &reply)?;
            let page: wire::ListResponse<T> = self.parse("GET", &path, &reply.body)?;
            let got = page.resources.len() as u64;
            let mut new = 0;
            for item in page.resources {
                if pager.accept(id_of(&item)) {
                    new += 1;
                    items.push(item);
                }
            }
            match pager.end_page(page.total_results, got, new) {
                Step::Next(_) => {}
                Step::Done => break None,
                Step::Stalled(why) => break Some(why),
            }
        };
        let problems = pager.problems(items.len());
        Ok(Pass {
            items,
            problems,
            stalled,
            pages: pager.pages(),
        })
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
}
