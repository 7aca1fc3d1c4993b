//! A WebSocket echo server on a blocking `std::net::TcpStream`, one
//! connection at a time, built from `pushwire::ws` alone: the sans-IO codec
//! does not care whose loop drives it.
//!
//! ```sh
//! cargo run --example ws_echo                     # ws://127.0.0.1:9001/
//! cargo run --example ws_echo -- 127.0.0.1:0      # any free port
//! cargo run -- sub ws ws://127.0.0.1:9001/        # in another terminal
//! ```
//!
//! The first line on stdout names the bound address. Each step below is
//! numbered and cites the section of RFC 6455 it follows.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pushwire::http::HttpDate;
use pushwire::ws::{
    self, close, HandshakeRequest, MessageReader, Opcode, Role, WsEvent, DEFAULT_MAX_MESSAGE_BYTES,
};

/// The largest request head we are willing to buffer.
const MAX_HEAD: usize = 8192;

/// How long a closing connection keeps reading before it is dropped.
const LINGER: Duration = Duration::from_secs(2);

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    // 1. Listen. WebSocket rides on an ordinary TCP connection that starts
    //    as HTTP/1.1 (RFC 6455 section 1.7).
    let listener = TcpListener::bind(&addr)?;
    println!("ws_echo listening on ws://{}/", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("ws_echo: accept: {e}");
                continue;
            }
        };
        // One connection at a time: the next waits in the listen backlog.
        if let Err(e) = serve(stream) {
            eprintln!("ws_echo: {e}");
        }
    }
    Ok(())
}

fn serve(mut stream: TcpStream) -> io::Result<()> {
    // 2. Read the opening handshake: an HTTP GET head, up to the blank
    //    line (RFC 6455 section 4.1). Bytes after it are already frames.
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let head_len = loop {
        let n = stream.read(buf.get_mut(filled..).unwrap_or_default())?;
        if n == 0 {
            return Ok(()); // the peer left before finishing its request
        }
        filled += n;
        let received = buf.get(..filled).unwrap_or_default();
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if filled >= MAX_HEAD {
            return Err(io::Error::other("request head too large"));
        }
    };
    let head = buf.get(..head_len).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    if request.parse(head).is_err() {
        return Err(io::Error::other("not an HTTP request"));
    }
    let handshake = HandshakeRequest {
        method: request.method.unwrap_or_default(),
        version_minor: request.version.unwrap_or_default(),
        headers: request.headers,
    };

    // 3. Check it and answer (section 4.2.1, 4.2.2): `accept` wants GET,
    //    HTTP/1.1, Host, `Upgrade: websocket`, `Connection: Upgrade`, a
    //    16-byte base64 key and version 13, and computes
    //    Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). No subprotocols
    //    are offered here, and any Origin is welcome (section 10.2).
    let mut out = Vec::new();
    match ws::accept(&handshake, &[], |_origin| true) {
        Ok(accepted) => ws::write_response(&mut out, &accepted),
        Err(e) => {
            // A refusal is a plain HTTP response: 400, 403, 405, or 426
            // with `Sec-WebSocket-Version: 13` (section 4.4).
            ws::write_error_response(&mut out, &e, &http_date());
            stream.write_all(&out)?;
            return Ok(());
        }
    }
    stream.write_all(&out)?;
    out.clear();

    // 4. From here on the connection carries frames (section 5.2). The
    //    reader unmasks client frames (section 5.3), reassembles fragments
    //    (5.4), checks UTF-8 across them (8.1) and bounds the message size.
    let mut reader = MessageReader::new(Role::Server, DEFAULT_MAX_MESSAGE_BYTES);
    let mut start = head_len;
    loop {
        let mut input = buf.get(start..filled).unwrap_or_default();
        loop {
            let event = match reader.read(input) {
                Ok((used, Some(event))) => {
                    input = input.get(used..).unwrap_or_default();
                    event
                }
                Ok((_, None)) => break, // every byte taken in: read more
                Err(e) => {
                    // 5. A protocol violation fails the connection: a Close
                    //    with the code the error names (1002, 1007, 1009;
                    //    section 7.1.7, 7.4.1), then stop reading.
                    close::write_close(&mut out, e.close_code(), &e.to_string(), None);
                    return finish(&mut stream, &out);
                }
            };
            match event {
                // 6. Echo data messages as one unmasked frame each: a server
                //    never masks (section 5.1).
                WsEvent::Text(text) => {
                    ws::write_frame(&mut out, Opcode::Text, text.as_bytes(), None)
                }
                WsEvent::Binary(data) => ws::write_frame(&mut out, Opcode::Binary, &data, None),
                // 7. A Ping is answered by a Pong with the same payload
                //    (section 5.5.2); an unsolicited Pong needs no answer
                //    (section 5.5.3).
                WsEvent::Ping(payload) => ws::write_frame(&mut out, Opcode::Pong, &payload, None),
                WsEvent::Pong(_) => {}
                // 8. A Close is answered with a Close echoing its code
                //    (section 5.5.1); then the server closes the TCP
                //    connection first (section 7.1.1).
                WsEvent::Close { code, .. } => {
                    close::write_close_reply(&mut out, code, None);
                    return finish(&mut stream, &out);
                }
            }
        }
        // Everything answerable from this read leaves in one write.
        stream.write_all(&out)?;
        out.clear();
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(()); // the peer vanished without a Close (1006)
        }
        (start, filled) = (0, n);
    }
}

/// Sends the last bytes (a Close) and closes the TCP connection.
fn finish(stream: &mut TcpStream, out: &[u8]) -> io::Result<()> {
    stream.write_all(out)?;
    stream.shutdown(Shutdown::Write)?;
    // 9. Linger: read and discard until the client closes too, for at most
    //    two seconds. Closing with unread input would make the kernel
    //    answer with a reset, which can destroy the Close frame before the
    //    client reads it.
    let deadline = Instant::now() + LINGER;
    stream.set_read_timeout(Some(LINGER))?;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline && matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

/// The `Date` of a refusal (RFC 9110 section 6.6.1).
fn http_date() -> HttpDate {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    HttpDate::from_unix_secs(now.map_or(0, |d| d.as_secs()))
}
