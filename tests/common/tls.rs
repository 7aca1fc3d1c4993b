//! A TLS client for the tests of a server started with `--tls-cert`:
//! rustls, trusting the test CA of `tests/tls` (README.md there).

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{read_response, Response, TestServer, READ_TIMEOUT};

/// A file of `tests/tls`.
pub fn file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// The test CA's certificate.
pub fn ca() -> PathBuf {
    file("ca.pem")
}

/// `--tls-cert` and `--tls-key` for the first leaf (its chain).
pub fn leaf_args() -> Vec<String> {
    let cert = file("leaf-chain.pem").display().to_string();
    let key = file("leaf.key").display().to_string();
    vec!["--tls-cert".into(), cert, "--tls-key".into(), key]
}

/// A server with TLS on the first leaf, and `args`.
pub fn start(args: &[&str]) -> TestServer {
    let mut all: Vec<String> = leaf_args();
    all.extend(args.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    TestServer::start(&refs)
}

/// `https://localhost:PORT{path}`: the leaf names localhost.
pub fn url(server: &TestServer, path: &str) -> String {
    format!("https://localhost:{}{path}", server.port())
}

/// The DER of the first certificate in the PEM file `name`.
pub fn cert_der(name: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(file(name))
        .expect("a certificate")
        .to_vec()
}

/// A client that trusts the test CA and offers ALPN h2 and http/1.1, as
/// a browser does.
pub fn client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca()).expect("the CA"))
        .unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr` for `localhost` (the handshake happens at
/// the first read or write).
pub fn connect(addr: SocketAddr) -> TlsStream {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(client_config(), name).unwrap();
    StreamOwned::new(conn, tcp)
}

/// Sends `raw` on a new TLS connection and reads one response.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = connect(addr);
    stream.write_all(raw).unwrap();
    read_response(&mut BufReader::new(stream)).expect("response")
}

/// `GET path` over TLS, `Connection: close`.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// The certificate the server showed on `stream`.
pub fn peer_cert(stream: &TlsStream) -> Vec<u8> {
    stream
        .conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .expect("a peer certificate")
        .to_vec()
}
