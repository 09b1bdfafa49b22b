//! What the planner's parts share: the inputs and the problems found so far
//! (its own file, so that the parts depend on it and not on each other).

use super::catalog::ClusterState;
use super::desired::Desired;
use forge_core::yaml_error::Seg;

/// Shared by the planner's parts: the inputs and the problems found so far.
pub(crate) struct Ctx<'a> {
    pub desired: &'a Desired,
    pub observed: &'a ClusterState,
    pub allow_prune: bool,
    pub problems: Vec<String>,
}

impl Ctx<'_> {
    /// Records a problem with the entry or field at `at` + `more`.
    pub fn problem(&mut self, at: &[Seg], more: &[Seg], message: impl std::fmt::Display) {
        let place = self.desired.place(at, more);
        self.problems.push(format!("{place}: {message}"));
    }

    /// Records a problem (placed at `at` + `more`) unless `role` exists or
    /// the spec declares it, or when role pruning would drop it.
    pub fn need_role(
        &mut self,
        role: &str,
        at: &[Seg],
        more: &[Seg],
        used_by: impl FnOnce() -> String,
    ) {
        if !self.observed.has_role(role) && self.desired.role(role).is_none() {
            let by = used_by();
            self.problem(
                at,
                more,
                format!("role `{role}` ({by}) does not exist and is not declared under roles:"),
            );
        } else if self.prune_roles() && self.droppable(role) {
            let by = used_by();
            self.problem(
                at,
                more,
                format!("role `{role}` ({by}) is not declared under roles:, so prune would drop it; declare it"),
            );
        }
    }

    pub fn prune_roles(&self) -> bool {
        self.allow_prune && self.desired.prune.roles
    }

    /// Whether pruning may drop `name`: it exists, is not a superuser, a
    /// built-in `pg_` role or the role Forge connects as, and the spec does
    /// not declare it.
    pub fn droppable(&self, name: &str) -> bool {
        let o = self.observed;
        o.roles.get(name).is_some_and(|r| {
            !r.superuser
                && !name.starts_with("pg_")
                && name != o.current_user
                && !self.managed(name)
        })
    }

    /// Whether the spec declares `role` (only such roles lose privileges when pruning).
    pub fn managed(&self, role: &str) -> bool {
        self.desired.role(role).is_some()
    }
}
