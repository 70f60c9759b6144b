//! What every route works with: a request read once, the reply type, and the URLs answers use.

use std::net::IpAddr;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use hyper::body::{Frame, SizeHint};

use super::config::generated_byte;
use super::model::Model;

pub(super) type Reply = Response<Body>;

/// An answer's body: bytes at hand, or a generated artifact produced chunk by chunk as the
/// connection takes them, so a big one never sits in memory.
pub(crate) enum Body {
    Full(Option<Bytes>),
    Generated { pos: u64, end: u64 },
}

impl Body {
    pub(super) fn empty() -> Body {
        Body::Full(None)
    }

    /// Bytes `start..end` of a generated artifact.
    pub(super) fn generated(start: u64, end: u64) -> Body {
        Body::Generated { pos: start, end }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

/// Generated artifacts repeat every 251 bytes: one buffer of whole periods serves every chunk.
fn pattern() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| {
        (0..251 * 261)
            .map(generated_byte)
            .collect::<Vec<u8>>()
            .into()
    })
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Generated { pos, end } => {
                if *pos >= *end {
                    return Poll::Ready(None);
                }
                let pattern = pattern();
                let offset = (*pos % 251) as usize;
                let room = (pattern.len() - offset) as u64;
                let n = (*end - *pos).min(room) as usize;
                *pos += n as u64;
                Poll::Ready(Some(Ok(Frame::data(pattern.slice(offset..offset + n)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Generated { pos, end } => pos >= end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Generated { pos, end } => SizeHint::with_exact(end.saturating_sub(*pos)),
        }
    }
}

/// What the routes need of a request, read once.
pub(super) struct Req {
    pub method: Method,
    pub path: String,
    pub segments: Vec<String>,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub host: String,
    /// The context path the request came in under (`/jenkins`), or empty.
    pub context: String,
    pub peer: IpAddr,
    pub body: Bytes,
}

impl Req {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(super) fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    pub(super) fn is_post(&self) -> bool {
        self.method == Method::POST
    }
}

pub(super) fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Body::from(body.into()));
    *reply.status_mut() = status;
    set(&mut reply, header::CONTENT_TYPE, content_type);
    reply
}

pub(super) fn set(reply: &mut Reply, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        reply.headers_mut().insert(name, value);
    }
}

/// Jenkins' root URL, the one place that decides it: `url` fields use the configured root URL,
/// else the address and context path the request came in on.
pub(super) fn base_url(model: &Model, req: &Req) -> String {
    model
        .root_url
        .clone()
        .unwrap_or_else(|| format!("http://{}{}/", req.host, req.context))
}

/// `Location` always reflects the Host of the request and its context path, never the root URL.
pub(super) fn request_url(req: &Req, path: &str) -> String {
    format!("http://{}{}/{path}", req.host, req.context)
}

/// A path-only URL (`/job/J/5/`) as Jenkins writes it: below the request's context path.
pub(super) fn context_url(req: &Req, path: &str) -> String {
    format!("{}{path}", req.context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    /// Drains a body synchronously: both kinds are always ready.
    fn frames(mut body: Body) -> Vec<Bytes> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            out.push(frame.into_data().unwrap_or_default());
        }
        out
    }

    #[test]
    fn generated_bodies_come_in_bounded_chunks_of_the_right_bytes() {
        let body = Body::generated(100, 1_000_100);
        assert_eq!(body.size_hint().exact(), Some(1_000_000));
        let chunks = frames(body);
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() <= 251 * 261));
        let all: Vec<u8> = chunks.concat();
        assert_eq!(all.len(), 1_000_000);
        assert!(
            all.iter()
                .enumerate()
                .all(|(i, b)| *b == ((i as u64 + 100) % 251) as u8)
        );
    }

    #[test]
    fn full_bodies_are_one_frame_and_empty_ones_none() {
        assert_eq!(
            frames(Body::from(Bytes::from_static(b"abc"))),
            vec![Bytes::from_static(b"abc")]
        );
        assert!(frames(Body::empty()).is_empty());
        assert!(Body::empty().is_end_stream());
    }
}
