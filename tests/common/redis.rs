//! A real `redis-server` for the cluster tests, on a free port with a
//! temporary directory, started and ended by the test (by its pid).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One redis-server process, restartable on the same port and directory.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    persistent: bool,
    /// `appendfsync` when persistent: `always` unless set.
    appendfsync: &'static str,
    /// More arguments for redis-server.
    extra: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    /// Starts redis-server; `persistent`: an append-only file synced at
    /// every write, so that a restart keeps everything acknowledged.
    pub fn start(persistent: bool) -> RedisServer {
        RedisServer::start_with(persistent, &[])
    }

    /// As [`RedisServer::start`], with more redis-server arguments.
    pub fn start_with(persistent: bool, extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "pushwire-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut redis = RedisServer {
            port: free_port(),
            dir,
            persistent,
            appendfsync: "always",
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        redis.restart();
        redis
    }

    /// A persistent redis-server with `appendfsync` as given (`always`
    /// or `everysec`), empty.
    pub fn start_appendfsync(appendfsync: &'static str) -> RedisServer {
        let mut redis = RedisServer::start(true);
        redis.kill();
        redis.set_appendfsync(appendfsync);
        redis.restart();
        redis
    }

    /// `appendfsync` from the next [`RedisServer::restart`] on (with the
    /// append-only file of a persistent server): `always` or `everysec`.
    pub fn set_appendfsync(&mut self, appendfsync: &'static str) {
        self.appendfsync = appendfsync;
    }

    /// The URL for `--redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the process again (after [`RedisServer::kill`]), on the same
    /// port and directory, and waits until it answers.
    pub fn restart(&mut self) {
        let port = self.port.to_string();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--save",
            "",
            "--daemonize",
            "no",
        ];
        if self.persistent {
            args.extend(["--appendonly", "yes", "--appendfsync", self.appendfsync]);
        } else {
            args.extend(["--appendonly", "no"]);
        }
        args.extend(self.extra.iter().map(String::as_str));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server; .ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Up once it answers, even if only to say a password is due.
            if self
                .try_command(&["PING"])
                .is_some_and(|r| r == "+PONG" || r.starts_with("-NOAUTH"))
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the process: a Redis that
    /// hangs with its connections open.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Sends one command and returns the first line of the reply.
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args).expect("redis answers")
    }

    fn try_command(&self, args: &[&str]) -> Option<String> {
        self.try_commands(&[args])?.pop()
    }

    /// Sends commands on one connection (`AUTH`, `SELECT`, then what
    /// matters) and returns the first line of each reply.
    pub fn commands(&self, commands: &[&[&str]]) -> Vec<String> {
        self.try_commands(commands).expect("redis answers")
    }

    fn try_commands(&self, commands: &[&[&str]]) -> Option<Vec<String>> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut out = String::new();
        for args in commands {
            out.push_str(&format!("*{}\r\n", args.len()));
            for arg in *args {
                out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
            }
        }
        stream.write_all(out.as_bytes()).ok()?;
        let mut reader = BufReader::new(stream);
        let mut lines = Vec::new();
        for _ in commands {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            lines.push(line.trim_end().to_owned());
        }
        Some(lines)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
