//! `https://` and `wss://` for `pushwire sub` and `pushwire pub`: a
//! blocking rustls client over the TCP connection (the `tls` feature).

use std::io;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::http::{Stream, Trust};

/// Where the system's CA bundle is when `SSL_CERT_FILE` does not say.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// The CA certificates `trust` names, as a root store.
fn roots(trust: &Trust) -> io::Result<RootCertStore> {
    let path = trust.cacert.clone().unwrap_or_else(|| {
        std::env::var_os("SSL_CERT_FILE").map_or_else(|| PathBuf::from(SYSTEM_BUNDLE), Into::into)
    });
    let pem = std::fs::read(&path)
        .map_err(|e| invalid(format!("cannot read the CA file {}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        // A bundle may hold certificates webpki cannot use; the others
        // still count.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(invalid(format!(
            "{} holds no CA certificate",
            path.display()
        )));
    }
    Ok(roots)
}

/// A client configuration trusting `trust`: TLS 1.3 and 1.2, the `ring`
/// provider, ALPN `http/1.1`.
pub fn client_config(trust: &Trust) -> io::Result<Arc<ClientConfig>> {
    Ok(Arc::new(client_config_with(
        trust,
        rustls::DEFAULT_VERSIONS,
    )?))
}

/// Like [`client_config`], offering only `versions` (`pushwire bench
/// handshake --tls-version`).
pub fn client_config_with(
    trust: &Trust,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> io::Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(versions)
        .map_err(io::Error::other)?
        .with_root_certificates(roots(trust)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `host` as the name checked against the certificate (and sent as SNI
/// unless it is an address).
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| invalid(format!("'{host}' is not a host name: {e}")))
}

/// Starts TLS on `tcp` to `host`, offering ALPN `http/1.1`.
pub fn connect(tcp: TcpStream, host: &str, trust: &Trust) -> io::Result<Stream> {
    let conn = ClientConnection::new(client_config(trust)?, server_name(host)?)
        .map_err(io::Error::other)?;
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}
