//! A blocking HTTP/1.1 client connection for the terminal subcommands, on
//! the crate's sans-IO pieces: requests written by hand, response heads
//! parsed with `httparse`, bodies by `Content-Length`, the crate's
//! `ChunkedDecoder`, or the end of the connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use pushwire::http::chunked::ChunkedDecoder;
use pushwire::http::response::write_content_length;

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

/// A response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"))
    }

    fn length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse().ok())
    }
}

/// A connection that reads responses; bytes past one response stay for
/// the next.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Takes the bytes read past the last response (a WebSocket's first
    /// frames may arrive with the 101).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Reads a response head, skipping `100 Continue`.
    pub fn read_head(&mut self) -> io::Result<Head> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            match response
                .parse(&self.buf)
                .map_err(|e| invalid(e.to_string()))?
            {
                httparse::Status::Complete(n) => {
                    let head = Head {
                        status: response.code.unwrap_or(0),
                        headers: response
                            .headers
                            .iter()
                            .map(|h| (h.name.to_owned(), h.value.to_vec()))
                            .collect(),
                    };
                    self.buf.drain(..n);
                    if head.status == 100 {
                        continue;
                    }
                    return Ok(head);
                }
                httparse::Status::Partial => {
                    if self.buf.len() > 64 * 1024 {
                        return Err(invalid("response head too large"));
                    }
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

    /// Reads a whole body (`Content-Length` or chunked; close-delimited
    /// otherwise), bounded by `max` bytes.
    pub fn read_body(&mut self, head: &Head, max: usize) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        self.stream_body(head, max, |bytes| {
            body.extend_from_slice(bytes);
            true
        })?;
        Ok(body)
    }

    /// Hands the body to `sink` as it arrives, until it ends or `sink`
    /// returns false.
    pub fn stream_body(
        &mut self,
        head: &Head,
        max: usize,
        mut sink: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<()> {
        if head.chunked() {
            let mut decoder = ChunkedDecoder::new(max, 4096);
            let mut out = Vec::new();
            loop {
                let progress = decoder
                    .decode(&self.buf, &mut out)
                    .map_err(|e| invalid(e.to_string()))?;
                self.buf.drain(..progress.consumed);
                if !out.is_empty() {
                    if !sink(&out) {
                        return Ok(());
                    }
                    out.clear();
                }
                if progress.done {
                    return Ok(());
                }
                if self.fill()? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "chunked body cut short",
                    ));
                }
            }
        }
        match head.length() {
            Some(mut left) => {
                if left > max {
                    return Err(invalid("body larger than allowed"));
                }
                while left > 0 {
                    if self.buf.is_empty() && self.fill()? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "body cut short",
                        ));
                    }
                    let take = left.min(self.buf.len());
                    let keep_going = sink(&self.buf[..take]);
                    self.buf.drain(..take);
                    left -= take;
                    if !keep_going {
                        return Ok(());
                    }
                }
                Ok(())
            }
            None => loop {
                if !self.buf.is_empty() {
                    let keep_going = sink(&self.buf);
                    self.buf.clear();
                    if !keep_going {
                        return Ok(());
                    }
                }
                if self.fill()? == 0 {
                    return Ok(());
                }
            },
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
