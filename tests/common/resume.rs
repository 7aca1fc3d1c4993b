//! A client of each streaming transport coming back with the last id it
//! saw: an SSE stream with `Last-Event-ID` and a `pushwire.json`
//! WebSocket with `?since=`, both subscribed before this returns.
#![allow(dead_code)]

use std::io::{BufReader, Write};
use std::net::TcpStream;

use super::events::{read_chunk, EventParser};
use super::wsclient::WsClient;
use super::{read_response, TestServer};

/// The two resumed subscribers of `channel`.
pub struct Resumed {
    pub sse: BufReader<TcpStream>,
    pub ws: WsClient,
}

impl Resumed {
    /// Opens both, resuming after `seen`, and waits until the server
    /// counts them.
    pub fn open(server: &TestServer, channel: &str, seen: u64) -> Resumed {
        let mut sse = server.connect();
        sse.write_all(
            format!("GET /sse/{channel} HTTP/1.1\r\nHost: t\r\nLast-Event-ID: {seen}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut sse = BufReader::new(sse);
        assert_eq!(read_response(&mut sse).unwrap().status, 200);
        let ws = WsClient::connect(
            server,
            &format!("/ws/{channel}?since={seen}"),
            "Sec-WebSocket-Protocol: pushwire.json\r\n",
        );
        server.wait_subscribers(channel, "ws", 1);
        server.wait_subscribers(channel, "sse", 1);
        Resumed { sse, ws }
    }

    /// The first `n` events of the stream (gap events included).
    pub fn sse_events(&mut self, n: usize) -> EventParser {
        let mut parser = EventParser::default();
        while parser.events.len() < n {
            let chunk = read_chunk(&mut self.sse).unwrap().expect("stream open");
            parser.feed(std::str::from_utf8(&chunk).unwrap());
        }
        parser
    }

    /// The next `n` text frames of the WebSocket.
    pub fn ws_texts(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| self.ws.read_data().text().to_owned())
            .collect()
    }
}
