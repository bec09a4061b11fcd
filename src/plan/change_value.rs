//! A change's value ([`ChangeValue`]): what `before` and `after` hold in a plan. The planner only
//! ever writes text; a saved plan read back may hold any JSON (docs/plan-format.md), which the
//! plan check then refuses where it matters, so both are kept exactly. Text is held as itself:
//! a plan of 100,000 creates holds about 700,000 values, and as `serde_json::Value`s (72 bytes
//! each with `preserve_order`, plus the text) they were the largest part of a first sync's peak
//! (docs/performance.md, "Scale").

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// A value in a plan's change: JSON text, or any other JSON a saved plan holds.
#[derive(Clone, PartialEq)]
pub struct ChangeValue(Repr);

/// Canonical: a JSON string is always `Text`, so equal values compare equal.
#[derive(Clone, PartialEq)]
enum Repr {
    Text(Box<str>),
    Other(Box<Value>),
}

impl ChangeValue {
    /// The text, when the value is a JSON string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            Repr::Text(text) => Some(text),
            Repr::Other(_) => None,
        }
    }

    /// The value as a report shows it: text as itself, other JSON as its JSON text, `null` as
    /// no value (the plan table, `explain` and the audit log all show it so).
    pub fn shown(&self) -> Option<Cow<'_, str>> {
        match &self.0 {
            Repr::Text(text) => Some(Cow::Borrowed(text)),
            Repr::Other(value) if value.is_null() => None,
            Repr::Other(value) => Some(Cow::Owned(value.to_string())),
        }
    }
}

impl From<String> for ChangeValue {
    fn from(text: String) -> Self {
        Self(Repr::Text(text.into_boxed_str()))
    }
}

impl From<&str> for ChangeValue {
    fn from(text: &str) -> Self {
        Self(Repr::Text(text.into()))
    }
}

impl From<Value> for ChangeValue {
    fn from(value: Value) -> Self {
        match value {
            Value::String(text) => text.into(),
            other => Self(Repr::Other(Box::new(other))),
        }
    }
}

impl fmt::Debug for ChangeValue {
    /// As the JSON value it is (`String("Ada")`), so a change prints as it did.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            // Not `debug_tuple`: `{:#?}` would spread it over lines where serde_json does not.
            Repr::Text(text) => write!(f, "String({text:?})"),
            Repr::Other(value) => value.fmt(f),
        }
    }
}

impl Serialize for ChangeValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Text(text) => s.serialize_str(text),
            Repr::Other(value) => value.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ChangeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_json_round_trips_and_text_is_held_as_text() {
        for value in [
            json!("Ada"),
            json!(""),
            json!("é \" \\ \u{1}"),
            json!(7),
            json!(true),
            json!([{"value": "a@x.io", "primary": true}]),
            json!({"value": "m@x.io", "z": 1, "a": 2}),
        ] {
            let held = ChangeValue::from(value.clone());
            assert_eq!(serde_json::to_value(&held).unwrap(), value);
            assert_eq!(held.as_str(), value.as_str());
            let shown = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            assert_eq!(held.shown().as_deref(), Some(shown.as_str()));
            let text = serde_json::to_string(&held).unwrap();
            assert_eq!(text, serde_json::to_string(&value).unwrap());
            let back: ChangeValue = serde_json::from_str(&text).unwrap();
            assert_eq!(back, held);
        }
        assert_eq!(ChangeValue::from("Ada"), json!("Ada").into());
        assert_ne!(ChangeValue::from("7"), json!(7).into());
        assert_eq!(ChangeValue::from(Value::Null).shown(), None);
        for value in [json!("Ada"), json!([1, {"a": null}])] {
            let held = ChangeValue::from(value.clone());
            assert_eq!(format!("{held:?}"), format!("{value:?}"));
            assert_eq!(format!("{held:#?}"), format!("{value:#?}"));
        }
    }

    #[test]
    fn a_change_is_smaller_than_with_json_values() {
        assert!(std::mem::size_of::<Option<ChangeValue>>() <= 24);
    }

    #[test]
    fn null_and_a_missing_value_read_as_none() {
        #[derive(Deserialize)]
        struct Holder {
            before: Option<ChangeValue>,
            after: Option<ChangeValue>,
        }
        let h: Holder = serde_json::from_str(r#"{"before": null}"#).unwrap();
        assert!(h.before.is_none() && h.after.is_none());
    }
}
