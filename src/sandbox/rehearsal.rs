//! The jobs a rehearsal (`jrun --sandbox`) needs: every job a pipeline calls or awaits, taking
//! every parameter any of its steps passes, and producing what its steps read from their
//! builds (outputs and artifacts), with placeholder contents.

use std::collections::BTreeMap;

use regex_syntax::hir::{Class, Hir, HirKind};

use super::config::{
    ArtifactSpec, BranchConfig, BuildSpec, JobConfig, JobKind, MultibranchConfig, ParamConfig,
    check_job_path, decode_branch,
};
use crate::duration::Dur;
use crate::pipeline::{
    BranchScan, JobStep, OutputFormat, OutputSource, Pipeline, RenderContext, StepKind,
};

/// What the builds of one rehearsal job must hold for the steps that call it.
#[derive(Default)]
struct Wanted {
    params: Vec<String>,
    /// Archived files and the keys each must provide (none: any placeholder file).
    files: BTreeMap<String, Vec<String>>,
    log: Vec<String>,
    description: bool,
    display_name: bool,
    /// Set when the job is a branch of a multibranch project: whether a step looks for it with
    /// a scan, so that the scan is what creates it.
    scanned: Option<bool>,
}

impl Wanted {
    fn param(&mut self, name: &str) {
        if !self.params.iter().any(|p| p == name) {
            self.params.push(name.to_string());
        }
    }

    fn key(&mut self, path: &str, key: Option<&str>) {
        let keys = self.files.entry(path.to_string()).or_default();
        if let Some(key) = key
            && !keys.iter().any(|k| k == key)
        {
            keys.push(key.to_string());
        }
    }
}

/// What a rehearsal adds to the sandbox: plain jobs, and multibranch projects for the steps
/// that name branch jobs.
#[derive(Debug, Default)]
pub struct Rehearsal {
    pub jobs: Vec<JobConfig>,
    pub projects: Vec<MultibranchConfig>,
}

/// The jobs `pipeline` calls or awaits that `declared` (the jobs and projects of the sandbox's
/// config) leaves out, in the order the pipeline first names them. Steps that call one job may
/// pass it different parameters, so the job takes them all, with a step's `trigger_id`
/// parameter among them; its builds archive the files, print the log lines and carry the
/// description and display name that the steps' `outputs:` and `artifacts:` read. A branch job
/// (`app/release%2F2.4`) becomes a branch of a multibranch project `app`: one a step scans for
/// is found by that scan, any other exists and has been built before, so that it takes its
/// parameters. A job whose name cannot be rendered before the run, or is no valid job path, is
/// left to the sandbox to create when it is first called.
pub fn rehearsal(pipeline: &Pipeline, ctx: &RenderContext, declared: &[String]) -> Rehearsal {
    let read = read_outputs(pipeline);
    let mut wanted: Vec<(String, Wanted)> = Vec::new();
    for step in &pipeline.steps {
        let template = match &step.kind {
            StepKind::Job(job) => &job.job,
            StepKind::Await(gate) => &gate.job,
        };
        let Ok(name) = template.render(ctx) else {
            continue;
        };
        let branch = branch_of(&name);
        let owner = branch
            .as_ref()
            .map_or(name.as_str(), |(project, _)| project);
        if declared.iter().any(|d| d == &name || d == owner)
            || (branch.is_none() && check_job_path(&name).is_err())
        {
            continue;
        }
        let index = match wanted.iter().position(|(n, _)| *n == name) {
            Some(index) => index,
            None => {
                wanted.push((name, Wanted::default()));
                wanted.len() - 1
            }
        };
        let entry = &mut wanted[index].1;
        if let StepKind::Job(job) = &step.kind {
            let keys = read.get(step_id(step)).map_or(&[][..], Vec::as_slice);
            want_for(entry, job, keys);
        }
        if branch.is_some() {
            let scans = matches!(&step.kind, StepKind::Job(j) if j.branch_scan == BranchScan::Auto);
            entry.scanned = Some(entry.scanned.unwrap_or(false) || scans);
        }
    }
    let mut rehearsal = Rehearsal::default();
    for (name, wanted) in wanted {
        match branch_of(&name) {
            Some((project, branch)) => {
                let scanned = wanted.scanned.unwrap_or(false);
                let job = rehearsal_job(name, wanted);
                let branch = BranchConfig {
                    name: branch,
                    builds: job.builds.clone(),
                    parameters: job.parameters,
                    discovered: !scanned,
                    history: if scanned { Vec::new() } else { job.history },
                };
                match rehearsal.projects.iter_mut().find(|p| p.path == project) {
                    Some(existing) => existing.branches.push(branch),
                    None => rehearsal.projects.push(MultibranchConfig {
                        path: project,
                        scan_duration: Dur::from_secs(5),
                        branches: vec![branch],
                    }),
                }
            }
            None => rehearsal.jobs.push(rehearsal_job(name, wanted)),
        }
    }
    rehearsal
}

/// The multibranch project and the branch a branch job's full name names, when its last
/// segment is an encoded branch name (`release%2F2.4`) under a valid project path.
fn branch_of(name: &str) -> Option<(String, String)> {
    let (project, encoded) = name.rsplit_once('/')?;
    let branch = decode_branch(encoded);
    (branch != encoded && check_job_path(project).is_ok()).then(|| (project.to_string(), branch))
}

/// The id later steps read a step's outputs by: a matrix cell's is its group's.
fn step_id(step: &crate::pipeline::Step) -> &str {
    step.matrix.as_ref().map_or(&step.id, |m| &m.group)
}

/// For each step id, the output names other steps' templates read from it.
fn read_outputs(pipeline: &Pipeline) -> BTreeMap<&str, Vec<String>> {
    let mut read: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for template in pipeline.templates() {
        for (id, name, _) in template.output_refs() {
            let names = read.entry(id).or_default();
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    read
}

fn want_for(wanted: &mut Wanted, job: &JobStep, read: &[String]) {
    for (name, _) in &job.params {
        wanted.param(name);
    }
    if let Some(name) = &job.trigger_id {
        wanted.param(name);
    }
    if let Some(path) = &job.outputs.from_artifact {
        let named: Vec<&str> = job.outputs.named.iter().map(|(n, _)| n.as_str()).collect();
        wanted.key(path, None);
        for key in read.iter().filter(|k| !named.contains(&k.as_str())) {
            wanted.key(path, Some(key));
        }
    }
    for (_, source) in &job.outputs.named {
        match source {
            OutputSource::Log(regex) => {
                if let Some(line) = matching_line(regex)
                    && !wanted.log.contains(&line)
                {
                    wanted.log.push(line);
                }
            }
            OutputSource::Description => wanted.description = true,
            OutputSource::DisplayName => wanted.display_name = true,
            OutputSource::Param(name) => wanted.param(name),
            OutputSource::Artifact { path, key } => wanted.key(path, Some(key)),
        }
    }
    if let Some(artifacts) = &job.artifacts {
        for glob in &artifacts.get {
            wanted.key(&path_matching(&glob.pattern), None);
        }
    }
}

/// A pipeline job with string parameters whose builds take a little while, so that a rehearsal
/// has something to watch, and hold what the pipeline reads from them.
fn rehearsal_job(name: String, wanted: Wanted) -> JobConfig {
    let mut job = JobConfig::new(name);
    job.kind = JobKind::Pipeline;
    job.parameters = wanted
        .params
        .into_iter()
        .map(|name| ParamConfig {
            default: Some(yaml_serde::Value::String(format!("rehearsal-{name}"))),
            name,
            kind: Default::default(),
            choices: Vec::new(),
            description: String::new(),
        })
        .collect();
    let mut log = vec!["Rehearsing in the jrun sandbox".to_string()];
    log.extend(wanted.log);
    let build = BuildSpec {
        duration: Dur::from_secs(15),
        log,
        description: wanted
            .description
            .then(|| "rehearsal description".to_string()),
        display_name: wanted.display_name.then(|| "rehearsal".to_string()),
        artifacts: wanted
            .files
            .into_iter()
            .map(|(path, keys)| ArtifactSpec {
                content: Some(placeholder_file(&path, &keys)),
                path,
                size: None,
            })
            .collect(),
        ..Default::default()
    };
    job.history = vec![build.clone()];
    job.builds = vec![build];
    job
}

/// A file of the kind its name says, giving each key the value `rehearsal-KEY`.
fn placeholder_file(path: &str, keys: &[String]) -> String {
    let value = |key: &str| format!("rehearsal-{key}");
    match OutputFormat::of(path) {
        Some(OutputFormat::Json) => {
            let map: serde_json::Map<String, serde_json::Value> = keys
                .iter()
                .map(|k| (k.clone(), serde_json::Value::String(value(k))))
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        Some(OutputFormat::Properties | OutputFormat::Env) => {
            keys.iter().map(|k| format!("{k}={}\n", value(k))).collect()
        }
        None => format!("placeholder for {path}, archived by a jrun sandbox rehearsal\n"),
    }
}

/// A path an artifact glob matches: each wildcard stands for `rehearsal`, a `?` for `x`, a
/// character class for its first character.
fn path_matching(glob: &str) -> String {
    let mut path = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                let mut stars = 1;
                while chars.peek() == Some(&'*') {
                    chars.next();
                    stars += 1;
                }
                // A trailing `**` names everything in a folder: give it a file.
                if stars > 1 && chars.peek().is_none() {
                    path.push_str("rehearsal.txt");
                } else {
                    path.push_str("rehearsal");
                }
            }
            '?' => path.push('x'),
            '\\' => path.extend(chars.next()),
            '[' => {
                let class: String = chars.by_ref().take_while(|&c| c != ']').collect();
                let first = class.trim_start_matches(['!', '^']).chars().next();
                path.push(first.unwrap_or('x'));
            }
            '{' => {
                let group: String = chars.by_ref().take_while(|&c| c != '}').collect();
                path.push_str(group.split(',').next().unwrap_or_default());
            }
            c => path.push(c),
        }
    }
    if path.ends_with('/') {
        path.push_str("rehearsal.txt");
    }
    path
}

/// A line of console log that `regex` matches, for a `log:` output to read; `None` when the
/// pattern is beyond this simple construction (the rehearsal then shows the output unread).
fn matching_line(regex: &regex::Regex) -> Option<String> {
    let hir = regex_syntax::parse(regex.as_str()).ok()?;
    let mut line = String::new();
    example(&hir, &mut line);
    (!line.contains('\n') && regex.is_match(&line)).then_some(line)
}

fn example(hir: &Hir, out: &mut String) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(&String::from_utf8_lossy(&literal.0)),
        HirKind::Class(class) => out.push(class_member(class)),
        HirKind::Repetition(rep) => {
            // A run of word-like characters reads as a placeholder where the class allows it.
            const WORD: &str = "rehearsal";
            if let HirKind::Class(class) = rep.sub.kind()
                && rep.min <= WORD.len() as u32
                && rep.max.is_none_or(|max| max >= WORD.len() as u32)
                && WORD.chars().all(|c| class_contains(class, c))
            {
                out.push_str(WORD);
                return;
            }
            // Once, where allowed: a captured value should not be empty.
            let times = rep.min.max(1).min(rep.max.unwrap_or(u32::MAX));
            for _ in 0..times.min(64) {
                example(&rep.sub, out);
            }
        }
        HirKind::Capture(capture) => example(&capture.sub, out),
        HirKind::Concat(parts) => parts.iter().for_each(|part| example(part, out)),
        HirKind::Alternation(options) => {
            if let Some(first) = options.first() {
                example(first, out);
            }
        }
    }
}

/// A readable character of the class when it has one, else its first printable one.
fn class_contains(class: &Class, c: char) -> bool {
    match class {
        Class::Unicode(u) => u.ranges().iter().any(|r| r.start() <= c && c <= r.end()),
        Class::Bytes(b) => {
            c.is_ascii()
                && b.ranges()
                    .iter()
                    .any(|r| r.start() <= c as u8 && c as u8 <= r.end())
        }
    }
}

fn class_member(class: &Class) -> char {
    if let Some(c) = "x0aA1-._:/@ ".chars().find(|&c| class_contains(class, c)) {
        return c;
    }
    let first = match class {
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .flat_map(|r| (r.start()..=r.end()).take(128))
            .find(|c| !c.is_control()),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .flat_map(|r| r.start()..=r.end())
            .map(char::from)
            .find(|c| c.is_ascii_graphic()),
    };
    first.unwrap_or('x')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::pipeline::RunFacts;

    fn jobs_for(yaml: &str, declared: &[&str]) -> Vec<(String, Vec<String>)> {
        let pipeline = crate::pipeline::load_str(yaml, Path::new("p.yaml"), &[]).unwrap();
        let ctx = RenderContext::new(&pipeline, RunFacts::default(), BTreeMap::new());
        let declared: Vec<String> = declared.iter().map(|d| d.to_string()).collect();
        rehearsal(&pipeline, &ctx, &declared)
            .jobs
            .into_iter()
            .map(|job| {
                let params = job.parameters.into_iter().map(|p| p.name).collect();
                (job.path, params)
            })
            .collect()
    }

    #[test]
    fn a_job_called_by_several_steps_takes_every_parameter_they_pass() {
        let yaml = "name: p\nsteps:\n\
            - { id: eu, job: deploy, params: { REGION: eu, BUILD: '1' } }\n\
            - { id: us, job: deploy, params: { REGION: us, CANARY: 'yes' }, trigger_id: JRUN_ID }\n";
        assert_eq!(
            jobs_for(yaml, &[]),
            vec![(
                "deploy".to_string(),
                vec!["REGION", "BUILD", "CANARY", "JRUN_ID"]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>()
            )]
        );
    }

    #[test]
    fn awaited_jobs_are_created_and_declared_or_unrenderable_ones_are_not() {
        let yaml = "name: p\nvars: { app: web }\nsteps:\n\
            - { id: build, job: 'apps/{{vars.app}}/build' }\n\
            - { id: gate, await: { job: qa/nightly } }\n\
            - { id: declared, job: scripted }\n\
            - { id: later, job: 'deploy-{{steps.build.number}}' }\n";
        let jobs = jobs_for(yaml, &["scripted"]);
        let names: Vec<&str> = jobs.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, vec!["apps/web/build", "qa/nightly"]);
        assert!(jobs.iter().all(|(_, params)| params.is_empty()));
    }

    #[test]
    fn rehearsal_builds_take_a_while_and_say_where_they_run() {
        let mut wanted = Wanted::default();
        wanted.param("REGION");
        let job = rehearsal_job("deploy".to_string(), wanted);
        assert_eq!(job.kind, JobKind::Pipeline);
        assert_eq!(job.builds.len(), 1);
        assert_eq!(job.builds[0].duration, Dur::from_secs(15));
        assert_eq!(job.builds[0].log, vec!["Rehearsing in the jrun sandbox"]);
        assert_eq!(job.history.len(), 1);
    }

    #[test]
    fn builds_hold_what_the_steps_outputs_and_artifacts_read() {
        let yaml = r#"name: p
steps:
  - id: build
    job: app/build
    outputs:
      from_artifact: out/info.json
      IMAGE: { log: 'pushed image (\S+) to [a-z]+$' }
      SHA: { artifact: meta.properties, key: git.sha }
      NOTE: { description: true }
      TITLE: { display_name: true }
      BRANCH: { param: GIT_BRANCH }
    artifacts: { get: ["dist/*.tar.gz", "reports/**"] }
  - id: deploy
    job: deploy
    params:
      VERSION: "{{steps.build.outputs.version}}"
      IMAGE: "{{steps.build.outputs.IMAGE}}"
"#;
        let pipeline = crate::pipeline::load_str(yaml, Path::new("p.yaml"), &[]).unwrap();
        let ctx = RenderContext::new(&pipeline, RunFacts::default(), BTreeMap::new());
        let jobs = rehearsal(&pipeline, &ctx, &[]).jobs;
        let build = &jobs[0].builds[0];
        let files: BTreeMap<&str, &str> = build
            .artifacts
            .iter()
            .map(|a| (a.path.as_str(), a.content.as_deref().unwrap()))
            .collect();
        assert_eq!(files["out/info.json"], r#"{"version":"rehearsal-version"}"#);
        assert_eq!(files["meta.properties"], "git.sha=rehearsal-git.sha\n");
        assert!(files.contains_key("dist/rehearsal.tar.gz"), "{files:?}");
        assert!(files.contains_key("reports/rehearsal.txt"), "{files:?}");
        let regex = regex::Regex::new(r"pushed image (\S+) to [a-z]+$").unwrap();
        assert!(
            build.log.iter().any(|l| regex.is_match(l)),
            "{:?}",
            build.log
        );
        assert!(build.description.is_some() && build.display_name.is_some());
        let params: Vec<&str> = jobs[0].parameters.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(params, ["GIT_BRANCH"]);
    }

    #[test]
    fn a_log_line_is_made_for_common_patterns_and_none_when_it_cannot_be() {
        for pattern in [
            r"pushed image (\S+)",
            r"^version: (\d+\.\d+\.\d+)$",
            r"(?i)digest=(sha256:[0-9a-f]{64})",
            r"\bBUILD_ID=(\w+)",
            r"(foo|bar)-\d*",
        ] {
            let regex = regex::Regex::new(pattern).unwrap();
            let line = matching_line(&regex).unwrap_or_else(|| panic!("{pattern}"));
            assert!(regex.is_match(&line), "{pattern}: {line}");
        }
        let image = regex::Regex::new(r"pushed image (\S+)").unwrap();
        assert_eq!(matching_line(&image).unwrap(), "pushed image rehearsal");
        // A word boundary between two word characters cannot be met by this construction.
        assert_eq!(
            matching_line(&regex::Regex::new(r"a\Bb\b").unwrap()),
            Some("ab".into())
        );
        assert_eq!(matching_line(&regex::Regex::new(r"x\by").unwrap()), None);
    }

    #[test]
    fn glob_paths_stand_for_a_file_they_match() {
        assert_eq!(path_matching("dist/*.tar.gz"), "dist/rehearsal.tar.gz");
        assert_eq!(path_matching("reports/**"), "reports/rehearsal.txt");
        assert_eq!(path_matching("**/*.xml"), "rehearsal/rehearsal.xml");
        assert_eq!(path_matching("a?/[bc].{json,env}"), "ax/b.json");
    }

    #[test]
    fn branch_jobs_become_branches_of_a_project_found_by_a_scan_when_a_step_scans() {
        let yaml = "name: p\nsteps:\n\
            - { id: cut, job: app, branch: release/2.4, branch_scan: auto, params: { V: '1' } }\n\
            - { id: main, job: 'app/main' }\n\
            - { id: old, job: 'app/release%2F2.3', params: { V: '1' } }\n";
        let pipeline = crate::pipeline::load_str(yaml, Path::new("p.yaml"), &[]).unwrap();
        let ctx = RenderContext::new(&pipeline, RunFacts::default(), BTreeMap::new());
        let made = rehearsal(&pipeline, &ctx, &[]);
        // `app/main` is a plain name: without an encoded segment it cannot be told from a job
        // in a folder, so it stays one.
        let jobs: Vec<&str> = made.jobs.iter().map(|j| j.path.as_str()).collect();
        assert_eq!(jobs, ["app/main"]);
        assert_eq!(made.projects.len(), 1);
        let project = &made.projects[0];
        assert_eq!(project.path, "app");
        let branches: Vec<(&str, bool, usize, usize)> = project
            .branches
            .iter()
            .map(|b| {
                (
                    b.name.as_str(),
                    b.discovered,
                    b.history.len(),
                    b.parameters.len(),
                )
            })
            .collect();
        assert_eq!(
            branches,
            [("release/2.4", false, 0, 1), ("release/2.3", true, 1, 1)]
        );
        // A project the sandbox's config declares is left alone.
        assert!(
            rehearsal(&pipeline, &ctx, &["app".to_string()])
                .projects
                .is_empty()
        );
    }
}
