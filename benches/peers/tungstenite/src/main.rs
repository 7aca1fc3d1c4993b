//! A WebSocket echo server on tokio-tungstenite, one thread (tokio's
//! current-thread runtime), so that it competes with pushwire's single
//! reactor core for core. Usage: `peer-tungstenite [ADDR]` (default
//! 127.0.0.1:9001); prints `listening on ADDR` once bound.

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let config = WebSocketConfig::default()
                .max_message_size(Some(64 << 20))
                .max_frame_size(Some(64 << 20));
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            // The idiomatic echo: forward feeds every message read and
            // flushes when the read side has nothing more ready, so
            // pipelined messages leave in few writes.
            let (write, read) = ws.split();
            let _ = read
                .filter(|m| {
                    std::future::ready(matches!(m, Ok(m) if m.is_text() || m.is_binary()))
                })
                .forward(write)
                .await;
        });
    }
}
