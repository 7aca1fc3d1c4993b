//! Publishing over HTTP: `POST /pub/{channel}` with the message as the
//! body.
//!
//! ```text
//! POST /pub/news HTTP/1.1
//! Host: 127.0.0.1:8080
//! Content-Length: 5
//!
//! hello
//!
//! HTTP/1.1 202 Accepted
//! Date: Wed, 25 Nov 2026 02:05:09 GMT
//! Content-Type: application/json
//! Content-Length: 9
//!
//! {"id":17}
//! ```
//!
//! The request is checked before its body is read (channel name, the
//! publish token, the origin: `400`, `401`, `403`, and the connection
//! closes, because the body that follows is not wanted), and the body once
//! it is complete (UTF-8 text, else `400`). Then the connection waits in
//! `Publishing` while the store commits the message (see
//! `engine::store`): the answer, `202 {"id":N}` or `503` with the store's
//! reason, is queued only after the commit, after the message has been
//! queued for every subscriber. Requests pipelined behind the publish wait
//! for it.

use crate::broker::ChannelName;
use crate::http::response::{Body, Response};
use crate::json;

use super::answers::Fields;
use super::conn::{Conn, Cx, Reply, State, Target, Want};
use super::refusal::Refusal;

/// A publish waiting for its commit: what its answer needs.
#[derive(Debug)]
pub(crate) struct Publishing {
    pub(super) reply: Reply,
    /// `Access-Control-Allow-Origin` for the answer.
    cors: Option<Box<[u8]>>,
}

impl Conn {
    /// The body of `POST /pub/{channel}` is complete: if it is text, the
    /// connection waits for the commit and asks the engine to publish.
    pub(super) fn publish(
        &mut self,
        reply: Reply,
        channel: ChannelName,
        cors: Option<Box<[u8]>>,
        body: Vec<u8>,
        cx: &mut Cx<'_>,
    ) -> Option<Want> {
        let Ok(data) = String::from_utf8(body) else {
            self.refuse(&Refusal::NotUtf8, reply, cx);
            self.request_done(reply, cx);
            return None;
        };
        self.state = State::Publishing(Box::new(Publishing { reply, cors }));
        // The store gets a body timeout to answer, counted from here: the
        // timer running before (the idle timer, for a publish without a
        // body) says nothing about how long a commit may take.
        cx.deadline = Some(cx.now + cx.config.body_timeout);
        Some(Want::Publish(Target::Named(channel), data))
    }

    /// The connection's publish was decided: committed with an id, or
    /// refused (by the engine, or by the store).
    pub(super) fn published(&mut self, outcome: Result<u64, Refusal>, cx: &mut Cx<'_>) {
        match (&self.state, outcome) {
            (State::Publishing(publishing), Ok(id)) => {
                let reply = publishing.reply;
                let body = &mut cx.answers.body;
                body.clear();
                json::write_published(body, id);
                let fields = Fields::new().cors(publishing.cors.as_deref());
                let response = Response {
                    status: 202,
                    content_type: "application/json",
                    fields: fields.as_slice(),
                    body: Body::Full(body),
                };
                let date = cx.date;
                self.out.write_with(|out| {
                    crate::http::response::write_response(
                        out,
                        &response,
                        date,
                        reply.connection(),
                        reply.head_only,
                    )
                });
                self.count_response(202, cx);
                self.after_response(reply, cx);
                self.request_done(reply, cx);
            }
            (State::Publishing(publishing), Err(refusal)) => {
                let reply = publishing.reply;
                self.refuse(&refusal, reply, cx);
                self.request_done(reply, cx);
            }
            (State::WebSocket(..), Err(refusal)) => self.ws_publish_failed(&refusal, cx),
            _ => {}
        }
    }
}
