//! The only code that talks to the outside world: PostgreSQL, Attic, and the
//! environment and files that secrets come from.

pub mod attic;
pub mod postgres;
pub mod secret_source;
