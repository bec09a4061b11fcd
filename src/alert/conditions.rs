//! What one run's report says of each alert condition: raised (with the message and severity),
//! clear, or nothing (the run could not tell). Pure: the instant is an argument.
//!
//! One cause, one alert: a revoked token also fails the run, so while the token check failed
//! the run-failed condition is left as it was (the token-revoked alert says it all), and when
//! the token works again both clear. A run that never got as far as a plan says nothing of a
//! held plan, and a skipped tick says nothing at all.

use super::{bounded, Condition, Severity};
use crate::serve::{Check, RunReport, RunResult};
use chrono::{DateTime, Utc};

/// The longest message an alert carries (characters): chat tools cut or refuse longer ones.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// What a run said of one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The condition holds.
    Raised {
        /// How urgent.
        severity: Severity,
        /// What happened and what to do.
        message: String,
    },
    /// The condition does not hold.
    Clear,
    /// The run could not tell (it stopped before the check, or skipped the tick).
    Unknown,
}

/// What `report` (ended at `now`) says of every condition; `warn_days`: how close the IdP
/// certificate's expiry must be to raise its condition.
pub fn observe(report: &RunReport, warn_days: i64, now: DateTime<Utc>) -> Vec<(Condition, Seen)> {
    if let RunResult::Skipped(_) = report.result {
        return Vec::new();
    }
    let message = report
        .message
        .as_deref()
        .map(|m| bounded(m, MAX_MESSAGE_CHARS))
        .unwrap_or_default();
    let token = match report.token {
        Check::Failed => Seen::Raised {
            severity: Severity::Critical,
            message: if message.is_empty() {
                "the target refused the token; provisioning is stopped until a working token \
                 is in place"
                    .to_owned()
            } else {
                message.clone()
            },
        },
        Check::Passed => Seen::Clear,
        Check::Unknown => Seen::Unknown,
    };
    let run = match (report.result, report.token) {
        (_, Check::Failed) => Seen::Unknown,
        (RunResult::Succeeded, _) => Seen::Clear,
        (RunResult::Failed, _) => Seen::Raised {
            severity: Severity::Critical,
            message: format!("run ended with failed operations: {message}"),
        },
        (RunResult::Error, _) => Seen::Raised {
            severity: Severity::Critical,
            message: format!("run stopped before finishing: {message}"),
        },
        (RunResult::Refused | RunResult::Skipped(_), _) => Seen::Unknown,
    };
    let held = match report.result {
        RunResult::Refused => Seen::Raised {
            severity: Severity::Warning,
            message: format!(
                "{message} (review the plan with `idbridge plan`; `idbridge sync --force` \
                 applies it if it is right)"
            ),
        },
        RunResult::Succeeded | RunResult::Failed => Seen::Clear,
        RunResult::Error | RunResult::Skipped(_) => Seen::Unknown,
    };
    vec![
        (Condition::RunFailed, run),
        (Condition::PlanHeld, held),
        (Condition::TokenRevoked, token),
        (
            Condition::IdpCertExpiring,
            certificate(report, warn_days, now),
        ),
    ]
}

fn certificate(report: &RunReport, warn_days: i64, now: DateTime<Utc>) -> Seen {
    let Some(cert) = &report.idp_cert else {
        return Seen::Unknown;
    };
    let left = cert.expires - now;
    if left > chrono::Duration::days(warn_days) {
        return Seen::Clear;
    }
    let entity = bounded(&cert.entity, 300);
    let date = cert.expires.format("%Y-%m-%d %H:%M UTC");
    let message = if left <= chrono::Duration::zero() {
        format!(
            "the IdP signing certificate of {entity} expired on {date}: SAML logins fail; \
             upload the IdP's new certificate to the workspace's SAML settings"
        )
    } else {
        format!(
            "the IdP signing certificate of {entity} expires on {date} ({} day(s) left): \
             renew it in the IdP and upload the new one to the workspace's SAML settings \
             before then",
            left.num_days()
        )
    };
    Seen::Raised {
        severity: if left <= chrono::Duration::days(7) {
            Severity::Critical
        } else {
            Severity::Warning
        },
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::{IdpCert, SkipReason, Trigger};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
    }

    fn report(result: RunResult, token: Check) -> RunReport {
        let mut r = RunReport::new(Trigger::Api, result);
        r.token = token;
        r.message = Some("boom".into());
        r
    }

    fn seen(r: &RunReport, c: Condition) -> Seen {
        observe(r, 30, now())
            .into_iter()
            .find(|(k, _)| *k == c)
            .map(|(_, s)| s)
            .unwrap_or(Seen::Unknown)
    }

    #[test]
    fn a_skipped_tick_says_nothing() {
        let r = report(RunResult::Skipped(SkipReason::LockHeld), Check::Failed);
        assert!(observe(&r, 30, now()).is_empty());
    }

    #[test]
    fn a_revoked_token_is_one_condition_not_two() {
        let r = report(RunResult::Error, Check::Failed);
        assert!(matches!(
            seen(&r, Condition::TokenRevoked),
            Seen::Raised { .. }
        ));
        assert_eq!(seen(&r, Condition::RunFailed), Seen::Unknown);
        assert_eq!(seen(&r, Condition::PlanHeld), Seen::Unknown);
        let ok = report(RunResult::Succeeded, Check::Passed);
        assert_eq!(seen(&ok, Condition::TokenRevoked), Seen::Clear);
        assert_eq!(seen(&ok, Condition::RunFailed), Seen::Clear);
    }

    #[test]
    fn failures_holds_and_environment_errors() {
        let failed = report(RunResult::Failed, Check::Passed);
        assert!(matches!(
            seen(&failed, Condition::RunFailed),
            Seen::Raised { .. }
        ));
        assert_eq!(seen(&failed, Condition::PlanHeld), Seen::Clear);
        let env = report(RunResult::Error, Check::Unknown);
        assert!(
            matches!(seen(&env, Condition::RunFailed), Seen::Raised { ref message, .. } if message.contains("boom"))
        );
        assert_eq!(seen(&env, Condition::TokenRevoked), Seen::Unknown);
        let held = report(RunResult::Refused, Check::Passed);
        assert!(matches!(
            seen(&held, Condition::PlanHeld),
            Seen::Raised {
                severity: Severity::Warning,
                ..
            }
        ));
        assert_eq!(seen(&held, Condition::RunFailed), Seen::Unknown);
    }

    #[test]
    fn the_certificate_warns_within_warn_days() {
        let mut r = report(RunResult::Succeeded, Check::Passed);
        assert_eq!(seen(&r, Condition::IdpCertExpiring), Seen::Unknown);
        r.idp_cert = Some(IdpCert {
            entity: "https://idp.example.com".into(),
            expires: now() + chrono::Duration::days(31),
        });
        assert_eq!(seen(&r, Condition::IdpCertExpiring), Seen::Clear);
        r.idp_cert = Some(IdpCert {
            entity: "https://idp.example.com".into(),
            expires: now() + chrono::Duration::days(20),
        });
        match seen(&r, Condition::IdpCertExpiring) {
            Seen::Raised { severity, message } => {
                assert_eq!(severity, Severity::Warning);
                assert!(message.contains("2026-12-20"), "{message}");
                assert!(message.contains("20 day(s) left"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        r.idp_cert = Some(IdpCert {
            entity: "https://idp.example.com".into(),
            expires: now() - chrono::Duration::days(1),
        });
        assert!(
            matches!(seen(&r, Condition::IdpCertExpiring), Seen::Raised { severity: Severity::Critical, ref message } if message.contains("expired"))
        );
    }
}
