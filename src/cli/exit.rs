//! The exit-code table (docs/cli.md), and the classification of errors into it. The binary's
//! `main` calls [`for_error`] for any error a command returns; commands that end without an error
//! return their [`Exit`] themselves.
//!
//! Errors are classified by type, walking the `anyhow` chain from the outside in; the first cause
//! of a known type decides. An error of no known type is a usage error (2): it can only come from
//! the command line or an input file it names (a plan file, a SAML file), and "fix the call" is
//! the safe advice for a scheduler, which must not retry it blindly.

use super::{Exit, Refused};
use crate::config::ConfigError;
use crate::connectors::{hr, ldap};
use crate::{apply, notion_api, report, scim, store};

/// The exit-code table, for `--help` (docs/cli.md has the same table, with examples).
pub const TABLE: &str = "\
Exit codes:
  0  ok (warnings and non-blocking findings included)
  1  blocked, refused, error findings, or a failed operation
  2  usage or config error (bad arguments, invalid config, a file or column the config names is missing)
  3  environment failure: target, source or store unreachable, or token refused (before or during apply)
  4  another run holds the run lock of this store and target; nothing was written
When 3 and 1 both apply, 3 wins.";

/// The exit code for an error a command returned.
pub fn for_error(err: &anyhow::Error) -> Exit {
    err.chain().find_map(classify).unwrap_or(Exit::Usage)
}

/// The class of one error in a chain, if its type is known.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    if cause.is::<Refused>() {
        return Some(Exit::Blocked);
    }
    if cause.is::<ConfigError>() {
        return Some(Exit::Usage);
    }
    if let Some(e) = cause.downcast_ref::<store::Error>() {
        return Some(store_class(e));
    }
    if let Some(e) = cause.downcast_ref::<scim::Error>() {
        return Some(scim_class(e));
    }
    if let Some(e) = cause.downcast_ref::<hr::Error>() {
        return Some(hr_class(e));
    }
    if let Some(e) = cause.downcast_ref::<ldap::Error>() {
        return Some(ldap_class(e));
    }
    if cause.is::<crate::serve::Error>() {
        // The port is taken or the address is not this machine's: a supervisor retries later.
        return Some(Exit::Environment);
    }
    if let Some(e) = cause.downcast_ref::<apply::Error>() {
        return Some(match e {
            // The journal could not be written: the store failed during apply.
            apply::Error::Journal(e) => store_class(e),
            apply::Error::Worker(_) => Exit::Blocked,
        });
    }
    if let Some(e) = cause.downcast_ref::<notion_api::Error>() {
        return Some(notion_class(e));
    }
    if let Some(e) = cause.downcast_ref::<report::render::Error>() {
        return Some(match e {
            // Rows and columns that disagree: a bug, not the environment; nothing was written,
            // and a scheduler must not retry it blindly.
            report::render::Error::Csv { .. } => Exit::Usage,
        });
    }
    None
}

/// Notion API errors (publishing): the network, Notion's service or the token is 3; a setup
/// that must change (the database not shared, a property missing or of the wrong type, a bad
/// setting) is 2; a request Notion refused on its own is 1.
pub fn notion_class(e: &notion_api::Error) -> Exit {
    if e.is_environment() {
        Exit::Environment
    } else if e.is_setup() {
        Exit::Usage
    } else {
        Exit::Blocked
    }
}

/// Store errors: see [`store::Error::is_environment`].
pub fn store_class(e: &store::Error) -> Exit {
    if e.is_lock_held() {
        Exit::Locked
    } else if e.is_environment() {
        Exit::Environment
    } else if e.is_usage() {
        Exit::Usage
    } else {
        Exit::Blocked
    }
}

/// SCIM client errors. Exhaustive on purpose: a new kind of failure must be placed in the table.
pub fn scim_class(e: &scim::Error) -> Exit {
    match e {
        // The token was refused, the target could not be reached (or connected to) in time, or
        // it answered something that is not SCIM (a reply over the size limit, a listing that
        // does not page): nothing the input can fix in this run.
        scim::Error::Unauthorized { .. }
        | scim::Error::Transport { .. }
        | scim::Error::Connect { .. }
        | scim::Error::RateLimited { .. }
        | scim::Error::HeldBack { .. }
        | scim::Error::ReplyTooLarge { .. }
        | scim::Error::Paging { .. }
        | scim::Error::InvalidReply { .. } => Exit::Environment,
        scim::Error::Api { status, .. } if *status >= 500 => Exit::Environment,
        // The target refused a request (a 403 on a write whose token check passed included): a
        // failed operation.
        scim::Error::Api { .. } | scim::Error::Forbidden { .. } => Exit::Blocked,
        scim::Error::Config { .. } => Exit::Usage,
    }
}

/// HR source errors. A file or column the config names that is not there, a path that is not a
/// regular file, or a file over `max_file_bytes` is a config error (2);
/// a readable file that yields nobody is refused by the empty-source guardrail (1, `Refused`);
/// an HR API that cannot be read is the environment (3).
pub fn hr_class(e: &hr::Error) -> Exit {
    match e {
        hr::Error::Read { .. }
        | hr::Error::TooLarge { .. }
        | hr::Error::NotAFile { .. }
        | hr::Error::MissingColumn { .. }
        | hr::Error::Header { .. }
        | hr::Error::AmbiguousHeader { .. } => Exit::Usage,
        hr::Error::Http { .. } => Exit::Environment,
    }
}

/// LDAP source errors: settings that cannot work are config errors; a directory that cannot be
/// reached, refuses the bind or cannot be read completely is the environment.
pub fn ldap_class(e: &ldap::Error) -> Exit {
    match e {
        ldap::Error::CaFile { .. } | ldap::Error::Filter { .. } => Exit::Usage,
        // noSuchObject: the configured base DN does not exist.
        ldap::Error::Incomplete { rc: 32, .. } => Exit::Usage,
        ldap::Error::Tls { .. }
        | ldap::Error::StartTls { .. }
        | ldap::Error::StartTlsUnanswered { .. }
        | ldap::Error::Connection { .. }
        | ldap::Error::Timeout { .. }
        | ldap::Error::Bind { .. }
        | ldap::Error::Incomplete { .. }
        | ldap::Error::DeletedObjects { .. }
        | ldap::Error::Referral { .. }
        | ldap::Error::Protocol { .. }
        | ldap::Error::Range { .. } => Exit::Environment,
    }
}

/// How a finished apply ends: a halt (the token was refused mid-run), or an operation that failed
/// because the target could not be reached or kept failing, is an environment failure and wins
/// over refused operations and error findings.
pub fn for_outcome(outcome: &apply::Outcome, plan_has_errors: bool) -> Exit {
    if outcome.halted.is_some() || outcome.results.iter().any(|r| r.environment) {
        Exit::Environment
    } else if outcome.succeeded() && !plan_has_errors {
        Exit::Ok
    } else {
        Exit::Blocked
    }
}

/// The exit of several independent checks (`check-config`): a config problem first (fix it before
/// anything else), then an environment failure, then a failed check.
pub fn worst(exits: impl IntoIterator<Item = Exit>) -> Exit {
    let rank = |e: &Exit| match e {
        Exit::Ok => 0,
        Exit::Blocked => 1,
        Exit::Environment => 2,
        Exit::Usage => 3,
        Exit::Locked => 4,
    };
    exits.into_iter().max_by_key(rank).unwrap_or(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn transport() -> scim::Error {
        scim::Error::Transport {
            method: "GET".into(),
            path: "/Users".into(),
            detail: "connection refused".into(),
        }
    }

    #[test]
    fn the_first_known_cause_in_the_chain_decides() {
        let err = anyhow::Error::from(transport()).context("reading the target");
        assert_eq!(for_error(&err), Exit::Environment);
        let err = anyhow::Error::from(Refused("no".into())).context("outer");
        assert_eq!(for_error(&err), Exit::Blocked);
        let err: anyhow::Result<()> =
            Err(std::io::Error::other("x")).context("cannot read plan.json");
        assert_eq!(err.map_err(|e| for_error(&e)), Err(Exit::Usage));
    }

    #[test]
    fn store_errors_map_to_their_class() {
        let locked = store::Error::Locked {
            url: "u".into(),
            target_name: "t".into(),
            holder: "h".into(),
        };
        assert_eq!(store_class(&locked), Exit::Locked);
        let down = store::Error::Connect {
            url: "u".into(),
            detail: "refused".into(),
            hint: "",
        };
        assert_eq!(for_error(&anyhow::Error::from(down)), Exit::Environment);
        let bad = store::Error::InvalidUrl {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(store_class(&bad), Exit::Usage);
        let journal = apply::Error::Journal(store::Error::Query {
            url: "u".into(),
            operation: "o",
            table: "t",
            detail: "d".into(),
        });
        assert_eq!(for_error(&anyhow::Error::from(journal)), Exit::Environment);
    }

    #[test]
    fn scim_errors_map_to_their_class() {
        let api = |status| scim::Error::Api {
            method: "GET".into(),
            path: "/Users".into(),
            status,
            scim_type: None,
            detail: "d".into(),
        };
        assert_eq!(scim_class(&api(503)), Exit::Environment);
        assert_eq!(scim_class(&api(400)), Exit::Blocked);
        assert_eq!(scim_class(&transport()), Exit::Environment);
        let refused = scim::Error::Unauthorized {
            method: "GET".into(),
            path: "/Users".into(),
            status: 401,
            detail: None,
            advice: "update the file token".into(),
        };
        assert_eq!(scim_class(&refused), Exit::Environment);
        let unreachable = scim::Error::Connect {
            url: "http://127.0.0.1:1/scim/v2".into(),
            method: "GET".into(),
            path: "/Users".into(),
            detail: "refused".into(),
        };
        let huge = scim::Error::ReplyTooLarge {
            method: "GET".into(),
            path: "/Users".into(),
            status: 200,
            limit: 1,
        };
        let stuck = scim::Error::Paging {
            path: "/Users".into(),
            detail: "d".into(),
            requests: 8,
        };
        for e in [unreachable, huge, stuck] {
            assert_eq!(scim_class(&e), Exit::Environment, "{e}");
        }
        let config = scim::Error::Config { detail: "d".into() };
        assert_eq!(scim_class(&config), Exit::Usage);
    }

    #[test]
    fn three_wins_over_one_and_a_config_problem_over_both() {
        assert_eq!(
            worst([Exit::Ok, Exit::Blocked, Exit::Environment]),
            Exit::Environment
        );
        assert_eq!(
            worst([Exit::Environment, Exit::Usage, Exit::Blocked]),
            Exit::Usage
        );
        assert_eq!(worst([Exit::Ok, Exit::Ok]), Exit::Ok);
        assert_eq!(worst([]), Exit::Ok);
    }
}
