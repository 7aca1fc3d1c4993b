//! A keep-alive HTTP/1.1 connection that carries requests one after the
//! other, several in flight when the caller wants (pipelining: RFC 9112
//! section 9.3.2 has the server answer them in the order they came), and
//! hands back each answer with the time its request was meant to start.
//!
//! The caller numbers each request with a start time of its choosing,
//! usually when it was *scheduled*, not when it could be written: a
//! client that waits for an answer before sending its next request would
//! otherwise hide a stalled server behind its own waiting (the
//! "coordinated omission" wrk2 corrects the same way).
//!
//! When the server ends the connection (`Connection: close`, a close, a
//! reset), every request still waiting is answered with no status and the
//! pipeline is [`closed`](Pipeline::closed); the caller decides whether to
//! open another.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use mio::{Registry, Token};

use pushwire::http::response::write_content_length;
use pushwire::http::response_reader::{ResponseEvent, ResponseReader};

use super::link::{Link, ReadOutcome};
use super::net::Sources;

/// One request's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The start time the caller gave the request.
    pub started: u64,
    /// The answer's status, or `None`: the connection ended first.
    pub status: Option<u16>,
    /// When the answer was complete (or the connection ended).
    pub at: u64,
    /// The answer's body.
    pub body: Vec<u8>,
}

/// Appends `GET path` with `Connection: close` when `close`.
pub fn write_get(out: &mut Vec<u8>, host: &str, path: &str, close: bool) {
    for part in ["GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `POST path` carrying `body` as `text/plain`.
pub fn write_post(out: &mut Vec<u8>, host: &str, path: &str, body: &[u8]) {
    for part in [
        "POST ",
        path,
        " HTTP/1.1\r\nHost: ",
        host,
        "\r\nContent-Type: text/plain\r\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
    write_content_length(out, body.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[derive(Debug)]
pub struct Pipeline {
    link: Link,
    responses: ResponseReader,
    body: Vec<u8>,
    status: u16,
    keep_alive: bool,
    /// Start times of the requests sent and not answered, oldest first.
    waiting: VecDeque<u64>,
    replies: Vec<Reply>,
    closed: bool,
    /// Why the connection ended, when it did on an error.
    pub error: Option<String>,
}

impl Pipeline {
    /// Starts connecting to `addr`; requests sent before the connect
    /// completes wait in the output.
    pub fn connect(
        registry: &Registry,
        token: Token,
        addr: SocketAddr,
        sources: &mut Sources,
    ) -> io::Result<Pipeline> {
        let stream = sources.connect(addr)?;
        Ok(Pipeline {
            link: Link::new(registry, stream, token, None)?,
            responses: ResponseReader::new(),
            body: Vec::new(),
            status: 0,
            keep_alive: true,
            waiting: VecDeque::new(),
            replies: Vec::new(),
            closed: false,
            error: None,
        })
    }

    /// Whether the connection ended: nothing more will be answered.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Requests sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.waiting.len()
    }

    /// Sends one whole request (see [`write_get`], [`write_post`]) whose
    /// start time is `started`. On a closed pipeline it is answered at
    /// once with no status.
    pub fn send(&mut self, request: &[u8], started: u64, now: u64) {
        self.send_many(request, &[started], now);
    }

    /// Sends several requests, already concatenated in `requests`, in one
    /// write: one start time per request, in order.
    pub fn send_many(&mut self, requests: &[u8], started: &[u64], now: u64) {
        self.waiting.extend(started);
        if self.closed {
            self.end(now);
            return;
        }
        self.link.out.extend_from_slice(requests);
        if let Err(e) = self.link.flush() {
            self.fail(format!("write: {e}"), now);
        }
    }

    /// The replies that completed since the last call.
    pub fn take_replies(&mut self) -> std::vec::Drain<'_, Reply> {
        self.replies.drain(..)
    }

    /// Handles an event on the pipeline's token.
    pub fn on_event(&mut self, readable: bool, writable: bool, now: u64, buf: &mut [u8]) {
        if self.closed {
            return;
        }
        if writable {
            if let Err(e) = self.link.on_writable() {
                self.fail(format!("connect or write: {e}"), now);
                return;
            }
        }
        if !readable || !self.link.connected {
            return;
        }
        loop {
            match self.link.read(buf) {
                Ok(ReadOutcome::Data(n)) => {
                    let input = buf.get(..n).unwrap_or_default();
                    if let Err(e) = self.on_bytes(input, now) {
                        self.fail(e, now);
                        return;
                    }
                    if self.closed {
                        return;
                    }
                }
                Ok(ReadOutcome::Again) => return,
                Ok(ReadOutcome::Closed) => {
                    if self.responses.eof() {
                        self.answer(now);
                    }
                    self.end(now);
                    return;
                }
                Err(e) => {
                    self.fail(format!("read: {e}"), now);
                    return;
                }
            }
        }
    }

    fn on_bytes(&mut self, mut input: &[u8], now: u64) -> Result<(), String> {
        while !input.is_empty() || self.responses.body_complete() {
            let (used, event) = self
                .responses
                .read(input, &mut self.body)
                .map_err(|e| e.to_string())?;
            input = input.get(used..).unwrap_or_default();
            match event {
                Some(ResponseEvent::Head(head)) => {
                    self.status = head.status;
                    self.keep_alive = head.keep_alive;
                    if head.status == 101 {
                        return Err("the server switched protocols".into());
                    }
                }
                Some(ResponseEvent::Done) => {
                    self.answer(now);
                    if !self.keep_alive {
                        self.end(now);
                        return Ok(());
                    }
                }
                Some(ResponseEvent::Interim(_)) => {}
                None if used == 0 => break,
                None => {}
            }
        }
        Ok(())
    }

    fn answer(&mut self, now: u64) {
        let body = std::mem::take(&mut self.body);
        if let Some(started) = self.waiting.pop_front() {
            self.replies.push(Reply {
                started,
                status: Some(self.status),
                at: now,
                body,
            });
        } else {
            let status = self.status;
            self.error
                .get_or_insert_with(|| format!("an answer ({status}) to no request"));
        }
    }

    fn fail(&mut self, why: String, now: u64) {
        self.error.get_or_insert(why);
        self.end(now);
    }

    /// The connection is over: whatever waits is answered with no status.
    fn end(&mut self, now: u64) {
        self.closed = true;
        self.replies
            .extend(self.waiting.drain(..).map(|started| Reply {
                started,
                status: None,
                at: now,
                body: Vec::new(),
            }));
    }

    /// Stops watching the socket (before it is dropped, which resets it).
    pub fn deregister(&mut self, registry: &Registry) {
        self.link.deregister(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_written_whole() {
        let mut out = Vec::new();
        write_get(&mut out, "h:1", "/poll/a?since=0", true);
        assert_eq!(
            out,
            b"GET /poll/a?since=0 HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        write_post(&mut out, "h", "/pub/a", b"hi");
        assert_eq!(
            out,
            b"POST /pub/a HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
        );
    }
}
