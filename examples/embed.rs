//! Embedding pushwire: run the server on one thread, publish a counter from
//! another through the `Hub`, and stop after a few ticks.
//!
//! ```sh
//! cargo run --example embed
//! curl -N http://127.0.0.1:8081/poll/counter
//! ```

use std::time::Duration;

use pushwire::{Config, Server};

fn main() -> std::io::Result<()> {
    let config = Config {
        listen: "127.0.0.1:8081".parse().expect("a socket address"),
        history: 16,
        ..Config::default()
    };
    let server = Server::bind(config)?;
    println!("embedded pushwire on http://{}", server.local_addr());
    let hub = server.hub();
    let publisher = std::thread::spawn(move || {
        for i in 1..=10 {
            // Publishing is thread-safe: the message is queued and the
            // event loop woken through its mio::Waker.
            if let Err(e) = hub.publish("counter", &i.to_string()) {
                eprintln!("publish failed: {e}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        hub.stop();
    });
    server.run()?;
    let _ = publisher.join();
    println!("stopped after 10 messages");
    Ok(())
}
