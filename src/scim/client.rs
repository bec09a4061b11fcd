//! The two handles on a SCIM target: a [`Reader`], which can only read ([`TargetRead`]), and a
//! [`Writer`], which can also write ([`TargetWrite`]) and hands out its reader. `plan` and
//! `check-config` make a `Reader`, so they hold no value that could write; `sync` and `apply`
//! make a `Writer`. Both are cheap to clone; clones share the connection (`transport`): the rate
//! budget, the concurrency bound and the request counters.
//!
//! The work is elsewhere: reads in `reads`, user and group writes in `users` and `groups`.

use super::error::Result;
use super::profile::Profile;
use super::stats::RequestCounts;
use super::target::{CreateOutcome, GroupRead, TargetRead, TargetWrite, UserRead};
use super::transport::{ClientSettings, Core};
use super::{groups, users, wire};
use crate::clock::Clock;
use crate::model::{Attr, ScimId, UserAttrs};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// A read-only SCIM client bound to one target (one token). It has no write method.
#[derive(Clone)]
pub struct Reader {
    pub(super) core: Arc<Core>,
}

/// A SCIM client that can write, bound to one target (one token).
#[derive(Clone)]
pub struct Writer {
    pub(super) reader: Reader,
}

impl Reader {
    /// A reader for `settings.base_url` with `profile`; `clock` gives "now" for HTTP-date
    /// `Retry-After`. Bad settings are [`super::Error::Config`].
    pub fn new(
        settings: ClientSettings,
        profile: Profile,
        clock: Arc<dyn Clock>,
    ) -> Result<Reader> {
        Ok(Reader {
            core: Arc::new(Core::new(settings, profile, clock)?),
        })
    }

    /// Requests sent so far by this client and its clones (for the run's record).
    pub fn request_counts(&self) -> RequestCounts {
        self.core.stats.counts()
    }
}

impl Writer {
    /// A writer for `settings.base_url` with `profile`; see [`Reader::new`].
    pub fn new(
        settings: ClientSettings,
        profile: Profile,
        clock: Arc<dyn Clock>,
    ) -> Result<Writer> {
        Ok(Writer {
            reader: Reader::new(settings, profile, clock)?,
        })
    }

    /// The read side of this client (same connection, same counters), for what must only read.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Requests sent so far by this client and its clones (for the run's record).
    pub fn request_counts(&self) -> RequestCounts {
        self.reader.request_counts()
    }
}

/// Hand-written so no field holding the token can ever be printed.
fn debug(name: &str, core: &Core, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct(name)
        .field("base_url", &core.shown_base)
        .field("profile", &core.profile.kind)
        .field("token", &"[REDACTED]")
        .finish_non_exhaustive()
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug("Reader", &self.core, f)
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug("Writer", &self.reader.core, f)
    }
}

impl TargetRead for Writer {
    fn profile(&self) -> &Profile {
        self.reader.profile()
    }

    fn probe(&self) -> impl Future<Output = Result<()>> + Send {
        self.reader.probe()
    }

    fn read_users(&self) -> impl Future<Output = Result<UserRead>> + Send {
        self.reader.read_users()
    }

    fn read_groups(&self) -> impl Future<Output = Result<GroupRead>> + Send {
        self.reader.read_groups()
    }

    fn get_user(&self, id: &ScimId) -> impl Future<Output = Result<Option<wire::User>>> + Send {
        self.reader.get_user(id)
    }

    fn get_group(&self, id: &ScimId) -> impl Future<Output = Result<Option<wire::Group>>> + Send {
        self.reader.get_group(id)
    }

    fn find_user(
        &self,
        user_name: &str,
    ) -> impl Future<Output = Result<Option<wire::User>>> + Send {
        self.reader.find_user(user_name)
    }

    fn find_group(
        &self,
        display_name: &str,
    ) -> impl Future<Output = Result<Option<wire::Group>>> + Send {
        self.reader.find_group(display_name)
    }
}

impl TargetWrite for Writer {
    fn create_user(
        &self,
        attrs: &UserAttrs,
    ) -> impl Future<Output = Result<(wire::User, CreateOutcome)>> + Send {
        users::create(self, attrs)
    }

    fn patch_user(
        &self,
        id: &ScimId,
        changes: &[(Attr, Option<String>)],
    ) -> impl Future<Output = Result<Option<wire::User>>> + Send {
        users::patch(self, id, changes)
    }

    fn set_active(&self, id: &ScimId, active: bool) -> impl Future<Output = Result<()>> + Send {
        users::set_active(self, id, active)
    }

    fn delete_user(&self, id: &ScimId) -> impl Future<Output = Result<()>> + Send {
        users::delete(self, id)
    }

    fn create_group(
        &self,
        display_name: &str,
        member_ids: &[ScimId],
    ) -> impl Future<Output = Result<wire::Group>> + Send {
        groups::create(self, display_name, member_ids)
    }

    fn patch_group_members(
        &self,
        id: &ScimId,
        add: &[ScimId],
        remove: &[ScimId],
        batch: usize,
    ) -> impl Future<Output = Result<()>> + Send {
        groups::patch_members(self, id, add, remove, batch)
    }

    fn rename_group(
        &self,
        id: &ScimId,
        display_name: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        groups::rename(self, id, display_name)
    }

    fn delete_group(&self, id: &ScimId) -> impl Future<Output = Result<()>> + Send {
        groups::delete(self, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{FixedClock, SystemClock};
    use crate::scim::test_support::CANARY;
    use crate::scim::transport::path_of;
    use crate::scim::Error;
    use chrono::TimeZone;
    use secrecy::SecretString;
    use url::Url;

    fn writer() -> Writer {
        let clock = Arc::new(FixedClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        ));
        let settings = ClientSettings::new(
            Url::parse("http://127.0.0.1:9/scim/v2").unwrap(),
            SecretString::from(CANARY),
        );
        Writer::new(settings, Profile::notion(), clock).unwrap()
    }

    #[test]
    fn token_not_in_debug() {
        let settings = ClientSettings::new(
            Url::parse("http://127.0.0.1:9/scim/v2").unwrap(),
            SecretString::from(CANARY),
        );
        assert!(!format!("{settings:?}").contains(CANARY));
        let writer = writer();
        for text in [format!("{writer:?}"), format!("{:?}", writer.reader())] {
            assert!(!text.contains(CANARY), "{text}");
            assert!(text.contains("127.0.0.1:9/scim/v2"), "{text}");
        }
        assert!(!format!("{:?}", writer.reader.core.auth).contains(CANARY));
    }

    #[test]
    fn urls_keep_the_base_path() {
        let writer = writer();
        assert_eq!(
            writer
                .reader
                .core
                .url(&["Users", "a b/c"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/scim/v2/Users/a%20b%2Fc"
        );
        assert_eq!(path_of(&["Users", "x"]), "/Users/x");
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let base = Url::parse("http://127.0.0.1:9/scim/v2").unwrap();
        let mut s = ClientSettings::new(base.clone(), SecretString::from(CANARY));
        s.page_size = 101;
        assert!(matches!(
            Reader::new(s, Profile::scim(), clock.clone()),
            Err(Error::Config { .. })
        ));
        let mut s = ClientSettings::new(base.clone(), SecretString::from(CANARY));
        s.rate_limit = Some(0.0);
        assert!(matches!(
            Writer::new(s, Profile::scim(), clock.clone()),
            Err(Error::Config { .. })
        ));
        let s = ClientSettings::new(base.clone(), SecretString::from("bad\ntoken"));
        let err = Reader::new(s, Profile::scim(), clock.clone()).unwrap_err();
        assert!(!err.to_string().contains("bad\ntoken"));
        let s = ClientSettings::new(
            Url::parse("mailto:x@y").unwrap(),
            SecretString::from(CANARY),
        );
        assert!(Reader::new(s, Profile::scim(), clock).is_err());
    }
}
