//! `artifacts:`: downloading what an ended build archived. The build's listing is read once,
//! matched against the step's globs, and each match is streamed to a temporary file in the
//! target folder and renamed when complete, so a file under its final name is always whole.
//!
//! An artifact's relative path is Jenkins' answer, not the user's: anything in it that could
//! lead outside the target folder (`..`, an absolute path, a backslash, an empty or `.`
//! segment, a symbolic link already in the folder) is refused, never cleaned up into
//! something else.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::outcome::Stop;
use super::step::{StepContext, stop_status};
use crate::jenkins::{Artifact, Client};
use crate::pipeline::Artifacts;
use crate::report::{ArtifactRecord, Event, FailureKind, Reporter, StepOutcome, StepStatus};

/// Downloads of one step at once; the server's `max_in_flight` bounds them too.
const AT_ONCE: usize = 3;

/// A download is started again from its beginning this many times when its body breaks off.
const ATTEMPTS: usize = 3;

/// Files at least this large, or of unknown size, get a progress bar.
const BAR_FROM: u64 = 1 << 20;

/// How often a bar is moved.
const BAR_EVERY: Duration = Duration::from_millis(200);

/// Writes are gathered into pieces this large before they reach the file.
const WRITE_BUFFER: usize = 256 * 1024;

/// Names the temporary files of one jrun process apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Downloads the artifacts `spec` asks for from build `number` of `job`, which has ended. A
/// failure fails a step that passed with kind `output`; on a step that already failed it is
/// only noted, so that the build's own failure stays what the step reports.
pub(super) async fn download(
    ctx: &StepContext,
    spec: &Artifacts,
    job: &str,
    number: u64,
    mut result: StepOutcome,
) -> StepOutcome {
    let step = ctx.pipeline.steps[ctx.index].id.clone();
    let mut stop = ctx.stop.clone();
    let planned = tokio::select! {
        planned = plan(ctx, spec, job, number) => planned,
        stop = stopped(&mut stop) => return stopped_while(result, stop),
    };
    let targets = match planned {
        Ok(targets) => targets,
        Err(message) => return failed(ctx, result, &step, message),
    };
    let (records, end) = transfer(ctx, targets, job, number, &step, &mut stop).await;
    result.artifacts = records;
    match end {
        End::Done => result,
        End::Failed(message) => failed(ctx, result, &step, message),
        End::Stopped(stop) => stopped_while(result, stop),
    }
}

/// Resolves once the run is told to stop.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<Option<Stop>>) -> Stop {
    loop {
        if let Some(stop) = *stop.borrow_and_update() {
            return stop;
        }
        if stop.changed().await.is_err() {
            // Nobody can stop the run any more.
            std::future::pending::<()>().await;
        }
    }
}

/// A stop while downloading ends a step that passed; one that failed keeps its failure.
fn stopped_while(result: StepOutcome, stop: Stop) -> StepOutcome {
    if result.status != StepStatus::Passed {
        return result;
    }
    let (status, kind, message) = stop_status(stop);
    result.fail(
        status,
        kind,
        format!("{message} while downloading artifacts"),
    )
}

fn failed(ctx: &StepContext, result: StepOutcome, step: &str, message: String) -> StepOutcome {
    if result.status == StepStatus::Passed {
        result.fail(StepStatus::Failed, FailureKind::Output, message)
    } else {
        ctx.reporter.event(Event::Note {
            step: Some(step),
            message: &message,
        });
        result
    }
}

/// How the downloads ended.
enum End {
    Done,
    Failed(String),
    Stopped(Stop),
}

/// Which artifacts go to which files, their folders made; or why none can be downloaded.
/// Nothing is written but folders.
async fn plan(
    ctx: &StepContext,
    spec: &Artifacts,
    job: &str,
    number: u64,
) -> Result<Vec<(String, PathBuf)>, String> {
    let folder = match spec.to.render(&ctx.render) {
        Ok(folder) if folder.trim().is_empty() => {
            let place = super::preflight::place(&ctx.pipeline.file, &spec.to);
            return Err(format!(
                "{place}`artifacts.to` renders to an empty folder name; name a folder"
            ));
        }
        Ok(folder) => PathBuf::from(folder),
        Err(e) => {
            let place = super::preflight::place(&ctx.pipeline.file, &spec.to);
            return Err(format!("{place}{e}"));
        }
    };
    let listed = match ctx.client.artifacts(job, number).await {
        Ok(listed) => listed,
        Err(e) => {
            return Err(format!("cannot list the artifacts of build #{number}: {e}"));
        }
    };
    let wanted = match select(spec, &listed, number) {
        Ok(wanted) => wanted,
        Err(message) => return Err(message),
    };
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    if let Err(e) = std::fs::create_dir_all(&folder) {
        return Err(format!(
            "cannot create the artifacts folder {}: {e}",
            folder.display()
        ));
    }
    // Every path is checked before any folder is made for one of them.
    if let Some((artifact, message)) = wanted
        .iter()
        .find_map(|a| safe_relative(&a.relative_path).err().map(|m| (a, m)))
    {
        return Err(format!(
            "artifact `{}` of build #{number} was not downloaded: {message}",
            artifact.relative_path
        ));
    }
    let mut targets = Vec::with_capacity(wanted.len());
    for artifact in wanted {
        match target(&folder, &artifact.relative_path) {
            Ok(file) => targets.push((artifact.relative_path.clone(), file)),
            Err(message) => {
                return Err(format!(
                    "artifact `{}` of build #{number} was not downloaded: {message}",
                    artifact.relative_path
                ));
            }
        }
    }
    Ok(targets)
}

/// Downloads `targets`, a few at a time. A failure or a stop ends the downloads still
/// running, and waits for them to have removed their temporary files.
async fn transfer(
    ctx: &StepContext,
    targets: Vec<(String, PathBuf)>,
    job: &str,
    number: u64,
    step: &str,
    stop: &mut tokio::sync::watch::Receiver<Option<Stop>>,
) -> (Vec<ArtifactRecord>, End) {
    let mut records = Vec::with_capacity(targets.len());
    let mut running = JoinSet::new();
    let mut queue = targets.into_iter();
    let job: Arc<str> = Arc::from(job);
    let step: Arc<str> = Arc::from(step);
    let end = loop {
        while running.len() < AT_ONCE {
            let Some((path, file)) = queue.next() else {
                break;
            };
            running.spawn(download_one(
                ctx.client.clone(),
                job.clone(),
                number,
                path,
                file,
                ctx.reporter.clone(),
                step.clone(),
            ));
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            stop = stopped(stop) => break End::Stopped(stop),
        };
        match joined {
            None => break End::Done,
            Some(Ok(Ok(record))) => records.push(record),
            Some(Ok(Err(message))) => break End::Failed(message),
            Some(Err(e)) => break End::Failed(format!("a download ended abnormally: {e}")),
        }
    };
    // Aborted downloads drop their temporary files as they end.
    running.shutdown().await;
    records.sort_by(|a, b| a.path.cmp(&b.path));
    (records, end)
}

/// The listed artifacts any glob matches, in the listing's order; an error naming the globs
/// that matched nothing, unless the step says they are optional.
fn select<'a>(
    spec: &Artifacts,
    listed: &'a [Artifact],
    number: u64,
) -> Result<Vec<&'a Artifact>, String> {
    let unmatched: Vec<&str> = spec
        .get
        .iter()
        .filter(|glob| !listed.iter().any(|a| glob.matches(&a.relative_path)))
        .map(|glob| glob.pattern.as_str())
        .collect();
    if !unmatched.is_empty() && !spec.optional {
        const SHOWN: usize = 10;
        let globs: Vec<String> = unmatched.iter().map(|g| format!("`{g}`")).collect();
        let archived = match listed.len() {
            0 => format!("build #{number} archived no artifacts"),
            n => {
                let mut names: Vec<&str> = listed
                    .iter()
                    .take(SHOWN)
                    .map(|a| a.relative_path.as_str())
                    .collect();
                if n > SHOWN {
                    names.push("...");
                }
                format!(
                    "build #{number} archived {}: {}",
                    crate::report::count(n, "artifact"),
                    names.join(", ")
                )
            }
        };
        return Err(format!(
            "artifacts.get {} matched nothing; {archived} (set `optional: true` if they may \
             be missing)",
            globs.join(", ")
        ));
    }
    Ok(listed
        .iter()
        .filter(|a| spec.get.iter().any(|glob| glob.matches(&a.relative_path)))
        .collect())
}

/// Where artifact `relative_path` goes under `folder`, its folders created: refused when the
/// path could lead anywhere else, or when a symbolic link or a file stands where a folder of
/// it goes.
fn target(folder: &Path, relative_path: &str) -> Result<PathBuf, String> {
    let relative = safe_relative(relative_path)?;
    let mut at = folder.to_path_buf();
    let mut parts = relative.components().peekable();
    while let Some(part) = parts.next() {
        at.push(part);
        let last = parts.peek().is_none();
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link, which jrun does not write through",
                    at.display()
                ));
            }
            Ok(meta) if last && meta.is_dir() => {
                return Err(format!("{} is a folder", at.display()));
            }
            Ok(meta) if !last && !meta.is_dir() => {
                return Err(format!("{} is not a folder", at.display()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !last {
                    std::fs::create_dir(&at)
                        .map_err(|e| format!("cannot create {}: {e}", at.display()))?;
                }
            }
            Err(e) => return Err(format!("cannot look at {}: {e}", at.display())),
        }
    }
    Ok(at)
}

/// `relative_path` as a local relative path of plain names, or why it cannot be one.
fn safe_relative(relative_path: &str) -> Result<PathBuf, String> {
    let refuse = |why: &str| {
        Err(format!(
            "its path {why}, and would not stay inside the artifacts folder"
        ))
    };
    if relative_path.is_empty() {
        return refuse("is empty");
    }
    if relative_path.contains('\\') {
        return refuse("has a backslash");
    }
    if relative_path.contains('\0') {
        return refuse("has a NUL byte");
    }
    if relative_path.starts_with('/') {
        return refuse("is absolute");
    }
    let mut path = PathBuf::new();
    for segment in relative_path.split('/') {
        match segment {
            "" => return refuse("has an empty segment"),
            "." | ".." => return refuse(&format!("has a `{segment}` segment")),
            _ => path.push(segment),
        }
    }
    // What the platform makes of it: a drive letter or prefix is not a plain name.
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return refuse("is not a plain relative path here");
    }
    Ok(path)
}

/// A temporary file that is removed unless it was renamed to its final name: a download that
/// fails, or is abandoned when the run stops, leaves nothing behind.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn partial_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    file.with_file_name(format!(".{name}.{}-{n}.jrun-part", std::process::id()))
}

async fn download_one(
    client: Client,
    job: Arc<str>,
    number: u64,
    path: String,
    file: PathBuf,
    reporter: Arc<Reporter>,
    step: Arc<str>,
) -> Result<ArtifactRecord, String> {
    let shown = file.display().to_string();
    let mut attempt = 1;
    loop {
        match download_attempt(&client, &job, number, &path, &file, &reporter, &step).await {
            Ok(size) => {
                reporter.event(Event::Download {
                    step: &step,
                    path: &path,
                    file: &shown,
                    received: size,
                    total: Some(size),
                    done: true,
                });
                return Ok(ArtifactRecord {
                    path,
                    file: shown,
                    size,
                });
            }
            Err(Failure::Again(_)) if attempt < ATTEMPTS => attempt += 1,
            Err(Failure::Again(message) | Failure::Final(message)) => {
                return Err(format!("artifact `{path}` of build #{number}: {message}"));
            }
        }
    }
}

enum Failure {
    /// The body broke off: worth starting again.
    Again(String),
    Final(String),
}

/// One download into a temporary file, renamed to `file` once whole; its size.
async fn download_attempt(
    client: &Client,
    job: &str,
    number: u64,
    path: &str,
    file: &Path,
    reporter: &Reporter,
    step: &str,
) -> Result<u64, Failure> {
    let mut body = client
        .open_artifact(job, number, path)
        .await
        .map_err(|e| Failure::Final(e.to_string()))?;
    let total = body.length();
    let shown = file.display().to_string();
    let mut partial = Partial {
        path: partial_path(file),
        kept: false,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    let opened = options
        .open(&partial.path)
        .map_err(|e| Failure::Final(format!("cannot write {}: {e}", partial.path.display())))?;
    // Plain blocking writes through a large buffer: each reaches the page cache in
    // microseconds, less than handing it to another thread would cost.
    let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, opened);
    let write_error = |e: std::io::Error| Failure::Final(format!("cannot write {shown}: {e}"));
    let bar = total.is_none_or(|t| t >= BAR_FROM);
    let mut shown_at = Instant::now();
    let mut received: u64 = 0;
    loop {
        let chunk = match body.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => return Err(Failure::Again(e.to_string())),
        };
        out.write_all(&chunk).map_err(write_error)?;
        received += chunk.len() as u64;
        if bar && shown_at.elapsed() >= BAR_EVERY {
            shown_at = Instant::now();
            reporter.event(Event::Download {
                step,
                path,
                file: &shown,
                received,
                total,
                done: false,
            });
        }
    }
    if let Some(total) = total
        && received != total
    {
        return Err(Failure::Again(format!(
            "{} announced {total} bytes and sent {received}",
            body.url()
        )));
    }
    let opened = out.into_inner().map_err(|e| write_error(e.into_error()))?;
    opened.sync_all().map_err(write_error)?;
    drop(opened);
    std::fs::rename(&partial.path, file).map_err(write_error)?;
    partial.kept = true;
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::ArtifactGlob;

    #[test]
    fn plain_relative_paths_are_kept_as_they_are() {
        assert_eq!(
            safe_relative("dist/my app ü.tar.gz").unwrap(),
            PathBuf::from("dist").join("my app ü.tar.gz")
        );
        assert_eq!(
            safe_relative("a..b/..c").unwrap(),
            PathBuf::from("a..b/..c")
        );
    }

    #[test]
    fn paths_that_could_leave_the_folder_are_refused() {
        for (bad, why) in [
            ("../../x", "`..`"),
            ("a/../../x", "`..`"),
            ("/etc/passwd", "absolute"),
            ("a\\..\\x", "backslash"),
            ("..\\x", "backslash"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("./a", "`.`"),
            ("", "empty"),
            ("a\0b", "NUL"),
        ] {
            let message = safe_relative(bad).expect_err(bad);
            assert!(message.contains(why), "{bad}: {message}");
            assert!(message.contains("inside the artifacts folder"), "{message}");
        }
    }

    #[test]
    fn targets_create_their_folders_and_refuse_symbolic_links() {
        let root = tempfile::tempdir().unwrap();
        let file = target(root.path(), "a/b/c.txt").unwrap();
        assert_eq!(file, root.path().join("a/b/c.txt"));
        assert!(root.path().join("a/b").is_dir());

        let outside = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
            let message = target(root.path(), "link/x.txt").unwrap_err();
            assert!(message.contains("symbolic link"), "{message}");
            std::os::unix::fs::symlink(outside.path().join("f"), root.path().join("f")).unwrap();
            let message = target(root.path(), "f").unwrap_err();
            assert!(message.contains("symbolic link"), "{message}");
        }
        std::fs::write(root.path().join("plain"), "x").unwrap();
        let message = target(root.path(), "plain/x.txt").unwrap_err();
        assert!(message.contains("is not a folder"), "{message}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    fn artifacts(globs: &[&str], optional: bool) -> Artifacts {
        Artifacts {
            get: globs
                .iter()
                .map(|g| ArtifactGlob::new(g).unwrap())
                .collect(),
            to: crate::pipeline::Template::compile("out", "to", None, false).unwrap(),
            optional,
        }
    }

    fn listed(paths: &[&str]) -> Vec<Artifact> {
        paths
            .iter()
            .map(|p| Artifact {
                relative_path: p.to_string(),
                file_name: p.rsplit('/').next().unwrap().to_string(),
            })
            .collect()
    }

    #[test]
    fn globs_keep_single_stars_within_a_folder_and_double_stars_across() {
        let all = listed(&[
            "dist/app.tar.gz",
            "dist/sub/old.tar.gz",
            "reports/a.xml",
            "reports/deep/b.xml",
            "notes.txt",
            "dist/app.zip",
        ]);
        let picked = |globs: &[&str]| -> Vec<String> {
            select(&artifacts(globs, false), &all, 1)
                .unwrap()
                .into_iter()
                .map(|a| a.relative_path.clone())
                .collect()
        };
        assert_eq!(picked(&["dist/*.tar.gz"]), ["dist/app.tar.gz"]);
        assert_eq!(
            picked(&["reports/**"]),
            ["reports/a.xml", "reports/deep/b.xml"]
        );
        assert_eq!(
            picked(&["**/*.tar.gz"]),
            ["dist/app.tar.gz", "dist/sub/old.tar.gz"]
        );
        assert_eq!(picked(&["note?.txt"]), ["notes.txt"]);
        // A file two globs match is downloaded once.
        assert_eq!(
            picked(&["dist/*.zip", "dist/app.*"]),
            ["dist/app.tar.gz", "dist/app.zip"]
        );
    }

    #[test]
    fn a_glob_that_matches_nothing_is_named_unless_optional() {
        let all = listed(&["dist/app.tar.gz"]);
        let message = select(&artifacts(&["dist/*.tgz", "dist/*.gz"], false), &all, 7).unwrap_err();
        assert!(
            message.contains("`dist/*.tgz` matched nothing")
                && !message.contains("`dist/*.gz`")
                && message.contains("build #7 archived 1 artifact: dist/app.tar.gz"),
            "{message}"
        );
        let picked = select(&artifacts(&["dist/*.tgz", "dist/*.gz"], true), &all, 7).unwrap();
        assert_eq!(picked.len(), 1);
        let none = select(&artifacts(&["x"], false), &[], 7).unwrap_err();
        assert!(none.contains("archived no artifacts"), "{none}");
    }

    #[test]
    fn bad_globs_are_refused_with_the_reason() {
        for (bad, why) in [
            ("dist/[a", "not valid"),
            ("dist/{a,b", "not valid"),
            ("/abs/*", "absolute"),
            ("../x/*", "`..`"),
            (" ", "empty"),
        ] {
            let message = ArtifactGlob::new(bad).unwrap_err();
            assert!(message.contains(why), "{bad}: {message}");
        }
    }
}
