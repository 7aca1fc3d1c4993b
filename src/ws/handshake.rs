//! The opening handshake (RFC 6455 section 4), server side and client side.
//!
//! A client asks to switch an HTTP/1.1 connection to WebSocket:
//!
//! ```text
//! GET /chat HTTP/1.1
//! Host: server.example.com
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Origin: http://example.com
//! Sec-WebSocket-Protocol: chat, superchat
//! Sec-WebSocket-Version: 13
//! ```
//!
//! and the server agrees (RFC 6455 section 1.3):
//!
//! ```text
//! HTTP/1.1 101 Switching Protocols
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Protocol: chat
//! ```
//!
//! `Sec-WebSocket-Accept` is `base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-
//! C5AB0DC85B11"))`, computed over the key *as sent* (its base64 text). It
//! proves the server understood the WebSocket request, so a cache or a
//! confused server cannot answer it by accident.
//!
//! Server-side checks (section 4.2.1), and what a failure answers:
//!
//! - method `GET` (405), HTTP/1.1 or later (400), a `Host` header (400);
//! - `Upgrade` lists the token `websocket`, `Connection` lists `upgrade`,
//!   both case-insensitive, in comma lists, possibly over several header
//!   lines (400);
//! - exactly one `Sec-WebSocket-Key` whose base64 decodes to 16 bytes (400);
//! - `Sec-WebSocket-Version: 13`; anything else or nothing gets `426` with
//!   `Sec-WebSocket-Version: 13` so the client can retry (section 4.4);
//! - `Origin`, when present, is passed to the caller's check (403,
//!   section 10.2);
//! - `Sec-WebSocket-Protocol`: the first protocol the client lists that the
//!   server supports is chosen; no match is not an error, the response
//!   simply names no protocol (section 4.2.2).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

use crate::http::response::{self, Body, Connection, Response, TEXT_PLAIN};
use crate::http::HttpDate;

/// The GUID appended to the client's key (RFC 6455 section 1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An already parsed HTTP request, as much of it as the handshake needs.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeRequest<'a> {
    /// The request method, e.g. `GET`.
    pub method: &'a str,
    /// The `x` in `HTTP/1.x`.
    pub version_minor: u8,
    /// The header lines in order, names in any case (as `httparse` gives
    /// them).
    pub headers: &'a [httparse::Header<'a>],
}

/// The server's decision to upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted<'p> {
    /// The `Sec-WebSocket-Accept` value.
    pub accept_key: [u8; 28],
    /// The chosen subprotocol, one of the server's supported ones.
    pub protocol: Option<&'p str>,
}

/// Why a handshake request was refused; [`HandshakeError::status`] is the
/// HTTP status to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// The method is not `GET`.
    MethodNotGet,
    /// The request is HTTP/1.0.
    HttpVersionTooOld,
    /// No `Host` header.
    MissingHost,
    /// No `Upgrade` header listing `websocket`.
    NotWebSocketUpgrade,
    /// No `Connection` header listing `upgrade`.
    MissingConnectionUpgrade,
    /// No `Sec-WebSocket-Key` header.
    MissingKey,
    /// More than one `Sec-WebSocket-Key` header.
    DuplicateKey,
    /// The key is not base64 of exactly 16 bytes.
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not 13.
    UnsupportedVersion,
    /// The `Origin` check refused the request.
    OriginRejected,
}

impl HandshakeError {
    /// The HTTP status for the refusal: 400, 403, 405 or 426.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::MethodNotGet => 405,
            HandshakeError::OriginRejected => 403,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::HttpVersionTooOld
            | HandshakeError::MissingHost
            | HandshakeError::NotWebSocketUpgrade
            | HandshakeError::MissingConnectionUpgrade
            | HandshakeError::MissingKey
            | HandshakeError::DuplicateKey
            | HandshakeError::InvalidKey => 400,
        }
    }
}

impl HandshakeError {
    /// The header fields the refusal needs besides the usual ones:
    /// `Sec-WebSocket-Version: 13` for 426 (RFC 6455 section 4.4: say
    /// which version the server speaks), `Allow: GET` for 405 (RFC 9110
    /// section 15.5.6).
    pub fn fields(&self) -> &'static [(&'static str, &'static [u8])] {
        match self {
            HandshakeError::UnsupportedVersion => {
                &[("Sec-WebSocket-Version", b"13"), ("Upgrade", b"websocket")]
            }
            HandshakeError::MethodNotGet => &[("Allow", b"GET")],
            _ => &[],
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeError::MethodNotGet => "WebSocket handshake must use GET",
            HandshakeError::HttpVersionTooOld => "WebSocket handshake needs HTTP/1.1",
            HandshakeError::MissingHost => "missing Host header",
            HandshakeError::NotWebSocketUpgrade => "Upgrade header must list websocket",
            HandshakeError::MissingConnectionUpgrade => "Connection header must list upgrade",
            HandshakeError::MissingKey => "missing Sec-WebSocket-Key",
            HandshakeError::DuplicateKey => "more than one Sec-WebSocket-Key",
            HandshakeError::InvalidKey => "Sec-WebSocket-Key is not base64 of 16 bytes",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version must be 13",
            HandshakeError::OriginRejected => "origin not allowed",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value.
///
/// ```
/// use pushwire::ws::accept_key;
///
/// assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    // 20 bytes always encode to exactly 28 base64 characters.
    let _ = STANDARD.encode_slice(digest, &mut out);
    out
}

/// Trims HTTP optional whitespace (spaces and tabs) from both ends.
fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = value.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => value.get(s..=e).unwrap_or(&[]),
        _ => &[],
    }
}

/// The comma-separated elements of every header named `name`, trimmed and
/// without empty ones (RFC 9110 section 5.6.1).
fn list_elements<'h>(
    headers: &'h [httparse::Header<'h>],
    name: &'static str,
) -> impl Iterator<Item = &'h [u8]> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|v| !v.is_empty())
}

fn has_token(headers: &[httparse::Header<'_>], name: &'static str, token: &str) -> bool {
    list_elements(headers, name).any(|v| v.eq_ignore_ascii_case(token.as_bytes()))
}

fn header<'h>(headers: &'h [httparse::Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Checks a client's opening handshake (RFC 6455 section 4.2.1) and, if it
/// is acceptable, computes the response (section 4.2.2).
///
/// `supported_protocols` lists the subprotocols the server speaks;
/// `origin_allowed` is called with the `Origin` header's value when there is
/// one (non-browser clients often send none, which is allowed).
///
/// ```
/// use httparse::Header;
/// use pushwire::ws::{accept, HandshakeRequest};
///
/// let headers = [
///     Header { name: "Host", value: b"server.example.com" },
///     Header { name: "Upgrade", value: b"websocket" },
///     Header { name: "Connection", value: b"keep-alive, Upgrade" },
///     Header { name: "Sec-WebSocket-Key", value: b"dGhlIHNhbXBsZSBub25jZQ==" },
///     Header { name: "Sec-WebSocket-Protocol", value: b"chat, superchat" },
///     Header { name: "Sec-WebSocket-Version", value: b"13" },
/// ];
/// let req = HandshakeRequest { method: "GET", version_minor: 1, headers: &headers };
/// let accepted = accept(&req, &["superchat", "chat"], |_| true).unwrap();
/// assert_eq!(&accepted.accept_key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert_eq!(accepted.protocol, Some("chat"));
/// ```
pub fn accept<'p>(
    req: &HandshakeRequest<'_>,
    supported_protocols: &[&'p str],
    origin_allowed: impl Fn(&[u8]) -> bool,
) -> Result<Accepted<'p>, HandshakeError> {
    let headers = req.headers;
    if req.method != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    if req.version_minor < 1 {
        return Err(HandshakeError::HttpVersionTooOld);
    }
    if header(headers, "host").is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !has_token(headers, "upgrade", "websocket") {
        return Err(HandshakeError::NotWebSocketUpgrade);
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let mut keys = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"));
    let key = match (keys.next(), keys.next()) {
        (None, _) => return Err(HandshakeError::MissingKey),
        (Some(_), Some(_)) => return Err(HandshakeError::DuplicateKey),
        (Some(h), None) => trim_ows(h.value),
    };
    // RFC 6455 4.1: the key is a base64-encoded 16-byte value (24 chars).
    let mut decoded = [0u8; 18];
    match STANDARD.decode_slice(key, &mut decoded) {
        Ok(16) if key.len() == 24 => {}
        _ => return Err(HandshakeError::InvalidKey),
    }
    if !has_token(headers, "sec-websocket-version", "13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    // RFC 6455 10.2: the Origin header lets a server refuse pages from
    // other sites; browsers always send it.
    if let Some(origin) = header(headers, "origin") {
        if !origin_allowed(trim_ows(origin)) {
            return Err(HandshakeError::OriginRejected);
        }
    }
    let protocol = list_elements(headers, "sec-websocket-protocol").find_map(|offered| {
        supported_protocols
            .iter()
            .find(|p| p.as_bytes() == offered)
            .copied()
    });
    Ok(Accepted {
        accept_key: accept_key(key),
        protocol,
    })
}

/// Appends the `101 Switching Protocols` response for an accepted handshake.
///
/// ```
/// use pushwire::ws::{accept_key, write_response, Accepted};
///
/// let accepted = Accepted { accept_key: accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), protocol: None };
/// let mut out = Vec::new();
/// write_response(&mut out, &accepted);
/// assert_eq!(
///     out,
///     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
/// );
/// ```
pub fn write_response(out: &mut Vec<u8>, accepted: &Accepted<'_>) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(&accepted.accept_key);
    out.extend_from_slice(b"\r\n");
    if let Some(protocol) = accepted.protocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(protocol.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a complete refusal: status line, `Date`, the headers the status
/// needs (`Sec-WebSocket-Version: 13` for 426, `Allow: GET` for 405), and
/// the reason as a plain-text body. The connection should close afterwards.
///
/// ```
/// use pushwire::http::HttpDate;
/// use pushwire::ws::{write_error_response, HandshakeError};
///
/// let mut out = Vec::new();
/// let date = HttpDate::from_unix_secs(784_111_777);
/// write_error_response(&mut out, &HandshakeError::UnsupportedVersion, &date);
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.starts_with(
///     "HTTP/1.1 426 Upgrade Required\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
/// ));
/// assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
/// ```
pub fn write_error_response(out: &mut Vec<u8>, err: &HandshakeError, date: &HttpDate) {
    let body = format!("{err}\n");
    let response = Response {
        status: err.status(),
        content_type: TEXT_PLAIN,
        fields: err.fields(),
        body: Body::Full(body.as_bytes()),
    };
    response::write_response(out, &response, date, Connection::Close, false);
}

/// Why a server's handshake response was refused by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// The status was not 101. Holds the status.
    NotSwitching(u16),
    /// No `Upgrade: websocket`.
    NotWebSocketUpgrade,
    /// No `Connection: upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not matching our key.
    BadAccept,
    /// The server chose a subprotocol we did not offer (or sent a
    /// non-UTF-8 one).
    UnexpectedProtocol,
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientHandshakeError::NotSwitching(status) => {
                write!(f, "server answered {status}, not 101")
            }
            ClientHandshakeError::NotWebSocketUpgrade => f.write_str("no Upgrade: websocket"),
            ClientHandshakeError::MissingConnectionUpgrade => f.write_str("no Connection: upgrade"),
            ClientHandshakeError::BadAccept => f.write_str("wrong Sec-WebSocket-Accept"),
            ClientHandshakeError::UnexpectedProtocol => {
                f.write_str("server chose a subprotocol that was not offered")
            }
        }
    }
}

impl std::error::Error for ClientHandshakeError {}

/// Appends a client's opening handshake request (RFC 6455 section 4.1).
///
/// `key_b64` is the base64 of 16 random bytes that the caller chose (this
/// crate has no randomness); keep it to check the response.
///
/// ```
/// use pushwire::ws::write_client_request;
///
/// let mut out = Vec::new();
/// write_client_request(&mut out, "localhost:8080", "/echo", "dGhlIHNhbXBsZSBub25jZQ==", &["chat"]);
/// assert_eq!(
///     out,
///     b"GET /echo HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n\
///       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
/// );
/// ```
pub fn write_client_request(
    out: &mut Vec<u8>,
    host: &str,
    path: &str,
    key_b64: &str,
    protocols: &[&str],
) {
    for part in [
        "GET ",
        path,
        " HTTP/1.1\r\nHost: ",
        host,
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
        key_b64,
        "\r\nSec-WebSocket-Version: 13\r\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
    if !protocols.is_empty() {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(protocols.join(", ").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Checks the server's handshake response (RFC 6455 section 4.2.2 item 5,
/// as the client sees it in section 4.1) and returns the chosen subprotocol.
///
/// `key_b64` is the key sent in the request; `offered` the protocols
/// offered.
///
/// ```
/// use httparse::Header;
/// use pushwire::ws::check_server_response;
///
/// let headers = [
///     Header { name: "Upgrade", value: b"websocket" },
///     Header { name: "Connection", value: b"Upgrade" },
///     Header { name: "Sec-WebSocket-Accept", value: b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
///     Header { name: "Sec-WebSocket-Protocol", value: b"chat" },
/// ];
/// let chosen = check_server_response(101, &headers, b"dGhlIHNhbXBsZSBub25jZQ==", &["chat"]);
/// assert_eq!(chosen, Ok(Some("chat")));
/// ```
pub fn check_server_response<'h>(
    status: u16,
    headers: &'h [httparse::Header<'h>],
    key_b64: &[u8],
    offered: &[&str],
) -> Result<Option<&'h str>, ClientHandshakeError> {
    if status != 101 {
        return Err(ClientHandshakeError::NotSwitching(status));
    }
    if !has_token(headers, "upgrade", "websocket") {
        return Err(ClientHandshakeError::NotWebSocketUpgrade);
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(ClientHandshakeError::MissingConnectionUpgrade);
    }
    match header(headers, "sec-websocket-accept") {
        Some(value) if trim_ows(value) == accept_key(key_b64) => {}
        _ => return Err(ClientHandshakeError::BadAccept),
    }
    match header(headers, "sec-websocket-protocol") {
        None => Ok(None),
        Some(value) => {
            let chosen = std::str::from_utf8(trim_ows(value))
                .map_err(|_| ClientHandshakeError::UnexpectedProtocol)?;
            if offered.contains(&chosen) {
                Ok(Some(chosen))
            } else {
                Err(ClientHandshakeError::UnexpectedProtocol)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httparse::Header;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    fn base_headers() -> Vec<Header<'static>> {
        vec![
            Header {
                name: "Host",
                value: b"example.com",
            },
            Header {
                name: "Upgrade",
                value: b"websocket",
            },
            Header {
                name: "Connection",
                value: b"Upgrade",
            },
            Header {
                name: "Sec-WebSocket-Key",
                value: KEY,
            },
            Header {
                name: "Sec-WebSocket-Version",
                value: b"13",
            },
        ]
    }

    fn run(
        method: &str,
        minor: u8,
        headers: &[Header<'_>],
    ) -> Result<Accepted<'static>, HandshakeError> {
        let req = HandshakeRequest {
            method,
            version_minor: minor,
            headers,
        };
        accept(&req, &["pushwire.json", "chat"], |o| {
            o == b"http://good.example"
        })
    }

    fn without(name: &str) -> Vec<Header<'static>> {
        base_headers()
            .into_iter()
            .filter(|h| !h.name.eq_ignore_ascii_case(name))
            .collect()
    }

    fn with(extra: &[Header<'static>]) -> Vec<Header<'static>> {
        let mut h = base_headers();
        h.extend_from_slice(extra);
        h
    }

    fn replaced(name: &'static str, value: &'static [u8]) -> Vec<Header<'static>> {
        let mut h = without(name);
        h.push(Header { name, value });
        h
    }

    #[test]
    fn rfc_6455_example_key_gives_the_example_accept() {
        assert_eq!(&accept_key(KEY), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let accepted = run("GET", 1, &base_headers()).unwrap();
        assert_eq!(&accepted.accept_key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accepted.protocol, None);
    }

    #[test]
    fn refusals_carry_their_status() {
        let bad_key = replaced("Sec-WebSocket-Key", b"dGhlIHNhbXBsZQ==");
        let table: Vec<(&str, u8, Vec<Header<'static>>, HandshakeError, u16)> = vec![
            ("POST", 1, base_headers(), HandshakeError::MethodNotGet, 405),
            (
                "GET",
                0,
                base_headers(),
                HandshakeError::HttpVersionTooOld,
                400,
            ),
            ("GET", 1, without("host"), HandshakeError::MissingHost, 400),
            (
                "GET",
                1,
                without("upgrade"),
                HandshakeError::NotWebSocketUpgrade,
                400,
            ),
            (
                "GET",
                1,
                replaced("Upgrade", b"h2c"),
                HandshakeError::NotWebSocketUpgrade,
                400,
            ),
            (
                "GET",
                1,
                replaced("Connection", b"keep-alive"),
                HandshakeError::MissingConnectionUpgrade,
                400,
            ),
            (
                "GET",
                1,
                without("sec-websocket-key"),
                HandshakeError::MissingKey,
                400,
            ),
            (
                "GET",
                1,
                with(&[Header {
                    name: "sec-websocket-key",
                    value: KEY,
                }]),
                HandshakeError::DuplicateKey,
                400,
            ),
            ("GET", 1, bad_key, HandshakeError::InvalidKey, 400),
            (
                "GET",
                1,
                replaced("Sec-WebSocket-Key", b"not base64 at all!!!!!!!"),
                HandshakeError::InvalidKey,
                400,
            ),
            (
                "GET",
                1,
                without("sec-websocket-version"),
                HandshakeError::UnsupportedVersion,
                426,
            ),
            (
                "GET",
                1,
                replaced("Sec-WebSocket-Version", b"8"),
                HandshakeError::UnsupportedVersion,
                426,
            ),
            (
                "GET",
                1,
                with(&[Header {
                    name: "Origin",
                    value: b"http://evil.example",
                }]),
                HandshakeError::OriginRejected,
                403,
            ),
        ];
        for (method, minor, headers, err, status) in table {
            assert_eq!(run(method, minor, &headers), Err(err), "{err}");
            assert_eq!(err.status(), status);
        }
    }

    #[test]
    fn tokens_match_case_insensitively_in_comma_lists_over_several_headers() {
        let headers = vec![
            Header {
                name: "HOST",
                value: b"example.com",
            },
            Header {
                name: "upgrade",
                value: b"foo/1, WebSocket",
            },
            Header {
                name: "connection",
                value: b"keep-alive",
            },
            Header {
                name: "Connection",
                value: b" close ,\tUPGRADE ",
            },
            Header {
                name: "sec-websocket-key",
                value: b" dGhlIHNhbXBsZSBub25jZQ== ",
            },
            Header {
                name: "sec-websocket-version",
                value: b"13",
            },
            Header {
                name: "Origin",
                value: b"http://good.example",
            },
        ];
        let accepted = run("GET", 1, &headers).unwrap();
        assert_eq!(&accepted.accept_key, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn first_client_protocol_the_server_supports_is_chosen() {
        let headers = with(&[
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"v2.other, chat",
            },
            Header {
                name: "Sec-WebSocket-Protocol",
                value: b"pushwire.json",
            },
        ]);
        assert_eq!(run("GET", 1, &headers).unwrap().protocol, Some("chat"));
        let headers = with(&[Header {
            name: "Sec-WebSocket-Protocol",
            value: b"unknown",
        }]);
        assert_eq!(run("GET", 1, &headers).unwrap().protocol, None);
    }

    #[test]
    fn response_names_the_chosen_protocol() {
        let accepted = Accepted {
            accept_key: accept_key(KEY),
            protocol: Some("chat"),
        };
        let mut out = Vec::new();
        write_response(&mut out, &accepted);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }

    #[test]
    fn client_request_is_accepted_by_the_server_and_the_response_by_the_client() {
        let mut request = Vec::new();
        write_client_request(
            &mut request,
            "h:1",
            "/ws/x",
            "dGhlIHNhbXBsZSBub25jZQ==",
            &["chat"],
        );
        let mut parsed = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut parsed);
        assert!(req.parse(&request).unwrap().is_complete());
        let hs = HandshakeRequest {
            method: req.method.unwrap(),
            version_minor: req.version.unwrap(),
            headers: req.headers,
        };
        let accepted = accept(&hs, &["chat"], |_| true).unwrap();
        let mut response = Vec::new();
        write_response(&mut response, &accepted);
        let mut parsed = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut parsed);
        assert!(resp.parse(&response).unwrap().is_complete());
        assert_eq!(
            check_server_response(resp.code.unwrap(), resp.headers, KEY, &["chat"]),
            Ok(Some("chat"))
        );
        assert_eq!(
            check_server_response(
                resp.code.unwrap(),
                resp.headers,
                b"AAAAAAAAAAAAAAAAAAAAAA==",
                &["chat"]
            ),
            Err(ClientHandshakeError::BadAccept)
        );
        assert_eq!(
            check_server_response(resp.code.unwrap(), resp.headers, KEY, &[]),
            Err(ClientHandshakeError::UnexpectedProtocol)
        );
        assert_eq!(
            check_server_response(200, resp.headers, KEY, &["chat"]),
            Err(ClientHandshakeError::NotSwitching(200))
        );
    }

    #[test]
    fn error_response_for_426_names_the_supported_version() {
        let mut out = Vec::new();
        write_error_response(
            &mut out,
            &HandshakeError::UnsupportedVersion,
            &HttpDate::default(),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(text.ends_with("\r\n\r\nSec-WebSocket-Version must be 13\n"));
    }
}
