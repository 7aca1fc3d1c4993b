//! pushwire: the four ways a web server pushes data to clients, by hand.
//!
//! Ajax polling, HTTP long-polling, Server-Sent Events and WebSocket
//! (RFC 6455), implemented at the protocol level in one single-threaded
//! `mio` event loop, all four draining the same pub/sub channels.
//!
//! The crate is layered; dependencies point down only:
//!
//! ```text
//! server      the reactor: mio::Poll, sockets, the clock, writev
//! ----------- no I/O below this line -------------------------------
//! cluster     a node's store when channels are shared through Redis
//! engine      the connection state machines, routing, fan-out
//! broker      channels, history rings, subscriber sets, ids
//! http ws sse json log resp   sans-IO protocol codecs (log: the record format; resp: Redis)
//! auth        signed tokens: HMAC-SHA256 so far
//! decimal     the numbers those codecs write and read
//! timer       the hierarchical timing wheel
//! ```
// `unsafe` appears only in `server::sys` (rlimit and signal calls).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod decimal;
pub mod engine;
pub mod http;
pub mod json;
pub mod log;
pub mod prometheus;
pub mod resp;
pub mod server;
pub mod sse;
pub mod timer;
pub mod trace;
pub mod ws;

pub use config::Config;
pub use server::{Hub, Server};
