//! NixOS hosts that pull their deploys: the pin `forge deploy <host>` commits
//! to the GitOps repository, and the rules the agent on the host follows.
//!
//! - [`pin`]: the versioned JSON pin file (parse with line/column, render).
//! - [`agent_state`]: what the agent remembers across restarts (pending switch, failed pins).
//! - [`decision`]: given the pin, the running system and the state: what to do.
//! - [`health`]: the health verdict from failed units and check results.

pub mod agent_state;
pub mod decision;
pub mod health;
pub mod pin;

pub use agent_state::{AgentState, Outcome, Pending, PendingPhase};
pub use decision::{decide, Decision};
pub use health::{HealthVerdict, UnitList};
pub use pin::{HostPin, PinError, PIN_VERSION};
