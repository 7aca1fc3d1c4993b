//! A small WebSocket client for the tests, written from RFC 6455 and
//! independent of the crate's codec: it masks what it sends (section 5.3)
//! and reads unmasked server frames.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;

use super::{read_response, Response, TestServer};

/// One frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).unwrap()
    }

    /// The close code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

pub struct WsClient {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    pub handshake: Response,
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The upgrade request for `path`, with extra header lines.
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

impl WsClient {
    /// Opens a WebSocket; panics unless the server answers 101.
    pub fn connect(server: &TestServer, path: &str, extra: &str) -> WsClient {
        let client = Self::try_connect(server, path, extra);
        assert_eq!(client.handshake.status, 101, "{}", client.handshake.head);
        client
    }

    /// Sends the upgrade request and reads the answer, whatever it is.
    pub fn try_connect(server: &TestServer, path: &str, extra: &str) -> WsClient {
        let mut writer = server.connect();
        writer
            .write_all(upgrade_request(path, extra).as_bytes())
            .unwrap();
        let mut reader = BufReader::new(writer.try_clone().unwrap());
        let handshake = read_response(&mut reader).unwrap();
        WsClient {
            reader,
            writer,
            handshake,
        }
    }

    /// Sends one masked frame.
    pub fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.writer
            .write_all(&masked_frame(
                fin,
                opcode,
                payload,
                [0x37, 0xfa, 0x21, 0x3d],
            ))
            .unwrap();
    }

    pub fn send_text(&mut self, text: &str) {
        self.send(true, 1, text.as_bytes());
    }

    /// Reads one frame.
    pub fn read(&mut self) -> io::Result<Frame> {
        let mut head = [0u8; 2];
        self.reader.read_exact(&mut head)?;
        assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.reader.read_exact(&mut b)?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.reader.read_exact(&mut b)?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0; len as usize];
        self.reader.read_exact(&mut payload)?;
        Ok(Frame {
            fin: head[0] & 0x80 != 0,
            opcode: head[0] & 0x0f,
            payload,
        })
    }

    /// Reads frames until a data frame, answering nothing; pings are skipped.
    pub fn read_data(&mut self) -> Frame {
        loop {
            let frame = self.read().unwrap();
            if frame.opcode != 9 {
                return frame;
            }
        }
    }
}

/// A client frame: FIN/opcode, MASK bit, length, key, masked payload.
pub fn masked_frame(fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}
