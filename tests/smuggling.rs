//! Request smuggling (RFC 9112 section 11.2): a request whose framing two
//! servers could read differently is refused, and nothing hidden in it is
//! ever executed.

mod common;

use std::io::Write;

use common::{read_until_closed, TestServer};

fn send_all(server: &TestServer, raw: &[u8]) -> String {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    String::from_utf8_lossy(&read_until_closed(&mut stream).unwrap()).into_owned()
}

#[test]
fn content_length_with_transfer_encoding_never_runs_the_smuggled_request() {
    let server = TestServer::start(&[]);
    // CL.TE: a front end that trusts Content-Length forwards all of it; one
    // that trusts chunked sees the body end at "0" and a second request.
    let smuggled = b"POST /pub/front HTTP/1.1\r\nHost: a\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n\
        0\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx";
    let text = send_all(&server, smuggled);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    // TE.CL, obfuscated TE and a duplicate TE header: all refused.
    for raw in [
        &b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nPOST /pub/smuggled HTTP/1.1\r\n"[..],
        b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
        b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
        b"POST /pub/front HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 60\r\n\r\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
        b"POST /pub/front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\nPOST /pub/smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
    ] {
        let text = send_all(&server, raw);
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
        assert!(text.contains("Connection: close"), "{text}");
    }
    assert_eq!(server.get("/pub/smuggled").status, 404);
    assert_eq!(server.get("/pub/front").status, 404);
}
