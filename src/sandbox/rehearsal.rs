//! The jobs a rehearsal (`jrun --sandbox`) needs: every job a pipeline calls or awaits, taking
//! every parameter any of its steps passes.

use super::config::{BuildSpec, JobConfig, JobKind, ParamConfig, check_job_path};
use crate::duration::Dur;
use crate::pipeline::{Pipeline, RenderContext, StepKind};

/// The jobs `pipeline` calls or awaits that `declared` (the jobs of the sandbox's config) leaves
/// out, in the order the pipeline first names them. Steps that call one job may pass it
/// different parameters, so the job takes them all, with a step's `trigger_id` parameter among
/// them. A job whose name cannot be rendered before the run, or is no valid job path, is left to
/// the sandbox to create when it is first called.
pub fn rehearsal(pipeline: &Pipeline, ctx: &RenderContext, declared: &[String]) -> Vec<JobConfig> {
    let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
    for step in &pipeline.steps {
        let (template, params): (_, Vec<String>) = match &step.kind {
            StepKind::Job(job) => (
                &job.job,
                job.params
                    .iter()
                    .map(|(n, _)| n.clone())
                    .chain(job.trigger_id.clone())
                    .collect(),
            ),
            StepKind::Await(gate) => (&gate.job, Vec::new()),
        };
        let Ok(name) = template.render(ctx) else {
            continue;
        };
        if declared.contains(&name) || check_job_path(&name).is_err() {
            continue;
        }
        let index = match wanted.iter().position(|(n, _)| *n == name) {
            Some(index) => index,
            None => {
                wanted.push((name, Vec::new()));
                wanted.len() - 1
            }
        };
        let known = &mut wanted[index].1;
        for param in params {
            if !known.contains(&param) {
                known.push(param);
            }
        }
    }
    wanted
        .into_iter()
        .map(|(name, params)| rehearsal_job(name, params))
        .collect()
}

/// A pipeline job with string parameters whose builds take a little while, so that a rehearsal
/// has something to watch.
fn rehearsal_job(name: String, params: Vec<String>) -> JobConfig {
    let mut job = JobConfig::new(name);
    job.kind = JobKind::Pipeline;
    job.parameters = params
        .into_iter()
        .map(|name| ParamConfig {
            name,
            kind: Default::default(),
            default: None,
            choices: Vec::new(),
            description: String::new(),
        })
        .collect();
    let build = BuildSpec {
        duration: Dur::from_secs(15),
        log: vec!["Rehearsing in the jrun sandbox".to_string()],
        ..Default::default()
    };
    job.history = vec![build.clone()];
    job.builds = vec![build];
    job
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
        let job = rehearsal_job("deploy".to_string(), vec!["REGION".to_string()]);
        assert_eq!(job.kind, JobKind::Pipeline);
        assert_eq!(job.builds.len(), 1);
        assert_eq!(job.builds[0].duration, Dur::from_secs(15));
        assert_eq!(job.builds[0].log, vec!["Rehearsing in the jrun sandbox"]);
        assert_eq!(job.history.len(), 1);
    }
}
