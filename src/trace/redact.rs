//! Secrets kept out of the trace: a token or a password is replaced with
//! `[redacted]` before a head is printed.
//!
//! A trace is pasted into bug reports and kept in log files, so it must not
//! hand out what lets its reader act as the client. A token (a signed JWT,
//! or the `--publish-token`) travels in four places, and each keeps its
//! shape in the trace, only the secret part goes:
//!
//! ```text
//! GET /sse/room.1?since=4&token=[redacted] HTTP/1.1
//!   Authorization: Bearer [redacted]
//!   Cookie: theme=[redacted]; pushwire_token=[redacted]
//!   Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.[redacted]
//! ```
//!
//! - **The query** (RFC 6750 section 2.3): the value of every `token` and
//!   `access_token` parameter, the name kept. Parameters are split at `&`
//!   (and at `;`, the old form separator), a name is compared after its
//!   percent-escapes are undone and in any ASCII case, so `%74oken` and
//!   `TOKEN` are redacted too: more than the server reads, never less. RFC
//!   6750 section 5.3 warns that a URI "will be logged"; this is the log.
//!   `Referer` (RFC 9110 section 10.1.3) and `Location` carry URIs, and get
//!   the same treatment, since a page opened with `?token=` names itself as
//!   the referrer of every request it makes.
//! - **`Authorization` and `Proxy-Authorization`** (RFC 9110 sections
//!   11.6.2 and 11.7.2): `credentials = auth-scheme [ 1*SP ( token68 /
//!   #auth-param ) ]`. The scheme stays (`Bearer`, `Basic`, any), what
//!   follows it goes; a value without a space is all redacted, since a
//!   bare value is most likely a token sent without its scheme.
//! - **`Cookie`** (RFC 6265 section 4.2.1, `name=value; name=value`): the
//!   value of *every* cookie, not only `pushwire_token`. Cookies are sent
//!   to every application on the host, and most of them are session
//!   identifiers (RFC 6265 section 8.4); the names are what a trace needs.
//!   `Set-Cookie` (section 4.1.1) loses the value of its cookie, its
//!   attributes stay.
//! - **`Sec-WebSocket-Protocol`** (RFC 6455 section 11.3.4): a browser's
//!   `WebSocket` cannot set `Authorization`, so the token rides in the
//!   subprotocol list as `pushwire.bearer.<token>`; the entry keeps its
//!   prefix.
//!
//! An empty value (`token=`, `a=`) is shown as it is: there is nothing to
//! hide, and "the client sent an empty token" is worth seeing.
//!
//! A head the tracer cannot parse is shown as the bytes before the fault;
//! [`redact_head`] reads those bytes line by line, with the same rules, so
//! a secret before a malformed byte, or cut by it, does not leak either.
//! Everything else in the head is copied byte for byte.

use std::borrow::Cow;
use std::ops::Range;

/// What a secret is replaced with.
pub(super) const REDACTED: &[u8] = b"[redacted]";

/// The subprotocol prefix of a token offered in `Sec-WebSocket-Protocol`.
const BEARER_SUBPROTOCOL: &[u8] = b"pushwire.bearer.";

/// The query parameters whose values are tokens: pushwire's own, and RFC
/// 6750's (section 2.3).
const TOKEN_PARAMETERS: [&[u8]; 2] = [b"token", b"access_token"];

/// Where a header field keeps its secret, if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Secret {
    /// `auth-scheme credentials`: the credentials.
    Credentials,
    /// `name=value; name=value`: every value.
    Cookies,
    /// `name=value; attributes`: the one value.
    SetCookie,
    /// A list with `pushwire.bearer.<token>` entries: the tokens.
    Subprotocols,
    /// A URI: its `token` query parameters.
    Uri,
}

impl Secret {
    /// The secret a field named `name` carries (names are case-insensitive,
    /// RFC 9110 section 5.1).
    fn of_field(name: &[u8]) -> Option<Secret> {
        const FIELDS: [(&[u8], Secret); 7] = [
            (b"authorization", Secret::Credentials),
            (b"proxy-authorization", Secret::Credentials),
            (b"cookie", Secret::Cookies),
            (b"set-cookie", Secret::SetCookie),
            (b"sec-websocket-protocol", Secret::Subprotocols),
            (b"referer", Secret::Uri),
            (b"location", Secret::Uri),
        ];
        FIELDS
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|&(_, secret)| secret)
    }

    /// Adds the ranges of `value` that are secret to `spans`, in order.
    fn spans(self, value: &[u8], spans: &mut Vec<Range<usize>>) {
        match self {
            Secret::Credentials => spans.extend(credentials(value)),
            Secret::Cookies => {
                for piece in pieces(value, b';') {
                    spans.extend(cookie_value(value, piece));
                }
            }
            Secret::SetCookie => {
                let first = pieces(value, b';').next();
                spans.extend(first.and_then(|piece| cookie_value(value, piece)));
            }
            Secret::Subprotocols => {
                for piece in pieces(value, b',') {
                    spans.extend(bearer_subprotocol(value, piece));
                }
            }
            Secret::Uri => query_tokens(value, spans),
        }
    }
}

/// `uri` (a request target, or any URI) with the value of every `token`
/// query parameter replaced by `[redacted]`.
pub(super) fn redact_uri(uri: &[u8]) -> Cow<'_, [u8]> {
    let mut spans = Vec::new();
    query_tokens(uri, &mut spans);
    replace(uri, &spans)
}

/// The value of the header field `name` as the trace shows it: the secret
/// part, if the field has one, replaced by `[redacted]`.
pub(super) fn redact_field<'v>(name: &[u8], value: &'v [u8]) -> Cow<'v, [u8]> {
    let Some(secret) = Secret::of_field(name) else {
        return Cow::Borrowed(value);
    };
    let mut spans = Vec::new();
    secret.spans(value, &mut spans);
    replace(value, &spans)
}

/// The bytes of a head, complete or cut anywhere (at a malformed byte, say),
/// with the secrets of its lines replaced: in the first line that is not
/// empty (the request line) every word's query, in each later line the
/// value of a field as [`redact_field`] does it.
pub(super) fn redact_head(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    let mut seen_start_line = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let content_len = line
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
            .map_or(0, |last| last + 1);
        let (content, ending) = line.split_at_checked(content_len).unwrap_or((line, &[]));
        if !seen_start_line && !content.is_empty() {
            seen_start_line = true;
            for (i, word) in content.split(|&b| b == b' ').enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(&redact_uri(word));
            }
        } else if let Some(colon) = content.iter().position(|&b| b == b':') {
            let (name, rest) = content
                .split_at_checked(colon + 1)
                .unwrap_or((content, &[]));
            let ows = rest.iter().take_while(|&&b| is_ows(b)).count();
            let (space, value) = rest.split_at_checked(ows).unwrap_or((rest, &[]));
            out.extend_from_slice(name);
            out.extend_from_slice(space);
            let name = name.strip_suffix(b":").unwrap_or(name);
            out.extend_from_slice(&redact_field(name, value));
        } else {
            out.extend_from_slice(content);
        }
        out.extend_from_slice(ending);
    }
    out
}

/// `bytes` with each span (in order, not overlapping, within `bytes`)
/// replaced by [`REDACTED`]; borrowed when there is none.
fn replace<'b>(bytes: &'b [u8], spans: &[Range<usize>]) -> Cow<'b, [u8]> {
    if spans.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + spans.len() * REDACTED.len());
    let mut copied = 0;
    for span in spans {
        out.extend_from_slice(bytes.get(copied..span.start).unwrap_or_default());
        out.extend_from_slice(REDACTED);
        copied = span.end;
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

/// Optional white space, RFC 9110 section 5.6.3.
fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// The ranges of `value` between the separators `sep`, trimmed of white
/// space; empty pieces are left out.
fn pieces(value: &[u8], sep: u8) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    value.split(move |&b| b == sep).filter_map(move |piece| {
        let begin = start + piece.iter().take_while(|&&b| is_ows(b)).count();
        let end = start + piece.iter().rposition(|&b| !is_ows(b)).map_or(0, |i| i + 1);
        start += piece.len() + 1;
        (begin < end).then_some(begin..end)
    })
}

/// The credentials after the auth scheme, or the whole value when it has
/// no space (RFC 9110 section 11.4).
fn credentials(value: &[u8]) -> Option<Range<usize>> {
    let end = value.iter().rposition(|&b| !is_ows(b)).map_or(0, |i| i + 1);
    let start = match value.iter().position(|&b| is_ows(b)) {
        Some(space) => space + value.iter().skip(space).take_while(|&&b| is_ows(b)).count(),
        None => 0,
    };
    (start < end).then_some(start..end)
}

/// The value of the cookie in `piece` of `value`, after its `=`; a piece
/// without `=` is a value alone (RFC 6265 section 5.2, step 2).
fn cookie_value(value: &[u8], piece: Range<usize>) -> Option<Range<usize>> {
    let pair = value.get(piece.clone())?;
    let start = match pair.iter().position(|&b| b == b'=') {
        Some(eq) => piece.start + eq + 1,
        None => piece.start,
    };
    (start < piece.end).then_some(start..piece.end)
}

/// The token of a `pushwire.bearer.<token>` entry in `piece` of `value`.
fn bearer_subprotocol(value: &[u8], piece: Range<usize>) -> Option<Range<usize>> {
    let entry = value.get(piece.clone())?;
    let prefix = entry.get(..BEARER_SUBPROTOCOL.len())?;
    let start = piece.start + BEARER_SUBPROTOCOL.len();
    (prefix.eq_ignore_ascii_case(BEARER_SUBPROTOCOL) && start < piece.end)
        .then_some(start..piece.end)
}

/// Adds the values of the token parameters in the query of `uri` (after
/// its first `?`) to `spans`.
fn query_tokens(uri: &[u8], spans: &mut Vec<Range<usize>>) {
    let Some(question) = uri.iter().position(|&b| b == b'?') else {
        return;
    };
    let mut start = question + 1;
    let query = uri.get(start..).unwrap_or_default();
    for param in query.split(|&b| b == b'&' || b == b';') {
        let end = start + param.len();
        if let Some(eq) = param.iter().position(|&b| b == b'=') {
            let name = param.get(..eq).unwrap_or_default();
            let value = start + eq + 1;
            if value < end && TOKEN_PARAMETERS.iter().any(|t| decoded_eq(name, t)) {
                spans.push(value..end);
            }
        }
        start = end + 1;
    }
}

/// Whether `name`, its percent-escapes (RFC 3986 section 2.1) undone, is
/// `want` in any ASCII case.
fn decoded_eq(name: &[u8], want: &[u8]) -> bool {
    let mut rest = name;
    let mut want = want.iter();
    while let Some((&first, tail)) = rest.split_first() {
        let (byte, tail) = match (first, tail) {
            (b'%', [hi, lo, after @ ..]) => match (hex_digit(*hi), hex_digit(*lo)) {
                (Some(hi), Some(lo)) => (hi << 4 | lo, after),
                _ => (first, tail),
            },
            _ => (first, tail),
        };
        if want.next().is_none_or(|w| !w.eq_ignore_ascii_case(&byte)) {
            return false;
        }
        rest = tail;
    }
    want.next().is_none()
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Cow<'_, [u8]>) -> String {
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Each `(name, value, shown)`: the field is shown so, and a value with
    /// nothing to hide is borrowed, not copied.
    fn assert_fields(table: &[(&str, &str, &str)]) {
        for &(name, value, shown) in table {
            let redacted = redact_field(name.as_bytes(), value.as_bytes());
            let borrowed = matches!(redacted, Cow::Borrowed(_));
            assert_eq!(text(redacted), shown, "{name}: {value}");
            assert_eq!(borrowed, value == shown, "{name}: {value}");
        }
    }

    #[test]
    fn token_query_values_are_redacted_and_their_names_kept() {
        let table = [
            (
                "/sse/room.1?since=4&token=eyJ.x.y",
                "/sse/room.1?since=4&token=[redacted]",
            ),
            (
                "/sse/a?token=abc&since=4",
                "/sse/a?token=[redacted]&since=4",
            ),
            ("/a?token=1&token=2", "/a?token=[redacted]&token=[redacted]"),
            ("/a?access_token=abc", "/a?access_token=[redacted]"),
            // Empty, or without `=`: nothing to hide.
            ("/a?token=", "/a?token="),
            ("/a?token&since=1", "/a?token&since=1"),
            ("/a?token=&x=1", "/a?token=&x=1"),
            // Other names, even close ones, stay.
            (
                "/a?xtoken=1&tokens=2&token_=3",
                "/a?xtoken=1&tokens=2&token_=3",
            ),
            ("/a?since=token&x=token=1", "/a?since=token&x=token=1"),
            // Percent-escapes: in the value they are part of the secret,
            // in the name they are undone first; any case.
            ("/a?token=ab%2Ecd%3D", "/a?token=[redacted]"),
            ("/a?%74oken=abc", "/a?%74oken=[redacted]"),
            ("/a?%74%6F%6b%65%6e=abc", "/a?%74%6F%6b%65%6e=[redacted]"),
            ("/a?TOKEN=abc", "/a?TOKEN=[redacted]"),
            ("/a?%7=1&%zz=2", "/a?%7=1&%zz=2"),
            // `;` separates too; `=` inside a value belongs to it.
            ("/a?x=1;token=abc;y=2", "/a?x=1;token=[redacted];y=2"),
            ("/a?token==abc==", "/a?token=[redacted]"),
            // Only the query: a path that names a token is no secret.
            ("/token=abc", "/token=abc"),
            ("/a/token=b?since=1", "/a/token=b?since=1"),
            ("/a??token=abc", "/a??token=abc"),
            ("http://h/a?token=abc", "http://h/a?token=[redacted]"),
            ("/a?", "/a?"),
            ("", ""),
        ];
        for (uri, shown) in table {
            assert_eq!(text(redact_uri(uri.as_bytes())), shown, "{uri}");
        }
    }

    #[test]
    fn authorization_keeps_its_scheme_only() {
        let table = [
            ("Authorization", "Bearer eyJ.x.y", "Bearer [redacted]"),
            ("authorization", "Basic dXNlcjpwYXNz", "Basic [redacted]"),
            ("AUTHORIZATION", "Digest a=1, b=2", "Digest [redacted]"),
            (
                "Proxy-Authorization",
                "Basic dXNlcjpwYXNz",
                "Basic [redacted]",
            ),
            (
                "Authorization",
                "Bearer \t  tok  ",
                "Bearer \t  [redacted]  ",
            ),
            // A bare value may be a token sent without its scheme.
            ("Authorization", "eyJ.x.y", "[redacted]"),
            ("Authorization", "Bearer", "[redacted]"),
            ("Authorization", "", ""),
        ];
        assert_fields(&table);
    }

    #[test]
    fn every_cookie_value_is_redacted_and_the_names_kept() {
        let table = [
            (
                "Cookie",
                "a=1; pushwire_token=eyJ",
                "a=[redacted]; pushwire_token=[redacted]",
            ),
            ("cookie", "pushwire_token=eyJ", "pushwire_token=[redacted]"),
            (
                "Cookie",
                "a=1;b=\"q\" ;  c=",
                "a=[redacted];b=[redacted] ;  c=",
            ),
            ("Cookie", "bare; a=b=c", "[redacted]; a=[redacted]"),
            ("Cookie", ";;", ";;"),
            (
                "Set-Cookie",
                "pushwire_token=eyJ; Path=/; HttpOnly",
                "pushwire_token=[redacted]; Path=/; HttpOnly",
            ),
            ("Set-Cookie", "id=; Max-Age=0", "id=; Max-Age=0"),
        ];
        assert_fields(&table);
    }

    #[test]
    fn bearer_subprotocols_keep_their_prefix() {
        let table = [
            (
                "pushwire.json, pushwire.bearer.eyJ.x.y",
                "pushwire.json, pushwire.bearer.[redacted]",
            ),
            (
                "pushwire.bearer.a,pushwire.json",
                "pushwire.bearer.[redacted],pushwire.json",
            ),
            ("Pushwire.Bearer.abc", "Pushwire.Bearer.[redacted]"),
            (
                "pushwire.bearer., pushwire.bearer",
                "pushwire.bearer., pushwire.bearer",
            ),
            ("chat, pushwire.json", "chat, pushwire.json"),
            ("x.pushwire.bearer.abc", "x.pushwire.bearer.abc"),
        ];
        let table = table.map(|(value, shown)| ("Sec-WebSocket-Protocol", value, shown));
        assert_fields(&table);
    }

    #[test]
    fn other_fields_are_shown_as_sent_and_uri_fields_lose_their_tokens() {
        let table = [
            ("Host", "token=abc", "token=abc"),
            ("X-Token", "abc", "abc"),
            (
                "Sec-WebSocket-Key",
                "dGhlIHNhbXBsZSBub25jZQ==",
                "dGhlIHNhbXBsZSBub25jZQ==",
            ),
            (
                "Referer",
                "http://h/?token=abc",
                "http://h/?token=[redacted]",
            ),
            (
                "Location",
                "/sse/a?since=3&token=abc",
                "/sse/a?since=3&token=[redacted]",
            ),
        ];
        assert_fields(&table);
    }

    const HEAD: &str = "GET /sse/a?since=4&token=Zq1 HTTP/1.1\r\n\
                        Host: h\r\n\
                        Authorization:Bearer  Zq2\r\n\
                        Cookie: a=Zq3; pushwire_token=Zq4\r\n\
                        Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.Zq5\r\n\
                        \r\n";

    #[test]
    fn a_whole_head_is_redacted_line_by_line() {
        assert_eq!(
            String::from_utf8_lossy(&redact_head(HEAD.as_bytes())),
            "GET /sse/a?since=4&token=[redacted] HTTP/1.1\r\n\
             Host: h\r\n\
             Authorization:Bearer  [redacted]\r\n\
             Cookie: a=[redacted]; pushwire_token=[redacted]\r\n\
             Sec-WebSocket-Protocol: pushwire.json, pushwire.bearer.[redacted]\r\n\
             \r\n"
        );
        // Empty lines before the request line (RFC 9112 section 2.2), bare
        // LF endings, a line that is not a field.
        assert_eq!(
            String::from_utf8_lossy(&redact_head(
                b"\r\n\nGET http://h/?token=Zq HTTP/1.1\nnot a field\nCookie:a=Zq"
            )),
            "\r\n\nGET http://h/?token=[redacted] HTTP/1.1\nnot a field\nCookie:a=[redacted]"
        );
    }

    #[test]
    fn a_head_cut_anywhere_shows_no_byte_of_a_secret() {
        // Every secret starts with `Z`, which the head has nowhere else.
        let head = HEAD.as_bytes();
        for cut in 0..=head.len() {
            let shown = redact_head(&head[..cut]);
            assert!(
                !shown.contains(&b'Z'),
                "{}",
                String::from_utf8_lossy(&shown)
            );
        }
    }
}
