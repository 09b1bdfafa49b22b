//! Closed sets of named values (an architecture, a compression), so that
//! flags and configuration can list and parse them without this crate
//! knowing about any command-line parser.

/// An enum whose variants have stable names.
pub trait Choice: Copy + Send + Sync + 'static {
    /// Every variant, in the order help text lists them.
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    /// One line for `--help`, where there is something to say.
    fn help(self) -> Option<&'static str> {
        None
    }
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}
