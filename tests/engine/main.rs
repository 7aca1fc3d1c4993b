//! The engine at its own layer: every endpoint, every refusal and every
//! deadline, driven through [`harness::Harness`] in virtual time (no
//! socket, no sleep; deadlines asserted to the tick), plus the commit
//! interface with a store that answers a pass later.

mod check;
mod harness;
mod store;

mod auth;
mod budget;
mod commit;
mod deadlines;
mod drain;
mod expiry;
mod http;
mod kernel;
mod longpoll;
mod metrics;
mod paging;
mod refusals;
mod replay;
mod restart;
mod shared;
mod slow;
mod sse;
mod websocket;
