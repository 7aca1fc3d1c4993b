//! The client side of HTTP/1.1 responses (RFC 9112), sans-IO: bytes in,
//! a response head and body bytes out.
//!
//! The head is parsed with httparse; the body is framed as RFC 9112
//! section 6.3 says for a response to a GET or POST: no body for 1xx, 204
//! and 304; else chunked (decoded with the crate's [`ChunkedDecoder`]);
//! else `Content-Length`; else everything until the server closes (an
//! event stream from an HTTP/1.0-style server). A `101 Switching
//! Protocols` ends HTTP on the connection: the bytes after its head belong
//! to the WebSocket.

use pushwire::http::chunked::ChunkedDecoder;

/// The largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// What the client keeps of a response head.
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    pub status: u16,
    pub content_type: Vec<u8>,
    /// `Last-Modified` and `Etag`: nchan's message position, sent back as
    /// `If-Modified-Since` / `If-None-Match`.
    pub last_modified: Option<String>,
    pub etag: Option<String>,
    /// The server will close the connection after this response.
    pub close: bool,
    /// Every header, kept only for a `101` (the WebSocket check needs them).
    pub upgrade_headers: Vec<(String, Vec<u8>)>,
}

/// What [`ResponseReader::read`] stopped for.
#[derive(Debug)]
pub enum ResponseEvent {
    /// The head is complete; body bytes (if any) follow.
    Head(ResponseHead),
    /// The body is complete; the connection may carry the next response.
    Done,
}

#[derive(Debug, Clone)]
enum Body {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Debug, Clone)]
enum State {
    Head,
    Body(Body),
    /// After a 101: nothing more for HTTP to read.
    Upgraded,
}

/// Reads one response after another from a connection.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    state: State,
    head: Vec<u8>,
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).trim().to_owned()
}

impl ResponseReader {
    pub fn new() -> ResponseReader {
        ResponseReader {
            state: State::Head,
            head: Vec::new(),
        }
    }

    /// Whether a response has started and not finished.
    pub fn in_response(&self) -> bool {
        matches!(self.state, State::Body(_)) || !self.head.is_empty()
    }

    /// Whether the body that follows the last head is already complete
    /// (it is empty): the next [`read`](Self::read), even of no bytes,
    /// reports [`ResponseEvent::Done`].
    pub fn body_complete(&self) -> bool {
        matches!(self.state, State::Body(Body::Length(0)))
    }

    /// Parses the head in `bytes`; `Ok(None)` if incomplete.
    fn parse_head(bytes: &[u8]) -> Result<Option<(usize, ResponseHead, Body, bool)>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("bad response head: {e}")),
        };
        let status = response.code.unwrap_or(0);
        let mut head = ResponseHead {
            status,
            close: response.version == Some(0),
            ..ResponseHead::default()
        };
        let mut length = None;
        let mut chunked = false;
        for h in response.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                length = pushwire::decimal::parse_decimal(h.value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.to_ascii_lowercase().ends_with(b"chunked");
            } else if name.eq_ignore_ascii_case("content-type") {
                head.content_type = h.value.to_vec();
            } else if name.eq_ignore_ascii_case("last-modified") {
                head.last_modified = Some(text(h.value));
            } else if name.eq_ignore_ascii_case("etag") {
                head.etag = Some(text(h.value));
            } else if name.eq_ignore_ascii_case("connection") {
                let v = h.value.to_ascii_lowercase();
                if v.windows(5).any(|w| w == b"close") {
                    head.close = true;
                }
            }
            if status == 101 {
                head.upgrade_headers
                    .push((name.to_owned(), h.value.to_vec()));
            }
        }
        let informational = (100..200).contains(&status) && status != 101;
        let body = if status == 101 || status == 204 || status == 304 {
            Body::Length(0)
        } else if chunked {
            Body::Chunked(ChunkedDecoder::new(usize::MAX, MAX_HEAD))
        } else if let Some(n) = length {
            Body::Length(n)
        } else {
            Body::UntilClose
        };
        Ok(Some((used, head, body, informational)))
    }

    /// Consumes bytes until a head or the end of a body, appending body
    /// bytes to `body`. Returns what was consumed and the event, if one
    /// completed (call again with the rest).
    pub fn read(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<(usize, Option<ResponseEvent>), String> {
        match &mut self.state {
            State::Upgraded => Ok((0, None)),
            State::Head => {
                let (parsed, from_buffer) = if self.head.is_empty() {
                    (Self::parse_head(input)?, false)
                } else {
                    self.head.extend_from_slice(input);
                    (Self::parse_head(&self.head)?, true)
                };
                let Some((used, head, framing, informational)) = parsed else {
                    if !from_buffer {
                        self.head.extend_from_slice(input);
                    }
                    if self.head.len() > MAX_HEAD {
                        return Err("response head too large".into());
                    }
                    return Ok((input.len(), None));
                };
                // `used` counts bytes of the buffered head plus input.
                let consumed = if from_buffer {
                    let before = self.head.len() - input.len();
                    self.head.clear();
                    used - before
                } else {
                    used
                };
                if informational {
                    return Ok((consumed, None));
                }
                self.state = if head.status == 101 {
                    State::Upgraded
                } else {
                    State::Body(framing)
                };
                Ok((consumed, Some(ResponseEvent::Head(head))))
            }
            State::Body(framing) => {
                let (consumed, done) = match framing {
                    Body::Length(left) => {
                        let take = usize::try_from(*left)
                            .unwrap_or(usize::MAX)
                            .min(input.len());
                        body.extend_from_slice(input.get(..take).unwrap_or_default());
                        *left -= take as u64;
                        (take, *left == 0)
                    }
                    Body::Chunked(decoder) => {
                        let progress = decoder
                            .decode(input, body)
                            .map_err(|e| format!("bad chunked body: {e}"))?;
                        (progress.consumed, progress.done)
                    }
                    Body::UntilClose => {
                        body.extend_from_slice(input);
                        (input.len(), false)
                    }
                };
                if done {
                    self.state = State::Head;
                    return Ok((consumed, Some(ResponseEvent::Done)));
                }
                Ok((consumed, None))
            }
        }
    }

    /// The connection closed: a body that runs until close is complete.
    pub fn eof(&mut self) -> bool {
        let done = matches!(self.state, State::Body(Body::UntilClose));
        self.state = State::Head;
        self.head.clear();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(
        reader: &mut ResponseReader,
        input: &[u8],
        step: usize,
    ) -> (Vec<u16>, usize, Vec<u8>) {
        let mut body = Vec::new();
        let (mut heads, mut dones) = (Vec::new(), 0);
        for piece in input.chunks(step) {
            let mut rest = piece;
            loop {
                let (used, event) = reader.read(rest, &mut body).unwrap();
                rest = &rest[used..];
                match event {
                    Some(ResponseEvent::Head(h)) => heads.push(h.status),
                    Some(ResponseEvent::Done) => dones += 1,
                    None if rest.is_empty() => break,
                    None => {}
                }
            }
        }
        (heads, dones, body)
    }

    #[test]
    fn keep_alive_responses_in_any_split() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
                     HTTP/1.1 304 Not Modified\r\nEtag: 1\r\n\r\n\
                     HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n";
        for step in [1, 2, 7, wire.len()] {
            let (heads, dones, body) = read_all(&mut ResponseReader::new(), wire, step);
            assert_eq!(heads, [200, 304, 200], "step {step}");
            assert_eq!(dones, 3);
            assert_eq!(body, b"abcde");
        }
    }

    #[test]
    fn upgrade_leaves_the_rest_unread() {
        let mut r = ResponseReader::new();
        let mut body = Vec::new();
        let wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        let (used, event) = r.read(wire, &mut body).unwrap();
        assert!(matches!(event, Some(ResponseEvent::Head(ref h)) if h.upgrade_headers.len() == 1));
        assert_eq!(&wire[used..], b"\x81\x00");
        assert_eq!(r.read(&wire[used..], &mut body).unwrap().0, 0);
    }
}
