//! Every limit and default, documented in one place.

/// Placeholder so the skeleton builds on the `codecs` branch; the real
/// `Config` comes from the branch that owns this file. Take theirs on merge.
#[derive(Debug, Clone, Default)]
pub struct Config {}
