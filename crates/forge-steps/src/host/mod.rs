//! NixOS hosts that pull their deploys.
//!
//! - [`deploy`]: `forge deploy <host>`: build the system, push its closure,
//!   commit the host's pin.
//! - [`agent`]: `forge agent`: watch the pin, switch, check, confirm or roll back.
//! - [`agent_switch`]: one switch: substitute, profile, `test`, checks, `boot` or back.
//! - [`agent_report`]: outcomes to the release ledger's audit log, when reachable.
//! - [`agent_files`]: the agent's state file and Prometheus textfile metrics.

pub mod agent;
pub mod agent_files;
pub mod agent_report;
pub mod agent_switch;
pub mod deploy;
pub mod rollback;

pub use agent::{Agent, AgentConfig};
pub use deploy::{deploy_host, HostDeployRequest};
pub use rollback::{rollback_host, HostRollbackRequest};
