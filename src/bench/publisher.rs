//! The publisher: `POST` stamped messages on a keep-alive connection, at
//! most `--inflight` unanswered (pipelined; default 1: the next one when
//! the answer, `202` from pushwire, `201` or `202` from nchan, arrived),
//! and on a fixed schedule with `--rate`.

use std::io;

use mio::{Registry, Token};

use pushwire::http::response::write_content_length;
use pushwire::http::response_reader::{ResponseEvent, ResponseReader};

use super::link::{Link, ReadOutcome};
use super::net::Sources;
use super::stamp::{write_stamp, Clock};
use super::target::Template;

pub struct Publisher {
    link: Link,
    token: Token,
    target: Template,
    path: String,
    responses: ResponseReader,
    body: Vec<u8>,
    status: u16,
    close_after: bool,
    payload: Vec<u8>,
    /// Messages sent, and answered.
    pub sent: u64,
    pub answered: u64,
    pub first_sent_at: Option<u64>,
    pub last_sent_at: u64,
}

impl Publisher {
    pub fn new(
        registry: &Registry,
        token: Token,
        target: Template,
        channel: &str,
        size: usize,
        sources: &mut Sources,
    ) -> io::Result<Publisher> {
        let stream = sources.connect(target.addr)?;
        let path = target.path(channel, "pub", 0);
        Ok(Publisher {
            link: Link::new(registry, stream, token, target.tls.as_ref())?,
            token,
            target,
            path,
            responses: ResponseReader::new(),
            body: Vec::new(),
            status: 0,
            close_after: false,
            payload: super::stamp::payload(0, 0, size),
            sent: 0,
            answered: 0,
            first_sent_at: None,
            last_sent_at: 0,
        })
    }

    /// Whether the connection is up and fewer than `inflight` messages
    /// wait for their answer (HTTP/1.1 pipelining past one).
    pub fn can_send(&self, inflight: u64) -> bool {
        self.link.connected && self.sent - self.answered < inflight
    }

    /// Sends message number `self.sent`.
    pub fn send(&mut self, clock: &Clock) -> io::Result<()> {
        let now = clock.now();
        write_stamp(&mut self.payload, self.sent, now);
        let out = &mut self.link.out;
        for part in [
            "POST ",
            &self.path,
            " HTTP/1.1\r\nHost: ",
            &self.target.host,
            "\r\nContent-Type: text/plain\r\n",
        ] {
            out.extend_from_slice(part.as_bytes());
        }
        write_content_length(out, self.payload.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.payload);
        self.first_sent_at.get_or_insert(now);
        self.last_sent_at = now;
        self.sent += 1;
        self.link.flush()
    }

    /// Handles an event on the publisher's token: the connect completing,
    /// room to write, answers to read.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        sources: &mut Sources,
        buf: &mut [u8],
    ) -> Result<(), String> {
        self.link
            .on_writable()
            .map_err(|e| format!("publisher: {e}"))?;
        loop {
            match self.link.read(buf).map_err(|e| format!("publisher: {e}"))? {
                ReadOutcome::Again => return Ok(()),
                ReadOutcome::Closed => {
                    if self.sent != self.answered {
                        return Err("publisher: the server closed the connection".into());
                    }
                    // Keep-alive ended between requests: open a new one.
                    self.link.deregister(registry);
                    let stream = sources
                        .connect(self.target.addr)
                        .map_err(|e| format!("publisher: {e}"))?;
                    self.link = Link::new(registry, stream, self.token, self.target.tls.as_ref())
                        .map_err(|e| format!("publisher: {e}"))?;
                    self.responses = ResponseReader::new();
                    return Ok(());
                }
                ReadOutcome::Data(n) => {
                    let mut input = buf.get(..n).unwrap_or_default();
                    while !input.is_empty() || self.responses.body_complete() {
                        let (used, event) = self
                            .responses
                            .read(input, &mut self.body)
                            .map_err(|e| e.to_string())?;
                        input = input.get(used..).unwrap_or_default();
                        match event {
                            Some(ResponseEvent::Head(head)) => {
                                self.status = head.status;
                                self.close_after = !head.keep_alive;
                            }
                            Some(ResponseEvent::Done) => {
                                if !(200..300).contains(&self.status) {
                                    return Err(format!(
                                        "publish answered {}: {}",
                                        self.status,
                                        String::from_utf8_lossy(&self.body).trim()
                                    ));
                                }
                                self.body.clear();
                                self.answered += 1;
                            }
                            Some(ResponseEvent::Interim(_)) | None => {}
                        }
                    }
                }
            }
        }
    }
}
