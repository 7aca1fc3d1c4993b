//! Shared test support: a real `pushwire` process on 127.0.0.1 with an
//! ephemeral port, and a small HTTP/1.1 client that reads raw bytes.
#![allow(dead_code)]

pub mod events;
pub mod redis;
pub mod resume;
#[cfg(feature = "tls")]
pub mod tls;
pub mod tools;
pub mod wsclient;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

/// How long any single read in a test may block before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A server process started for one test and killed (by its pid, which
/// we own) when the test ends.
pub struct TestServer {
    child: Child,
    /// Kept open: the server prints more lines after the first.
    _stdout: BufReader<std::process::ChildStdout>,
    pub addr: SocketAddr,
    floor: std::cell::OnceCell<u64>,
    /// Started with `--tls-cert`: the helpers speak TLS (`tls.rs`).
    pub tls: bool,
}

impl TestServer {
    pub fn start(args: &[&str]) -> TestServer {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_pushwire")), args)
    }

    /// Starts `command` (the binary, or a shell wrapping it) with the
    /// listen address and `args` appended.
    pub fn start_with(mut command: Command, args: &[&str]) -> TestServer {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pushwire");
        let stdout = child.stdout.take().expect("stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        // http://ADDR, or https://ADDR with TLS.
        let tls = line.contains("https://");
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        TestServer {
            child,
            _stdout: stdout,
            addr,
            floor: std::cell::OnceCell::new(),
            tls,
        }
    }

    /// The next line the server printed on stdout that contains `needle`
    /// (the lines after the first say how to use it).
    pub fn stdout_line_with(&mut self, needle: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self._stdout.read_line(&mut line).expect("stdout");
            assert!(n > 0, "no line with {needle:?} on stdout");
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://ADDR{path}`, or with TLS `https://localhost:PORT{path}`
    /// (the name in the test certificate).
    pub fn url(&self, path: &str) -> String {
        match self.tls {
            true => format!("https://localhost:{}{}", self.addr.port(), path),
            false => format!("http://{}{}", self.addr, path),
        }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// A connection with a 4 KiB receive buffer, for a client that stops
    /// reading: the server's bytes pile up in its own queue, not in ours.
    pub fn connect_slow(&self) -> TcpStream {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&self.addr.into()).unwrap();
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
    }

    /// Sends `raw` on a new connection and reads one response (through
    /// TLS if the server speaks it).
    pub fn exchange(&self, raw: &[u8]) -> Response {
        #[cfg(feature = "tls")]
        if self.tls {
            return tls::exchange(self.addr, raw);
        }
        let mut stream = self.connect();
        stream.write_all(raw).unwrap();
        read_response(&mut BufReader::new(stream)).expect("response")
    }

    pub fn get(&self, path: &str) -> Response {
        self.exchange(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        self.exchange(
            format!(
                "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    /// The id every channel of this run starts after: the `last_id` of a
    /// poll of a channel nobody used (docs/durability.md). Asked once.
    pub fn floor(&self) -> u64 {
        *self.floor.get_or_init(|| {
            let batch = self.poll("nobody-uses-this-channel", None);
            batch["last_id"].as_u64().expect("last_id")
        })
    }

    /// The id of the `k`th message of a channel that started in this run
    /// (1 for the first).
    pub fn id(&self, k: u64) -> u64 {
        self.floor() + k
    }

    /// Ids `k` for each `k` of `ks`.
    pub fn ids(&self, ks: impl IntoIterator<Item = u64>) -> Vec<u64> {
        ks.into_iter().map(|k| self.id(k)).collect()
    }

    /// Publishes and returns the id the server gave the message.
    pub fn publish(&self, channel: &str, data: &str) -> u64 {
        let response = self.post(&format!("/pub/{channel}"), data);
        assert_eq!(response.status, 202, "{}", response.text());
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        value["id"].as_u64().unwrap()
    }

    /// Polls and returns the parsed JSON.
    pub fn poll(&self, channel: &str, since: Option<u64>) -> serde_json::Value {
        let path = match since {
            Some(s) => format!("/poll/{channel}?since={s}"),
            None => format!("/poll/{channel}"),
        };
        let response = self.get(&path);
        assert_eq!(response.status, 200, "{}", response.text());
        serde_json::from_slice(&response.body).unwrap()
    }

    /// How many subscribers of `kind` (`ws`, `sse`, `longpoll`) wait on
    /// `channel`, from `GET /pub/{channel}` (0 for an unknown channel).
    pub fn subscribers(&self, channel: &str, kind: &str) -> u64 {
        let info = self.get(&format!("/pub/{channel}"));
        if info.status == 404 {
            return 0;
        }
        info.json()["subscribers"][kind].as_u64().unwrap()
    }

    /// Waits (at most 30 s) until `n` subscribers of `kind` wait on `channel`.
    pub fn wait_subscribers(&self, channel: &str, kind: &str, n: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.subscribers(channel, kind) != n {
            assert!(
                std::time::Instant::now() < deadline,
                "never reached {n} {kind} subscribers on {channel}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server and returns what it wrote to stderr.
    pub fn stop_and_stderr(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }

    pub fn stderr(&mut self) -> ChildStderr {
        self.child.stderr.take().expect("stderr")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the server (its pid, which we own).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on the pid of the child this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits at most `limit` for the server to exit; `None` if it is still
    /// running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP response as read from the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// Reads one response (head, then a `Content-Length` body) from `reader`.
pub fn read_response(reader: &mut impl BufRead) -> io::Result<Response> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("eof after {head:?}"),
            ));
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.to_owned()))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap())
        .unwrap_or(0);
    let mut body = vec![
        0;
        if status == 100 || status == 204 {
            0
        } else {
            length
        }
    ];
    reader.read_exact(&mut body)?;
    Ok(Response {
        status,
        head,
        headers,
        body,
    })
}

/// Reads until the server closes; `Ok` only if it really closed (EOF),
/// an error if the read timed out with the connection still open.
pub fn read_until_closed(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}
