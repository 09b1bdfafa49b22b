//! Pure logic, no I/O: the specs and their parsing, the observed state,
//! the plan (desired + observed -> ordered changes), SQL quoting and SCRAM.

pub mod attic_jwt;
pub mod attic_plan;
pub mod attic_spec;
pub mod catalog;
pub mod cdc_plan;
pub mod desired;
pub mod duration;
pub mod grants_plan;
pub mod plan;
pub mod plan_context;
pub mod postgres_plan;
pub mod privileges;
pub mod role_prune_plan;
pub mod scram;
pub mod secret_ref;
pub mod spec;
pub mod spec_parse;
pub mod sql;
