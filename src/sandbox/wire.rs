//! What every route works with: a request read once, the reply type, and the URLs answers use.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::Full;

use super::model::Model;

pub(super) type Reply = Response<Full<Bytes>>;

/// What the routes need of a request, read once.
pub(super) struct Req {
    pub method: Method,
    pub path: String,
    pub segments: Vec<String>,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub host: String,
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
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    set(&mut reply, header::CONTENT_TYPE, content_type);
    reply
}

pub(super) fn set(reply: &mut Reply, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        reply.headers_mut().insert(name, value);
    }
}

/// `url` fields use the configured root URL, else the address the request came in on.
pub(super) fn base_url(model: &Model, req: &Req) -> String {
    model
        .root_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/", req.host))
}

/// `Location` always reflects the Host of the request, never the root URL.
pub(super) fn request_url(req: &Req, path: &str) -> String {
    format!("http://{}/{path}", req.host)
}
