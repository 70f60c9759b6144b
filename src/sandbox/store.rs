//! The external artifact store of `artifact_store: true`: a second listener on 127.0.0.1 that
//! plays S3 behind `artifact-manager-s3`. Jenkins answers an artifact download with a 302 to a
//! presigned URL here, valid for an hour; the store serves the bytes only with a valid
//! signature, and refuses a request that carries credentials of its own (S3's "Only one auth
//! mechanism allowed"), which is what a client that forwards Jenkins' credentials gets.

use std::sync::Arc;

use http::{Method, Request, StatusCode};
use sha2::{Digest, Sha256};

use super::artifacts::{file_reply, href};
use super::json::item_path;
use super::shared::Shared;
use super::wire::{Reply, Req, response};

const BUCKET: &str = "jenkins-artifacts";
/// `S3BlobStore.toExternalURL`: presigned URLs are valid for an hour.
const VALID_MS: i64 = 3_600_000;

/// Where the store listens and the secret its signatures use.
#[derive(Debug, Clone)]
pub struct Store {
    pub base: String,
    secret: String,
}

impl Store {
    pub fn new(base: String, secret: String) -> Store {
        Store { base, secret }
    }

    fn signature(&self, path: &str, date: i64) -> String {
        let digest = Sha256::digest(format!("{}\n{path}\n{date}\n{VALID_MS}", self.secret));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The presigned URL of one artifact of the build at `job/…/N/`, signed at `now`.
    pub(super) fn presigned_url(&self, build_path: &str, relative_path: &str, now: i64) -> String {
        let path = format!("/{BUCKET}/{build_path}{}", href(relative_path));
        let signature = self.signature(&path, now);
        format!(
            "{}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={now}&X-Amz-Expires={}&X-Amz-Signature={signature}",
            self.base,
            VALID_MS / 1000
        )
    }

    /// Whether the query signs `path` and has not expired at `now`.
    fn check(&self, req: &Req, now: i64) -> Result<(), Box<Reply>> {
        let date = req.param("X-Amz-Date").and_then(|d| d.parse::<i64>().ok());
        let given = req.param("X-Amz-Signature");
        let (Some(date), Some(given)) = (date, given) else {
            return Err(Box::new(s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            )));
        };
        if given != self.signature(&req.path, date) {
            return Err(Box::new(s3_error(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )));
        }
        if now > date + VALID_MS {
            return Err(Box::new(s3_error(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Request has expired",
            )));
        }
        Ok(())
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Reply {
    response(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
}

/// The store's one route: `GET /BUCKET/job/…/N/<path>` with a presigned query.
pub(super) async fn handle(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
    peer: std::net::IpAddr,
) -> Result<Reply, std::convert::Infallible> {
    let (parts, _body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let req = Req {
        method: parts.method,
        segments: Vec::new(),
        params,
        host: String::new(),
        context: String::new(),
        peer,
        body: bytes::Bytes::new(),
        headers: parts.headers,
        path,
    };
    Ok(answer(&shared, &req))
}

fn answer(shared: &Shared, req: &Req) -> Reply {
    let model = shared.lock();
    let now = model.now();
    let Some(store) = model.store.clone() else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        );
    };
    if req.method != Method::GET && req.method != Method::HEAD {
        return s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        );
    }
    // Credentials besides the signature, a Jenkins session included, are refused outright.
    let session_cookie = req
        .header("cookie")
        .is_some_and(|c| c.contains("JSESSIONID"));
    if req.headers.contains_key(http::header::AUTHORIZATION) || session_cookie {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    if let Err(reply) = store.check(req, now) {
        return *reply;
    }
    let no_such_key = || {
        s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    };
    let Some(key) = req.path.strip_prefix(&format!("/{BUCKET}/")) else {
        return no_such_key();
    };
    // The signature covers the path, so it names a build and a file that existed when signed.
    for (name, node) in &model.nodes {
        let super::model::Node::Job(job) = node else {
            continue;
        };
        let Some(rest) = key.strip_prefix(&item_path(name)) else {
            continue;
        };
        let Some((number, file)) = rest.split_once('/') else {
            continue;
        };
        let Some(build) = number.parse().ok().and_then(|n: u32| job.builds.get(&n)) else {
            continue;
        };
        if let Some(artifact) = build.artifacts(now).iter().find(|a| href(&a.path) == file) {
            return file_reply(req, artifact, build.end);
        }
    }
    no_such_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_urls_sign_their_path_and_date() {
        let store = Store::new("http://127.0.0.1:9".to_string(), "s".to_string());
        let url = store.presigned_url("job/a/3/", "dir/x y.txt", 1_000);
        assert!(url.starts_with("http://127.0.0.1:9/jenkins-artifacts/job/a/3/dir/x%20y.txt?"));
        let signature = url.rsplit("X-Amz-Signature=").next().unwrap();
        assert_eq!(
            signature,
            store.signature("/jenkins-artifacts/job/a/3/dir/x%20y.txt", 1_000)
        );
        assert_ne!(
            signature,
            store.signature("/jenkins-artifacts/job/a/3/dir/x%20y.txt", 1_001)
        );
    }
}
