//! What a client reads, checked and taken apart: a sequence of HTTP/1.1
//! responses (framed by `Content-Length` or chunked; one `Date` on every
//! final response; nothing after `Connection: close`), and after a `101`
//! a sequence of server WebSocket frames (never masked, control frames at
//! most 125 bytes, valid close codes, UTF-8 text; nothing after a Close).
//!
//! Written independently of the server's own encoders (only the frame
//! reader is the crate's, in the client role), so that the engine tests
//! and the `connection` fuzz target (which includes this file) check the
//! server against the rules, not against itself.
#![allow(dead_code)]

use pushwire::ws::{MessageReader, Role, WsEvent};

/// One response as the client read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body read so far (decoded if chunked).
    pub body: Vec<u8>,
    /// The whole body has arrived.
    pub complete: bool,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }
}

/// Everything a client read, taken apart.
#[derive(Debug, Default)]
pub struct Transcript {
    pub responses: Vec<Response>,
    /// Interim `1xx` statuses other than `101`, in order.
    pub interim: Vec<u16>,
    /// WebSocket frames after a `101`, as a client reads them.
    pub frames: Vec<WsEvent>,
}

/// Checks that `bytes` is a prefix of a well-formed sequence of responses
/// (and frames after a `101`), and takes it apart.
pub fn read_transcript(bytes: &[u8]) -> Result<Transcript, String> {
    let mut transcript = Transcript::default();
    let mut pos = 0;
    loop {
        let rest = &bytes[pos..];
        if rest.is_empty() {
            return Ok(transcript);
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if rest.len() > 8192 {
                    return Err("response head longer than 8 KiB".into());
                }
                return Ok(transcript);
            }
            Err(e) => return Err(format!("bad response head at {pos}: {e}")),
        };
        if response.version != Some(1) {
            return Err(format!("response at {pos} is not HTTP/1.1"));
        }
        let status = response.code.unwrap_or(0);
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut dates = 0;
        let mut fields = Vec::new();
        for h in response.headers.iter() {
            let value = std::str::from_utf8(h.value).map_err(|_| "non-UTF-8 header".to_string())?;
            fields.push((h.name.to_owned(), value.to_owned()));
            if h.name.eq_ignore_ascii_case("content-length") {
                if length.is_some() {
                    return Err("two Content-Length".into());
                }
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("Content-Length {value:?}"))?,
                );
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                if value != "chunked" {
                    return Err(format!("Transfer-Encoding {value:?}"));
                }
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("date") {
                // IMF-fixdate: "Wed, 25 Nov 2026 00:00:00 GMT".
                if value.len() != 29 || !value.ends_with(" GMT") {
                    return Err(format!("Date {value:?}"));
                }
                dates += 1;
            } else if h.name.eq_ignore_ascii_case("connection") {
                close |= value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("close"));
            }
        }
        if length.is_some() && chunked {
            return Err("Content-Length and chunked together".into());
        }
        // RFC 9110 section 6.6.1: exactly one Date on every final response.
        if status >= 200 && dates != 1 {
            return Err(format!("{dates} Date fields on a {status}"));
        }
        pos += head_len;
        let body = &bytes[pos..];
        if status == 101 {
            transcript.frames = read_frames(body)?;
            transcript.responses.push(Response {
                status,
                headers: fields,
                body: Vec::new(),
                complete: true,
            });
            return Ok(transcript);
        }
        if (100..200).contains(&status) {
            transcript.interim.push(status);
            continue;
        }
        let mut response = Response {
            status,
            headers: fields,
            body: Vec::new(),
            complete: false,
        };
        // A HEAD response announces a body it does not send: the next
        // response's status line follows at once. (No pushwire body starts
        // with a status line; a reason text may start with "HTTP/1.1 ".)
        let bodyless = status == 204 || status == 304 || starts_with_status_line(body);
        if bodyless {
            response.complete = true;
        } else if chunked {
            let (used, done) = read_chunked(body, &mut response.body)?;
            pos += used;
            response.complete = done;
            if !done {
                transcript.responses.push(response);
                return Ok(transcript); // still streaming, or cut short
            }
        } else if let Some(n) = length {
            if body.len() < n {
                response.body = body.to_vec();
                transcript.responses.push(response);
                return Ok(transcript);
            }
            response.body = body[..n].to_vec();
            response.complete = true;
            pos += n;
        } else {
            // Delimited by the connection closing (an HTTP/1.0 stream).
            if !close {
                return Err(format!(
                    "status {status} body without length and without close"
                ));
            }
            response.body = body.to_vec();
            transcript.responses.push(response);
            return Ok(transcript);
        }
        transcript.responses.push(response);
        if close && pos < bytes.len() {
            return Err(format!(
                "{} bytes after a Connection: close response",
                bytes.len() - pos
            ));
        }
    }
}

/// Whether `bytes` starts with `HTTP/1.1 ddd `.
fn starts_with_status_line(bytes: &[u8]) -> bool {
    bytes.len() >= 13
        && bytes.starts_with(b"HTTP/1.1 ")
        && bytes[9..12].iter().all(u8::is_ascii_digit)
        && bytes[12] == b' '
}

/// Decodes the chunked body at the start of `body` into `out`; returns
/// the bytes used and whether the last chunk arrived.
fn read_chunked(body: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), String> {
    let mut pos = 0;
    loop {
        let Some(line_end) = body[pos..].windows(2).position(|w| w == b"\r\n") else {
            if body.len() - pos > 20 {
                return Err("chunk size line too long".into());
            }
            return Ok((pos, false));
        };
        let line = std::str::from_utf8(&body[pos..pos + line_end]).map_err(|_| "chunk line")?;
        let size = usize::from_str_radix(line, 16).map_err(|_| format!("chunk size {line:?}"))?;
        let data = pos + line_end + 2;
        if size == 0 {
            return match body.get(data..data + 2) {
                Some(b"\r\n") => Ok((data + 2, true)),
                Some(_) => Err("no CRLF after the last chunk".into()),
                None if body[data..].is_empty() || body[data..] == *b"\r" => Ok((pos, false)),
                None => Err("bad end of chunked body".into()),
            };
        }
        if body.len() < data + size + 2 {
            return Ok((pos, false));
        }
        if &body[data + size..data + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        out.extend_from_slice(&body[data..data + size]);
        pos = data + size + 2;
    }
}

/// Server-to-client frames: read as a client would (unmasked frames,
/// short unfragmented control frames, valid close codes, UTF-8 text).
fn read_frames(bytes: &[u8]) -> Result<Vec<WsEvent>, String> {
    let mut reader = MessageReader::new(Role::Client, usize::MAX);
    let mut rest = bytes;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        match reader.read(rest) {
            Ok((used, Some(event @ WsEvent::Close { .. }))) => {
                frames.push(event);
                if used != rest.len() {
                    return Err(format!(
                        "{} bytes after the server's Close",
                        rest.len() - used
                    ));
                }
                return Ok(frames);
            }
            Ok((used, event)) => {
                frames.extend(event);
                rest = &rest[used..];
            }
            Err(e) => return Err(format!("bad server frame: {e}")),
        }
    }
    Ok(frames)
}
