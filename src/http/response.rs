//! Response heads and bodies (RFC 9112 sections 4 and 6).
//!
//! A response is a status line, header fields, a blank line and a body whose
//! length the client must be able to find (section 6.3): every response here
//! carries `Content-Length`, except a `1xx` or `204`, which has no body
//! (RFC 9110 section 8.6), and the endless Server-Sent Events stream.
//!
//! ```text
//! HTTP/1.1 202 Accepted\r\n
//! Date: Wed, 25 Nov 2026 02:05:09 GMT\r\n
//! Content-Type: application/json\r\n
//! Content-Length: 9\r\n
//! \r\n
//! {"id":17}
//! ```

use crate::decimal::write_u64;
use crate::http::HttpDate;

/// What the `Connection` header of a response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Nothing: HTTP/1.1 keeps the connection by default.
    Default,
    /// `Connection: keep-alive`, needed for HTTP/1.0 clients that asked for it.
    KeepAlive,
    /// `Connection: close`: the server closes after this response.
    Close,
}

/// The reason phrase for the status codes this server sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `HTTP/1.1 <status> <reason>\r\n`.
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes `Date: <IMF-fixdate>\r\n` (RFC 9110 section 6.6.1: every 2xx,
/// 3xx and 4xx response of a server with a clock carries one).
pub fn write_date(out: &mut Vec<u8>, date: &HttpDate) {
    write_header(out, "Date", date.as_bytes());
}

/// Writes one header field, `name: value\r\n`.
pub fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `Content-Length: n\r\n`.
pub fn write_content_length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"Content-Length: ");
    write_u64(out, n as u64);
    out.extend_from_slice(b"\r\n");
}

/// Writes the `Connection` field (if any) and the blank line that ends the head.
pub fn end_head(out: &mut Vec<u8>, connection: Connection) {
    match connection {
        Connection::Default => {}
        Connection::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Connection::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// How a response's body is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// The whole body, announced with `Content-Length` (rule 6).
    Full(&'a [u8]),
    /// A body that follows the head in chunks, `Transfer-Encoding:
    /// chunked` (rule 4, section 7.1): an event stream to an HTTP/1.1
    /// client.
    Chunked,
    /// A body that ends when the server closes the connection (rule 8):
    /// an event stream to an HTTP/1.0 client, which cannot read chunks.
    UntilClose,
}

/// A response as a value: what to say, before it is put on the wire by
/// [`write_response`], the one function that writes responses.
///
/// The head comes out in one order: status line, `Date`, `Content-Type`,
/// the framing field (`Content-Length` or `Transfer-Encoding`), the
/// `fields` in the order given, `Connection`, the blank line.
///
/// ```
/// use pushwire::http::response::{write_response, Body, Connection, Response};
/// use pushwire::http::HttpDate;
///
/// let response = Response {
///     status: 202,
///     content_type: "application/json",
///     fields: &[],
///     body: Body::Full(b"{\"id\":17}"),
/// };
/// let mut out = Vec::new();
/// let date = HttpDate::from_unix_secs(784_111_777);
/// write_response(&mut out, &response, &date, Connection::Default, false);
/// assert_eq!(
///     out,
///     b"HTTP/1.1 202 Accepted\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
///       Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":17}"
/// );
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    /// The status code; its reason phrase comes from [`reason_phrase`].
    pub status: u16,
    /// The `Content-Type` field's value.
    pub content_type: &'a str,
    /// More header fields, written after the framing field.
    pub fields: &'a [(&'a str, &'a [u8])],
    /// The body, or how it will follow.
    pub body: Body<'a>,
}

/// Writes `response`: the head, then the body if it is [`Body::Full`]
/// and `head_only` is false. A response to `HEAD` (`head_only`) announces
/// the length of the body it leaves out (RFC 9110 section 9.3.2).
pub fn write_response(
    out: &mut Vec<u8>,
    response: &Response<'_>,
    date: &HttpDate,
    connection: Connection,
    head_only: bool,
) {
    write_status_line(out, response.status);
    write_date(out, date);
    write_header(out, "Content-Type", response.content_type.as_bytes());
    match response.body {
        // RFC 9110 section 8.6: no Content-Length on a 1xx or 204.
        Body::Full(_) if response.status < 200 || response.status == 204 => {}
        Body::Full(body) => write_content_length(out, body.len()),
        Body::Chunked => write_header(out, "Transfer-Encoding", b"chunked"),
        Body::UntilClose => {}
    }
    for (name, value) in response.fields {
        write_header(out, name, value);
    }
    end_head(out, connection);
    if let (Body::Full(body), false) = (response.body, head_only) {
        out.extend_from_slice(body);
    }
}

/// The content type of every plain-text answer (refusals, `/help`).
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_well_formed_and_close() {
        let mut out = Vec::new();
        let date = HttpDate::from_unix_secs(784_111_777);
        let response = Response {
            status: 431,
            content_type: TEXT_PLAIN,
            fields: &[],
            body: Body::Full(b"request header fields too large\n"),
        };
        write_response(&mut out, &response, &date, Connection::Close, false);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 431 Request Header Fields Too Large\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 32\r\n\
             Connection: close\r\n\r\n\
             request header fields too large\n"
        );
    }

    #[test]
    fn head_responses_announce_the_length_but_send_no_body() {
        let mut out = Vec::new();
        let response = Response {
            status: 200,
            content_type: "application/json",
            fields: &[],
            body: Body::Full(b"{}"),
        };
        write_response(
            &mut out,
            &response,
            &HttpDate::default(),
            Connection::Default,
            true,
        );
        assert!(out.ends_with(b"Content-Length: 2\r\n\r\n"));
    }

    #[test]
    fn every_status_sent_has_a_reason_phrase() {
        for status in [
            100, 101, 200, 202, 204, 400, 401, 403, 404, 405, 408, 411, 413, 414, 426, 431, 500,
            501, 503,
        ] {
            assert_ne!(reason_phrase(status), "Unknown", "{status}");
        }
    }
}

/// Writes one chunk of a chunked body (RFC 9112 section 7.1): the size in
/// hex, CRLF, the bytes, CRLF. An empty `data` would end the body, so it
/// writes nothing.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut digits = [0u8; 16];
    let mut n = data.len();
    let mut i = digits.len();
    while n > 0 || i == digits.len() {
        i -= 1;
        digits[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk: the end of a chunked body, no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod chunk_tests {
    use super::*;
    use crate::http::chunked::ChunkedDecoder;

    #[test]
    fn chunks_decode_back_with_our_own_decoder() {
        let mut wire = Vec::new();
        for part in [&b"a"[..], &[b'x'; 255][..], &[b'y'; 4096][..], b""] {
            write_chunk(&mut wire, part);
        }
        wire.extend_from_slice(LAST_CHUNK);
        assert!(wire.starts_with(b"1\r\na\r\nff\r\n"));
        let mut body = Vec::new();
        let progress = ChunkedDecoder::new(1 << 20, 64)
            .decode(&wire, &mut body)
            .unwrap();
        assert!(progress.done && progress.consumed == wire.len());
        assert_eq!(body.len(), 1 + 255 + 4096);
    }
}
