//! Server-Sent Events in the trace: every event, `retry:` and comment of a
//! `text/event-stream` body on its own `sse` line (WHATWG HTML section
//! 9.2; see the module docs of [`crate::trace`]).

use std::fmt::Write as _;

use super::{escape, render_preview, Direction, Sink, MAX_SSE_EVENT_BYTES, PREVIEW_CHARS};
use crate::sse::{EventStreamParser, SseItem};

/// The event stream parser of a `text/event-stream` body, if any.
pub(super) enum Events {
    /// Not an event stream.
    None,
    /// Events are being parsed.
    Parsing(Box<EventStreamParser>),
    /// An event outgrew [`MAX_SSE_EVENT_BYTES`]; only the framing is followed.
    GaveUp,
}

impl Events {
    pub(super) fn new(event_stream: bool) -> Events {
        if event_stream {
            Events::Parsing(Box::new(EventStreamParser::new(MAX_SSE_EVENT_BYTES)))
        } else {
            Events::None
        }
    }

    /// Feeds decoded body bytes to the event parser and traces what they
    /// complete. Returns false when the body is not an event stream.
    pub(super) fn feed(&mut self, data: &[u8], dir: Direction, sink: &mut Sink<'_>) -> bool {
        let parser = match self {
            Events::None => return false,
            Events::GaveUp => return true,
            Events::Parsing(parser) => parser,
        };
        let mut items = Vec::new();
        let result = parser.feed(data, &mut items);
        for item in &items {
            sink.line(dir, &describe_sse(item));
        }
        if result.is_err() {
            sink.line(
                dir,
                &format!(
                    "sse event larger than {MAX_SSE_EVENT_BYTES} bytes, the rest of the \
                     stream is not traced as events"
                ),
            );
            *self = Events::GaveUp;
        }
        true
    }
}

/// One `sse` line for one item of an event stream.
fn describe_sse(item: &SseItem) -> String {
    match item {
        SseItem::Event(event) => {
            let mut text = String::from("sse");
            if !event.last_event_id.is_empty() {
                let _ = write!(text, " id={}", escape(event.last_event_id.as_bytes(), 40).0);
            }
            if event.event_type != "message" {
                let _ = write!(text, " event={}", escape(event.event_type.as_bytes(), 40).0);
            }
            let lines = event.data.split('\n').count();
            let _ = write!(
                text,
                " data: {lines} line{}, {} bytes{}",
                if lines == 1 { "" } else { "s" },
                event.data.len(),
                render_preview(event.data.as_bytes(), event.data.len() as u64)
            );
            text
        }
        SseItem::Retry(millis) => format!("sse retry: {millis} ms"),
        SseItem::Comment(comment) => {
            let (shown, cut) = escape(comment.as_bytes(), PREVIEW_CHARS);
            format!("sse comment \": {shown}\"{}", if cut { "..." } else { "" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Direction, MAX_SSE_EVENT_BYTES};
    use crate::http::response::{write_chunk, LAST_CHUNK};

    #[test]
    fn sse_stream_shows_events_heartbeats_retry_and_the_end_chunk() {
        assert_trace(
            &sse_stream(),
            &[
                "<- GET /sse/news HTTP/1.1",
                "<-   Host: h",
                "<-   Accept: text/event-stream",
                "-> HTTP/1.1 200 OK",
                "->   Content-Type: text/event-stream",
                "->   Cache-Control: no-cache",
                "->   Transfer-Encoding: chunked",
                "-> sse retry: 2000 ms",
                r#"-> sse id=7 data: 1 line, 5 bytes "hello""#,
                r#"-> sse comment ": keep-alive""#,
                r#"-> sse id=8 data: 2 lines, 9 bytes "two\nlines""#,
                r#"-> sse id=8 event=gap data: 1 line, 23 bytes "{"since":8,"oldest":11}""#,
                r#"-> sse id=11 event=news data: 1 line, 8 bytes "tab\there""#,
                "-> end of chunked body",
            ],
        );
    }

    #[test]
    fn http_10_event_stream_is_read_until_the_connection_closes() {
        let script = vec![
            (Direction::In, b"GET /sse/a HTTP/1.0\r\n\r\n".to_vec()),
            (
                Direction::Out,
                b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\r\n\
                  id: 1\ndata: x\n\n: keep-alive\n\n"
                    .to_vec(),
            ),
        ];
        assert_trace(
            &script,
            &[
                "<- GET /sse/a HTTP/1.0",
                "-> HTTP/1.0 200 OK",
                "->   Content-Type: text/event-stream; charset=utf-8",
                r#"-> sse id=1 data: 1 line, 1 bytes "x""#,
                r#"-> sse comment ": keep-alive""#,
                "-> end of event stream after 29 bytes (connection closed)",
            ],
        );
    }

    #[test]
    fn a_huge_event_stops_event_tracing_but_not_the_framing() {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Transfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        let data = "d".repeat(MAX_SSE_EVENT_BYTES + 10);
        let mut event = Vec::new();
        crate::sse::write_event(&mut event, 1, None, &data);
        write_chunk(&mut out, &event);
        write_chunk(&mut out, b"id: 2\ndata: small\n\n");
        out.extend_from_slice(LAST_CHUNK);
        out.extend_from_slice(&response("200 OK", "text/plain", "next"));
        let script = vec![
            (
                Direction::In,
                b"GET /sse/a HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            ),
            (Direction::Out, out),
        ];
        let lines = whole(&script);
        assert!(lines.contains(&format!(
            "[#3] -> sse event larger than {MAX_SSE_EVENT_BYTES} bytes, the rest of the \
             stream is not traced as events"
        )));
        assert!(lines.contains(&"[#3] -> end of chunked body".to_string()));
        assert!(lines.contains(&"[#3] -> body: 4 bytes \"next\"".to_string()));
        assert!(!lines.iter().any(|l| l.contains("small")));
    }
}
