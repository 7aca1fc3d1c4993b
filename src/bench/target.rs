//! URL templates: `http://127.0.0.1:8080/sse/{channel}?since={since}`.
//!
//! A template names the server and a path in which `{channel}`,
//! `{transport}` and `{since}` are filled in per request, so one client
//! drives pushwire's paths and nchan's locations alike. `ws://` is accepted
//! as a synonym of `http://` (the upgrade is what makes it a WebSocket).

use std::net::{SocketAddr, ToSocketAddrs};

use crate::client::http::Url;

/// A server address and a path template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header value, as written in the URL.
    pub host: String,
    path: String,
    /// `https://` and `wss://`: how to speak TLS to it.
    pub tls: Option<super::link::TlsClient>,
}

impl Template {
    /// Parses `http://HOST:PORT/PATH` (or `ws://`), split as `pushwire
    /// sub` splits its URLs.
    pub fn parse(url: &str) -> Result<Template, String> {
        let Url {
            authority: host,
            target: path,
            secure,
        } = Url::parse(url)?;
        let tls = match secure {
            false => None,
            true => Some(super::link::tls_client(&host).map_err(|e| format!("'{url}': {e}"))?),
        };
        let with_port = if host.contains(':') {
            host.clone()
        } else {
            format!("{host}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("'{url}': {e}"))?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| format!("'{url}': no IPv4 address"))?;
        Ok(Template {
            addr,
            host,
            path,
            tls,
        })
    }

    /// The request target with the placeholders filled in.
    pub fn path(&self, channel: &str, transport: &str, since: u64) -> String {
        self.path
            .replace("{channel}", channel)
            .replace("{transport}", transport)
            .replace("{since}", &since.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_placeholders() {
        let t = Template::parse("http://127.0.0.1:8080/longpoll/{channel}?since={since}").unwrap();
        assert_eq!(t.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path("c", "x", 7), "/longpoll/c?since=7");
        let t = Template::parse("ws://127.0.0.1:9/").unwrap();
        assert_eq!(t.path("c", "ws", 0), "/");
        assert!(Template::parse("https://x/").is_err());
    }
}
