//! Test support: an enum's spellings, derived once with `strum` (and `serde` where the enum is
//! serialised), agree in every direction, so no variant can be spelled one way and read another.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::{Debug, Display};
use std::str::FromStr;
use strum::IntoEnumIterator;

/// `E`'s variants, in declaration order, are spelled `expected` (the contract: stored values and
/// the migrations' CHECK constraints, the plan format, CLI values), by `Into<&str>` and by
/// `Display` alike, and each spelling parses back to its variant.
pub(crate) fn assert_spellings<E>(expected: &[&str])
where
    E: IntoEnumIterator + Into<&'static str> + Display + FromStr + Copy + PartialEq + Debug,
{
    let spelled: Vec<&'static str> = E::iter().map(Into::into).collect();
    assert_eq!(spelled, expected);
    for variant in E::iter() {
        let text: &'static str = variant.into();
        assert_eq!(variant.to_string(), text);
        assert_eq!(text.parse::<E>().ok(), Some(variant), "{text}");
    }
}

/// `serde` writes each variant of `E` as its `strum` spelling.
pub(crate) fn assert_serialized_alike<E>()
where
    E: IntoEnumIterator + Into<&'static str> + Serialize + Copy + Debug,
{
    for variant in E::iter() {
        let text: &'static str = variant.into();
        let json = serde_json::to_value(variant).ok();
        assert_eq!(json, Some(serde_json::Value::from(text)), "{variant:?}");
    }
}

/// `serde` reads each `strum` spelling of `E` back as its variant.
pub(crate) fn assert_deserialized_alike<E>()
where
    E: IntoEnumIterator + Into<&'static str> + DeserializeOwned + Copy + PartialEq + Debug,
{
    for variant in E::iter() {
        let text: &'static str = variant.into();
        let back: Option<E> = serde_json::from_value(serde_json::Value::from(text)).ok();
        assert_eq!(back, Some(variant), "{text}");
    }
}
