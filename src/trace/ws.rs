//! WebSocket in the trace: one `ws` line per frame header (RFC 6455
//! section 5.2), with the first bytes of its payload unmasked (see the
//! module docs of [`crate::trace`]).

use std::fmt::Write as _;

use super::{render_preview, Direction, Sink, PREVIEW_BYTES};
use crate::ws::{apply_mask, close, FrameHeader, HeaderDecoder, Opcode, Role};

/// Bytes of binary payload shown in hex.
const HEX_PREVIEW_BYTES: usize = 16;

/// Reads WebSocket frames and traces one line per frame header.
pub(super) struct FrameReader {
    /// The role of the endpoint reading these frames: `Server` for the
    /// client's (masked) frames, `Client` for the server's.
    role: Role,
    header: HeaderDecoder,
    frame: Option<Frame>,
    /// The opcode of the fragmented message in progress (RFC 6455 section
    /// 5.4), so a continuation frame is previewed as text or binary.
    message: Option<Opcode>,
}

/// The frame whose payload is being read.
struct Frame {
    header: FrameHeader,
    /// Text, binary, or a control opcode: what the payload is.
    kind: Opcode,
    received: u64,
    /// The first payload bytes, unmasked.
    preview: Vec<u8>,
    reported: bool,
}

impl FrameReader {
    pub(super) fn new(role: Role) -> FrameReader {
        FrameReader {
            role,
            header: HeaderDecoder::new(),
            frame: None,
            message: None,
        }
    }

    #[cfg(test)]
    pub(super) fn held_bytes(&self) -> usize {
        self.frame.as_ref().map_or(0, |f| f.preview.capacity())
    }

    pub(super) fn read(
        &mut self,
        input: &[u8],
        dir: Direction,
        sink: &mut Sink<'_>,
    ) -> Result<usize, crate::ws::WsError> {
        let Some(frame) = &mut self.frame else {
            let (used, header) = self.header.decode(input, self.role)?;
            if let Some(header) = header {
                self.start_frame(header, dir, sink);
            }
            return Ok(used);
        };
        let remaining = frame.header.payload_len.saturating_sub(frame.received);
        let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
        let wanted = frame.wanted();
        let start = usize::try_from(frame.received).unwrap_or(usize::MAX);
        if start < wanted {
            let keep = (wanted - start).min(take);
            let mut piece = input.get(..keep).unwrap_or_default().to_vec();
            if let Some(key) = frame.header.mask {
                // RFC 6455 5.3: byte i of the payload is XORed with key[i % 4].
                apply_mask(&mut piece, key, start);
            }
            frame.preview.extend_from_slice(&piece);
        }
        frame.received = frame.received.saturating_add(take as u64);
        if !frame.reported && frame.preview.len() >= wanted {
            frame.reported = true;
            sink.line(dir, &frame.describe(""));
        }
        if frame.received >= frame.header.payload_len {
            self.frame = None;
        }
        Ok(take)
    }

    fn start_frame(&mut self, header: FrameHeader, dir: Direction, sink: &mut Sink<'_>) {
        let kind = match header.opcode {
            Opcode::Continuation => self.message.unwrap_or(Opcode::Continuation),
            opcode => opcode,
        };
        match header.opcode {
            Opcode::Text | Opcode::Binary if !header.fin => self.message = Some(header.opcode),
            Opcode::Continuation if header.fin => self.message = None,
            _ => {}
        }
        let frame = Frame {
            header,
            kind,
            received: 0,
            preview: Vec::new(),
            reported: false,
        };
        if header.payload_len == 0 {
            sink.line(dir, &frame.describe(""));
        } else {
            self.frame = Some(frame);
        }
    }

    pub(super) fn finish(&mut self, dir: Direction, sink: &mut Sink<'_>) {
        if let Some(frame) = &self.frame {
            let note = format!(
                " (cut short: {} of {} bytes)",
                frame.received, frame.header.payload_len
            );
            if frame.reported {
                sink.line(dir, &format!("ws frame{note}"));
            } else {
                sink.line(dir, &frame.describe(&note));
            }
        } else if self.header.is_partial() {
            sink.line(dir, "ws frame header cut short");
        }
    }
}

impl Frame {
    /// How many payload bytes the line needs before it can be printed.
    fn wanted(&self) -> usize {
        let cap = match self.kind {
            Opcode::Binary | Opcode::Continuation => HEX_PREVIEW_BYTES,
            _ => PREVIEW_BYTES,
        };
        usize::try_from(self.header.payload_len).map_or(cap, |len| len.min(cap))
    }

    /// `ws FIN=1 opcode=0x1 text MASK=1 key=37fa213d len=5 "Hello"`.
    fn describe(&self, note: &str) -> String {
        let header = &self.header;
        let mut text = format!(
            "ws FIN={} opcode={:#x} {} MASK={}",
            u8::from(header.fin),
            header.opcode.as_u8(),
            opcode_name(header.opcode),
            u8::from(header.mask.is_some())
        );
        if let Some(key) = header.mask {
            text.push_str(" key=");
            push_hex(&mut text, &key, "");
        }
        let _ = write!(text, " len={}", header.payload_len);
        let len = header.payload_len;
        match self.kind {
            Opcode::Close => match self.preview.as_slice() {
                [] => text.push_str(" (no status code)"),
                [_] => text.push_str(" (1 byte: too short for a status code)"),
                [hi, lo, reason @ ..] => {
                    let code = u16::from_be_bytes([*hi, *lo]);
                    let _ = write!(text, " code={code}");
                    if !close::is_valid_code(code) {
                        text.push_str(" (not a valid close code)");
                    }
                    if !reason.is_empty() {
                        let shown = render_preview(reason, reason.len() as u64);
                        let _ = write!(text, " reason={}", shown.trim_start());
                    }
                }
            },
            Opcode::Binary | Opcode::Continuation => {
                if len > 0 {
                    text.push_str(" data=");
                    push_hex(&mut text, &self.preview, " ");
                    if (self.preview.len() as u64) < len {
                        text.push_str("...");
                    }
                }
            }
            Opcode::Text | Opcode::Ping | Opcode::Pong => {
                text.push_str(&render_preview(&self.preview, len));
            }
        }
        text.push_str(note);
        text
    }
}

fn opcode_name(opcode: Opcode) -> &'static str {
    match opcode {
        Opcode::Continuation => "continuation",
        Opcode::Text => "text",
        Opcode::Binary => "binary",
        Opcode::Close => "close",
        Opcode::Ping => "ping",
        Opcode::Pong => "pong",
    }
}

fn push_hex(out: &mut String, bytes: &[u8], separator: &str) {
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        let _ = write!(out, "{byte:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Direction;
    use crate::ws::{write_frame, Opcode};

    #[test]
    fn websocket_handshake_then_masked_client_and_unmasked_server_frames() {
        let x60 = "x".repeat(60);
        assert_trace(
            &websocket(),
            &[
                "<- GET /ws/demo HTTP/1.1",
                "<-   Host: 127.0.0.1:8080",
                "<-   Upgrade: websocket",
                "<-   Connection: Upgrade",
                "<-   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "<-   Sec-WebSocket-Version: 13",
                "-> HTTP/1.1 101 Switching Protocols",
                "->   Upgrade: websocket",
                "->   Connection: Upgrade",
                "->   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                r#"<- ws FIN=1 opcode=0x1 text MASK=1 key=37fa213d len=5 "Hello""#,
                "<- ws FIN=1 opcode=0xa pong MASK=1 key=01020304 len=0",
                r#"-> ws FIN=1 opcode=0x1 text MASK=0 len=5 "Hello""#,
                "-> ws FIN=1 opcode=0x9 ping MASK=0 len=0",
                "-> ws FIN=0 opcode=0x2 binary MASK=0 len=3 data=00 01 02",
                "-> ws FIN=1 opcode=0x0 continuation MASK=0 len=20 \
                 data=ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff...",
                r#"-> ws FIN=0 opcode=0x1 text MASK=0 len=4 "caf\xc3""#,
                r#"-> ws FIN=1 opcode=0x0 continuation MASK=0 len=5 "\xa9 ✓""#,
                &format!(r#"-> ws FIN=1 opcode=0x1 text MASK=0 len=300 "{x60}"..."#),
                "<- ws FIN=1 opcode=0x8 close MASK=1 key=0a0b0c0d len=2 code=1000",
                r#"-> ws FIN=1 opcode=0x8 close MASK=0 len=6 code=1001 reason="bye!""#,
            ],
        );
    }

    #[test]
    fn frames_sent_before_the_101_are_held_and_traced_as_frames() {
        let mut eager = HANDSHAKE.to_vec();
        write_frame(&mut eager, Opcode::Text, b"early", Some([9, 9, 9, 9]));
        let script = vec![(Direction::In, eager), (Direction::Out, SWITCHING.to_vec())];
        let lines = whole(&script);
        assert_eq!(
            lines.get(lines.len() - 2).map(String::as_str),
            Some(r#"[#3] <- ws FIN=1 opcode=0x1 text MASK=1 key=09090909 len=5 "early""#)
        );
        assert_eq!(bytewise(&script), lines);
    }

    #[test]
    fn a_refused_upgrade_leaves_the_next_request_as_http() {
        let mut input = HANDSHAKE.to_vec();
        input.extend_from_slice(b"GET /poll/a HTTP/1.1\r\nHost: h\r\n\r\n");
        let script = vec![
            (Direction::In, input),
            (
                Direction::Out,
                response("426 Upgrade Required", "text/plain", ""),
            ),
        ];
        let lines = whole(&script);
        let tail: Vec<&str> = lines
            .iter()
            .rev()
            .skip(1)
            .take(5)
            .map(String::as_str)
            .collect();
        assert_eq!(
            tail,
            [
                "[#3] <-   Host: h",
                "[#3] <- GET /poll/a HTTP/1.1",
                "[#3] ->   Content-Length: 0",
                "[#3] ->   Content-Type: text/plain",
                "[#3] -> HTTP/1.1 426 Upgrade Required",
            ]
        );
        assert_eq!(bytewise(&script), lines);
    }

    #[test]
    fn an_unmasked_client_frame_is_traced_as_invalid_once() {
        let mut client = Vec::new();
        write_frame(&mut client, Opcode::Text, b"no mask", None);
        write_frame(&mut client, Opcode::Text, b"no mask", None);
        let script = vec![
            (Direction::In, HANDSHAKE.to_vec()),
            (Direction::Out, SWITCHING.to_vec()),
            (Direction::In, client),
        ];
        let lines = whole(&script);
        assert_eq!(
            lines.get(lines.len() - 2).map(String::as_str),
            Some(
                "[#3] <- ws invalid frame: client frame is not masked \
                 (the reader fails the connection with 1002)"
            )
        );
        assert_eq!(lines.iter().filter(|l| l.contains("invalid")).count(), 1);
        assert_eq!(bytewise(&script), lines);
    }
}
