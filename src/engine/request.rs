//! Reading requests: the head, the route, the body.
//!
//! A head is parsed whole (re-parsed from its first byte as more arrives,
//! bounded by `--max-header-bytes`); its header timer runs from the first
//! byte, so a client dribbling bytes cannot extend it. The route decides
//! the endpoint; an endpoint answers at once, or returns a [`Want`] (join
//! a channel, publish), or reads a body first. A body is read by its
//! framing (RFC 9112 section 6.3): `Content-Length`, or chunked (section
//! 7.1) through [`ChunkedDecoder`]; a body nobody asked for (a `GET` with
//! a body) is read and dropped so that the next request on the connection
//! starts where it should.
//!
//! | method  | path              | endpoint                                 |
//! |---------|-------------------|------------------------------------------|
//! | GET     | `/`               | the demo page (HTML)                     |
//! | GET     | `/help`           | plain-text index of the endpoints        |
//! | POST    | `/pub/{channel}`  | publish the body: `202 {"id":N}`         |
//! | GET     | `/pub/{channel}`  | channel info, `404` if unknown           |
//! | GET     | `/poll/{channel}` | `{"last_id":N,"messages":[...]}` at once |
//! | GET     | `/longpoll/{channel}` | the same, when there is news         |
//! | GET     | `/sse/{channel}`  | an event stream                          |
//! | GET     | `/ws/{channel}`, `/echo` | a WebSocket (with `Upgrade`)      |
//! | GET     | `/metrics`        | Prometheus text format (`scrape.rs`)     |
//! | OPTIONS | any               | `204`, the CORS preflight                |

use crate::broker::ChannelName;
use crate::config::AllowOrigin;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{HeadLimits, MAX_HEADERS};
use crate::http::{parse_head, BodyFraming, HttpError, Method, RequestHead};

use super::access::{authorize, Access};
use super::conn::{Conn, Cx, Reply, State, Want};
use super::refusal::{Allow, Refusal};
use super::stats::Endpoint;

/// Largest chunk-extension or trailer section accepted in a chunked body.
const MAX_TRAILER: usize = 4096;

/// What a request body is read for.
#[derive(Debug)]
pub(super) enum BodyUse {
    /// `POST /pub/{channel}`: published when complete.
    Publish {
        channel: ChannelName,
        cors: Option<Box<[u8]>>,
    },
    /// A body nobody asked for (a `GET` with a body): read and dropped,
    /// the response has already been queued.
    Discard,
}

/// How the body is delimited, with the reading state.
#[derive(Debug)]
pub(super) enum BodyReader {
    /// This many bytes are still to come.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkedDecoder),
}

/// A request whose body is still arriving.
#[derive(Debug)]
pub(crate) struct PendingBody {
    pub(super) reply: Reply,
    reader: BodyReader,
    body: Vec<u8>,
    usage: BodyUse,
}

/// What one step of reading did with the input.
#[derive(Debug)]
pub(super) enum Read {
    /// Consumed this many bytes; go on with the rest.
    More(usize),
    /// Consumed this many bytes; wait for more input.
    Wait(usize),
    /// Consumed this many bytes; the engine must act on the want first.
    Want(usize, Want),
}

/// The routes, with their channel names.
#[derive(Clone, Copy)]
enum Route<'a> {
    Demo,
    Index,
    Publish(&'a str),
    Poll(&'a str),
    LongPoll(&'a str),
    Sse(&'a str),
    WebSocket(&'a str),
    Echo,
    Metrics,
    NotFound,
}

impl Route<'_> {
    /// The endpoint it is counted under in the metrics.
    fn endpoint(self) -> Endpoint {
        match self {
            Route::Demo => Endpoint::Demo,
            Route::Index => Endpoint::Help,
            Route::Publish(_) => Endpoint::Pub,
            Route::Poll(_) => Endpoint::Poll,
            Route::LongPoll(_) => Endpoint::LongPoll,
            Route::Sse(_) => Endpoint::Sse,
            Route::WebSocket(_) => Endpoint::Ws,
            Route::Echo => Endpoint::Echo,
            Route::Metrics => Endpoint::Metrics,
            Route::NotFound => Endpoint::Other,
        }
    }
}

fn route(path: &str) -> Route<'_> {
    match path {
        "/" => return Route::Demo,
        "/help" => return Route::Index,
        "/echo" => return Route::Echo,
        "/metrics" => return Route::Metrics,
        _ => {}
    }
    // `/prefix/channel`, split at the second slash (ASCII, so byte-wise).
    let Some(slash) = path.bytes().skip(1).position(|b| b == b'/').map(|i| i + 1) else {
        return Route::NotFound;
    };
    let (Some(prefix), Some(channel)) = (path.get(1..slash), path.get(slash + 1..)) else {
        return Route::NotFound;
    };
    match prefix {
        "pub" => Route::Publish(channel),
        "poll" => Route::Poll(channel),
        "longpoll" => Route::LongPoll(channel),
        "sse" => Route::Sse(channel),
        "ws" => Route::WebSocket(channel),
        _ => Route::NotFound,
    }
}

/// A request being answered: its head, and how the answer ends the
/// exchange.
#[derive(Clone, Copy, Debug)]
pub(super) struct Request<'a> {
    pub head: &'a RequestHead<'a, 'a>,
    pub reply: Reply,
}

/// A request for one channel's messages or info, its name checked.
#[derive(Clone, Copy, Debug)]
pub(super) struct ChannelRequest<'a> {
    pub request: Request<'a>,
    pub name: ChannelName,
}

impl<'a> Request<'a> {
    fn new(head: &'a RequestHead<'a, 'a>) -> Request<'a> {
        let reply = Reply {
            keep_alive: head.keep_alive,
            http10: head.minor_version == 0,
            head_only: head.method == Method::Head,
        };
        Request { head, reply }
    }

    /// `Access-Control-Allow-Origin` for the answer: `*`, or the
    /// request's `Origin` when it is on the list.
    pub fn cors(&self, cx: &Cx<'_>) -> Option<&'a [u8]> {
        match &cx.config.allow_origin {
            AllowOrigin::Any => Some(b"*"),
            list => self.head.header("origin").filter(|o| list.lists(o)),
        }
    }
}

impl Conn {
    /// Reads a request head from the start of `input`.
    pub(super) fn read_head(&mut self, input: &[u8], cx: &mut Cx<'_>) -> Read {
        // Counted under the endpoint once the head is read whole.
        self.endpoint = Endpoint::None;
        let limits = HeadLimits {
            max_header_bytes: cx.config.max_header_bytes,
            max_uri_bytes: cx.config.max_uri_bytes,
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match parse_head(input, &mut headers, limits) {
            Ok(None) => {
                // Only a head that did not arrive whole needs a deadline
                // (a complete one is answered in this same pass). It counts
                // from the first byte of the request.
                if matches!(self.state, State::Idle) {
                    self.state = State::Head;
                    cx.deadline = Some(cx.now + cx.config.header_timeout);
                }
                Read::Wait(0)
            }
            Err(e) => {
                self.fail(&Refusal::Request(e), cx);
                Read::Wait(input.len())
            }
            Ok(Some(head)) => {
                let n = head.head_len;
                let body_start = input.get(n..).unwrap_or_default();
                match self.on_head(&head, body_start, cx) {
                    Some(want) => Read::Want(n, want),
                    None => Read::More(n),
                }
            }
        }
    }

    fn on_head(
        &mut self,
        head: &RequestHead<'_, '_>,
        body_start: &[u8],
        cx: &mut Cx<'_>,
    ) -> Option<Want> {
        let mut req = Request::new(head);
        // A server that drains closes every connection after its answer.
        req.reply.keep_alive &= !cx.draining;
        let reply = req.reply;
        let route = match (route(head.path), self.is_metrics_only()) {
            // The metrics listener serves `/metrics` only, and with it
            // the main listener does not.
            (Route::Metrics, metrics_only)
                if metrics_only == cx.config.metrics_listen.is_some() =>
            {
                Route::Metrics
            }
            (Route::Metrics, _) | (_, true) => Route::NotFound,
            (route, false) => route,
        };
        self.endpoint = match head.method {
            Method::Options => Endpoint::Options,
            _ => route.endpoint(),
        };
        if cx.overloaded {
            // Shed new work until clients have read some of what is owed.
            self.refuse(&Refusal::Overloaded, reply, cx);
            return self.expect_body(req, BodyUse::Discard, cx);
        }
        let has_body = match head.framing {
            BodyFraming::None | BodyFraming::Length(0) => false,
            BodyFraming::Length(n) if n > cx.config.max_body_bytes as u64 => {
                self.fail(&Refusal::Request(HttpError::BodyTooLarge), cx);
                return None;
            }
            BodyFraming::Length(_) | BodyFraming::Chunked => true,
        };
        let get = matches!(head.method, Method::Get | Method::Head);
        if head.method == Method::Options {
            self.preflight(req, cx);
            return self.expect_body(req, BodyUse::Discard, cx);
        }
        match route {
            Route::Metrics if get => {
                let token = cx.config.metrics_token.as_ref();
                let given = head
                    .header("authorization")
                    .and_then(|v| v.strip_prefix(b"Bearer "));
                // Compared in time that depends on the lengths only.
                if token.is_some_and(|t| {
                    !given.is_some_and(|g| crate::auth::hmac::verify(t.as_bytes(), g))
                }) {
                    self.refuse(&Refusal::NoMetricsToken, reply, cx);
                    return self.expect_body(req, BodyUse::Discard, cx);
                }
                if has_body {
                    self.refuse(&Refusal::BodyOnSubscribe, reply, cx);
                    return self.expect_body(req, BodyUse::Discard, cx);
                }
                Some(Want::Scrape(reply))
            }
            Route::Publish(channel) if head.method == Method::Post => {
                let usage = match publish_refusal(head, channel, cx) {
                    Err(refusal) => {
                        let cors = readable(&refusal, req, cx);
                        self.fail_to(&refusal, cors, cx);
                        return None;
                    }
                    Ok(channel) => BodyUse::Publish {
                        channel,
                        cors: req.cors(cx).map(Into::into),
                    },
                };
                if head.expect_continue && body_start.is_empty() && has_body && !reply.http10 {
                    // RFC 9110 section 10.1.1: the client waits for this
                    // before sending the body (curl does above 1 KiB); an
                    // HTTP/1.0 client cannot read a 1xx, so its Expect is
                    // ignored (section 15.2).
                    self.out
                        .write_with(|out| out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n"));
                }
                self.expect_body(req, usage, cx)
            }
            route @ (Route::Publish(channel)
            | Route::Poll(channel)
            | Route::LongPoll(channel)
            | Route::Sse(channel))
                if get =>
            {
                let named = ChannelName::new(channel)
                    .ok_or(Refusal::BadChannel)
                    .and_then(|name| {
                        let grant = authorize(head, &name, Access::Read, cx)?;
                        Ok((ChannelRequest { request: req, name }, grant))
                    });
                match (route, named) {
                    (_, Err(refusal)) => {
                        let cors = readable(&refusal, req, cx);
                        self.refuse_to(&refusal, reply, cors, cx)
                    }
                    (Route::Publish(_), Ok((named, _))) => self.channel_info(named, cx),
                    (Route::Poll(_), Ok((named, _))) => self.poll(named, cx),
                    // Long-poll and SSE wait for news; neither has a body.
                    (_, Ok(_)) if has_body => self.refuse(&Refusal::BodyOnSubscribe, reply, cx),
                    (Route::Sse(_), Ok((named, grant))) => return self.sse(named, grant, cx),
                    (_, Ok((named, grant))) => return self.longpoll(named, grant, cx),
                }
                self.expect_body(req, BodyUse::Discard, cx)
            }
            Route::WebSocket(channel) => {
                let named = ChannelName::new(channel)
                    .ok_or(Refusal::BadChannel)
                    .and_then(|name| Ok((name, authorize(head, &name, Access::Read, cx)?)));
                match named {
                    Ok((name, grant)) => self.upgrade(head, Some((name, grant)), cx),
                    Err(refusal) => {
                        self.fail(&refusal, cx);
                        None
                    }
                }
            }
            Route::Echo => self.upgrade(head, None, cx),
            Route::Demo if get => {
                self.demo(reply, cx);
                self.expect_body(req, BodyUse::Discard, cx)
            }
            Route::Index if get => {
                self.index(reply, cx);
                self.expect_body(req, BodyUse::Discard, cx)
            }
            Route::Publish(_) => {
                self.refuse(&Refusal::MethodNotAllowed(Allow::GetPost), reply, cx);
                self.expect_body(req, BodyUse::Discard, cx)
            }
            Route::Poll(_)
            | Route::LongPoll(_)
            | Route::Sse(_)
            | Route::Index
            | Route::Demo
            | Route::Metrics => {
                self.refuse(&Refusal::MethodNotAllowed(Allow::Get), reply, cx);
                self.expect_body(req, BodyUse::Discard, cx)
            }
            Route::NotFound => {
                self.refuse(&Refusal::NoSuchEndpoint, reply, cx);
                self.expect_body(req, BodyUse::Discard, cx)
            }
        }
    }

    /// After the response to a request with a body was queued (or before a
    /// publish), reads the body: to publish it, or to skip it.
    fn expect_body(&mut self, req: Request<'_>, usage: BodyUse, cx: &mut Cx<'_>) -> Option<Want> {
        let Request { head, reply } = req;
        let reader = match head.framing {
            BodyFraming::None | BodyFraming::Length(0) => {
                return match usage {
                    BodyUse::Publish { channel, cors } => {
                        self.publish(reply, channel, cors, Vec::new(), cx)
                    }
                    BodyUse::Discard => {
                        self.request_done(reply, cx);
                        None
                    }
                };
            }
            BodyFraming::Length(n) => BodyReader::Length(n),
            BodyFraming::Chunked => {
                BodyReader::Chunked(ChunkedDecoder::new(cx.config.max_body_bytes, MAX_TRAILER))
            }
        };
        if !self.reads_requests() {
            // The answer already closes the connection; the body is not read.
            return None;
        }
        self.state = State::Body(Box::new(PendingBody {
            reply,
            reader,
            body: Vec::new(),
            usage,
        }));
        cx.deadline = Some(cx.now + cx.config.body_timeout);
        None
    }

    /// Reads body bytes from the start of `input`.
    pub(super) fn read_body(&mut self, input: &[u8], cx: &mut Cx<'_>) -> Read {
        let State::Body(pending) = &mut self.state else {
            return Read::Wait(0);
        };
        let discard = matches!(pending.usage, BodyUse::Discard);
        let (used, done) = match &mut pending.reader {
            BodyReader::Length(remaining) => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if !discard {
                    pending
                        .body
                        .extend_from_slice(input.get(..take).unwrap_or_default());
                }
                *remaining -= take as u64;
                (take, *remaining == 0)
            }
            BodyReader::Chunked(decoder) => {
                let result = if discard {
                    decoder.decode(input, &mut Vec::new())
                } else {
                    decoder.decode(input, &mut pending.body)
                };
                match result {
                    Ok(progress) => (progress.consumed, progress.done),
                    Err(e) => {
                        self.fail(&Refusal::Chunked(e), cx);
                        return Read::Wait(input.len());
                    }
                }
            }
        };
        if !done {
            return Read::Wait(used);
        }
        let State::Body(pending) = std::mem::replace(&mut self.state, State::Idle) else {
            return Read::Wait(used);
        };
        let PendingBody {
            reply, body, usage, ..
        } = *pending;
        match usage {
            BodyUse::Publish { channel, cors } => {
                match self.publish(reply, channel, cors, body, cx) {
                    Some(want) => Read::Want(used, want),
                    None => Read::More(used),
                }
            }
            BodyUse::Discard => {
                self.request_done(reply, cx);
                Read::More(used)
            }
        }
    }
}

/// The CORS origin of a token's refusal: a page of an allowed origin
/// reads why it was refused (`expired`, another channel) instead of a
/// bare CORS error. Other refusals keep their plain answer.
fn readable<'a>(refusal: &Refusal, req: Request<'a>, cx: &Cx<'_>) -> Option<&'a [u8]> {
    match refusal {
        Refusal::NoToken | Refusal::BadToken(_) | Refusal::Forbidden(..) => req.cors(cx),
        _ => None,
    }
}

/// `401`/`403`/`400` for a publish that must not happen; the checked
/// channel name if it may.
fn publish_refusal(
    head: &RequestHead<'_, '_>,
    channel: &str,
    cx: &Cx<'_>,
) -> Result<ChannelName, Refusal> {
    let name = ChannelName::new(channel).ok_or(Refusal::BadChannel)?;
    let publish_token = cx.config.publish_token.as_ref().map(|token| {
        let given = head
            .header("authorization")
            .and_then(|v| v.strip_prefix(b"Bearer "));
        // Compared in time that depends on the lengths only, as a MAC is.
        given.is_some_and(|g| crate::auth::hmac::verify(token.as_bytes(), g))
    });
    match (publish_token, &cx.config.auth) {
        // The publish token lets its holder publish anywhere.
        (Some(true), _) => {}
        (Some(false), None) => return Err(Refusal::Unauthorized),
        (_, Some(_)) => {
            authorize(head, &name, Access::Write, cx)?;
        }
        (None, None) => {}
    }
    if let Some(origin) = head.header("origin") {
        // A browser page may POST cross-site without a preflight; only
        // our own origin and explicitly listed ones may publish. Our own
        // is the scheme the listener speaks and the Host (RFC 6454
        // section 4: an origin is scheme, host and port).
        let scheme: &[u8] = match cx.config.tls {
            Some(_) => b"https://",
            None => b"http://",
        };
        let own = head
            .header("host")
            .is_some_and(|host| origin.strip_prefix(scheme) == Some(host));
        if !own && !cx.config.allow_origin.lists(origin) {
            return Err(Refusal::CrossSitePublish);
        }
    }
    Ok(name)
}
