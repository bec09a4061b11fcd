//! Which PATCH forms the workspace accepts. Notion documents none of them (docs/notion.md,
//! "Updates (PATCH and PUT)" and "Groups"), so each form identity providers send has a switch:
//! the op's case, the path form and the value-as-object form of `add`/`replace`, and the two
//! member-removal forms. A refused form is a 400 before anything changes, so a client may try
//! another form of the same change.

use super::{ApiError, State};
use crate::emulator::profile::Switches;
use serde_json::Value;

impl State {
    /// 400 when `body` uses a PATCH form the switches refuse; nothing else is checked here.
    pub(super) fn check_patch_forms(&self, body: &Value) -> Result<(), ApiError> {
        let Some(ops) = body
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")))
            .and_then(|(_, v)| v.as_array())
        else {
            return Ok(());
        };
        ops.iter()
            .try_for_each(|op| check_operation(&self.switches, op))
    }
}

fn field<'a>(op: &'a Value, name: &str) -> Option<&'a Value> {
    op.as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v)
}

fn check_operation(switches: &Switches, op: &Value) -> Result<(), ApiError> {
    let name = field(op, "op").and_then(Value::as_str).unwrap_or_default();
    let lowercase = name == name.to_ascii_lowercase();
    if lowercase && !switches.patch_op_lowercase {
        return Err(ApiError::typed(
            400,
            "invalidSyntax",
            format!("The op {name:?} is not recognised; write it capitalised (Replace)."),
        ));
    }
    if !lowercase && !switches.patch_op_capitalized {
        return Err(ApiError::typed(
            400,
            "invalidSyntax",
            format!("The op {name:?} is not recognised; ops are lowercase (RFC 7644)."),
        ));
    }
    let path = field(op, "path").and_then(Value::as_str).map(str::trim);
    let remove = name.eq_ignore_ascii_case("remove");
    match (remove, path) {
        (false, Some(_)) if !switches.patch_path_form => Err(ApiError::typed(
            400,
            "invalidPath",
            "Operations with a path are not supported; send the value as an object.",
        )),
        (false, None) if !switches.patch_value_object_form => Err(ApiError::typed(
            400,
            "invalidSyntax",
            "An operation needs a path.",
        )),
        (true, Some(p)) if p.to_ascii_lowercase().starts_with("members[") => {
            if switches.member_removal_path_filter {
                Ok(())
            } else {
                Err(ApiError::typed(
                    400,
                    "invalidPath",
                    "Value filters in paths are not supported.",
                ))
            }
        }
        (true, Some(p)) if p.eq_ignore_ascii_case("members") && field(op, "value").is_some() => {
            if switches.member_removal_value_list {
                Ok(())
            } else {
                Err(ApiError::typed(
                    400,
                    "invalidValue",
                    "A remove operation takes no value; name the member in the path.",
                ))
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(switches: &Switches, op: Value) -> Result<(), String> {
        check_operation(switches, &op).map_err(|e| e.scim_type.unwrap_or_default().to_owned())
    }

    #[test]
    fn every_form_is_accepted_by_default_and_each_can_be_refused() {
        let all = Switches::default();
        let forms = [
            (
                json!({"op": "replace", "path": "title", "value": "x"}),
                "invalidPath",
            ),
            (
                json!({"op": "Replace", "path": "title", "value": "x"}),
                "invalidSyntax",
            ),
            (
                json!({"op": "replace", "value": {"active": false}}),
                "invalidSyntax",
            ),
            (
                json!({"op": "remove", "path": "members[value eq \"1\"]"}),
                "invalidPath",
            ),
            (
                json!({"op": "remove", "path": "members", "value": [{"value": "1"}]}),
                "invalidValue",
            ),
        ];
        for (op, _) in &forms {
            assert_eq!(check(&all, op.clone()), Ok(()), "{op}");
        }
        let refuse: [fn(&mut Switches); 5] = [
            |s| s.patch_path_form = false,
            |s| s.patch_op_capitalized = false,
            |s| s.patch_value_object_form = false,
            |s| s.member_removal_path_filter = false,
            |s| s.member_removal_value_list = false,
        ];
        for ((op, kind), refuse) in forms.iter().zip(refuse) {
            let mut switches = Switches::default();
            refuse(&mut switches);
            assert_eq!(
                check(&switches, op.clone()),
                Err((*kind).to_owned()),
                "{op}"
            );
        }
        let capital_only = Switches {
            patch_op_lowercase: false,
            ..Switches::default()
        };
        assert!(check(&capital_only, json!({"op": "add", "path": "x", "value": 1})).is_err());
        assert!(check(&capital_only, json!({"op": "Add", "path": "x", "value": 1})).is_ok());
        // A plain remove by path is not a form that can be refused: RFC 7644 has no other.
        let no_paths = Switches {
            patch_path_form: false,
            ..Switches::default()
        };
        assert!(check(&no_paths, json!({"op": "remove", "path": "title"})).is_ok());
    }
}
