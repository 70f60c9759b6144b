//! Turning names into URLs and `Location` headers into queue ids.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::Error;

/// The bytes Jenkins' `Util.rawEncode` leaves alone in a URL segment; everything else,
/// `%` included, is percent-encoded as UTF-8. Encoding `%` matters for multibranch items,
/// whose names already contain `%2F` (`feature%2Ffoo` lives at `job/feature%252Ffoo/`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b'-')
    .remove(b'.')
    .remove(b'=')
    .remove(b'@')
    .remove(b'_');

pub(crate) fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The relative path of a job, `job/a/job/b%20c/` for the full name `a/b c`.
pub fn job_path(full_name: &str) -> Result<String, Error> {
    let mut path = String::new();
    for segment in job_segments(full_name)? {
        path.push_str("job/");
        path.push_str(&encode_segment(segment));
        path.push('/');
    }
    Ok(path)
}

pub(crate) fn job_segments(full_name: &str) -> Result<Vec<&str>, Error> {
    let segments: Vec<&str> = full_name.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err(Error::config(format!(
            "job name `{full_name}` has an empty or dot segment; write folders as `folder/job`"
        )));
    }
    Ok(segments)
}

/// A URL without its query and fragment, for messages: queries can carry trigger tokens.
pub(crate) fn shown(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The queue id at the end of a `Location` such as `http://internal:8080/queue/item/42/`.
/// Only the id is taken: the host may be an internal one, and the URL is rebuilt on the
/// configured base. No warning comes of it: a 201's host is the request's as a proxy passed
/// it on (research §9.2), which says nothing of Jenkins' root URL setting.
pub(crate) fn queue_id_from_location(location: &str) -> Option<u64> {
    let path = shown(location).trim_end_matches('/');
    let (before, id) = path.rsplit_once('/')?;
    if !before.ends_with("queue/item") {
        return None;
    }
    id.parse().ok()
}

/// Whether an absolute or relative item URL from Jenkins (a queue item's `task.url`) points
/// at the job with these name segments. Only the tail is compared, because Jenkins' root URL
/// may differ from the configured base behind a proxy.
pub(crate) fn url_is_job(url: &str, job: &[&str]) -> bool {
    let path = shown(url);
    let path = match path.find("://") {
        Some(scheme_end) => {
            let rest = &path[scheme_end + 3..];
            rest.find('/').map_or("", |i| &rest[i..])
        }
        None => path,
    };
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let tail: Vec<&str> = job.iter().flat_map(|s| ["job", *s]).collect();
    if segments.len() < tail.len() {
        return false;
    }
    let start = segments.len() - tail.len();
    if segments[start..]
        .iter()
        .map(String::as_str)
        .ne(tail.iter().copied())
    {
        return false;
    }
    // `job/x/job/b` must not pass for the top-level `b`.
    !(start >= 2 && segments[start - 2] == "job")
}

/// The first path segments below Jenkins' root in the URLs it writes: what tells where its
/// root ends in a URL whose host and context path are not the configured ones.
const TOP_LEVEL: [&str; 8] = [
    "job",
    "queue",
    "view",
    "computer",
    "user",
    "me",
    "crumbIssuer",
    "api",
];

/// A URL from Jenkins (a build's `url`, a queue item's `executable.url`, a `Location`) put on
/// the configured base.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rebased {
    pub url: String,
    /// Jenkins' root URL as the URL shows it, when that is not the configured base: another
    /// scheme, host or port, or another context path. Path-only URLs never say.
    pub foreign_root: Option<String>,
}

/// `url` on `base` (the configured URL, ending with `/`), keeping the path below Jenkins'
/// root: Jenkins writes `url` fields from its configured root URL and absolute `Location`s
/// from the request as a proxy passed it on, so neither need name the host jrun reaches it at.
/// Only the configured host is ever asked, and only it gets credentials.
pub(crate) fn rebase(base: &str, url: &str) -> Rebased {
    let keep = |url: &str| Rebased {
        url: url.to_string(),
        foreign_root: None,
    };
    if url.is_empty() {
        return keep(url);
    }
    let Ok(home) = reqwest::Url::parse(base) else {
        return keep(url);
    };
    let home_path = home.path().to_string();
    let on_base = |below: &str| format!("{base}{}", below.trim_start_matches('/'));
    let Ok(theirs) = reqwest::Url::parse(url) else {
        // Path-only: relative to the root (`queue/item/4/`) or absolute on the request's host
        // (`/jenkins/job/a/5/`); either way on the configured base.
        if let Some(below) = url.strip_prefix(home_path.as_str()) {
            return keep(&on_base(below));
        }
        if !url.starts_with('/') {
            return keep(&on_base(url));
        }
        let (_, below) = split_root(url);
        return keep(&on_base(below));
    };
    if !matches!(theirs.scheme(), "http" | "https") {
        return keep(url);
    }
    let path_and_more = &url[url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(url.len())..];
    let path_and_more = if path_and_more.is_empty() {
        "/"
    } else {
        path_and_more
    };
    if theirs.origin() == home.origin()
        && let Some(below) = path_and_more.strip_prefix(home_path.as_str())
    {
        return keep(&on_base(below));
    }
    let (root, below) = match path_and_more.strip_prefix(home_path.as_str()) {
        // The same context path on another host: only the host differs.
        Some(below) => (home_path.as_str(), below),
        None => split_root(path_and_more),
    };
    let origin = theirs.origin().ascii_serialization();
    Rebased {
        url: on_base(below),
        foreign_root: Some(format!("{origin}{root}")),
    }
}

/// An absolute path split where Jenkins' root ends: before its first top-level segment
/// (`/ci/job/a/` gives `/ci/` and `job/a/`), or the whole path when it has none.
fn split_root(path: &str) -> (&str, &str) {
    let mut at = 0;
    for segment in path.split('/') {
        if TOP_LEVEL.contains(&segment) && at > 0 {
            return (&path[..at], &path[at..]);
        }
        at += segment.len() + 1;
    }
    ("/", path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080/jenkins/";

    #[test]
    fn urls_on_the_configured_base_are_kept() {
        let url = "http://127.0.0.1:8080/jenkins/job/a/5/";
        assert_eq!(rebase(BASE, url).url, url);
        assert_eq!(rebase(BASE, url).foreign_root, None);
        assert_eq!(rebase(BASE, "").url, "");
    }

    #[test]
    fn another_host_is_mapped_back_keeping_the_path_below_jenkins_root() {
        let r = rebase(
            BASE,
            "https://jenkins.corp.example/jenkins/job/a/job/b%20c/5/",
        );
        assert_eq!(r.url, "http://127.0.0.1:8080/jenkins/job/a/job/b%20c/5/");
        assert_eq!(
            r.foreign_root.as_deref(),
            Some("https://jenkins.corp.example/jenkins/")
        );
        let r = rebase(BASE, "http://internal:8081/ci/queue/item/7/");
        assert_eq!(r.url, "http://127.0.0.1:8080/jenkins/queue/item/7/");
        assert_eq!(r.foreign_root.as_deref(), Some("http://internal:8081/ci/"));
        let r = rebase("http://127.0.0.1:8080/", "https://ci.example/job/a/1/");
        assert_eq!(r.url, "http://127.0.0.1:8080/job/a/1/");
        assert_eq!(r.foreign_root.as_deref(), Some("https://ci.example/"));
    }

    #[test]
    fn a_url_missing_the_context_path_is_put_under_it() {
        let r = rebase(BASE, "http://127.0.0.1:8080/job/a/5/");
        assert_eq!(r.url, "http://127.0.0.1:8080/jenkins/job/a/5/");
        assert_eq!(r.foreign_root.as_deref(), Some("http://127.0.0.1:8080/"));
    }

    #[test]
    fn path_only_urls_land_on_the_base_without_a_warning() {
        assert_eq!(
            rebase(BASE, "/jenkins/job/a/5/"),
            Rebased {
                url: "http://127.0.0.1:8080/jenkins/job/a/5/".to_string(),
                foreign_root: None
            }
        );
        assert_eq!(
            rebase(BASE, "queue/item/3/").url,
            "http://127.0.0.1:8080/jenkins/queue/item/3/"
        );
        assert_eq!(
            rebase(BASE, "/job/a/5/").url,
            "http://127.0.0.1:8080/jenkins/job/a/5/"
        );
    }

    #[test]
    fn location_gives_the_queue_id_and_nothing_else() {
        assert_eq!(
            queue_id_from_location("http://internal:8080/queue/item/42/"),
            Some(42)
        );
        assert_eq!(queue_id_from_location("/jenkins/queue/item/7"), Some(7));
        assert_eq!(queue_id_from_location("http://h/job/x/"), None);
        assert_eq!(queue_id_from_location("http://h/queue/item/abc/"), None);
    }

    #[test]
    fn task_urls_match_on_their_job_segments() {
        assert!(url_is_job(
            "http://ci:8080/jenkins/job/a/job/b%20c/",
            &["a", "b c"]
        ));
        assert!(url_is_job("http://ci/job/b/", &["b"]));
        assert!(!url_is_job("http://ci/job/x/job/b/", &["b"]));
        assert!(!url_is_job("http://ci/job/bb/", &["b"]));
    }
}
