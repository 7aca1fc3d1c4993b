//! A blocking HTTP/1.1 client connection for the terminal subcommands, on
//! the crate's sans-IO pieces: requests written by hand, responses read by
//! [`ResponseReader`] (heads, and bodies framed as RFC 9112 section 6.3
//! says), the socket read here.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use pushwire::http::response::write_content_length;
use pushwire::http::response_reader::{ResponseEvent, ResponseFraming, ResponseReader};

/// The largest response head accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// `http://host:port/path?query` (or `ws://`, `https://`, `wss://`), split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `host:port` as written (the `Host` header).
    pub authority: String,
    /// Path and query, at least `/`.
    pub target: String,
    /// `https://` or `wss://`: TLS.
    pub secure: bool,
}

/// Whom a TLS client trusts: the CA certificates of `--cacert FILE`, or
/// the system's bundle (`SSL_CERT_FILE`, else Debian's
/// `/etc/ssl/certs/ca-certificates.crt`).
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// The PEM file of `--cacert`.
    pub cacert: Option<PathBuf>,
}

/// A connection to the server, in clear or through TLS.
pub enum Stream {
    /// `http://`, `ws://`.
    Plain(TcpStream),
    /// `https://`, `wss://`.
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Url {
    /// Parses an `http://` or `ws://` URL, and with the `tls` feature an
    /// `https://` or `wss://` one.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (rest, secure) = if let Some(rest) = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("wss://"))
        {
            if !cfg!(feature = "tls") {
                return Err(format!(
                    "'{text}': this pushwire was built without TLS (cargo build --features tls)"
                ));
            }
            (rest, true)
        } else {
            let rest = text
                .strip_prefix("http://")
                .or_else(|| text.strip_prefix("ws://"))
                .ok_or_else(|| {
                    format!("'{text}': only http://, ws://, https:// and wss:// URLs")
                })?;
            (rest, false)
        };
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
            secure,
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

    /// The host, without the port or an IPv6 address's brackets.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub fn host(&self) -> &str {
        let authority = self.authority.as_str();
        if let Some(rest) = authority.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        authority.split(':').next().unwrap_or(authority)
    }

    /// Connects, with `timeout` for every read; through TLS for
    /// `https://` and `wss://`, trusting `trust`.
    pub fn connect(&self, timeout: Option<Duration>, trust: &Trust) -> io::Result<Stream> {
        let has_port = match self.authority.rfind(']') {
            Some(end) => self.authority.get(end..).is_some_and(|r| r.contains(':')),
            None => self.authority.contains(':'),
        };
        let host = match (has_port, self.secure) {
            (true, _) => self.authority.clone(),
            (false, false) => format!("{}:80", self.authority),
            (false, true) => format!("{}:443", self.authority),
        };
        let stream = TcpStream::connect(host)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(timeout)?;
        if !self.secure {
            return Ok(Stream::Plain(stream));
        }
        #[cfg(feature = "tls")]
        return super::tls::connect(stream, self.host(), trust);
        #[cfg(not(feature = "tls"))]
        {
            let _ = trust;
            Err(io::Error::other("this pushwire was built without TLS"))
        }
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
    pub stream: Stream,
    /// Bytes read and not yet taken by the reader.
    buf: Vec<u8>,
    responses: ResponseReader,
}

fn invalid(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
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
    stream: &mut Stream,
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
        assert_eq!(
            Url::parse("https://example.com/").is_ok(),
            cfg!(feature = "tls")
        );
        assert!(!bare.secure);
        assert_eq!(bare.host(), "localhost");
        if cfg!(feature = "tls") {
            let wss = Url::parse("wss://[::1]:8443/ws/a").unwrap();
            assert!(wss.secure);
            assert_eq!((wss.host(), wss.authority.as_str()), ("::1", "[::1]:8443"));
        }
        assert!(Url::parse("ftp://example.com/").is_err());
        assert!(Url::parse("http:///x").is_err());
    }
}
