//! `pushwire bench handshake`: full TLS handshakes per second (the `tls`
//! feature), C connections at a time, each a new session.
//!
//! Each connection connects, does a full handshake (no resumption: the
//! client keeps no session, so the server does its key exchange and its
//! signature every time), sends close_notify (RFC 8446 section 6.1) and
//! waits for the server to end the connection; it counts once the server
//! has ended it, which it can only do after reading the client's Finished
//! and the close_notify behind it. Then the socket is dropped with a reset
//! (so no client port waits in TIME_WAIT) and a new connection takes its
//! place.
//!
//! `openssl s_time -new` measures the same thing one connection at a
//! time, so the server waits for the client half of each handshake and,
//! on a small machine, the client's CPU is the limit. Here C handshakes
//! overlap, the server's CPU per handshake is read from
//! `/proc/PID/stat` (`--pid`), and the client's own CPU is reported:
//! with `--no-verify` the client skips checking the certificate chain
//! and the server's signature, the one cost it has and the server has
//! not, so that the server, not the bench, is the limit. The client
//! offers what rustls offers (X25519 first, AES-256-GCM first), the same
//! offer to every server measured.

use std::time::Duration;

use super::target::Template;

/// What to measure.
// Without the `tls` feature the plan is parsed and refused unread.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub struct HandshakePlan {
    /// The server (`https://HOST:PORT/`; the path is not used).
    pub target: Template,
    /// Handshakes in progress at once.
    pub concurrency: usize,
    pub seconds: Duration,
    pub warmup: Duration,
    /// "1.3", "1.2", or both offered.
    pub version: Option<String>,
    /// Check the certificate chain and the server's signature.
    pub verify: bool,
    /// The server's process, for its CPU per handshake.
    pub pid: Option<u32>,
    pub sources: Option<usize>,
}

#[cfg(not(feature = "tls"))]
pub fn run(_: HandshakePlan) -> Result<(String, String, bool), String> {
    Err("handshake measures TLS: build pushwire with --features tls".into())
}

#[cfg(feature = "tls")]
pub use with_tls::run;

#[cfg(feature = "tls")]
mod with_tls {
    use std::sync::Arc;

    use mio::{Events, Poll, Token};
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    use super::super::link::{Link, ReadOutcome, TlsClient};
    use super::super::net::Sources;
    use super::super::stamp::Clock;
    use super::super::stats::{micros, Histogram, JsonLine};
    use super::*;

    /// One connection: when its connect began, whether close_notify went.
    struct Shake {
        link: Link,
        started: u64,
        closing: bool,
    }

    #[derive(Default)]
    struct Counts {
        /// Handshakes the server confirmed inside the measured window.
        in_window: u64,
        all: u64,
        errors: u64,
        first_error: Option<String>,
        negotiated: Option<String>,
    }

    impl Counts {
        fn error(&mut self, what: String) {
            self.errors += 1;
            self.first_error.get_or_insert(what);
        }
    }

    pub fn run(plan: HandshakePlan) -> Result<(String, String, bool), String> {
        let Some((_, name)) = plan.target.tls.clone() else {
            return Err("handshake measures TLS: give --url https://HOST:PORT/".into());
        };
        let tls: TlsClient = (client_config(&plan)?, name);
        let concurrency = plan.concurrency.max(1);
        super::super::net::ensure_fd_limit(concurrency + 16)?;
        // Ports come back at once (reset, no TIME_WAIT), but a few source
        // addresses keep the kernel's port search short.
        let sources = Sources::for_connections(plan.target.addr, 16 * 16_000, plan.sources);
        let mut shaker = Shaker {
            poll: Poll::new().map_err(|e| e.to_string())?,
            conns: (0..concurrency).map(|_| None).collect(),
            sources,
            tls,
            clock: Clock::new(),
            hist: Histogram::new(),
            counts: Counts::default(),
            window: (0, 0),
        };
        let warmup = plan.warmup.as_nanos() as u64;
        let end = warmup + plan.seconds.as_nanos() as u64;
        shaker.window = (warmup, end);
        let server_cpu = || {
            plan.pid
                .map(|p| super::super::stat_cpu_seconds(&format!("/proc/{p}/stat")))
        };
        let mut at_start = None;
        let mut events = Events::with_capacity(1024);
        let target = plan.target.addr;
        while shaker.clock.now() < end {
            let now = shaker.clock.now();
            if at_start.is_none() && now >= warmup {
                at_start = Some((super::super::cpu_seconds(), server_cpu(), now));
            }
            for slot in 0..shaker.conns.len() {
                if shaker.conns.get(slot).is_some_and(Option::is_none) {
                    shaker.open(slot, target);
                }
            }
            shaker
                .poll
                .poll(&mut events, Some(Duration::from_millis(10)))
                .map_err(|e| e.to_string())?;
            for event in events.iter() {
                shaker.on_event(event.token().0, event.is_writable(), event.is_readable());
            }
        }
        let (cpu0, server0, t0) = at_start.unwrap_or((0.0, None, warmup));
        let wall = (shaker.clock.now() - t0) as f64 / 1e9;
        let client_cpu = super::super::cpu_seconds() - cpu0;
        let server_cpu = match (server0, server_cpu()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Ok(report(
            &plan,
            concurrency,
            &shaker,
            wall,
            client_cpu,
            server_cpu,
        ))
    }

    /// The client configuration: as `https://` URLs get (trusting
    /// `SSL_CERT_FILE` or the system), minus session resumption,
    /// optionally one version only and no certificate check.
    fn client_config(plan: &HandshakePlan) -> Result<Arc<rustls::ClientConfig>, String> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = match plan.version.as_deref() {
            None => rustls::DEFAULT_VERSIONS,
            Some("1.3") => &[&rustls::version::TLS13],
            Some("1.2") => &[&rustls::version::TLS12],
            Some(other) => return Err(format!("--tls-version: '{other}' is not 1.2 or 1.3")),
        };
        let trust = crate::client::http::Trust::default();
        let mut config =
            crate::client::tls::client_config_with(&trust, versions).map_err(|e| e.to_string())?;
        config.resumption = rustls::client::Resumption::disabled();
        if !plan.verify {
            let schemes = config
                .crypto_provider()
                .signature_verification_algorithms
                .supported_schemes();
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(NoVerify(schemes)));
        }
        Ok(Arc::new(config))
    }

    /// `--no-verify`: accepts any certificate and any signature (a bench
    /// knob, never a client's).
    #[derive(Debug)]
    struct NoVerify(Vec<SignatureScheme>);

    impl ServerCertVerifier for NoVerify {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }

        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.clone()
        }
    }

    struct Shaker {
        poll: Poll,
        conns: Vec<Option<Shake>>,
        sources: Sources,
        tls: TlsClient,
        clock: Clock,
        /// Connect to handshake done, for those done inside the window.
        hist: Histogram,
        counts: Counts,
        /// The measured window, in the clock's nanoseconds.
        window: (u64, u64),
    }

    impl Shaker {
        fn open(&mut self, slot: usize, target: std::net::SocketAddr) {
            let link = self.sources.connect(target).and_then(|stream| {
                Link::new(self.poll.registry(), stream, Token(slot), Some(&self.tls))
            });
            match link {
                Ok(link) => {
                    if let Some(place) = self.conns.get_mut(slot) {
                        *place = Some(Shake {
                            link,
                            started: self.clock.now(),
                            closing: false,
                        });
                    }
                }
                Err(e) => self.counts.error(format!("connect: {e}")),
            }
        }

        fn on_event(&mut self, slot: usize, writable: bool, readable: bool) {
            let Some(Some(shake)) = self.conns.get_mut(slot) else {
                return;
            };
            match step(shake, writable, readable) {
                Ok(Step::Going) => {
                    if shake.closing || shake.link.handshaking() || !shake.link.connected {
                        return;
                    }
                    // Done on this side: close, and count when the
                    // server's end confirms it read the Finished.
                    let now = self.clock.now();
                    if (self.window.0..self.window.1).contains(&now) {
                        self.hist.record(now - shake.started);
                    }
                    if self.counts.negotiated.is_none() {
                        self.counts.negotiated = shake.link.negotiated();
                    }
                    shake.closing = true;
                    if let Err(e) = shake.link.close_tls() {
                        self.counts.error(format!("close_notify: {e}"));
                        self.drop_conn(slot);
                    }
                }
                Ok(Step::Ended) if shake.closing => {
                    let now = self.clock.now();
                    self.counts.all += 1;
                    if (self.window.0..self.window.1).contains(&now) {
                        self.counts.in_window += 1;
                    }
                    self.drop_conn(slot);
                }
                Ok(Step::Ended) => {
                    self.counts
                        .error("the server closed during the handshake".into());
                    self.drop_conn(slot);
                }
                Err(e) => {
                    self.counts.error(e.to_string());
                    self.drop_conn(slot);
                }
            }
        }

        fn drop_conn(&mut self, slot: usize) {
            if let Some(place) = self.conns.get_mut(slot) {
                if let Some(mut shake) = place.take() {
                    shake.link.deregister(self.poll.registry());
                }
            }
        }
    }

    enum Step {
        Going,
        Ended,
    }

    /// Moves one connection on: the connect, the handshake's records both
    /// ways, and (after close_notify) the server's end.
    fn step(shake: &mut Shake, writable: bool, readable: bool) -> std::io::Result<Step> {
        if writable {
            shake.link.on_writable()?;
        }
        if readable && shake.link.connected {
            let mut buf = [0u8; 4096];
            loop {
                match shake.link.read(&mut buf)? {
                    // Nothing is asked, so nothing is expected; a server
                    // may still say something (a 400 to the silence).
                    ReadOutcome::Data(_) => {}
                    ReadOutcome::Again => break,
                    ReadOutcome::Closed => return Ok(Step::Ended),
                }
            }
        }
        Ok(Step::Going)
    }

    fn report(
        plan: &HandshakePlan,
        concurrency: usize,
        shaker: &Shaker,
        wall: f64,
        client_cpu: f64,
        server_cpu: Option<f64>,
    ) -> (String, String, bool) {
        let counts = &shaker.counts;
        let secs = plan.seconds.as_secs_f64();
        let rate = counts.in_window as f64 / secs;
        let (p50, p99) = (shaker.hist.quantile(0.5), shaker.hist.quantile(0.99));
        let client_share = client_cpu / wall.max(1e-9);
        let server_us = server_cpu.map(|s| s * 1e6 / counts.in_window.max(1) as f64);
        let negotiated = counts.negotiated.as_deref().unwrap_or("none");
        let mut json = JsonLine::new()
            .str("scenario", "handshake")
            .str("target", &plan.target.host)
            .str("negotiated", negotiated)
            .int("concurrency", concurrency as u64)
            .str("verify", if plan.verify { "yes" } else { "no" })
            .num("seconds", secs)
            .int("handshakes", counts.in_window)
            .num("handshakes_per_s", rate)
            .num("p50_us", micros(p50))
            .num("p99_us", micros(p99))
            .int("errors", counts.errors)
            .num("client_cpu_share", client_share);
        if let Some(us) = server_us {
            json = json.num("server_cpu_us_per_handshake", us);
        }
        if let Some(cpu) = server_cpu {
            json = json.num("server_cpu_share", cpu / wall.max(1e-9));
        }
        let mut human = format!(
            "handshake {} {negotiated} x{concurrency}: {rate:.0} handshakes/s, p50 {:.0} us p99 {:.0} us; bench CPU {:.0}%",
            plan.target.host,
            micros(p50),
            micros(p99),
            client_share * 100.0
        );
        if let (Some(us), Some(cpu)) = (server_us, server_cpu) {
            human.push_str(&format!(
                ", server CPU {:.0}%, {us:.0} us per handshake",
                cpu * 100.0 / wall.max(1e-9)
            ));
        }
        if client_share > 0.9 {
            human.push_str(
                ": the bench may be the limit (--no-verify takes its certificate check off)",
            );
        }
        if let Some(e) = &counts.first_error {
            human.push_str(&format!("; {} errors, first: {e}", counts.errors));
        }
        (
            json.finish(),
            human,
            counts.errors == 0 && counts.in_window > 0,
        )
    }
}
