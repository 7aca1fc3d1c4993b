//! Request heads: `httparse` plus the framing rules of RFC 9112.
//!
//! [`parse_head`] takes whatever bytes have arrived so far and answers
//! `Ok(None)` (need more), `Ok(Some(head))` (a complete, trustworthy head)
//! or `Err(HttpError)`, which always maps to one status code
//! ([`HttpError::status`]) and always means "answer and close": once the
//! framing of a request is in doubt, nothing after it on the connection can
//! be trusted (RFC 9112 section 11.2, request smuggling).
//!
//! The parser is incremental in the cheap way: it re-parses the head from
//! the start when more bytes arrive. A head is at most `max_header_bytes`
//! (8 KiB by default), so that costs little, and it keeps no state between
//! calls, so feeding a head one byte at a time gives the same answer as
//! feeding it whole.

use std::fmt;

use httparse::{Header, Status};

use crate::decimal::parse_decimal;

/// How many header fields a request may carry; more is `431`.
pub const MAX_HEADERS: usize = 64;

/// The request methods the server routes on; anything else is `Other`
/// (and gets `405` on a known path, RFC 9110 section 15.5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`: like `GET`, the body is left out of the response.
    Head,
    /// `POST`
    Post,
    /// `OPTIONS`: a CORS preflight.
    Options,
    /// Any other token.
    Other,
}

impl Method {
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// How the body of a request is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (no `Content-Length`, no `Transfer-Encoding`).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Why a request was refused; each variant maps to one status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The bytes are not an HTTP/1.x request (`400`); the text says where.
    Malformed(&'static str),
    /// An HTTP/1.1 request without `Host` (`400`, RFC 9112 section 3.2).
    MissingHost,
    /// More than one `Host` field (`400`, RFC 9112 section 3.2).
    DuplicateHost,
    /// A `Content-Length` that is not a decimal number (`400`).
    InvalidContentLength,
    /// Several `Content-Length` values that differ (`400`, RFC 9112 section 6.3).
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` (`400`): the classic
    /// request-smuggling shape (RFC 9112 section 6.3 and 11.2).
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` on an HTTP/1.0 request (`400`, RFC 9112 section 6.1).
    TransferEncodingInHttp10,
    /// A transfer coding other than `chunked` alone (`501`, RFC 9112 section 6.1).
    UnsupportedTransferCoding,
    /// The head is longer than `max_header_bytes`, or has more than
    /// [`MAX_HEADERS`] fields (`431`, RFC 6585 section 5).
    HeaderTooLarge,
    /// The request target is longer than `max_uri_bytes` (`414`).
    UriTooLong,
    /// The body is longer than `max_body_bytes` (`413`).
    BodyTooLarge,
    /// A `POST` without `Content-Length` or `Transfer-Encoding` (`411`).
    LengthRequired,
    /// A malformed chunked body (`400`); the text says what was wrong.
    BadChunkedBody(&'static str),
    /// The head or body did not arrive in time (`408`).
    Timeout,
}

impl HttpError {
    /// The status code the client gets: the one place errors meet the wire.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_)
            | HttpError::MissingHost
            | HttpError::DuplicateHost
            | HttpError::InvalidContentLength
            | HttpError::ConflictingContentLength
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::TransferEncodingInHttp10
            | HttpError::BadChunkedBody(_) => 400,
            HttpError::Timeout => 408,
            HttpError::LengthRequired => 411,
            HttpError::BodyTooLarge => 413,
            HttpError::UriTooLong => 414,
            HttpError::HeaderTooLarge => 431,
            HttpError::UnsupportedTransferCoding => 501,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            HttpError::Malformed(what) => return write!(f, "malformed request: {what}"),
            HttpError::BadChunkedBody(what) => return write!(f, "malformed chunked body: {what}"),
            HttpError::MissingHost => "HTTP/1.1 request without Host",
            HttpError::DuplicateHost => "more than one Host header",
            HttpError::InvalidContentLength => "Content-Length is not a number",
            HttpError::ConflictingContentLength => "Content-Length values differ",
            HttpError::ContentLengthWithTransferEncoding => {
                "Content-Length and Transfer-Encoding together"
            }
            HttpError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            HttpError::UnsupportedTransferCoding => "only Transfer-Encoding: chunked is supported",
            HttpError::HeaderTooLarge => "request header fields too large",
            HttpError::UriTooLong => "request target too long",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::LengthRequired => "POST needs Content-Length or chunked encoding",
            HttpError::Timeout => "request took too long",
        };
        f.write_str(text)
    }
}

/// The size limits that apply while a head is being read.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Largest head, request line included (`431` past it).
    pub max_header_bytes: usize,
    /// Longest request target (`414` past it).
    pub max_uri_bytes: usize,
}

/// A complete, validated request head, borrowing the bytes it was parsed from.
#[derive(Debug)]
pub struct RequestHead<'h, 'b> {
    /// The method, as routed on.
    pub method: Method,
    /// The path of the request target, without the query (`/poll/news`).
    pub path: &'b str,
    /// The query without `?` (`since=17`), empty if there is none.
    pub query: &'b str,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Every header field, in order.
    pub headers: &'h [Header<'b>],
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Whether the connection stays open after the response
    /// (RFC 9112 section 9.3).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (RFC 9110 section 10.1.1).
    pub expect_continue: bool,
    /// Bytes the head took, the blank line included; the body starts here.
    pub head_len: usize,
}

impl RequestHead<'_, '_> {
    /// The value of the first header field called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet and nothing is wrong so far.
///
/// ```
/// use pushwire::http::request::{parse_head, HeadLimits, MAX_HEADERS};
/// let limits = HeadLimits { max_header_bytes: 8192, max_uri_bytes: 4096 };
/// let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
/// let buf = b"GET /poll/news?since=3 HTTP/1.1\r\nHost: x\r\n\r\n";
/// let head = parse_head(buf, &mut headers, limits).unwrap().unwrap();
/// assert_eq!((head.path, head.query), ("/poll/news", "since=3"));
/// assert!(head.keep_alive);
/// ```
pub fn parse_head<'h, 'b>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    limits: HeadLimits,
) -> Result<Option<RequestHead<'h, 'b>>, HttpError> {
    // The answer must not depend on how much of the input has arrived, so
    // each refusal is decided by the shortest prefix that proves it: a
    // limit is checked on the bytes up to the limit only, and a malformed
    // byte before that point wins over the limit.
    //
    // A request line longer than any allowed target can be refused with
    // 414 before it ends: "GET " + target + " HTTP/1.1\r\n" is at most 32
    // bytes more than the target for the methods we route.
    let line_budget = limits.max_uri_bytes.saturating_add(32);
    let line_window = buf.get(..=line_budget).unwrap_or(buf);
    if buf.len() > line_budget && !line_window.contains(&b'\n') {
        let mut req = httparse::Request::new(headers);
        return Err(match req.parse(line_window) {
            Err(e) => HttpError::Malformed(httparse_reason(e)),
            Ok(_) => HttpError::UriTooLong,
        });
    }
    // Likewise the head is parsed from its first `max_header_bytes` only:
    // if it has not ended by then, it is too large (431), whatever follows.
    let window = buf.get(..limits.max_header_bytes).unwrap_or(buf);
    let mut req = httparse::Request::new(headers);
    let head_len = match req.parse(window) {
        Ok(Status::Complete(n)) => n,
        Ok(Status::Partial) => {
            return if buf.len() >= limits.max_header_bytes {
                Err(HttpError::HeaderTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeaderTooLarge),
        Err(e) => return Err(HttpError::Malformed(httparse_reason(e))),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::Malformed("incomplete request line"));
    };
    if target.len() > limits.max_uri_bytes {
        return Err(HttpError::UriTooLong);
    }
    let method = Method::from_token(method);
    let headers: &'h [Header<'b>] = req.headers;
    let (path, query) = split_target(target, method)?;
    let fields = scan_fields(headers, minor_version)?;
    let framing = match (fields.content_length, fields.chunked) {
        (Some(_), true) => return Err(HttpError::ContentLengthWithTransferEncoding),
        (Some(n), false) => BodyFraming::Length(n),
        (None, true) => BodyFraming::Chunked,
        (None, false) if method == Method::Post => return Err(HttpError::LengthRequired),
        (None, false) => BodyFraming::None,
    };
    let keep_alive = if minor_version == 0 {
        fields.keep_alive && !fields.close
    } else {
        !fields.close
    };
    Ok(Some(RequestHead {
        method,
        path,
        query,
        minor_version,
        headers,
        framing,
        keep_alive,
        expect_continue: fields.expect_continue,
        head_len,
    }))
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or target",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

/// Splits a request target into path and query (RFC 9112 section 3.2).
/// Origin-form (`/a?b`) is what clients send; absolute-form
/// (`http://host/a?b`) must be accepted too (section 3.2.2); the
/// asterisk-form (`*`) only with `OPTIONS`.
fn split_target(target: &str, method: Method) -> Result<(&str, &str), HttpError> {
    let origin_form = if target.starts_with('/') {
        target
    } else if target == "*" && method == Method::Options {
        return Ok(("*", ""));
    } else {
        let lower_scheme = target.get(..7).map(|s| s.eq_ignore_ascii_case("http://"));
        let rest = match lower_scheme {
            Some(true) => target.get(7..).unwrap_or(""),
            _ => return Err(HttpError::Malformed("request target is not a path")),
        };
        // RFC 3986 section 3.2: the authority ends at the first "/", "?"
        // or "#"; "http://host?q" has an empty path (read as "/") and a
        // query.
        match rest.find(['/', '?']) {
            Some(i) if rest.get(i..i + 1) == Some("?") => {
                return Ok(("/", rest.get(i + 1..).unwrap_or("")));
            }
            Some(i) => rest.get(i..).unwrap_or("/"),
            None => "/",
        }
    };
    Ok(match origin_form.split_once('?') {
        Some((path, query)) => (path, query),
        None => (origin_form, ""),
    })
}

/// What the header fields say about framing and the connection.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

fn scan_fields(headers: &[Header<'_>], minor_version: u8) -> Result<Fields, HttpError> {
    let mut fields = Fields::default();
    let mut hosts = 0usize;
    let mut transfer_codings = 0usize;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 section 6.3 rule 5 / RFC 9110 section 8.6: a list of
            // identical values may be accepted as one; differing values are
            // an unrecoverable framing error.
            for item in h.value.split(|&b| b == b',') {
                let n = parse_decimal(trim_ows(item)).ok_or(HttpError::InvalidContentLength)?;
                match fields.content_length {
                    Some(prev) if prev != n => return Err(HttpError::ConflictingContentLength),
                    _ => fields.content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in h.value.split(|&b| b == b',').map(trim_ows) {
                if coding.is_empty() {
                    continue;
                }
                transfer_codings += 1;
                if !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(HttpError::UnsupportedTransferCoding);
                }
            }
            if transfer_codings == 0 {
                return Err(HttpError::Malformed("empty Transfer-Encoding"));
            }
            fields.chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(trim_ows) {
                if token.eq_ignore_ascii_case(b"close") {
                    fields.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    fields.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            fields.expect_continue = trim_ows(h.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    if fields.chunked {
        // "chunked, chunked" would mean the body is chunked twice.
        if transfer_codings > 1 {
            return Err(HttpError::UnsupportedTransferCoding);
        }
        if minor_version == 0 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
    }
    match hosts {
        0 if minor_version >= 1 => Err(HttpError::MissingHost),
        0 | 1 => Ok(fields),
        _ => Err(HttpError::DuplicateHost),
    }
}

/// Trims optional whitespace (SP / HTAB, RFC 9110 section 5.6.3).
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_header_bytes: 8192,
        max_uri_bytes: 4096,
    };

    fn parse(buf: &[u8]) -> Result<Option<(BodyFraming, bool, bool, usize)>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        parse_head(buf, &mut headers, LIMITS)
            .map(|head| head.map(|h| (h.framing, h.keep_alive, h.expect_continue, h.head_len)))
    }

    #[test]
    fn framing_rules_follow_rfc_9112_section_6_3() {
        let cases: &[(&[u8], Result<BodyFraming, u16>)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(BodyFraming::None)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::Length(5))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Ok(BodyFraming::Length(5))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::Length(5))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyFraming::Chunked)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", Ok(BodyFraming::Chunked)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(501)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Err(501)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", Err(501)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\n\r\n", Err(411)),
            (b"GET / HTTP/1.1\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.0\r\n\r\n", Ok(BodyFraming::None)),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(400)),
            (b"GET nope HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Err(400)),
        ];
        for (input, want) in cases {
            let got = parse(input)
                .map(|h| h.map(|(f, ..)| f))
                .map_err(|e| e.status());
            assert_eq!(got, want.map(Some), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn keep_alive_defaults_differ_between_http_10_and_11() {
        let ka = |buf: &[u8]| parse(buf).unwrap().unwrap().1;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"
        ));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn expect_100_continue_is_recognised() {
        let buf =
            b"POST /pub/a HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
        assert!(parse(buf).unwrap().unwrap().2);
    }

    #[test]
    fn head_fed_byte_by_byte_is_partial_until_the_blank_line() {
        let buf = b"GET /poll/a HTTP/1.1\r\nHost: a\r\n\r\nGET";
        let end = buf.len() - 3;
        for i in 0..end {
            assert_eq!(parse(&buf[..i]).unwrap(), None, "prefix {i}");
        }
        assert_eq!(parse(buf).unwrap().unwrap().3, end);
    }

    #[test]
    fn limits_map_to_414_and_431() {
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(4300));
        assert_eq!(parse(long_target.as_bytes()), Err(HttpError::UriTooLong));
        // Refused before the request line even ends.
        assert_eq!(
            parse(&long_target.as_bytes()[..4200]),
            Err(HttpError::UriTooLong)
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "b".repeat(8400)
        );
        assert_eq!(parse(big.as_bytes()), Err(HttpError::HeaderTooLarge));
        assert_eq!(
            parse(&big.as_bytes()[..8300]),
            Err(HttpError::HeaderTooLarge)
        );
        let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(parse(many.as_bytes()), Err(HttpError::HeaderTooLarge));
    }

    /// Every prefix of `buf` must answer "need more" or exactly what the
    /// whole of `buf` answers.
    fn assert_same_answer_for_every_prefix(buf: &[u8], ends: std::ops::Range<usize>) {
        let whole = parse(buf);
        for end in ends {
            let prefix = parse(&buf[..end]);
            assert!(
                prefix == Ok(None) || prefix == whole,
                "prefix of {end} bytes: {prefix:?}, whole: {whole:?}"
            );
        }
    }

    #[test]
    fn malformed_request_line_is_400_however_much_of_it_has_arrived() {
        // Found by the http_request fuzz target: a bad byte early in a
        // request line longer than the 414 budget was 400 when it arrived
        // in pieces but 414 when it arrived whole.
        let mut buf = b"G\x01T /".to_vec();
        buf.extend_from_slice(&[b'a'; 4200]);
        assert_eq!(
            parse(&buf),
            Err(HttpError::Malformed("invalid method or target"))
        );
        assert_same_answer_for_every_prefix(&buf, 0..buf.len());
    }

    #[test]
    fn head_past_the_limit_is_431_even_if_malformed_after_the_limit() {
        // An unfinished head is refused with 431 once max_header_bytes have
        // arrived; a bad byte after that point must not turn it into 400.
        let mut buf = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "b".repeat(8200)).into_bytes();
        buf.extend_from_slice(b"\x01\r\n\r\n");
        assert_eq!(parse(&buf), Err(HttpError::HeaderTooLarge));
        assert_same_answer_for_every_prefix(&buf, 8100..buf.len());
        assert_eq!(parse(&buf[..8192]), Err(HttpError::HeaderTooLarge));
    }

    #[test]
    fn absolute_form_targets_are_reduced_to_the_path() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let buf = b"GET http://example.com/poll/a?since=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let head = parse_head(buf, &mut headers, LIMITS).unwrap().unwrap();
        assert_eq!((head.path, head.query), ("/poll/a", "since=1"));
    }

    #[test]
    fn absolute_form_without_a_path_keeps_its_query() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let buf = b"GET http://example.com?since=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let head = parse_head(buf, &mut headers, LIMITS).unwrap().unwrap();
        assert_eq!((head.path, head.query), ("/", "since=1"));
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let buf = b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let head = parse_head(buf, &mut headers, LIMITS).unwrap().unwrap();
        assert_eq!((head.path, head.query), ("/", ""));
    }

    #[test]
    fn every_error_maps_to_its_status() {
        let table = [
            (HttpError::Malformed("x"), 400),
            (HttpError::MissingHost, 400),
            (HttpError::DuplicateHost, 400),
            (HttpError::InvalidContentLength, 400),
            (HttpError::ConflictingContentLength, 400),
            (HttpError::ContentLengthWithTransferEncoding, 400),
            (HttpError::TransferEncodingInHttp10, 400),
            (HttpError::BadChunkedBody("x"), 400),
            (HttpError::Timeout, 408),
            (HttpError::LengthRequired, 411),
            (HttpError::BodyTooLarge, 413),
            (HttpError::UriTooLong, 414),
            (HttpError::HeaderTooLarge, 431),
            (HttpError::UnsupportedTransferCoding, 501),
        ];
        for (error, status) in table {
            assert_eq!(error.status(), status, "{error}");
        }
    }
}
