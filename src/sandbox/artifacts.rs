//! Archived artifacts: the build JSON's listing (sorted per directory, `displayPath` as the
//! shortest unique suffix) and `DirectoryBrowserSupport`'s serving of `artifact/…`: files with
//! their MIME type, a single byte range, directories as redirects or listings, and, with
//! `artifact_store`, a redirect to the external store instead of the bytes.

use http::StatusCode;
use http::header::{self, HeaderName};

use super::config::ArtifactSpec;
use super::json::RAW_ENCODE;
use super::model::{Build, Model};
use super::pages::{error_page, html_escape, html_page, not_found, redirect};
use super::wire::{Body, Reply, Req, set};

/// `Run.ArtifactList.LIST_CUTOFF`: past this many files no `displayPath` is computed.
const LIST_CUTOFF: usize = 20;

/// One artifact as `Run.getArtifacts` lists it.
pub(super) struct Listed<'a> {
    pub spec: &'a ArtifactSpec,
    pub file_name: &'a str,
    pub display_path: Option<String>,
}

/// The build's files in Jenkins' order: each directory's children sorted by name, depth first,
/// which is the order of their segment lists.
pub(super) fn listing(artifacts: &[ArtifactSpec]) -> Vec<Listed<'_>> {
    let mut sorted: Vec<&ArtifactSpec> = artifacts.iter().collect();
    sorted.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    let paths: Vec<&str> = sorted.iter().map(|a| a.path.as_str()).collect();
    let display = display_paths(&paths);
    sorted
        .into_iter()
        .zip(display)
        .map(|(spec, display_path)| Listed {
            spec,
            file_name: spec.path.rsplit('/').next().unwrap_or(&spec.path),
            display_path,
        })
        .collect()
}

/// `ArtifactList.computeDisplayName`: each path starts as its last segment and grows by one
/// segment, from the end, while it collides with another.
fn display_paths(paths: &[&str]) -> Vec<Option<String>> {
    if paths.len() > LIST_CUTOFF {
        return vec![None; paths.len()];
    }
    let tokens: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| p.split(['/', '\\']).filter(|s| !s.is_empty()).collect())
        .collect();
    let max_depth = tokens.iter().map(Vec::len).max().unwrap_or(0);
    let mut len = vec![1usize; paths.len()];
    let mut depth = 0;
    loop {
        let mut collision = false;
        let mut names: std::collections::HashMap<String, Option<usize>> = Default::default();
        for (i, token) in tokens.iter().enumerate() {
            let name = combine_last(token, len[i]);
            if let Some(previous) = names.insert(name.clone(), Some(i)) {
                collision = true;
                if let Some(j) = previous {
                    len[j] += 1;
                }
                len[i] += 1;
                // Occupied, but later collisions grow only the newcomer.
                names.insert(name, None);
            }
        }
        let again = collision && depth < max_depth;
        depth += 1;
        if !again {
            break;
        }
    }
    tokens
        .iter()
        .zip(len)
        .map(|(token, n)| Some(combine_last(token, n)))
        .collect()
}

fn combine_last(token: &[&str], n: usize) -> String {
    token[token.len().saturating_sub(n)..].join("/")
}

/// `Util.rawEncode` of each segment of a relative path.
pub(super) fn href(relative_path: &str) -> String {
    relative_path
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, RAW_ENCODE).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The container's MIME map by extension; `text/*` gets `;charset=UTF-8` as Jenkins adds it.
pub(super) fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "text" => "text/plain;charset=UTF-8",
        "html" | "htm" => "text/html;charset=UTF-8",
        "css" => "text/css;charset=UTF-8",
        "csv" => "text/csv;charset=UTF-8",
        "js" => "text/javascript;charset=UTF-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "gz" => "application/gzip",
        "tgz" => "application/x-gtar",
        "tar" => "application/x-tar",
        "zip" => "application/zip",
        "jar" | "war" | "ear" => "application/java-archive",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Range {
    /// No range Stapler understands: the whole file, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part(u64, u64),
    /// A start past the end of the file.
    Unsatisfiable,
}

/// Stapler's single-range support: `bytes=S-` or `bytes=S-E` only; suffix ranges and lists of
/// ranges are ignored and get the whole file.
pub(super) fn parse_range(header: Option<&str>, len: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Whole;
    };
    let Some((start, end)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(start) || !(end.is_empty() || digits(end)) {
        return Range::Whole;
    }
    let Ok(start) = start.parse::<u64>() else {
        return Range::Whole;
    };
    let last = len.saturating_sub(1);
    let end = if end.is_empty() {
        last
    } else {
        match end.parse::<u64>() {
            Ok(e) => e.min(last),
            Err(_) => last,
        }
    };
    if start >= len {
        Range::Unsatisfiable
    } else if end < start {
        Range::Whole
    } else {
        Range::Part(start, end)
    }
}

/// What a path under `artifact/` names among a build's files.
enum Found<'a> {
    File(&'a ArtifactSpec),
    /// A directory (the root is `""`) and its direct children, directories with a `/`.
    Dir(Vec<String>),
    Missing,
}

fn find<'a>(artifacts: &'a [ArtifactSpec], path: &str) -> Found<'a> {
    if let Some(file) = artifacts.iter().find(|a| a.path == path) {
        return Found::File(file);
    }
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut children: Vec<String> = artifacts
        .iter()
        .filter_map(|a| a.path.strip_prefix(prefix.as_str()))
        .map(|rest| match rest.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => rest.to_string(),
        })
        .collect();
    if children.is_empty() {
        return Found::Missing;
    }
    children.sort();
    children.dedup();
    Found::Dir(children)
}

/// `GET /job/J/N/artifact/<path>` (`Run.doArtifact` and `DirectoryBrowserSupport.serveFile`).
pub(super) fn serve(
    model: &Model,
    req: &Req,
    build: &Build,
    build_path: &str,
    rest: &[&str],
    now: i64,
) -> (&'static str, Reply) {
    let rest_of_path = format!("/{}", rest.join("/")).replace('\\', "/");
    if rest_of_path.contains("/../") || rest_of_path.ends_with("/..") || rest.contains(&"..") {
        return (
            "artifact",
            error_page(StatusCode::BAD_REQUEST, "Bad Request"),
        );
    }
    let artifacts = build.artifacts(now);
    if artifacts.is_empty() {
        // No `archive` directory at all.
        return ("artifact", not_found(model).1);
    }
    // `*plain*` after a directory lists it as text; `*view*` after a file shows it as text.
    let special = rest.iter().position(|s| *s == "*plain*" || *s == "*view*");
    let (rest, special) = match special {
        Some(i) => (&rest[..i], Some(rest[i])),
        None => (rest, None),
    };
    let path = rest.join("/");
    let trailing_slash = req.path.ends_with('/');
    match (find(artifacts, &path), special) {
        (Found::Dir(children), Some("*plain*")) => {
            let mut text = children.join("\n");
            text.push('\n');
            let reply = super::wire::response(StatusCode::OK, "text/plain;charset=UTF-8", text);
            return ("artifact", reply);
        }
        (Found::File(file), Some("*view*")) if model.store.is_none() => {
            let mut reply = file_reply(req, file, build.end);
            if reply.status().is_success() {
                set(&mut reply, header::CONTENT_TYPE, "text/plain;charset=UTF-8");
                let name = file.path.rsplit('/').next().unwrap_or(&file.path);
                set(
                    &mut reply,
                    header::CONTENT_DISPOSITION,
                    &format!("inline; filename={name}"),
                );
            }
            return ("artifact", reply);
        }
        // `*plain*` on a file, `*view*` on a directory: nothing Stapler can serve.
        (Found::File(_), Some("*plain*")) | (Found::Dir(_), Some("*view*")) => {
            return ("artifact", not_found(model).1);
        }
        _ => {}
    }
    match find(artifacts, &path) {
        Found::Missing => ("artifact", not_found(model).1),
        Found::Dir(_) if !trailing_slash => {
            let target = format!("http://{}{}/", req.host, req.path);
            ("artifact", redirect(StatusCode::FOUND, &target))
        }
        Found::Dir(children) => {
            let items: String = children
                .iter()
                .map(|c| {
                    let target = href(c.trim_end_matches('/'));
                    let slash = if c.ends_with('/') { "/" } else { "" };
                    format!(
                        "<tr><td><a href=\"{target}{slash}\">{}</a></td></tr>",
                        html_escape(c)
                    )
                })
                .collect();
            let title = if path.is_empty() {
                "Artifacts".to_string()
            } else {
                path.clone()
            };
            let body = format!("<table class=\"fileList\">{items}</table>");
            ("artifact", html_page(model, StatusCode::OK, &title, &body))
        }
        Found::File(file) => match &model.store {
            Some(store) => {
                let target = store.presigned_url(build_path, &file.path, now);
                ("artifact", redirect(StatusCode::FOUND, &target))
            }
            None => ("artifact", file_reply(req, file, build.end)),
        },
    }
}

/// A file's bytes with Stapler's static-resource headers, the whole file or one range of it.
pub(super) fn file_reply(req: &Req, file: &ArtifactSpec, modified: i64) -> Reply {
    let len = file.len();
    let last_modified = super::http::http_date(modified);
    if req.header("if-modified-since") == Some(last_modified.as_str()) {
        let mut reply = redirect(StatusCode::NOT_MODIFIED, "");
        reply.headers_mut().remove(header::LOCATION);
        return reply;
    }
    let (status, start, end) = match parse_range(req.header("range"), len) {
        Range::Whole => (StatusCode::OK, 0, len),
        Range::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        Range::Unsatisfiable => {
            let mut reply = error_page(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable");
            set(&mut reply, header::CONTENT_RANGE, &format!("bytes */{len}"));
            return reply;
        }
    };
    let body = match &file.content {
        Some(text) => Body::from(bytes::Bytes::copy_from_slice(
            &text.as_bytes()[start as usize..end as usize],
        )),
        None => Body::generated(start, end),
    };
    let mut reply = http::Response::new(body);
    *reply.status_mut() = status;
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    set(&mut reply, header::CONTENT_TYPE, content_type(name));
    set(
        &mut reply,
        header::CONTENT_LENGTH,
        &(end - start).to_string(),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut reply,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{len}", end - 1),
        );
    }
    set(&mut reply, header::ACCEPT_RANGES, "bytes");
    set(&mut reply, header::LAST_MODIFIED, &last_modified);
    set(&mut reply, header::EXPIRES, &last_modified);
    set(
        &mut reply,
        HeaderName::from_static("x-content-type-options"),
        "nosniff",
    );
    set(
        &mut reply,
        header::CONTENT_SECURITY_POLICY,
        "sandbox allow-same-origin; default-src 'none'; img-src 'self'; style-src 'self';",
    );
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &str) -> ArtifactSpec {
        ArtifactSpec {
            path: path.to_string(),
            content: Some(String::new()),
            size: None,
        }
    }

    #[test]
    fn files_are_listed_per_directory_depth_first_like_jenkins() {
        let specs: Vec<ArtifactSpec> = ["c.txt", "b/z.txt", "a.txt", "b/a/y.txt", "B.txt"]
            .iter()
            .map(|p| spec(p))
            .collect();
        let order: Vec<&str> = listing(&specs)
            .iter()
            .map(|l| l.spec.path.as_str())
            .collect();
        assert_eq!(order, ["B.txt", "a.txt", "b/a/y.txt", "b/z.txt", "c.txt"]);
    }

    #[test]
    fn display_paths_are_the_shortest_unique_suffixes() {
        let shown = display_paths(&["x/app.jar", "y/app.jar", "z/report.txt"]);
        assert_eq!(
            shown,
            vec![
                Some("x/app.jar".to_string()),
                Some("y/app.jar".to_string()),
                Some("report.txt".to_string())
            ]
        );
        let many: Vec<String> = (0..21).map(|i| format!("f{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(display_paths(&many).iter().all(Option::is_none));
        assert_eq!(display_paths(&many[..20]).len(), 20);
        assert!(display_paths(&many[..20]).iter().all(Option::is_some));
    }

    #[test]
    fn ranges_follow_stapler_single_range_support() {
        assert_eq!(parse_range(None, 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=2-5"), 10), Range::Part(2, 5));
        assert_eq!(parse_range(Some("bytes=2-"), 10), Range::Part(2, 9));
        assert_eq!(parse_range(Some("bytes=2-99"), 10), Range::Part(2, 9));
        assert_eq!(parse_range(Some("bytes=-5"), 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=1-2,4-5"), 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("items=1-2"), 10), Range::Whole);
    }

    #[test]
    fn hrefs_encode_each_segment_like_raw_encode() {
        assert_eq!(
            href("reports/my report ü.txt"),
            "reports/my%20report%20%C3%BC.txt"
        );
        assert_eq!(href("a/b#c"), "a/b%23c");
    }

    #[test]
    fn content_types_go_by_extension() {
        assert_eq!(content_type("out/build-info.json"), "application/json");
        assert_eq!(content_type("notes.TXT"), "text/plain;charset=UTF-8");
        assert_eq!(content_type("app.env"), "application/octet-stream");
        assert_eq!(content_type("Makefile"), "application/octet-stream");
    }
}
