//! The TLS types of a build without the `tls` feature: they cannot be
//! made, so the reactor's TLS paths compile and never run.

use std::io::{self, IoSlice, Write};

use super::{TlsError, TlsInput};

/// Stands for rustls's `ServerConfig`, which this build does not have.
#[derive(Debug)]
pub enum ServerConfig {}

/// Stands for the TLS session of a build with the `tls` feature; no value
/// of it exists.
#[derive(Debug)]
pub enum TlsSession {}

#[allow(missing_docs)]
impl TlsSession {
    pub fn new(config: std::sync::Arc<ServerConfig>) -> Result<TlsSession, TlsError> {
        match *config {}
    }

    pub fn handle_ciphertext(&mut self, _: &[u8], _: &mut Vec<u8>) -> TlsInput {
        match *self {}
    }

    pub fn is_handshaking(&self) -> bool {
        match *self {}
    }

    pub fn peer_closed(&self) -> bool {
        match *self {}
    }

    pub fn is_closing(&self) -> bool {
        match *self {}
    }

    pub fn handle_plaintext(&mut self, _: &[IoSlice<'_>]) -> usize {
        match *self {}
    }

    pub fn has_ciphertext(&self) -> bool {
        match *self {}
    }

    pub fn write_ciphertext(&mut self, _: &mut dyn Write) -> io::Result<usize> {
        match *self {}
    }

    pub fn close(&mut self) {
        match *self {}
    }
}
