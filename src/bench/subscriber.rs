//! One subscriber, in any of the four transports, as a sans-IO state
//! machine: [`Subscriber::on_bytes`] takes what the socket read and the
//! time, appends what must be sent to `out`, and reports each message's
//! stamp to the [`Tally`].
//!
//! What each server sends, and how the subscriber moves on:
//!
//! | transport | pushwire | nchan |
//! |---|---|---|
//! | ws | text frame = data | text frame = data |
//! | sse | `data:` = data | `data:` = data |
//! | longpoll, poll | JSON batch; next `?since=last_id` | body = data; next with `If-Modified-Since` / `If-None-Match` from `Last-Modified` / `Etag` |
//!
//! `--format auto` tells the two apart by `Content-Type: application/json`.

use base64::Engine;

use pushwire::http::response_reader::{ResponseEvent, ResponseHead, ResponseReader};
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::{self, Role, Session, SessionEvent};

use super::stamp::{read_stamp, Clock, SeqTracker};
use super::stats::Histogram;
use super::target::Template;

/// The largest WebSocket message a subscriber accepts (close 1009 past it).
const MAX_MESSAGE: usize = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Sse,
    LongPoll,
    Poll,
}

impl Transport {
    pub fn parse(s: &str) -> Result<Transport, String> {
        Ok(match s {
            "ws" => Transport::Ws,
            "sse" => Transport::Sse,
            "longpoll" => Transport::LongPoll,
            "poll" => Transport::Poll,
            _ => {
                return Err(format!(
                    "unknown transport '{s}': ws, sse, longpoll or poll"
                ))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
            Transport::LongPoll => "longpoll",
            Transport::Poll => "poll",
        }
    }

    /// pushwire's path for this transport, starting at the first message of
    /// a fresh channel (so a subscriber that is late to park misses nothing).
    pub fn default_path(self) -> &'static str {
        match self {
            Transport::Ws => "/ws/{channel}?since=0",
            Transport::Sse => "/sse/{channel}?since=0",
            Transport::LongPoll => "/longpoll/{channel}?since={since}&timeout=120",
            Transport::Poll => "/poll/{channel}?since={since}",
        }
    }
}

/// How poll and long-poll bodies are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON if `Content-Type` says so, raw otherwise.
    Auto,
    /// pushwire's `{"last_id":..,"messages":[..]}`.
    Json,
    /// The body is the message (nchan).
    Raw,
}

/// Shared by every subscriber of a run.
#[derive(Debug)]
pub struct Tally {
    pub latency: Histogram,
    pub delivered: u64,
    pub corrupt: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub last_delivery: u64,
    /// `(seq, arrival)` of every delivery, when the caller asked for them
    /// ([`Tally::recording`]) to place each one in time itself.
    pub arrivals: Option<Vec<(u64, u64)>>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            latency: Histogram::new(),
            delivered: 0,
            corrupt: 0,
            errors: 0,
            first_error: None,
            last_delivery: 0,
            arrivals: None,
        }
    }

    /// A tally that also keeps every delivery's sequence number and
    /// arrival time in [`Tally::arrivals`].
    pub fn recording() -> Tally {
        Tally {
            arrivals: Some(Vec::new()),
            ..Tally::new()
        }
    }

    pub fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    /// Adds what `other` measured (another target's subscribers).
    pub fn merge(&mut self, other: &Tally) {
        self.latency.merge(&other.latency);
        self.delivered += other.delivered;
        self.corrupt += other.corrupt;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        self.last_delivery = self.last_delivery.max(other.last_delivery);
        if let (Some(mine), Some(theirs)) = (self.arrivals.as_mut(), other.arrivals.as_ref()) {
            mine.extend_from_slice(theirs);
        }
    }
}

/// What the caller must do after feeding bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep reading.
    Read,
    /// Send the next poll request after the poll interval.
    Wait,
    /// The server ended the connection's HTTP use: reconnect and ask again.
    Reconnect,
    /// Give up on this subscriber.
    Fail,
}

/// A small xorshift generator: WebSocket keys and masks need not be
/// cryptographic in a load generator, only different.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_le_bytes()
    }

    pub fn ws_key(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// Writes a WebSocket handshake for `path` and returns the key used.
pub fn write_ws_request(out: &mut Vec<u8>, host: &str, path: &str, rng: &mut Rng) -> String {
    let key = rng.ws_key();
    ws::write_client_request(out, host, path, &key, &[]);
    key
}

/// Checks a 101 response against the key sent.
pub fn check_upgrade(
    head: &ResponseHead,
    responses: &ResponseReader,
    key: &str,
) -> Result<(), String> {
    let headers: Vec<httparse::Header<'_>> = responses
        .fields()
        .map(|(name, value)| httparse::Header { name, value })
        .collect();
    ws::check_server_response(head.status, &headers, key.as_bytes(), &[])
        .map(|_| ())
        .map_err(|e| format!("WebSocket handshake: {e}"))
}

#[derive(Debug)]
pub struct Subscriber {
    pub transport: Transport,
    responses: ResponseReader,
    body: Vec<u8>,
    json_body: bool,
    status: u16,
    close_after: bool,
    ws: Option<Session>,
    ws_key: String,
    sse: Option<EventStreamParser>,
    sse_items: Vec<SseItem>,
    since: u64,
    last_modified: Option<String>,
    etag: Option<String>,
    /// Subscribed: the 101 or the stream's head arrived, or the (long-)poll
    /// request went out.
    pub ready: bool,
    pub tracker: SeqTracker,
    /// The run's clock, to give the WebSocket session its time.
    clock: Clock,
}

impl Subscriber {
    pub fn new(transport: Transport, messages: u64, clock: Clock) -> Subscriber {
        Subscriber {
            transport,
            responses: ResponseReader::new(),
            body: Vec::new(),
            json_body: false,
            status: 0,
            close_after: false,
            ws: None,
            ws_key: String::new(),
            sse: None,
            sse_items: Vec::new(),
            since: 0,
            last_modified: None,
            etag: None,
            ready: false,
            tracker: SeqTracker::new(messages),
            clock,
        }
    }

    /// Writes the request that subscribes (or polls once more).
    pub fn write_request(
        &mut self,
        out: &mut Vec<u8>,
        target: &Template,
        channel: &str,
        rng: &mut Rng,
    ) {
        let path = target.path(channel, self.transport.name(), self.since);
        self.responses = ResponseReader::new();
        if self.transport == Transport::Ws {
            self.ws_key = write_ws_request(out, &target.host, &path, rng);
            return;
        }
        for part in ["GET ", &path, " HTTP/1.1\r\nHost: ", &target.host, "\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
        if self.transport == Transport::Sse {
            out.extend_from_slice(b"Accept: text/event-stream\r\n");
        }
        if let Some(v) = &self.last_modified {
            out.extend_from_slice(format!("If-Modified-Since: {v}\r\n").as_bytes());
        }
        if let Some(v) = &self.etag {
            out.extend_from_slice(format!("If-None-Match: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    fn deliver(&mut self, data: &[u8], now: u64, tally: &mut Tally) {
        match read_stamp(data) {
            Some((seq, sent)) => {
                self.tracker.record(seq);
                tally.delivered += 1;
                tally.latency.record(now.saturating_sub(sent));
                tally.last_delivery = now;
                if let Some(arrivals) = tally.arrivals.as_mut() {
                    arrivals.push((seq, now));
                }
            }
            None => tally.corrupt += 1,
        }
    }

    /// Feeds bytes read from the socket.
    pub fn on_bytes(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        now: u64,
        format: Format,
        rng: &mut Rng,
        tally: &mut Tally,
    ) -> Next {
        let mut next = Next::Read;
        while !input.is_empty() || (self.ws.is_none() && self.responses.body_complete()) {
            if let Some(session) = self.ws.as_mut() {
                // RFC 6455 5.3: a fresh key for whatever the session writes.
                let at = self.clock.instant(now);
                let (used, event) = session.handle_input(
                    input,
                    at,
                    &ws::Limits::client(MAX_MESSAGE),
                    out,
                    Some(rng.mask()),
                );
                input = input.get(used..).unwrap_or_default();
                match event {
                    Some(SessionEvent::Text(text)) => self.deliver(text.as_bytes(), now, tally),
                    Some(SessionEvent::Binary(data)) => self.deliver(&data, now, tally),
                    Some(SessionEvent::Closed { code, .. }) => {
                        tally.error(format!("server closed the WebSocket ({code:?})"));
                        return Next::Fail;
                    }
                    Some(SessionEvent::Failed(e)) => {
                        tally.error(format!("WebSocket: {e}"));
                        return Next::Fail;
                    }
                    None => {}
                }
                continue;
            }
            let before = self.body.len();
            let (used, event) = match self.responses.read(input, &mut self.body) {
                Ok(progress) => progress,
                Err(e) => {
                    tally.error(e.to_string());
                    return Next::Fail;
                }
            };
            input = input.get(used..).unwrap_or_default();
            if self.transport == Transport::Sse && self.body.len() > before {
                self.feed_sse(now, tally);
            }
            let stalled = used == 0 && event.is_none();
            match event {
                Some(ResponseEvent::Head(head)) => {
                    if let Err(e) = self.on_head(head, format, now) {
                        tally.error(e);
                        return Next::Fail;
                    }
                }
                Some(ResponseEvent::Done) => {
                    next = self.on_done(now, tally);
                    if next != Next::Read {
                        return next;
                    }
                }
                Some(ResponseEvent::Interim(_)) | None => {}
            }
            if stalled && self.ws.is_none() {
                break;
            }
        }
        next
    }

    fn on_head(&mut self, head: ResponseHead, format: Format, now: u64) -> Result<(), String> {
        self.status = head.status;
        self.close_after = !head.keep_alive;
        self.body.clear();
        match self.transport {
            Transport::Ws => {
                check_upgrade(&head, &self.responses, &self.ws_key)?;
                self.ws = Some(Session::new(Role::Client, self.clock.instant(now)));
                self.ready = true;
            }
            Transport::Sse => {
                if head.status != 200 {
                    return Err(format!("event stream answered {}", head.status));
                }
                self.sse = Some(EventStreamParser::new(1 << 24));
                self.ready = true;
            }
            Transport::LongPoll | Transport::Poll => {
                self.json_body = match format {
                    Format::Json => true,
                    Format::Raw => false,
                    Format::Auto => self
                        .responses
                        .field("content-type")
                        .is_some_and(|v| v.starts_with(b"application/json")),
                };
                for (name, kept) in [
                    ("last-modified", &mut self.last_modified),
                    ("etag", &mut self.etag),
                ] {
                    if let Some(value) = self.responses.field(name) {
                        *kept = Some(String::from_utf8_lossy(value).trim().to_owned());
                    }
                }
            }
        }
        Ok(())
    }

    fn feed_sse(&mut self, now: u64, tally: &mut Tally) {
        let Some(parser) = self.sse.as_mut() else {
            return;
        };
        if let Err(e) = parser.feed(&self.body, &mut self.sse_items) {
            tally.error(format!("event stream: {e}"));
        }
        self.body.clear();
        let items = std::mem::take(&mut self.sse_items);
        for item in &items {
            if let SseItem::Event(event) = item {
                self.deliver(event.data.as_bytes(), now, tally);
            }
        }
        self.sse_items = items;
        self.sse_items.clear();
    }

    /// A poll or long-poll response is complete.
    fn on_done(&mut self, now: u64, tally: &mut Tally) -> Next {
        if matches!(self.transport, Transport::Ws | Transport::Sse) {
            tally.error("the stream ended".into());
            return Next::Fail;
        }
        let body = std::mem::take(&mut self.body);
        match self.status {
            200 if self.json_body => match pushwire::json::parse_batch(&body) {
                Ok(batch) => {
                    for (_, data) in &batch.messages {
                        self.deliver(data.as_bytes(), now, tally);
                    }
                    self.since = batch.last_id;
                }
                Err(e) => tally.error(format!("poll body: {e}")),
            },
            200 => self.deliver(&body, now, tally),
            // Nothing new (nchan's interval poll, or a long-poll timeout).
            304 | 408 => {}
            status => tally.error(format!("poll answered {status}")),
        }
        self.body = body;
        self.body.clear();
        if self.close_after {
            Next::Reconnect
        } else {
            Next::Wait
        }
    }

    /// The server closed the connection.
    pub fn on_eof(&mut self, now: u64, tally: &mut Tally) -> Next {
        let in_response = self.responses.in_response();
        if self.responses.eof() && !self.body.is_empty() {
            return self.on_done(now, tally);
        }
        match self.transport {
            Transport::LongPoll | Transport::Poll if !in_response => Next::Reconnect,
            _ => {
                tally.error(format!(
                    "{} connection closed by the server",
                    self.transport.name()
                ));
                Next::Fail
            }
        }
    }
}
