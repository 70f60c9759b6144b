//! A build's archived artifacts: the listing (`artifacts[relativePath,fileName]`), their URLs
//! (`…/N/artifact/<path>`, each segment encoded like Jenkins' `Util.rawEncode`), and their
//! bytes, read whole for small files or streamed chunk by chunk for downloads.
//!
//! Artifact managers that keep the files elsewhere (S3, a resource root URL) answer a download
//! with a redirect to a signed URL on another host: it is followed, but Jenkins' credentials
//! and session cookie only ever go to Jenkins' own origin.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, COOKIE, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::Error;
use super::client::{Client, Patience, Reply, read_capped, retryable_read};
use super::error::{TransportError, page_message, show_duration};
use super::paths::{encode_segment, job_path, shown};

const ARTIFACTS_TREE: &str = "artifacts[relativePath,fileName]";

/// Redirects followed for one download: Jenkins to a resource domain or a blob store, and
/// maybe one more inside that store. More is a loop.
pub const MAX_REDIRECTS: usize = 5;

/// A download may take as long as it keeps receiving data: the client's timeout for one
/// answer applies to each wait for more bytes instead of to the whole body.
const DOWNLOAD_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// How often a download whose body broke off is started again from its beginning.
const BODY_ATTEMPTS: usize = 3;

/// One archived file of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Its path under the build's artifacts, `/`-separated, as Jenkins gives it. Jenkins'
    /// answer, so never trusted as a local path.
    pub relative_path: String,
    pub file_name: String,
}

#[derive(Deserialize)]
struct ArtifactsJson {
    #[serde(default)]
    artifacts: Option<Vec<ArtifactJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactJson {
    relative_path: Option<String>,
    file_name: Option<String>,
}

/// The body of an artifact's download, open and read as the caller writes it away. It holds
/// one of the server's in-flight permits until dropped.
pub struct ArtifactBody {
    response: reqwest::Response,
    client: Client,
    /// Where the bytes come from, without its query (a signed URL's signature).
    url: String,
    idle: Duration,
    length: Option<u64>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for ArtifactBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactBody")
            .field("url", &self.url)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl ArtifactBody {
    /// The size the server announced (`Content-Length`), if it did.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// The URL the bytes come from, as messages show it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next piece of the body; None at its end. A server that sends nothing for as long
    /// as one answer may take is given up on.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match tokio::time::timeout(self.idle, self.response.chunk()).await {
            Err(_) => Err(Error::Transport {
                url: self.url.clone(),
                message: format!(
                    "the download stalled: no data for {}",
                    show_duration(self.idle)
                ),
            }),
            Ok(Err(e)) => Err(Error::Transport {
                url: self.url.clone(),
                message: TransportError::body(e, self.idle).message,
            }),
            Ok(Ok(Some(chunk))) => {
                self.client
                    .inner
                    .bytes
                    .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(Some(chunk))
            }
            Ok(Ok(None)) => Ok(None),
        }
    }
}

/// What one try at opening a download came to.
enum Opened {
    Body(ArtifactBody),
    /// Worth asking again: a transport failure or a 5xx/429; the text says which.
    Again(String),
}

impl Client {
    /// The artifacts build `number` of `job` archived, files only, as Jenkins lists them.
    pub async fn artifacts(&self, job: &str, number: u64) -> Result<Vec<Artifact>, Error> {
        let url = self.api_url(&format!("{}{number}/", job_path(job)?), ARTIFACTS_TREE);
        let json: ArtifactsJson = self.get_json(&url).await?.ok_or_else(|| Error::NotFound {
            what: format!("build #{number} of job `{job}`"),
        })?;
        json.artifacts
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let relative_path =
                    a.relative_path
                        .filter(|p| !p.is_empty())
                        .ok_or_else(|| Error::Decode {
                            url: shown(&url).to_string(),
                            message: "an artifact is listed without its relativePath".to_string(),
                        })?;
                let file_name = a.file_name.unwrap_or_else(|| {
                    relative_path
                        .rsplit('/')
                        .next()
                        .unwrap_or(&relative_path)
                        .to_string()
                });
                Ok(Artifact {
                    relative_path,
                    file_name,
                })
            })
            .collect()
    }

    /// The download URL of artifact `relative_path` of build `number`. A path with an empty,
    /// `.` or `..` segment is refused: a URL parser would fold it into another path.
    pub fn artifact_url(
        &self,
        job: &str,
        number: u64,
        relative_path: &str,
    ) -> Result<String, Error> {
        let path = artifact_path(relative_path).map_err(|message| Error::Decode {
            url: format!(
                "{}{}{number}/",
                self.inner.base,
                job_path(job).unwrap_or_default()
            ),
            message,
        })?;
        Ok(format!(
            "{}{}{number}/artifact/{path}",
            self.inner.base,
            job_path(job)?
        ))
    }

    /// The whole of a small artifact (a JSON or properties file), refused once it is larger
    /// than `cap` bytes.
    pub async fn artifact_bytes(
        &self,
        job: &str,
        number: u64,
        relative_path: &str,
        cap: u64,
    ) -> Result<Vec<u8>, Error> {
        let too_large = |url: &str| Error::Decode {
            url: url.to_string(),
            message: format!(
                "artifact `{relative_path}` is larger than {cap} bytes, more than jrun reads \
                 of a file it takes values from"
            ),
        };
        let mut attempt = 1;
        loop {
            let mut body = self.open_artifact(job, number, relative_path).await?;
            if body.length().is_some_and(|length| length > cap) {
                return Err(too_large(body.url()));
            }
            let mut bytes = Vec::new();
            let broke = loop {
                match body.chunk().await {
                    Ok(Some(chunk)) => {
                        if (bytes.len() + chunk.len()) as u64 > cap {
                            return Err(too_large(body.url()));
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(None) => return Ok(bytes),
                    Err(e) => break e,
                }
            };
            if attempt == BODY_ATTEMPTS {
                return Err(broke);
            }
            attempt += 1;
        }
    }

    /// Opens the download of artifact `relative_path` of build `number`, following
    /// redirects (at most [`MAX_REDIRECTS`]). Failures worth waiting out are retried for up
    /// to `unreachable_timeout`, like every other read; 404 is [`Error::NotFound`].
    pub async fn open_artifact(
        &self,
        job: &str,
        number: u64,
        relative_path: &str,
    ) -> Result<ArtifactBody, Error> {
        let url = self.artifact_url(job, number, relative_path)?;
        let mut patience = Patience::new(self.inner.settings.unreachable_timeout);
        loop {
            let started = Instant::now();
            let failure = match self.open_once(job, number, relative_path, &url).await? {
                Opened::Body(body) => return Ok(body),
                Opened::Again(failure) => failure,
            };
            if let Err(after) = patience.failed(started).await {
                return Err(self.unreachable(after, failure));
            }
        }
    }

    async fn open_once(
        &self,
        job: &str,
        number: u64,
        relative_path: &str,
        url: &str,
    ) -> Result<Opened, Error> {
        let bad_url = |message: String| Error::Decode {
            url: shown(url).to_string(),
            message,
        };
        let home = Url::parse(&self.inner.base)
            .map_err(|e| bad_url(format!("the server's URL does not parse: {e}")))?
            .origin();
        let mut current = Url::parse(url)
            .map_err(|e| bad_url(format!("the artifact URL does not parse: {e}")))?;
        // Once a hop left Jenkins, nothing that follows is trusted with its credentials, even
        // a URL that points back at it.
        let mut trusted = true;
        let idle = self.attempt_timeout();
        for _ in 0..=MAX_REDIRECTS {
            trusted = trusted && current.origin() == home;
            let permit = self
                .inner
                .limiter
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| Error::Transport {
                    url: shown(current.as_str()).to_string(),
                    message: "the client is shutting down".to_string(),
                })?;
            let mut request = self
                .inner
                .http
                .request(Method::GET, current.clone())
                .timeout(DOWNLOAD_LIMIT)
                // The bytes as archived: a `.gz` served with `Content-Encoding: gzip` would
                // otherwise be inflated on the way.
                .header(ACCEPT_ENCODING, "identity");
            if trusted {
                let credentials = &self.inner.credentials;
                let (authorization, _) =
                    credentials
                        .authorization()
                        .await
                        .map_err(|message| Error::Transport {
                            url: shown(current.as_str()).to_string(),
                            message,
                        })?;
                if let Some(header) = authorization {
                    request = request.header(AUTHORIZATION, header);
                }
                for (name, value) in credentials.headers() {
                    request = request.header(name.clone(), value.clone());
                }
                let cookie = self
                    .inner
                    .cookie
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                if let Some(cookie) = self.inner.jar.header(cookie) {
                    request = request.header(COOKIE, cookie);
                }
            }
            self.inner
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let shown_url = shown(current.as_str()).to_string();
            tracing::debug!("GET {shown_url}");
            let response = match tokio::time::timeout(idle, request.send()).await {
                Err(_) => {
                    return Ok(Opened::Again(format!(
                        "GET {shown_url}: no answer within {}",
                        show_duration(idle)
                    )));
                }
                Ok(Err(e)) => {
                    let failure = TransportError::from_reqwest(e, idle);
                    if failure.transient {
                        return Ok(Opened::Again(format!(
                            "GET {shown_url}: {}",
                            failure.message
                        )));
                    }
                    return Err(Error::Transport {
                        url: shown_url,
                        message: failure.message,
                    });
                }
                Ok(Ok(response)) => response,
            };
            if trusted {
                self.observe_session(response.headers());
                self.inner.jar.store(response.headers());
            }
            let status = response.status();
            // Jenkins' own host sending jrun to a sign-in page is a front door, not a file
            // store; a store elsewhere that wants other credentials is only that store.
            if trusted && (status.is_redirection() || matches!(status.as_u16(), 401 | 403)) {
                let reply = Reply {
                    status,
                    headers: response.headers().clone(),
                    body: Bytes::new(),
                    cut: false,
                    received: Instant::now(),
                    date_ms: None,
                };
                self.check_front_door(
                    &Method::GET,
                    current.as_str(),
                    &reply,
                    super::front_door::Offsite::Store,
                )?;
            }
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| Error::Decode {
                        url: shown_url.clone(),
                        message: format!("HTTP {} without a usable Location", status.as_u16()),
                    })?;
                current = current.join(location).map_err(|e| Error::Decode {
                    url: shown_url.clone(),
                    message: format!("redirected to a URL that does not parse: {e}"),
                })?;
                if !matches!(current.scheme(), "http" | "https") {
                    return Err(Error::Decode {
                        url: shown_url,
                        message: format!("redirected to a {} URL", current.scheme()),
                    });
                }
                continue;
            }
            if status.is_success() && status != StatusCode::PARTIAL_CONTENT {
                let length = response.content_length();
                return Ok(Opened::Body(ArtifactBody {
                    response,
                    client: self.clone(),
                    url: shown_url,
                    idle,
                    length,
                    _permit: permit,
                }));
            }
            let headers = response.headers().clone();
            let (body, cut) = read_capped(response).await.unwrap_or_default();
            drop(permit);
            if retryable_read(status) {
                return Ok(Opened::Again(format!(
                    "GET {shown_url}: HTTP {} {}",
                    status.as_u16(),
                    page_message(&body, status.as_u16())
                )));
            }
            if status == StatusCode::NOT_FOUND {
                return Err(Error::NotFound {
                    what: format!("artifact `{relative_path}` of build #{number} of job `{job}`"),
                });
            }
            if !trusted {
                // Not Jenkins: its 401/403 says nothing about jrun's credentials.
                return Err(Error::Http {
                    status: status.as_u16(),
                    method: "GET".to_string(),
                    url: shown_url,
                    message: page_message(&body, status.as_u16()),
                });
            }
            let reply = Reply {
                status,
                headers,
                body,
                cut,
                received: Instant::now(),
                date_ms: None,
            };
            return Err(self.status_error("GET", &shown_url, &reply));
        }
        Err(Error::Http {
            status: 310,
            method: "GET".to_string(),
            url: shown(url).to_string(),
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }
}

/// `relative_path` as the tail of an artifact URL: each segment encoded like `Util.rawEncode`
/// (so `/` inside a name, `%`, `?` and `#` cannot change the path), joined by `/`.
fn artifact_path(relative_path: &str) -> Result<String, String> {
    let segments: Vec<&str> = relative_path.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(format!(
            "artifact path `{relative_path}` has an empty, `.` or `..` segment"
        ));
    }
    Ok(segments
        .iter()
        .map(|s| encode_segment(s))
        .collect::<Vec<_>>()
        .join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_encode_each_segment_like_raw_encode() {
        assert_eq!(
            artifact_path("reports/my report ü.txt").unwrap(),
            "reports/my%20report%20%C3%BC.txt"
        );
        assert_eq!(artifact_path("a%b").unwrap(), "a%25b");
        assert_eq!(
            artifact_path("x/q?#;:[]{}^`~|\\\"<>.txt").unwrap(),
            "x/q%3F%23%3B%3A%5B%5D%7B%7D%5E%60%7E%7C%5C%22%3C%3E.txt"
        );
        // What rawEncode leaves alone, `+` included (path decoding keeps it a plus).
        assert_eq!(
            artifact_path("!$&'()*+,-.=@_az09").unwrap(),
            "!$&'()*+,-.=@_az09"
        );
    }

    #[test]
    fn artifact_paths_with_empty_or_dot_segments_are_refused() {
        for bad in ["../x", "a/../b", "./a", "a//b", "/abs", "a/", "", "a/."] {
            let message = artifact_path(bad).expect_err(bad);
            assert!(message.contains("segment"), "{message}");
        }
    }

    #[test]
    fn artifact_urls_sit_under_the_builds_artifact_folder() {
        let client = Client::new(crate::jenkins::ServerSettings::new(
            "ci",
            "http://ci.example.com/jenkins",
            crate::jenkins::Auth::Anonymous,
        ))
        .unwrap();
        assert_eq!(
            client
                .artifact_url("team/app build", 7, "dist/app 1.tar.gz")
                .unwrap(),
            "http://ci.example.com/jenkins/job/team/job/app%20build/7/artifact/dist/app%201.tar.gz"
        );
        assert!(client.artifact_url("app", 7, "../secret").is_err());
    }
}
