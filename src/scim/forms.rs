//! PATCH forms: which of the documented ways to write a PATCH the target accepts, learned in the
//! run. Notion documents none of them (docs/notion.md, "Updates (PATCH and PUT)" and "Groups"):
//! identity providers that provision it send lowercase and capitalised ops, the path and the
//! value-as-object forms, and two member-removal forms. idbridge sends its preferred form; when
//! the target refuses it as malformed (400 with `invalidSyntax`, `invalidPath`, `invalidValue`,
//! `noTarget`, or Notion's `validation_error`, or with no type at all), it sends the same change
//! in the other forms, one at a time, and the client remembers the form that was accepted, so
//! the run's later PATCHes use it directly. A refused form changed nothing (a 400 is answered
//! before the change), so trying another is safe.

use super::error::{explain, Result};
use super::profile::{with_op_case, MemberRemoval, OpCase, PatchForm, SetForm};
use super::transport::{Core, Reply};
use reqwest::Method;
use serde_json::Value;

/// The `scimType`s (and Notion codes) of a 400 that refuses how a PATCH is written rather than
/// what it asks.
const FORM_REFUSALS: &[&str] = &[
    "invalidSyntax",
    "invalidPath",
    "invalidValue",
    "noTarget",
    "validation_error",
    "invalid_request",
];

/// What the run has learned of the forms the target accepts: `None` until a refusal taught
/// something (the preferred form is sent until then).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Learned {
    case: Option<OpCase>,
    set: Option<SetForm>,
    removal: Option<MemberRemoval>,
}

/// Which choice of a form a body depends on, besides the op's case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Choice {
    /// How `add`/`replace` name what they set, this form first unless the run learned otherwise.
    Set(SetForm),
    /// How members leave a group (the profile's form first unless learned otherwise).
    Removal,
}

/// Whether a reply refuses the form of a PATCH (so another form may be accepted).
fn refuses_form(reply: &Reply) -> bool {
    if reply.status != 400 {
        return false;
    }
    // A 400 that names no error type is reported as it is: sending the same change in other
    // forms would bury the target's own answer under what those attempts got back.
    match explain(&reply.body).0 {
        None => false,
        Some(kind) => FORM_REFUSALS.iter().any(|k| k.eq_ignore_ascii_case(&kind)),
    }
}

impl Core {
    /// The forms to try for a body that depends on `choice`, best first: what the run learned
    /// (or the preferred form), then the alternative of the choice, then the other op case.
    fn candidates(&self, choice: Choice) -> Vec<PatchForm> {
        let learned = self.learned.lock().map(|l| *l).unwrap_or_default();
        let case = learned.case.unwrap_or(OpCase::Lower);
        let set = match choice {
            Choice::Set(preferred) => learned.set.unwrap_or(preferred),
            Choice::Removal => SetForm::Path,
        };
        let removal = learned.removal.unwrap_or(self.profile.member_removal);
        let first = PatchForm { case, set, removal };
        let flip = |form: PatchForm| match choice {
            Choice::Set(_) => PatchForm {
                set: form.set.other(),
                ..form
            },
            Choice::Removal => PatchForm {
                removal: form.removal.other(),
                ..form
            },
        };
        let recase = |form: PatchForm| PatchForm {
            case: form.case.other(),
            ..form
        };
        vec![first, flip(first), recase(first), recase(flip(first))]
    }

    fn learn(&self, choice: Choice, form: PatchForm) {
        if let Ok(mut learned) = self.learned.lock() {
            learned.case = Some(form.case);
            match choice {
                Choice::Set(_) => learned.set = Some(form.set),
                Choice::Removal => learned.removal = Some(form.removal),
            }
        }
    }

    /// `PATCH segments` with the body `build` writes in the first form the target accepts (see
    /// the module doc). Returns the accepted reply, the first reply that is not a refusal of the
    /// form, or the reply to the first form when every form was refused.
    pub(super) async fn patch_in_forms(
        &self,
        segments: &[&str],
        choice: Choice,
        build: impl Fn(PatchForm) -> Value,
    ) -> Result<Reply> {
        let mut first_refusal: Option<Reply> = None;
        for form in self.candidates(choice) {
            let body = with_op_case(build(form), form.case);
            let reply = self.send(Method::PATCH, segments, &[], Some(&body)).await?;
            if reply.ok() {
                if first_refusal.is_some() {
                    tracing::info!(
                        path = segments.join("/"),
                        form = ?form,
                        "the target accepts this PATCH form; the run uses it from now on"
                    );
                    self.learn(choice, form);
                }
                return Ok(reply);
            }
            // Anything but a refusal of the form (a 404, a 409, a 5xx) is the target's answer to
            // the change itself, in a form it read: that answer is the one to report.
            if !refuses_form(&reply) {
                return Ok(reply);
            }
            tracing::warn!(
                path = segments.join("/"),
                form = ?form,
                status = reply.status,
                "the target refused this PATCH form; trying the next documented one"
            );
            first_refusal.get_or_insert(reply);
        }
        Ok(first_refusal.unwrap_or(Reply {
            status: 400,
            body: String::new(),
            after_lost: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            after_lost: false,
        }
    }

    #[test]
    fn only_a_400_about_the_form_is_a_form_refusal() {
        let scim = |t: &str| {
            format!(
                r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"{t}","detail":"x"}}"#
            )
        };
        assert!(refuses_form(&reply(400, &scim("invalidPath"))));
        assert!(refuses_form(&reply(400, &scim("invalidSyntax"))));
        assert!(!refuses_form(&reply(400, "")));
        assert!(refuses_form(&reply(
            400,
            r#"{"type":"error","code":"validation_error","status":400,"message":"x"}"#
        )));
        assert!(!refuses_form(&reply(400, &scim("mutability"))));
        assert!(!refuses_form(&reply(400, &scim("tooMany"))));
        assert!(!refuses_form(&reply(409, &scim("invalidPath"))));
        assert!(!refuses_form(&reply(404, "")));
    }
}
