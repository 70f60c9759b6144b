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
/// configured base.
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

#[cfg(test)]
mod tests {
    use super::*;

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
