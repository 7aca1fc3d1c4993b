//! The simulated clients: one state machine per client, on the crate's
//! own client-role codecs (`ResponseReader`, `EventStreamParser`, the
//! WebSocket `Session`), fed whatever bytes the simulated network lets
//! through, and checked against the ledger as they read.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use pushwire::http::response_reader::{ResponseEvent, ResponseReader};
use pushwire::json::{self, Value};
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::{self, Limits, Opcode, Role, Session, SessionEvent};

use crate::ledger::{Ledger, View};
use crate::rng::Rng;

/// The four techniques, and the two kinds of publisher that are
/// connections (the third, the `Hub`, is the world's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Ajax polling at an interval.
    Poll,
    /// Long-polling.
    LongPoll,
    /// An EventSource: `Last-Event-ID`, `retry:`.
    Sse,
    /// A WebSocket with `pushwire.json`; it also publishes if `publishes`.
    WsJson,
    /// A WebSocket without a subprotocol: data only, no ids, no gap.
    WsPlain,
    /// A publisher over HTTP (`POST`), keep-alive.
    PubHttp,
}

/// What a client wants from the world after it read or woke.
#[derive(Debug, Default)]
pub struct Wants {
    /// Bytes to send.
    pub send: Vec<u8>,
    /// Close the connection now (a reset from this side).
    pub close: bool,
    /// Wake at this time.
    pub wake: Option<Instant>,
    /// A long-poll was answered at its timeout (nothing new).
    pub timed_out: bool,
    /// Events and comments of an open stream read now.
    pub stream_items: u32,
    /// A whole answer to a request was read now.
    pub answered: bool,
}

/// An acknowledged publish: what the publisher was told.
#[derive(Debug)]
pub struct Ack {
    pub channel: String,
    pub id: u64,
    pub data: String,
}

/// One client.
#[derive(Debug)]
pub struct Client {
    pub kind: Kind,
    pub channel: String,
    /// Whether it publishes (PubHttp always; WsJson sometimes).
    pub publishes: bool,
    pub view: View,
    /// Connected, and the connection's bytes so far.
    pub connected: bool,
    http: ResponseReader,
    body: Vec<u8>,
    status: u16,
    sse: EventStreamParser,
    session: Option<Session>,
    /// The `since` of the outstanding poll, and when it was fully sent.
    asked: Option<(u64, Instant)>,
    /// The long-poll's timeout.
    pub timeout: Duration,
    /// SSE: the reconnection delay the server set.
    retry: Duration,
    /// Publishes sent and not answered, oldest first.
    pending: std::collections::VecDeque<String>,
    seq: u64,
    pub id: usize,
    /// When it next acts (connects, asks, publishes).
    pub next: Option<Instant>,
    pub publish_every: Duration,
    pub poll_every: Duration,
    /// Bytes added to each message it publishes (sizes vary by client).
    pad: usize,
    /// Acknowledgements to check.
    pub acks: Vec<Ack>,
    /// When its own timer is due: a timer that fires at another time is
    /// stale (armed before a reconnection) and does nothing.
    due: Option<Instant>,
    /// When it may connect again.
    pub reconnect_at: Option<Instant>,
}

/// A client-side broken rule: the server sent something it must not.
pub type Broken = String;

impl Client {
    pub fn new(id: usize, kind: Kind, channel: String, publishes: bool, rng: &mut Rng) -> Client {
        Client {
            kind,
            channel,
            publishes,
            view: View::default(),
            connected: false,
            http: ResponseReader::new(),
            body: Vec::new(),
            status: 0,
            sse: EventStreamParser::new(1 << 20),
            session: None,
            asked: None,
            timeout: Duration::from_secs(rng.range(1, 6)),
            retry: Duration::from_millis(rng.range(50, 3000)),
            pending: Default::default(),
            seq: 0,
            id,
            next: None,
            publish_every: Duration::from_millis(rng.range(100, 5000)),
            poll_every: Duration::from_millis(rng.range(100, 3000)),
            pad: if rng.chance(0.5) {
                rng.range(0, 4096) as usize
            } else {
                0
            },
            acks: Vec::new(),
            due: None,
            reconnect_at: None,
        }
    }

    /// Arms its timer for `at` (replacing any other).
    fn due(&mut self, at: Instant) -> Option<Instant> {
        self.due = Some(at);
        Some(at)
    }

    /// Whether it is in the middle of reading a response (HTTP only).
    pub fn in_response(&self) -> bool {
        self.session.is_none() && self.http.in_response()
    }

    /// Whether it keeps a view that must reach the channel's last id.
    pub fn subscribes(&self) -> bool {
        self.kind != Kind::PubHttp
    }

    /// Whether its view is checked id by id (every subscriber but the
    /// plain WebSocket, whose frames carry no id and no gap signal).
    pub fn exact(&self) -> bool {
        !matches!(self.kind, Kind::PubHttp | Kind::WsPlain)
    }

    /// When its outstanding request was sent, if it waits for an answer
    /// that must come (a poll, a long-poll, a publish).
    pub fn waiting_since(&self) -> Option<Instant> {
        self.asked.map(|(_, at)| at)
    }

    /// Data for the next publish: unique in the run.
    fn next_data(&mut self) -> String {
        self.seq += 1;
        format!("c{}-{}.{}", self.id, self.seq, "x".repeat(self.pad))
    }

    /// A new connection: what it sends first.
    pub fn connect(&mut self, now: Instant, rng: &mut Rng) -> Wants {
        self.connected = true;
        self.http = ResponseReader::new();
        self.body.clear();
        self.sse = EventStreamParser::new(1 << 20);
        self.session = None;
        self.asked = None;
        self.pending.clear();
        let mut wants = Wants::default();
        let ch = self.channel.clone();
        let last = self.view.last;
        match self.kind {
            Kind::Poll | Kind::LongPoll => self.ask(now, &mut wants),
            Kind::Sse => {
                // The first connection names its start in the URL, as a
                // page would; a reconnection sends Last-Event-ID, as
                // EventSource does.
                let resume = if self.view.received > 0 || rng.chance(0.5) {
                    format!("GET /sse/{ch} HTTP/1.1\r\nHost: sim\r\nLast-Event-ID: {last}\r\n\r\n")
                } else {
                    format!("GET /sse/{ch}?since={last} HTTP/1.1\r\nHost: sim\r\n\r\n")
                };
                wants.send.extend_from_slice(resume.as_bytes());
            }
            Kind::WsJson | Kind::WsPlain => {
                let path = format!("/ws/{ch}?since={last}");
                let protocols: &[&str] = if self.kind == Kind::WsJson {
                    &["pushwire.json"]
                } else {
                    &[]
                };
                ws::write_client_request(
                    &mut wants.send,
                    "sim",
                    &path,
                    "dGhlIHNhbXBsZSBub25jZQ==",
                    protocols,
                );
                if self.publishes {
                    wants.wake = self.due(now + self.publish_every);
                }
            }
            Kind::PubHttp => self.publish_http(now, &mut wants),
        }
        wants
    }

    /// Queues the next poll or long-poll.
    fn ask(&mut self, now: Instant, wants: &mut Wants) {
        let ch = &self.channel;
        let since = self.view.last;
        let request = match self.kind {
            Kind::Poll => format!("GET /poll/{ch}?since={since} HTTP/1.1\r\nHost: sim\r\n\r\n"),
            _ => format!(
                "GET /longpoll/{ch}?since={since}&timeout={} HTTP/1.1\r\nHost: sim\r\n\r\n",
                self.timeout.as_secs()
            ),
        };
        wants.send.extend_from_slice(request.as_bytes());
        self.asked = Some((since, now));
    }

    fn publish_http(&mut self, now: Instant, wants: &mut Wants) {
        let data = self.next_data();
        let request = format!(
            "POST /pub/{} HTTP/1.1\r\nHost: sim\r\nContent-Length: {}\r\n\r\n{data}",
            self.channel,
            data.len()
        );
        wants.send.extend_from_slice(request.as_bytes());
        self.pending.push_back(data);
        self.asked = Some((0, now));
    }

    /// Its own timer: the next poll, or the next publish.
    pub fn wake(&mut self, now: Instant, rng: &mut Rng) -> Wants {
        let mut wants = Wants::default();
        if !self.connected || self.due.is_none_or(|due| due > now) {
            return wants; // a stale timer
        }
        self.due = None;
        match self.kind {
            Kind::Poll if self.asked.is_none() => self.ask(now, &mut wants),
            Kind::PubHttp if self.asked.is_none() => self.publish_http(now, &mut wants),
            Kind::WsJson if self.publishes && self.session.is_some() => {
                let data = self.next_data();
                let mask = (rng.next_u64() as u32).to_be_bytes();
                ws::write_frame(&mut wants.send, Opcode::Text, data.as_bytes(), Some(mask));
                self.pending.push_back(data);
                wants.wake = self.due(now + self.publish_every);
            }
            Kind::WsJson if self.publishes => wants.wake = Some(now + self.publish_every),
            _ => {}
        }
        wants
    }

    /// The connection is gone (either side): when to come back.
    pub fn disconnected(&mut self, now: Instant, rng: &mut Rng) -> Instant {
        self.connected = false;
        self.due = None;
        self.session = None;
        self.asked = None;
        self.pending.clear();
        let after = match self.kind {
            Kind::Sse => self.retry,
            _ => Duration::from_millis(rng.range(0, 2000)),
        };
        self.reconnect_at = Some(now + after);
        now + after
    }

    /// Bytes from the server. `Err` is a broken rule.
    pub fn read(
        &mut self,
        mut input: &[u8],
        now: Instant,
        ledger: &Ledger,
        rng: &mut Rng,
    ) -> Result<Wants, Broken> {
        let mut wants = Wants::default();
        if self.session.is_some() {
            return self
                .read_frames(input, now, ledger, rng, &mut wants)
                .map(|()| wants);
        }
        loop {
            let (used, event) = self.http.read(input, &mut self.body).map_err(|e| {
                format!("client {}: the server's response is broken: {e:?}", self.id)
            })?;
            input = input.get(used..).unwrap_or_default();
            if self.kind == Kind::Sse && self.status == 200 {
                wants.stream_items += self.read_events(ledger)?;
            }
            match event {
                None => return Ok(wants),
                Some(ResponseEvent::Interim(_)) => {}
                Some(ResponseEvent::Head(head)) => {
                    self.status = head.status;
                    if head.status == 101 {
                        if !matches!(self.kind, Kind::WsJson | Kind::WsPlain) {
                            return Err(format!("client {}: an unasked 101", self.id));
                        }
                        let chosen = self.http.field("sec-websocket-protocol").is_some();
                        if chosen != (self.kind == Kind::WsJson) {
                            return Err(format!("client {}: wrong subprotocol", self.id));
                        }
                        self.session = Some(Session::new(Role::Client, now));
                        self.read_frames(input, now, ledger, rng, &mut wants)?;
                        return Ok(wants);
                    }
                }
                Some(ResponseEvent::Done) => {
                    let body = std::mem::take(&mut self.body);
                    self.answered(&body, now, ledger, &mut wants)?;
                }
            }
        }
    }

    /// A whole answer to a poll, a long-poll or a publish; or the end of
    /// an event stream.
    fn answered(
        &mut self,
        body: &[u8],
        now: Instant,
        ledger: &Ledger,
        wants: &mut Wants,
    ) -> Result<(), Broken> {
        let id = self.id;
        wants.answered = true;
        match (self.kind, self.status) {
            (Kind::Poll | Kind::LongPoll, 200) => {
                let Some((since, _)) = self.asked.take() else {
                    return Err(format!("client {id}: an answer to nothing"));
                };
                let batch = json::parse_batch(body)
                    .map_err(|e| format!("client {id}: a batch that does not parse: {e}"))?;
                if batch.gap {
                    let oldest = batch.messages.first().map_or(batch.last_id + 1, |m| m.0);
                    self.view
                        .gap(since, oldest)
                        .map_err(|e| format!("client {id}: {e}"))?;
                }
                for (mid, data) in &batch.messages {
                    self.view
                        .message(ledger, &self.channel, *mid, data)
                        .map_err(|e| format!("client {id} ({:?}): {e}", self.kind))?;
                }
                let next = ledger.next_after(&self.channel, self.view.owed_after());
                self.view
                    .caught_up(batch.last_id, next)
                    .map_err(|e| format!("client {id} ({:?}): {e}", self.kind))?;
                wants.timed_out = self.kind == Kind::LongPoll
                    && batch.messages.is_empty()
                    && !batch.gap
                    && batch.last_id == since;
                if batch.more || self.kind == Kind::LongPoll {
                    self.ask(now, wants);
                } else {
                    wants.wake = self.due(now + self.poll_every);
                }
            }
            (Kind::PubHttp, 202) => {
                let Some(data) = self.pending.pop_front() else {
                    return Err(format!("client {id}: a 202 for no publish"));
                };
                let v = json::parse_value(body).map_err(|e| format!("client {id}: {e}"))?;
                let mid = v.get("id").and_then(Value::as_f64).unwrap_or(0.0) as u64;
                self.acks.push(Ack {
                    channel: self.channel.clone(),
                    id: mid,
                    data,
                });
                self.asked = None;
                wants.wake = self.due(now + self.publish_every);
            }
            (Kind::PubHttp, 503) => {
                // Not stored: the store failed it. Try again later.
                self.pending.pop_front();
                self.asked = None;
                wants.wake = self.due(now + self.publish_every);
            }
            (Kind::Sse, 200) => {
                // The stream ended (too slow, or its age): come back.
                wants.close = true;
            }
            // The request did not arrive in time (a clock jump, input
            // the network held): the connection ends; ask again on a new
            // one. Nothing was published.
            (_, 408) => {
                self.asked = None;
                self.pending.clear();
                wants.close = true;
            }
            (kind, status) => {
                return Err(format!(
                    "client {id} ({kind:?}): status {status}: {}",
                    String::from_utf8_lossy(body)
                ))
            }
        }
        Ok(())
    }

    /// Events of an open stream, from the body read so far.
    fn read_events(&mut self, ledger: &Ledger) -> Result<u32, Broken> {
        let id = self.id;
        let mut items = Vec::new();
        self.sse
            .feed(&self.body, &mut items)
            .map_err(|e| format!("client {id}: the event stream is broken: {e:?}"))?;
        self.body.clear();
        let n = items.len() as u32;
        for item in items {
            match item {
                SseItem::Retry(ms) => self.retry = Duration::from_millis(ms),
                SseItem::Comment(_) => {}
                SseItem::Event(event) if event.event_type == "gap" => {
                    let v = json::parse_value(event.data.as_bytes())
                        .map_err(|e| format!("client {id}: {e}"))?;
                    let since = v.get("since").and_then(Value::as_f64).unwrap_or(-1.0) as u64;
                    let oldest = v.get("oldest").and_then(Value::as_f64).unwrap_or(-1.0) as u64;
                    self.view
                        .gap(since, oldest)
                        .map_err(|e| format!("client {id} (Sse): {e}"))?;
                }
                SseItem::Event(event) => {
                    let mid: u64 = event
                        .last_event_id
                        .parse()
                        .map_err(|_| format!("client {id}: an event without an id"))?;
                    self.view
                        .message(ledger, &self.channel, mid, &event.data)
                        .map_err(|e| format!("client {id} (Sse): {e}"))?;
                }
            }
        }
        Ok(n)
    }

    fn read_frames(
        &mut self,
        mut input: &[u8],
        now: Instant,
        ledger: &Ledger,
        rng: &mut Rng,
        wants: &mut Wants,
    ) -> Result<(), Broken> {
        let id = self.id;
        let limits = Limits::client(1 << 20);
        while !input.is_empty() {
            let Some(session) = &mut self.session else {
                return Ok(());
            };
            let mask = (rng.next_u64() as u32).to_be_bytes();
            let (used, event) =
                session.handle_input(input, now, &limits, &mut wants.send, Some(mask));
            input = input.get(used..).unwrap_or_default();
            match event {
                None => {}
                Some(SessionEvent::Text(text)) => self.frame(&text, ledger)?,
                Some(SessionEvent::Binary(_)) => {
                    return Err(format!("client {id}: a binary frame"))
                }
                Some(SessionEvent::Closed { code, reason }) => {
                    // 1008 too slow, 1011 not stored, 1001 going away.
                    if !matches!(code, Some(1008 | 1011 | 1001)) {
                        return Err(format!("client {id}: closed {code:?} {reason}"));
                    }
                    wants.close = true;
                    return Ok(());
                }
                Some(SessionEvent::Failed(e)) => {
                    return Err(format!(
                        "client {id}: the server broke the WebSocket protocol: {e}"
                    ))
                }
            }
            if used == 0 {
                break;
            }
        }
        Ok(())
    }

    fn frame(&mut self, text: &str, ledger: &Ledger) -> Result<(), Broken> {
        let id = self.id;
        if self.kind == Kind::WsPlain {
            // No id on the wire: the ledger knows where the data went.
            let mid = ledger
                .id_of(text)
                .ok_or_else(|| format!("client {id}: a frame nobody published: {text:?}"))?;
            if mid <= self.view.last {
                return Err(format!(
                    "client {id} (WsPlain): #{mid} after #{}",
                    self.view.last
                ));
            }
            self.view.last = mid;
            self.view.received += 1;
            return Ok(());
        }
        let v =
            json::parse_value(text.as_bytes()).map_err(|e| format!("client {id}: {e}: {text}"))?;
        if v.get("gap").is_some() {
            let since = v.get("since").and_then(Value::as_f64).unwrap_or(-1.0) as u64;
            let oldest = v.get("oldest").and_then(Value::as_f64).unwrap_or(-1.0) as u64;
            return self
                .view
                .gap(since, oldest)
                .map_err(|e| format!("client {id} (WsJson): {e}"));
        }
        let (mid, data) =
            json::parse_item(text.as_bytes()).map_err(|e| format!("client {id}: {e}"))?;
        self.view
            .message(ledger, &self.channel, mid, &data)
            .map_err(|e| format!("client {id} (WsJson): {e}"))?;
        if self.pending.front() == Some(&data) {
            self.pending.pop_front();
            self.acks.push(Ack {
                channel: self.channel.clone(),
                id: mid,
                data,
            });
        }
        Ok(())
    }
}
