//! The `pushwire` command: parse flags, bind, print how to try it, run;
//! or `pushwire sub` / `pushwire pub`, the terminal clients; or
//! `pushwire token`, which mints a signed token; or `pushwire bench`, the
//! load generator.

mod bench;
mod cli;
mod client;

use std::io::Write;
use std::process::ExitCode;

use pushwire::server::sys;
use pushwire::Server;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("sub") => return client::sub_main(std::env::args().skip(2)),
        Some("pub") => return client::pub_main(std::env::args().skip(2)),
        Some("token") => return client::token_main(std::env::args().skip(2)),
        Some("bench") => return bench::main(std::env::args().skip(2)),
        _ => {}
    }
    let config = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Serve(config)) => config,
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Version) => {
            println!("pushwire {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pushwire: {e}\nTry 'pushwire --help' for the options.");
            return ExitCode::from(2);
        }
    };
    // Blocked before any thread starts, so every thread inherits the mask
    // and only the waiting thread below ever sees SIGINT / SIGTERM.
    if let Err(e) = sys::block_termination_signals() {
        eprintln!("pushwire: cannot block signals: {e}");
    }
    let wanted = config.max_connections;
    let reuse_port = config.reuse_port;
    let drain_timeout = config.drain_timeout;
    let redis = config.redis.clone();
    let tls_cert = config.tls.as_ref().map(|t| t.cert.display().to_string());
    let server = match Server::bind(*config) {
        Ok(server) => server,
        Err(e) => {
            // A data dir that cannot be used: exit 2, like a bad flag.
            if e.get_ref().is_some_and(|inner| {
                inner.is::<pushwire::server::log::DataDirError>()
                    || inner.is::<pushwire::server::redis::RedisError>()
                    || inner.is::<pushwire::server::tls::TlsError>()
            }) {
                eprintln!("pushwire: {e}");
                return ExitCode::from(2);
            }
            eprintln!("pushwire: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(url) = &redis {
        eprintln!("pushwire: channels shared through Redis at {url}");
    } else if reuse_port {
        eprintln!(
            "pushwire: --reuse-port: other processes may take connections on this address; \
             each keeps its own channels, so a message published on one reaches only its \
             own subscribers (docs/cluster.md)"
        );
    }
    if server.max_connections() < wanted {
        eprintln!(
            "pushwire: the open-file limit holds only {} connections; \
             --max-connections lowered from {wanted} (raise it with ulimit -n)",
            server.max_connections()
        );
    }
    let addr = server.local_addr();
    let metrics = server.metrics_addr().unwrap_or(addr);
    let scheme = if server.is_tls() { "https" } else { "http" };
    // `write!`, not `println!`: a parent that stopped reading our stdout
    // must not take the server down with a broken-pipe panic.
    let _ = write!(
        std::io::stdout(),
        "pushwire {version} listening on {scheme}://{addr}\n  \
         publish:  curl -d 'hello' {scheme}://{addr}/pub/demo\n  \
         poll:     curl '{scheme}://{addr}/poll/demo?since=0'\n  \
         info:     curl {scheme}://{addr}/pub/demo\n  \
         demo:     open {scheme}://{addr}/ in a browser\n  \
         help:     curl {scheme}://{addr}/help\n  \
         metrics:  curl {scheme}://{metrics}/metrics\n",
        version = env!("CARGO_PKG_VERSION")
    );
    if let Some(cert) = tls_cert {
        reload_on_sighup(server.hub(), cert);
    }
    let hub = server.hub();
    let drain_timeout = drain_timeout.as_secs_f64();
    // The first SIGTERM or SIGINT drains (docs/operations.md), the second
    // stops at once. The signals are taken by sigwait(3) on this thread,
    // and the Hub wakes the loop through its mio::Waker: no handler, no
    // signalfd.
    std::thread::spawn(move || {
        if sys::wait_for_termination().is_ok() {
            eprintln!(
                "pushwire: draining (at most {drain_timeout} s; a second signal stops at once)"
            );
            hub.stop();
            if sys::wait_for_termination().is_ok() {
                eprintln!("pushwire: stopping at once");
                hub.stop_now();
            }
        }
    });
    match server.run() {
        Ok(()) => {
            eprintln!("pushwire: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pushwire: {e}");
            // Redis could not be read before anyone was served: as at
            // the check before, a start refused (exit 2).
            match e
                .get_ref()
                .is_some_and(|inner| inner.is::<pushwire::server::redis::RedisError>())
            {
                true => ExitCode::from(2),
                false => ExitCode::FAILURE,
            }
        }
    }
}

/// SIGHUP reads the TLS certificate and key again (`Hub::reload_tls`), on
/// a thread of its own; what happened is said on stderr.
fn reload_on_sighup(hub: pushwire::Hub, cert: String) {
    let mut signal = match sys::catch_reload_signal() {
        Ok(signal) => signal,
        Err(e) => {
            eprintln!("pushwire: cannot catch SIGHUP, no certificate reload: {e}");
            return;
        }
    };
    std::thread::spawn(move || {
        while signal.wait().is_ok() {
            match hub.reload_tls() {
                Ok(()) => eprintln!(
                    "pushwire: SIGHUP: TLS certificate reloaded from {cert}; \
                     new connections get it, open ones keep theirs"
                ),
                Err(e) => eprintln!(
                    "pushwire: SIGHUP: TLS certificate not reloaded, the one in force stays: {e}"
                ),
            }
        }
    });
}
