//! Which end of a connection an endpoint is (RFC 6455 section 5.1): the
//! one fact that decides which way masking goes.

/// Which end of the connection this endpoint is (RFC 6455 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepts connections: incoming frames must be masked, outgoing frames
    /// are not.
    Server,
    /// Opens connections: incoming frames must not be masked, outgoing frames
    /// are masked with a key the caller supplies.
    Client,
}
