//! The flags every command sees, resolved once from the command line.

/// Flags every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Global {
    /// Print the result as JSON on stdout.
    pub json: bool,
}
