//! The health verdict after a switch: no failed systemd units beyond the
//! allow-list, and every check passed.

/// Failed units as `systemctl list-units --state=failed --plain --no-legend` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitList(pub Vec<String>);

impl UnitList {
    pub fn parse(output: &str) -> Self {
        Self(
            output
                .lines()
                .filter_map(|l| {
                    l.split_whitespace()
                        .find(|w| *w != "●" && *w != "*")
                        .map(str::to_owned)
                })
                .collect(),
        )
    }

    /// The units not matched by `allow` (exact names, or a prefix ending in `*`).
    pub fn beyond(&self, allow: &[String]) -> Vec<String> {
        self.0
            .iter()
            .filter(|u| {
                !allow.iter().any(|a| match a.strip_suffix('*') {
                    Some(prefix) => u.starts_with(prefix),
                    None => *u == a,
                })
            })
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthVerdict {
    pub healthy: bool,
    pub reasons: Vec<String>,
}

impl HealthVerdict {
    /// `failed_units`: the failed units beyond the allow-list; `check_failures`:
    /// one line per failed check (name and why).
    pub fn judge(failed_units: &[String], check_failures: &[String]) -> Self {
        let mut reasons = Vec::new();
        if !failed_units.is_empty() {
            reasons.push(format!("failed systemd units: {}", failed_units.join(", ")));
        }
        reasons.extend(check_failures.iter().cloned());
        Self {
            healthy: reasons.is_empty(),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_units_beyond_the_allow_list_are_unhealthy() {
        let out = "● nginx.service loaded failed failed nginx\nsystemd-networkd-wait-online.service loaded failed failed Wait\n";
        let units = UnitList::parse(out);
        assert_eq!(
            units.0,
            ["nginx.service", "systemd-networkd-wait-online.service"]
        );
        let left = units.beyond(&["systemd-networkd-*".into()]);
        assert_eq!(left, ["nginx.service"]);
        let v = HealthVerdict::judge(&left, &[]);
        assert!(!v.healthy);
        assert_eq!(v.reasons, ["failed systemd units: nginx.service"]);
        assert!(HealthVerdict::judge(&units.beyond(&["*".into()]), &[]).healthy);
        assert!(UnitList::parse("").0.is_empty());
    }
}
