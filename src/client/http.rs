//! A blocking HTTP/1.1 client connection for the terminal subcommands, on
//! the crate's sans-IO pieces: requests written by hand, responses read by
//! [`ResponseReader`] (heads, and bodies framed as RFC 9112 section 6.3
//! says), the socket read here.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use pushwire::http::response::write_content_length;
use pushwire::http::response_reader::{ResponseEvent, ResponseFraming, ResponseReader};

/// The largest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// `http://host:port/path?query` (or `ws://`), split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port` as written (the `Host` header).
    pub authority: String,
    /// Path and query, at least `/`.
    pub target: String,
}

impl Url {
    /// Parses an `http://` or `ws://` URL; https and wss need TLS, which
    /// pushwire does not speak.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("ws://"))
            .ok_or_else(|| format!("'{text}': only http:// and ws:// URLs (no TLS)"))?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("'{text}': no host"));
        }
        Ok(Url {
            authority: authority.to_owned(),
            target: target.to_owned(),
        })
    }

    /// The same URL with `key=value` set in the query (replacing it).
    pub fn with_param(&self, key: &str, value: &str) -> String {
        let (path, query) = self.target.split_once('?').unwrap_or((&self.target, ""));
        let mut params: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty() && p.split('=').next() != Some(key))
            .map(str::to_owned)
            .collect();
        params.push(format!("{key}={value}"));
        format!("{path}?{}", params.join("&"))
    }

    /// Connects, with `timeout` for every read.
    pub fn connect(&self, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let host = if self.authority.contains(':') {
            self.authority.clone()
        } else {
            format!("{}:80", self.authority)
        };
        let stream = TcpStream::connect(host)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(timeout)?;
        Ok(stream)
    }
}

/// A final response head, with every field line (the WebSocket handshake
/// check wants them all).
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    framing: ResponseFraming,
}

/// A connection that reads responses; bytes past one response stay for
/// the next.
pub struct Conn {
    pub stream: TcpStream,
    /// Bytes read and not yet taken by the reader.
    buf: Vec<u8>,
    responses: ResponseReader,
}

fn invalid(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
            responses: ResponseReader::with_max_head_bytes(MAX_HEAD_BYTES),
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Runs the reader over the buffered bytes, body bytes to `body`.
    fn step(&mut self, body: &mut Vec<u8>) -> io::Result<Option<ResponseEvent>> {
        let (used, event) = self.responses.read(&self.buf, body).map_err(invalid)?;
        self.buf.drain(..used);
        Ok(event)
    }

    /// Takes the bytes read past the last response (a WebSocket's first
    /// frames may arrive with the 101).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Reads the next final response head, skipping interim `1xx` answers
    /// (and whatever is left of a body nobody read).
    pub fn read_head(&mut self) -> io::Result<Head> {
        let mut skipped = Vec::new();
        loop {
            skipped.clear();
            match self.step(&mut skipped)? {
                Some(ResponseEvent::Head(head)) => {
                    let headers = self
                        .responses
                        .fields()
                        .map(|(name, value)| (name.to_owned(), value.to_vec()))
                        .collect();
                    return Ok(Head {
                        status: head.status,
                        headers,
                        framing: head.framing,
                    });
                }
                Some(ResponseEvent::Interim(_) | ResponseEvent::Done) => {}
                None => {
                    if self.fill()? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed",
                        ));
                    }
                }
            }
        }
    }

    /// Reads a whole body, bounded by `max` bytes.
    pub fn read_body(&mut self, head: &Head, max: usize) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        self.stream_body(head, max, |bytes| {
            body.extend_from_slice(bytes);
            true
        })?;
        Ok(body)
    }

    /// Hands the body of `head` to `sink` as it arrives, until it ends or
    /// `sink` returns false; more than `max` bytes is an error.
    pub fn stream_body(
        &mut self,
        head: &Head,
        max: usize,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<()> {
        let too_large = || invalid("body larger than allowed");
        if let ResponseFraming::Length(n) = head.framing {
            if n > max as u64 {
                return Err(too_large());
            }
        }
        let mut received = 0usize;
        let mut out = Vec::new();
        loop {
            let event = self.step(&mut out)?;
            if !out.is_empty() {
                received = received.saturating_add(out.len());
                if received > max {
                    return Err(too_large());
                }
                let keep_going = sink(&out);
                out.clear();
                if !keep_going {
                    return Ok(());
                }
            }
            // Done: no head can come before the body's end.
            if event.is_some() {
                return Ok(());
            }
            if self.fill()? == 0 {
                if self.responses.eof() {
                    return Ok(()); // the body ran until the close
                }
                let what = match head.framing {
                    ResponseFraming::Chunked => "chunked body cut short",
                    _ => "body cut short",
                };
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, what));
            }
        }
    }
}

/// Writes a request: method, target, Host, the extra header lines, and a
/// body with its length.
pub fn write_request(
    stream: &mut TcpStream,
    url: &Url,
    method: &str,
    target: &str,
    extra: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\n{extra}",
        url.authority
    )
    .into_bytes();
    if method == "POST" {
        write_content_length(&mut request, body.len());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    stream.write_all(&request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_target() {
        let url = Url::parse("http://127.0.0.1:8080/sse/demo?since=3").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.with_param("since", "9"), "/sse/demo?since=9");
        let bare = Url::parse("ws://localhost:1").unwrap();
        assert_eq!(
            (bare.target.as_str(), bare.with_param("a", "b")),
            ("/", "/?a=b".to_owned())
        );
        assert!(Url::parse("https://example.com/").is_err());
        assert!(Url::parse("http:///x").is_err());
    }
}
