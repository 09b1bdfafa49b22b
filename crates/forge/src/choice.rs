//! Flags whose values are a domain [`Choice`] (the domain knows no clap).

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use forge_core::choice::Choice;

/// A clap parser that lists `T`'s names (with their help) and parses them.
pub fn choice<T: Choice + Clone>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL.iter().map(|c| {
        let v = PossibleValue::new(c.name());
        match c.help() {
            Some(h) => v.help(h),
            None => v,
        }
    });
    PossibleValuesParser::new(values)
        .map(|s| T::from_name(&s).expect("clap accepted a listed name"))
}
