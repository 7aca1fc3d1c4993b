//! `pushwire sub` and `pushwire pub`: watch or feed any pushwire (or
//! compatible) server from a terminal, on the crate's own sans-IO codecs in
//! the client role; and `pushwire token` ([`token`]), which mints the
//! signed tokens a server started with `--jwt-secret` asks for.
//!
//! ```text
//! pushwire sub sse http://127.0.0.1:8080/sse/demo
//! pushwire sub ws ws://127.0.0.1:8080/ws/demo
//! pushwire sub longpoll http://127.0.0.1:8080/longpoll/demo
//! pushwire sub poll http://127.0.0.1:8080/poll/demo --interval 0.5
//! pushwire pub http://127.0.0.1:8080/pub/demo 'hello'
//! ```
//!
//! Each message is printed on one line as `#ID DATA`, with `\n`, `\r` and
//! `\` in the data written as `\n`, `\r` and `\\`. When a connection ends,
//! `sub` reconnects and resumes after the last id it printed (SSE:
//! `Last-Event-ID`; WebSocket, long-poll, poll: `?since=`), so nothing
//! still in the server's history is lost, and nothing is printed twice.
//!
//! `--token TOKEN` (a server started with `--jwt-secret`) is sent as
//! `Authorization: Bearer TOKEN` (RFC 6750 section 2.1) on every request:
//! each poll, each long-poll, the SSE request and the WebSocket handshake,
//! and again on every reconnection.

pub(crate) mod http;
#[cfg(feature = "tls")]
pub(crate) mod tls;
mod token;

pub use token::token_main;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use pushwire::sse::{EventStreamParser, SseItem};
use pushwire::ws::{self, close_code, Role, Session, SessionEvent};

use http::{write_request, Conn, Trust, Url};

const SUB_USAGE: &str = "\
Usage: pushwire sub ws|sse|longpoll|poll URL [OPTIONS]

Prints each message as `#ID DATA`, reconnecting after the last id seen.
URL is the subscribe endpoint, e.g. http://127.0.0.1:8080/sse/demo

Options:
  --since ID        start after this id [default: only new messages; poll: all]
  --count N         exit after N messages
  --interval SECS   poll: time between requests [default: 1]
  --timeout SECS    longpoll: how long the server may hold a request [default: 30]
  --token TOKEN     send `Authorization: Bearer TOKEN` on every request, reconnections
                    included (a server with --jwt-secret; `pushwire token` makes one)
  --cacert FILE     https:// and wss://: trust the CA certificates in this PEM file
                    [default: the system's, SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt]
";

const PUB_USAGE: &str = "\
Usage: pushwire pub URL MESSAGE [--token TOKEN] [--cacert FILE]

POSTs MESSAGE to URL (e.g. http://127.0.0.1:8080/pub/demo) and prints the answer.
--token TOKEN sends `Authorization: Bearer TOKEN` (the server's --publish-token, or a
token from `pushwire token` for a server with --jwt-secret).
--cacert FILE trusts the CA certificates in FILE for an https:// URL.
";

/// Largest body or message the client accepts.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// How long to wait before reconnecting after an error.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Ws,
    Sse,
    LongPoll,
    Poll,
}

struct Sub {
    transport: Transport,
    url: Url,
    last_id: Option<u64>,
    printed: u64,
    count: Option<u64>,
    interval: Duration,
    timeout: Duration,
    /// `Authorization: Bearer TOKEN\r\n` with `--token`, else empty: a
    /// field line for every request head.
    authorization: String,
    /// Whom to trust for `https://` and `wss://`.
    trust: Trust,
}

/// Why a session ended.
enum End {
    /// `--count` reached.
    Done,
    /// The connection ended or failed: reconnect.
    Again(String),
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Again(e.to_string())
    }
}

fn escape(data: &str) -> String {
    data.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn seconds(flag: &str, value: Option<String>) -> Result<Duration, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e7 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "invalid value '{value}' for {flag}: expected seconds"
        )),
    }
}

fn number(flag: &str, value: Option<String>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("invalid value '{value}' for {flag}: expected a whole number"))
}

/// The field line that carries `--token` (RFC 6750 section 2.1), checked
/// so that it cannot end the line early or add another: visible ASCII,
/// no spaces (what the server's `--publish-token` takes too).
fn authorization(flag: &str, value: Option<String>) -> Result<String, String> {
    let token = value.ok_or_else(|| format!("{flag} needs a value"))?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "invalid value for {flag}: expected printable ASCII without spaces"
        ));
    }
    Ok(format!("Authorization: Bearer {token}\r\n"))
}

fn parse_sub(args: impl IntoIterator<Item = String>) -> Result<Option<Sub>, String> {
    let mut args = args.into_iter();
    let mut positional = Vec::new();
    let (mut since, mut count, mut interval, mut timeout) =
        (None, None, Duration::from_secs(1), Duration::from_secs(30));
    let mut bearer = String::new();
    let mut trust = Trust::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--cacert" => {
                trust.cacert = Some(args.next().ok_or("--cacert needs a value")?.into());
            }
            "--since" => since = Some(number(&arg, args.next())?),
            "--count" => count = Some(number(&arg, args.next())?),
            "--interval" => interval = seconds(&arg, args.next())?,
            "--timeout" => timeout = seconds(&arg, args.next())?,
            "--token" => bearer = authorization(&arg, args.next())?,
            flag if flag.starts_with("--") => return Err(format!("unknown option '{flag}'")),
            _ => positional.push(arg),
        }
    }
    let [transport, url] = positional.as_slice() else {
        return Err("expected a transport (ws, sse, longpoll, poll) and a URL".into());
    };
    let transport = match transport.as_str() {
        "ws" => Transport::Ws,
        "sse" => Transport::Sse,
        "longpoll" => Transport::LongPoll,
        "poll" => Transport::Poll,
        other => {
            return Err(format!(
                "unknown transport '{other}': ws, sse, longpoll or poll"
            ))
        }
    };
    Ok(Some(Sub {
        transport,
        url: Url::parse(url)?,
        last_id: since,
        printed: 0,
        count,
        interval,
        timeout,
        authorization: bearer,
        trust,
    }))
}

/// `pushwire sub ...`
pub fn sub_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let mut sub = match parse_sub(args) {
        Ok(Some(sub)) => sub,
        Ok(None) => {
            print!("{SUB_USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pushwire sub: {e}\n{SUB_USAGE}");
            return ExitCode::from(2);
        }
    };
    loop {
        if sub.count.is_some_and(|n| sub.printed >= n) {
            return ExitCode::SUCCESS;
        }
        let end = match sub.transport {
            Transport::Poll => sub.poll(),
            Transport::LongPoll => sub.longpoll(),
            Transport::Sse => sub.sse(),
            Transport::Ws => sub.ws(),
        };
        match end {
            End::Done => return ExitCode::SUCCESS,
            End::Again(why) => {
                eprintln!(
                    "pushwire sub: {why}; reconnecting after #{}",
                    sub.last_id.map_or("-".into(), |i| i.to_string())
                );
                std::thread::sleep(BACKOFF);
            }
        }
    }
}

impl Sub {
    /// Prints a message unless it was printed already; `Done` at `--count`.
    fn show(&mut self, id: Option<u64>, data: &str) -> Result<(), End> {
        if let (Some(id), Some(last)) = (id, self.last_id) {
            if id <= last {
                return Ok(()); // seen before a reconnect
            }
        }
        let mut out = io::stdout().lock();
        let label = id.map_or("-".to_owned(), |i| i.to_string());
        writeln!(out, "#{label} {}", escape(data)).and_then(|()| out.flush())?;
        if id.is_some() {
            self.last_id = id;
        }
        self.printed += 1;
        if self.count.is_some_and(|n| self.printed >= n) {
            return Err(End::Done);
        }
        Ok(())
    }

    /// Ajax polling: ask, print, wait, ask again.
    fn poll(&mut self) -> End {
        let result = (|| -> Result<(), End> {
            let mut conn = Conn::new(
                self.url
                    .connect(Some(Duration::from_secs(30)), &self.trust)?,
            );
            loop {
                let target = self
                    .url
                    .with_param("since", &self.last_id.unwrap_or(0).to_string());
                // A page that stops at the server's size limit says
                // "more": the rest is asked for at once.
                if !self.batch(&mut conn, &target)? {
                    std::thread::sleep(self.interval);
                }
            }
        })();
        result.err().unwrap_or(End::Again("poll ended".into()))
    }

    /// Long-polling: the server holds each request until there is news.
    fn longpoll(&mut self) -> End {
        let result = (|| -> Result<(), End> {
            let wait = self.timeout + Duration::from_secs(10);
            let mut conn = Conn::new(self.url.connect(Some(wait), &self.trust)?);
            if self.last_id.is_none() {
                // "Only new messages": learn where the channel is now.
                let probe = self.url.with_param("timeout", "0");
                self.batch(&mut conn, &probe)?;
            }
            loop {
                let since = self.last_id.unwrap_or(0).to_string();
                let target = Url {
                    target: self.url.with_param("since", &since),
                    ..self.url.clone()
                }
                .with_param("timeout", &format!("{}", self.timeout.as_secs_f64()));
                self.batch(&mut conn, &target)?;
            }
        })();
        result.err().unwrap_or(End::Again("long-poll ended".into()))
    }

    /// One poll or long-poll exchange: prints the batch's messages;
    /// returns whether the server said more are waiting.
    fn batch(&mut self, conn: &mut Conn, target: &str) -> Result<bool, End> {
        write_request(
            &mut conn.stream,
            &self.url,
            "GET",
            target,
            &self.authorization,
            b"",
        )?;
        let head = conn.read_head()?;
        let body = conn.read_body(&head, MAX_BODY)?;
        if head.status != 200 {
            return Err(End::Again(format!(
                "HTTP {}: {}",
                head.status,
                String::from_utf8_lossy(&body).trim()
            )));
        }
        let batch =
            pushwire::json::parse_batch(&body).map_err(|e| End::Again(format!("bad JSON: {e}")))?;
        if batch.gap {
            eprintln!(
                "pushwire sub: gap: some messages after #{} left the server's history",
                self.last_id.unwrap_or(0)
            );
        }
        if batch.messages.is_empty() && self.last_id.is_none_or(|l| l > batch.last_id) {
            self.last_id = Some(batch.last_id);
        }
        for (id, data) in &batch.messages {
            self.show(Some(*id), data)?;
        }
        Ok(batch.more)
    }

    /// Server-Sent Events: one long response; resume with Last-Event-ID.
    fn sse(&mut self) -> End {
        let mut retry = BACKOFF;
        let result = (|| -> Result<(), End> {
            let mut conn = Conn::new(self.url.connect(None, &self.trust)?);
            let resume = match self.last_id {
                Some(id) => format!("Last-Event-ID: {id}\r\n"),
                None => String::new(),
            };
            let extra = format!(
                "Accept: text/event-stream\r\n{resume}{}",
                self.authorization
            );
            write_request(
                &mut conn.stream,
                &self.url,
                "GET",
                &self.url.target.clone(),
                &extra,
                b"",
            )?;
            let head = conn.read_head()?;
            if head.status != 200 {
                let body = conn.read_body(&head, 64 * 1024).unwrap_or_default();
                return Err(End::Again(format!(
                    "HTTP {}: {}",
                    head.status,
                    String::from_utf8_lossy(&body).trim()
                )));
            }
            let mut parser = EventStreamParser::new(MAX_BODY);
            let mut items = Vec::new();
            let mut failure = None;
            conn.stream_body(&head, usize::MAX, |bytes| {
                if let Err(e) = parser.feed(bytes, &mut items) {
                    failure = Some(End::Again(e.to_string()));
                    return false;
                }
                for item in items.drain(..) {
                    let shown = match item {
                        SseItem::Retry(ms) => {
                            retry = Duration::from_millis(ms);
                            Ok(())
                        }
                        SseItem::Event(event) if event.event_type == "gap" => {
                            eprintln!("pushwire sub: gap: {}", event.data);
                            Ok(())
                        }
                        SseItem::Event(event) => {
                            self.show(event.last_event_id.parse().ok(), &event.data)
                        }
                        SseItem::Comment(_) => Ok(()),
                    };
                    if let Err(end) = shown {
                        failure = Some(end);
                        return false;
                    }
                }
                true
            })?;
            Err(failure.unwrap_or(End::Again("the server ended the stream".into())))
        })();
        if matches!(result, Err(End::Again(_))) {
            // The server's retry: is how long EventSource would wait.
            std::thread::sleep(retry.saturating_sub(BACKOFF));
        }
        result.err().unwrap_or(End::Again("stream ended".into()))
    }

    /// WebSocket with the `pushwire.json` subprotocol; resume with `?since=`.
    fn ws(&mut self) -> End {
        let result = (|| -> Result<(), End> {
            let mut rng = Rng::seeded();
            let key = base64::engine::general_purpose::STANDARD.encode(rng.bytes16());
            let target = match self.last_id {
                Some(id) => self.url.with_param("since", &id.to_string()),
                None => self.url.target.clone(),
            };
            let mut conn = Conn::new(self.url.connect(None, &self.trust)?);
            let mut request = Vec::new();
            ws::write_client_request(
                &mut request,
                &self.url.authority,
                &target,
                &key,
                &["pushwire.json"],
            );
            // The head ends with its empty line; the token's field line
            // goes before it.
            if !self.authorization.is_empty() && request.ends_with(b"\r\n\r\n") {
                request.truncate(request.len().saturating_sub(2));
                request.extend_from_slice(self.authorization.as_bytes());
                request.extend_from_slice(b"\r\n");
            }
            conn.stream.write_all(&request)?;
            let head = conn.read_head()?;
            let headers: Vec<httparse::Header<'_>> = head
                .headers
                .iter()
                .map(|(name, value)| httparse::Header { name, value })
                .collect();
            let protocol = ws::check_server_response(
                head.status,
                &headers,
                key.as_bytes(),
                &["pushwire.json"],
            )
            .map_err(|e| End::Again(format!("handshake refused: {e}")))?;
            let json = protocol == Some("pushwire.json");
            let mut session = Session::new(Role::Client, Instant::now());
            let mut input = conn.take_buffered();
            let mut buf = vec![0u8; 64 * 1024];
            let mut reply = Vec::new();
            loop {
                let mut rest = input.as_slice();
                while !rest.is_empty() {
                    // RFC 6455 5.3: a fresh key for every frame the session
                    // may write (at most one a call).
                    let (used, event) = session.handle_input(
                        rest,
                        Instant::now(),
                        &ws::Limits::client(MAX_BODY),
                        &mut reply,
                        Some(rng.mask()),
                    );
                    rest = rest.get(used..).unwrap_or_default();
                    let sent = conn.stream.write_all(&reply);
                    reply.clear();
                    let shown = match event {
                        None => Ok(()),
                        Some(SessionEvent::Text(text)) => self.show_ws_text(&text, json),
                        Some(SessionEvent::Binary(data)) => {
                            eprintln!("pushwire sub: binary message of {} bytes", data.len());
                            Ok(())
                        }
                        Some(SessionEvent::Closed { code, reason }) => {
                            let code = code.map_or("none".into(), |c| c.to_string());
                            return Err(End::Again(format!(
                                "closed by the server (code {code}) {reason}"
                            )));
                        }
                        Some(SessionEvent::Failed(e)) => {
                            return Err(End::Again(format!("protocol error: {e}")));
                        }
                    };
                    sent?;
                    if let Err(end) = shown {
                        if matches!(end, End::Done) {
                            // RFC 6455 7.4.1: 1000, the purpose is fulfilled.
                            session.close(close_code::NORMAL, "", &mut reply, Some(rng.mask()));
                            let _ = conn.stream.write_all(&reply);
                        }
                        return Err(end);
                    }
                }
                input.clear();
                let n = std::io::Read::read(&mut conn.stream, &mut buf)?;
                if n == 0 {
                    return Err(End::Again("connection closed".into()));
                }
                input.extend_from_slice(&buf[..n]);
            }
        })();
        result.err().unwrap_or(End::Again("WebSocket ended".into()))
    }

    /// A text message on a WebSocket: with `pushwire.json`, an envelope
    /// `{"id":N,"data":"..."}` or a gap notice; otherwise the data itself.
    fn show_ws_text(&mut self, text: &str, json: bool) -> Result<(), End> {
        if !json {
            return self.show(None, text);
        }
        if text.starts_with("{\"gap\":true") {
            eprintln!("pushwire sub: gap: {text}");
            return Ok(());
        }
        match pushwire::json::parse_item(text.as_bytes()) {
            Ok((id, data)) => self.show(Some(id), &data),
            Err(e) => Err(End::Again(format!("bad envelope: {e}"))),
        }
    }
}

/// Masking keys and handshake nonces (RFC 6455 sections 4.1 and 5.3 want
/// them unpredictable to the network, not cryptographically strong):
/// xorshift64* seeded from the clock and the process id.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn mask(&mut self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.next().to_le_bytes();
        [a, b, c, d]
    }

    fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next().to_le_bytes());
        out[8..].copy_from_slice(&self.next().to_le_bytes());
        out
    }
}

/// `pushwire pub URL MESSAGE [--token TOKEN]`
pub fn pub_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let mut positional = Vec::new();
    let mut bearer = String::new();
    let mut trust = Trust::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{PUB_USAGE}");
                return ExitCode::SUCCESS;
            }
            "--cacert" => match args.next() {
                Some(file) => trust.cacert = Some(file.into()),
                None => {
                    eprintln!("pushwire pub: --cacert needs a value\n{PUB_USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--token" => match authorization(&arg, args.next()) {
                Ok(line) => bearer = line,
                Err(e) => {
                    eprintln!("pushwire pub: {e}\n{PUB_USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => positional.push(arg),
        }
    }
    let [url, message] = positional.as_slice() else {
        eprintln!("pushwire pub: expected a URL and a message\n{PUB_USAGE}");
        return ExitCode::from(2);
    };
    let url = match Url::parse(url) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("pushwire pub: {e}");
            return ExitCode::from(2);
        }
    };
    let extra = format!("{bearer}Connection: close\r\n");
    let result = (|| -> io::Result<(u16, Vec<u8>)> {
        let mut conn = Conn::new(url.connect(Some(Duration::from_secs(30)), &trust)?);
        write_request(
            &mut conn.stream,
            &url,
            "POST",
            &url.target,
            &extra,
            message.as_bytes(),
        )?;
        let head = conn.read_head()?;
        let body = conn.read_body(&head, MAX_BODY)?;
        Ok((head.status, body))
    })();
    match result {
        Ok((status, body)) if (200..300).contains(&status) => {
            println!("{}", String::from_utf8_lossy(&body).trim_end());
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!(
                "pushwire pub: HTTP {status}: {}",
                String::from_utf8_lossy(&body).trim_end()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pushwire pub: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_printed_on_one_line() {
        assert_eq!(escape("a\nb\r\\c"), "a\\nb\\r\\\\c");
    }

    #[test]
    fn sub_arguments_are_checked() {
        let parse = |args: &[&str]| parse_sub(args.iter().map(|s| s.to_string()));
        let sub = parse(&[
            "sse",
            "http://127.0.0.1:1/sse/a",
            "--since",
            "4",
            "--count",
            "2",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (sub.transport, sub.last_id, sub.count),
            (Transport::Sse, Some(4), Some(2))
        );
        assert!(parse(&["carrier-pigeon", "http://x/"]).is_err());
        assert!(parse(&["ws"]).is_err());
        assert_eq!(parse(&["ws", "wss://x/"]).is_ok(), cfg!(feature = "tls"));
        let trusting = parse(&["sse", "http://x/", "--cacert", "ca.pem"]);
        assert_eq!(
            trusting.unwrap().unwrap().trust.cacert,
            Some("ca.pem".into())
        );
        assert!(parse(&["sse", "http://x/", "--cacert"]).is_err());
        assert!(parse(&["poll", "http://x/", "--interval", "-1"]).is_err());
        let with_token = parse(&["poll", "http://x/", "--token", "a.b-c_d~e+f/g="]);
        assert_eq!(
            with_token.unwrap().unwrap().authorization,
            "Authorization: Bearer a.b-c_d~e+f/g=\r\n"
        );
        assert_eq!(
            parse(&["poll", "http://x/"])
                .unwrap()
                .unwrap()
                .authorization,
            ""
        );
        for bad in ["", "a b", "a\r\nX-Evil: 1", "é"] {
            assert!(
                parse(&["poll", "http://x/", "--token", bad]).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse(&["poll", "http://x/", "--token"]).is_err());
    }

    #[test]
    fn masks_differ_from_frame_to_frame() {
        let mut rng = Rng::seeded();
        assert_ne!(rng.mask(), rng.mask());
    }
}
