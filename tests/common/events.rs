//! A test-side reader for SSE streams, written from the specs and
//! independent of the crate's own codecs: a chunked-body reader (RFC 9112
//! section 7.1) and an event-stream parser (WHATWG HTML section 9.2.6).

use std::io::{self, BufRead};

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    pub data: String,
    pub id: String,
}

/// The WHATWG "interpret an event stream" algorithm, fed text.
#[derive(Default)]
pub struct EventParser {
    pending: String,
    event: String,
    data: String,
    last_id: String,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
    pub events: Vec<Event>,
}

impl EventParser {
    pub fn feed(&mut self, text: &str) {
        self.pending.push_str(text);
        loop {
            // A line ends at CRLF, LF or CR; a CR at the very end may be the
            // first half of a CRLF, so wait for more.
            let Some(end) = self.pending.find(['\r', '\n']) else {
                return;
            };
            let bytes = self.pending.as_bytes();
            let skip = if bytes[end] == b'\r' {
                match bytes.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => return,
                }
            } else {
                1
            };
            let line = self.pending[..end].to_owned();
            self.pending.drain(..end + skip);
            self.line(&line);
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            // Dispatch (section 9.2.6): empty data buffer means no event.
            if !self.data.is_empty() {
                let mut data = std::mem::take(&mut self.data);
                if data.ends_with('\n') {
                    data.pop();
                }
                let event = std::mem::take(&mut self.event);
                self.events.push(Event {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data,
                    id: self.last_id.clone(),
                });
            }
            self.event.clear();
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            self.comments
                .push(comment.trim_start_matches(' ').to_owned());
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    /// The id of the last complete event, as EventSource would resend it.
    pub fn last_event_id(&self) -> &str {
        &self.last_id
    }

    pub fn ids(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter(|e| e.event == "message")
            .map(|e| e.id.parse().unwrap())
            .collect()
    }
}

/// Reads one chunk of a chunked body: `Ok(None)` at the last chunk.
pub fn read_chunk(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut size_line = String::new();
    if reader.read_line(&mut size_line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "eof in chunked body",
        ));
    }
    let size = usize::from_str_radix(size_line.trim_end().split(';').next().unwrap_or(""), 16)
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size {size_line:?}"),
            )
        })?;
    if size == 0 {
        let mut end = String::new();
        reader.read_line(&mut end)?;
        return Ok(None);
    }
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data)?;
    assert_eq!(&data[size..], b"\r\n", "chunk not followed by CRLF");
    data.truncate(size);
    Ok(Some(data))
}
