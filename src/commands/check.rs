//! `jrun check`: the preflight against the real servers (jobs, parameters, access), triggering nothing.

use crate::cli::CheckArgs;
use crate::engine;
use crate::exit::ExitStatus;
use crate::jenkins;

use super::common::{
    CommandError, base_context, environment, load, log_requests, runtime, to_stdout,
};
use super::connect::{Target, connect};

pub fn check(args: CheckArgs) -> Result<ExitStatus, CommandError> {
    log_requests(args.talk.verbose);
    let pipeline = load(&args.pipeline, &args.set)?;
    let env = environment();
    pipeline.check_env(&env).map_err(CommandError::invalid)?;
    let run_facts = engine::run_facts();
    let ctx = base_context(&pipeline, &env, &run_facts);
    let target = Target::Configured {
        insecure: args.talk.insecure,
    };
    let connection = connect(&pipeline, &ctx, &env, None, target)?;
    let jobs = engine::JobCache::default();
    let checked = runtime()?.block_on(engine::preflight::check_with_notes(
        &pipeline,
        &connection.clients,
        &ctx,
        None,
        &jobs,
    ));
    for client in connection.clients.values() {
        to_stdout(&describe_server(client));
    }
    let (problems, notes) = checked.map_err(|(_, e)| CommandError::new(ExitStatus::Jenkins, e))?;
    for note in &notes {
        to_stdout(&format!("note: {}\n", note.message));
    }
    if !problems.is_empty() {
        return Err(preflight_failure(problems));
    }
    let checked = jobs.len();
    let pending = if notes.is_empty() {
        String::new()
    } else {
        format!(
            ", {} branch job{} to be scanned for",
            notes.len(),
            if notes.len() == 1 { "" } else { "s" }
        )
    };
    to_stdout(&format!(
        "{}: ok ({checked} job{} checked{pending}, nothing triggered)\n",
        args.pipeline.display(),
        if checked == 1 { "" } else { "s" }
    ));
    Ok(ExitStatus::Success)
}

/// How jrun reaches one server and who answered, for the reader to check the setup: the auth
/// scheme, where each credential came from, header names, the proxy, and Jenkins' version
/// from its answers. Never a secret.
fn describe_server(client: &jenkins::Client) -> String {
    let settings = client.settings();
    let mut text = format!("server {}: {}\n", settings.name, client.base_url());
    text.push_str(&format!(
        "  auth: {}; {}\n",
        settings.auth.scheme(),
        settings.credentials_from.join(", ")
    ));
    if !settings.headers.is_empty() {
        let names: Vec<&str> = settings.headers.iter().map(|(n, _)| n.as_str()).collect();
        text.push_str(&format!(
            "  headers: {} (values not shown)\n",
            names.join(", ")
        ));
    }
    if let Some(proxy) = &settings.proxy {
        text.push_str(&format!(
            "  proxy: {} (from {})\n",
            crate::redact::redact(proxy.url.expose()),
            proxy.from
        ));
    }
    match client.jenkins_version() {
        Some(version) => text.push_str(&format!("  answered by Jenkins {version}\n")),
        None => text.push_str("  Jenkins not confirmed: no answer carried an X-Jenkins header\n"),
    }
    text
}

/// The preflight's problems as one error.
fn preflight_failure(problems: Vec<engine::preflight::Problem>) -> CommandError {
    let count = problems.len();
    let problems: Vec<String> = problems.into_iter().map(|p| p.message).collect();
    CommandError::invalid(anyhow::anyhow!(
        "{count} problem{} found before anything was triggered:\n{}",
        if count == 1 { "" } else { "s" },
        problems.join("\n")
    ))
}
