//! What the kernel tells the server, on real sockets: a FIN that arrives
//! with a request is seen at once.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};

use common::{read_response, TestServer};

#[test]
fn a_fin_that_comes_with_the_request_gets_the_answer_and_the_end_at_once() {
    // A keep-alive connection would be closed only after 600 s.
    let server = TestServer::start(&["--idle-timeout", "600"]);
    server.publish("a", "one");
    for cork in [true, false] {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        // Corked, the request and the FIN leave in one segment (tcp(7),
        // TCP_CORK): the server's socket gets both in one event.
        socket.set_tcp_cork(cork).unwrap();
        let mut stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(common::READ_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /poll/a?since=0 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        // The answer, then EOF: a read that times out (10 s, against the
        // idle timeout's 600) fails the test.
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader).unwrap();
        assert_eq!(response.status, 200);
        assert!(response.text().contains("\"one\""), "{}", response.text());
        assert!(
            reader.fill_buf().unwrap().is_empty(),
            "EOF after the answer"
        );
    }
}
