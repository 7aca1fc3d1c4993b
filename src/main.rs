//! The `pushwire` command: parse flags, bind, print how to try it, run.

mod cli;

use std::process::ExitCode;

use pushwire::server::sys;
use pushwire::Server;

fn main() -> ExitCode {
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
    let server = match Server::bind(*config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("pushwire: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if server.max_connections() < wanted {
        eprintln!(
            "pushwire: the open-file limit holds only {} connections; \
             --max-connections lowered from {wanted} (raise it with ulimit -n)",
            server.max_connections()
        );
    }
    let addr = server.local_addr();
    println!(
        "pushwire {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    println!("  publish:  curl -d 'hello' http://{addr}/pub/demo");
    println!("  poll:     curl 'http://{addr}/poll/demo?since=0'");
    println!("  info:     curl http://{addr}/pub/demo");
    println!("  index:    curl http://{addr}/");
    let hub = server.hub();
    std::thread::spawn(move || {
        if sys::wait_for_termination().is_ok() {
            hub.stop();
        }
    });
    match server.run() {
        Ok(()) => {
            eprintln!("pushwire: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pushwire: {e}");
            ExitCode::FAILURE
        }
    }
}
