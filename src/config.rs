//! Every limit and default, documented in one place.
