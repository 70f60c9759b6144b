//! A build paused at a Pipeline `input` step: told on every output, answered from the step's
//! `input:`, `--approve` or the terminal, or left for a person; `input_timeout` bounds the wait.
//! Every answer is journaled before it is sent, so a resumed run never answers twice.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::journal::Record;
use super::step::{StepContext, WaitEnded};
use crate::jenkins::{self, InputError, InputReply, PendingInput};
use crate::pipeline::{Condition, InputAction, JobStep};
use crate::report::{Event, FailureKind, InputRecord, StepOutcome, StepStatus};

/// Where one attempt's build stands with its inputs.
pub(super) struct Gate {
    attempt: u32,
    /// Inputs an answer went to: `true` once Jenkins took it, `false` while it may have.
    sent: BTreeMap<String, bool>,
    current: Option<Waiting>,
    /// Time spent at inputs that are behind, which the step's `timeout` does not count.
    paused: Duration,
}

struct Waiting {
    input: PendingInput,
    since: Instant,
    /// An answer was decided (or nothing to decide): it is not looked for again.
    decided: bool,
    answer: Option<(InputAction, &'static str)>,
}

/// What the poll does after an input was looked at.
pub(super) enum Turn {
    Poll,
    End(Box<StepOutcome>),
}

fn end(outcome: StepOutcome) -> Turn {
    Turn::End(Box::new(outcome))
}

impl Gate {
    /// `answered`: the inputs an interrupted run sent answers to, for this attempt's build.
    pub(super) fn new(attempt: u32, answered: BTreeMap<String, bool>) -> Gate {
        Gate {
            attempt,
            sent: answered,
            current: None,
            paused: Duration::ZERO,
        }
    }

    /// The step's deadline moved by the time spent at inputs, and none while one waits,
    /// unless `timeout_counts_input`.
    pub(super) fn limit(&self, step: &JobStep, deadline: Option<Instant>) -> Option<Instant> {
        if step.inputs.counts_against_timeout {
            return deadline;
        }
        if self.current.is_some() {
            return None;
        }
        deadline.map(|d| d + self.paused)
    }

    /// When `input_timeout` of the input waited at runs out, if it does.
    pub(super) fn act_at(&self, step: &JobStep) -> Option<Instant> {
        let waiting = self.current.as_ref().filter(|w| w.answer.is_none())?;
        step.inputs.timeout.map(|t| waiting.since + t)
    }

    /// Closes the wait at the current input, recording it on the step.
    pub(super) fn moved_on(&mut self, ctx: &StepContext, result: &mut StepOutcome) {
        if let Some(waiting) = self.current.take() {
            let waited = waiting.since.elapsed();
            self.paused += waited;
            result.inputs.push(InputRecord {
                id: waiting.input.id,
                message: waiting.input.message,
                waited_ms: ctx.time.pipeline_duration(waited).as_millis() as u64,
                answer: waiting.answer.map(|(a, _)| a.as_str().to_string()),
                by: waiting.answer.map(|(_, by)| by.to_string()),
            });
        }
    }
}

/// After a read of the running build: notices an input it waits at, answers it when the step
/// says how, and acts when `input_timeout` passed.
pub(super) async fn look(
    ctx: &mut StepContext,
    gate: &mut Gate,
    step: &JobStep,
    job: &str,
    number: u64,
    build: &jenkins::Build,
    result: &mut StepOutcome,
) -> Turn {
    if !build.waiting_for_input {
        gate.moved_on(ctx, result);
        return Turn::Poll;
    }
    if gate.current.is_none() {
        let client = ctx.client.clone();
        let pending = match ctx.read(None, client.pending_inputs(job, number)).await {
            Ok(pending) => pending,
            Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => return Turn::Poll,
            Err(ended) => return end(ended_while_waiting(ctx, result, ended)),
        };
        // An input this run answered already is moving on; the next read tells.
        let Some(input) = pending
            .into_iter()
            .find(|i| gate.sent.get(&i.id) != Some(&true))
        else {
            return Turn::Poll;
        };
        let url = client.input_page(job, number).unwrap_or_default();
        ctx.event(Event::Input {
            step: ctx.id(),
            id: &input.id,
            message: &input.message,
            url: &url,
        });
        gate.current = Some(Waiting {
            input,
            since: Instant::now(),
            decided: false,
            answer: None,
        });
    }
    let Some(waiting) = gate.current.as_mut() else {
        return Turn::Poll;
    };
    if !waiting.decided {
        waiting.decided = true;
        let chosen = match choose(ctx, step, &waiting.input) {
            Ok(chosen) => chosen,
            Err(message) => {
                return end(result.clone().fail(
                    StepStatus::Failed,
                    FailureKind::Invalid,
                    left_waiting(message, number),
                ));
            }
        };
        if let Some((action, params, by)) = chosen {
            return answer(ctx, gate, step, job, number, action, &params, by, result).await;
        }
    }
    let timed_out = gate.act_at(step).is_some_and(|at| Instant::now() >= at);
    if !timed_out {
        return Turn::Poll;
    }
    let limit = step.inputs.timeout.unwrap_or_default();
    match step.inputs.default {
        Some(action) => {
            let params = choose_params(ctx, step, &gate.current.as_ref().map(|w| w.input.clone()));
            match params {
                Ok(params) => {
                    answer(
                        ctx,
                        gate,
                        step,
                        job,
                        number,
                        action,
                        &params,
                        "input_default",
                        result,
                    )
                    .await
                }
                Err(message) => end(result.clone().fail(
                    StepStatus::Failed,
                    FailureKind::Invalid,
                    left_waiting(message, number),
                )),
            }
        }
        None => {
            let id = gate
                .current
                .as_ref()
                .map(|w| w.input.id.clone())
                .unwrap_or_default();
            let client = ctx.client.clone();
            let _ = tokio::time::timeout_at(
                ctx.stop_deadline(),
                client.answer_input(job, number, &id, &InputReply::Abort),
            )
            .await;
            gate.moved_on(ctx, result);
            let message = format!(
                "input {id} of build #{number} waited past its input_timeout of {}; jrun aborted \
                 the build",
                crate::duration::Dur(limit)
            );
            let limit = ctx.stop_deadline();
            let mut ended = result.clone();
            let confirmed = super::step::abort_build(ctx, &mut ended, job, number, limit).await;
            if !confirmed {
                ended.message = Some(format!("{message}; Jenkins did not yet show it ended"));
            }
            end(ended.fail(StepStatus::TimedOut, FailureKind::Timeout, message))
        }
    }
}

fn left_waiting(message: String, number: u64) -> String {
    format!("{message}; build #{number} still waits at the input")
}

fn ended_while_waiting(_ctx: &StepContext, result: &StepOutcome, ended: WaitEnded) -> StepOutcome {
    match ended {
        WaitEnded::Jenkins(e) => super::step::jenkins_failure(result.clone(), &e),
        WaitEnded::Stop(stop) => {
            let (status, failure, message) = super::step::stop_status(stop);
            result.clone().fail(status, failure, message)
        }
        WaitEnded::Deadline => result.clone().fail(
            StepStatus::TimedOut,
            FailureKind::Timeout,
            "timed out while reading the build's inputs",
        ),
    }
}

type Chosen = Option<(InputAction, Vec<(String, Value)>, &'static str)>;

/// How the step answers `input`, if it does: its first `input:` block that names it (or no
/// input) and whose `if:` holds, else `--approve`.
fn choose(ctx: &StepContext, step: &JobStep, input: &PendingInput) -> Result<Chosen, String> {
    for block in &step.inputs.answers {
        if block.id.as_ref().is_some_and(|id| *id != input.id) {
            continue;
        }
        if let Some(condition) = &block.condition {
            let rendered = ctx.render(condition)?;
            if !Condition::truth(&rendered)? {
                continue;
            }
        }
        let mut given = Vec::new();
        for (name, template) in &block.params {
            given.push((name.clone(), ctx.render(template)?));
        }
        return match block.action {
            InputAction::Prompt => Ok(None),
            InputAction::Abort => Ok(Some((InputAction::Abort, Vec::new(), "jrun"))),
            InputAction::Proceed => {
                let values = proceed_values(input, &given)?;
                Ok(Some((InputAction::Proceed, values, "jrun")))
            }
        };
    }
    let approved = ctx
        .approvals
        .iter()
        .any(|(s, id)| s == ctx.id() && id.as_ref().is_none_or(|id| *id == input.id));
    if approved {
        let values = proceed_values(input, &[])?;
        return Ok(Some((InputAction::Proceed, values, "--approve")));
    }
    Ok(None)
}

/// The parameters `input_default: proceed` sends: those of a matching `input:` block, the
/// rest from their defaults.
fn choose_params(
    ctx: &StepContext,
    step: &JobStep,
    input: &Option<PendingInput>,
) -> Result<Vec<(String, Value)>, String> {
    let Some(input) = input else {
        return Ok(Vec::new());
    };
    let block = step
        .inputs
        .answers
        .iter()
        .find(|b| b.id.as_ref().is_none_or(|id| *id == input.id));
    let mut given = Vec::new();
    for (name, template) in block.iter().flat_map(|b| b.params.iter()) {
        given.push((name.clone(), ctx.render(template)?));
    }
    proceed_values(input, &given)
}

/// The values a proceed sends: every parameter the input declares, from `given` or else its
/// default (Jenkins applies none itself), checked against the definitions.
pub(super) fn proceed_values(
    input: &PendingInput,
    given: &[(String, String)],
) -> Result<Vec<(String, Value)>, String> {
    let id = &input.id;
    let declared: Vec<&str> = input.parameters.iter().map(|p| p.name.as_str()).collect();
    if let Some((name, _)) = given.iter().find(|(n, _)| !declared.contains(&n.as_str())) {
        let known = if declared.is_empty() {
            "it has no parameters".to_string()
        } else {
            format!("it has {}", declared.join(", "))
        };
        return Err(format!(
            "input {id} has no parameter `{name}` ({known}); remove it from `input.params`"
        ));
    }
    let mut values = Vec::new();
    for param in &input.parameters {
        // A choice's default is merely its first entry: picking a target unasked is no answer.
        let text = match given.iter().find(|(n, _)| *n == param.name) {
            Some((_, value)) => value.clone(),
            None => match param.default_text().filter(|_| !param.is_choice()) {
                Some(default) => default,
                None => {
                    return Err(format!(
                        "input {id} needs parameter `{}` and it has no default; give it under \
                         `input.params`",
                        param.name
                    ));
                }
            },
        };
        let value = if param.is_boolean() {
            match text.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => {
                    return Err(format!(
                        "input {id}'s parameter `{}` is a boolean; `{other}` is neither true nor \
                         false",
                        param.name
                    ));
                }
            }
        } else {
            if param.is_choice() && !param.choices.contains(&text) {
                return Err(format!(
                    "input {id}'s parameter `{}` is one of {}; `{text}` is not among them",
                    param.name,
                    param.choices.join(", ")
                ));
            }
            Value::String(text)
        };
        values.push((param.name.clone(), value));
    }
    Ok(values)
}

/// Journals the answer, then sends it.
#[allow(clippy::too_many_arguments)]
async fn answer(
    ctx: &mut StepContext,
    gate: &mut Gate,
    step: &JobStep,
    job: &str,
    number: u64,
    action: InputAction,
    params: &[(String, Value)],
    by: &'static str,
    result: &mut StepOutcome,
) -> Turn {
    let _ = step;
    let Some(waiting) = gate.current.as_mut() else {
        return Turn::Poll;
    };
    let id = waiting.input.id.clone();
    let message = waiting.input.message.clone();
    let submitter = waiting.input.submitter.clone();
    if gate.sent.get(&id) == Some(&true) {
        return Turn::Poll;
    }
    let record = Record::InputAnswering {
        step: ctx.id().to_string(),
        attempt: gate.attempt,
        number,
        id: id.clone(),
        action: action.as_str().to_string(),
    };
    if let Err(e) = ctx.journal(record) {
        return end(result
            .clone()
            .fail(StepStatus::Failed, FailureKind::Jenkins, e));
    }
    gate.sent.insert(id.clone(), false);
    let reply = match action {
        InputAction::Abort => InputReply::Abort,
        _ => InputReply::Proceed(params.to_vec()),
    };
    let client = ctx.client.clone();
    match ctx
        .read(None, async {
            Ok(client.answer_input(job, number, &id, &reply).await)
        })
        .await
    {
        Ok(Ok(())) | Ok(Err(InputError::Gone { .. })) => {}
        Ok(Err(InputError::Denied { user, why, .. })) => {
            let who = submitter.map_or(String::new(), |s| format!(" (it may be answered by {s})"));
            let message = format!(
                "input {id} (\"{message}\") of build #{number}{who}: Jenkins refused the answer \
                 of {user}: {why}; answer it at {}",
                client.input_page(job, number).unwrap_or_default()
            );
            return end(result
                .clone()
                .fail(StepStatus::Failed, FailureKind::Jenkins, message));
        }
        Ok(Err(InputError::Jenkins(e))) => {
            return end(super::step::jenkins_failure(result.clone(), &e));
        }
        Err(ended) => return end(ended_while_waiting(ctx, result, ended)),
    }
    if let Err(e) = ctx.journal(Record::InputAnswered {
        step: ctx.id().to_string(),
        attempt: gate.attempt,
        number,
        id: id.clone(),
    }) {
        return end(result
            .clone()
            .fail(StepStatus::Failed, FailureKind::Jenkins, e));
    }
    gate.sent.insert(id.clone(), true);
    waiting.answer = Some((action, by));
    ctx.event(Event::Note {
        step: Some(ctx.id()),
        message: &format!("input {id}: sent {} ({by})", action.as_str()),
    });
    Turn::Poll
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jenkins::InputParam;

    fn deploy() -> PendingInput {
        PendingInput {
            id: "Deploy".into(),
            message: "Deploy to production?".into(),
            ok: "Deploy".into(),
            submitter: None,
            parameters: vec![
                InputParam {
                    name: "TARGET".into(),
                    kind: "ChoiceParameterDefinition".into(),
                    default: Some(Value::from("eu")),
                    choices: vec!["eu".into(), "us".into()],
                },
                InputParam {
                    name: "FORCE".into(),
                    kind: "BooleanParameterDefinition".into(),
                    default: Some(Value::Bool(false)),
                    choices: vec![],
                },
            ],
        }
    }

    #[test]
    fn a_proceed_sends_every_parameter_with_defaults_filled_in() {
        let values = proceed_values(&deploy(), &[("TARGET".into(), "us".into())]).unwrap();
        assert_eq!(
            values,
            vec![
                ("TARGET".to_string(), Value::from("us")),
                ("FORCE".to_string(), Value::Bool(false))
            ]
        );
    }

    #[test]
    fn a_missing_parameter_without_default_is_refused() {
        let e = proceed_values(&deploy(), &[]).unwrap_err();
        assert!(e.contains("needs parameter `TARGET`"), "{e}");
    }

    #[test]
    fn unknown_parameters_and_bad_values_are_refused() {
        let e = proceed_values(&deploy(), &[("TARGT".into(), "us".into())]).unwrap_err();
        assert!(
            e.contains("no parameter `TARGT`") && e.contains("TARGET, FORCE"),
            "{e}"
        );
        let e = proceed_values(&deploy(), &[("TARGET".into(), "asia".into())]).unwrap_err();
        assert!(e.contains("eu, us"), "{e}");
        let e = proceed_values(
            &deploy(),
            &[
                ("TARGET".into(), "eu".into()),
                ("FORCE".into(), "yes".into()),
            ],
        )
        .unwrap_err();
        assert!(e.contains("boolean"), "{e}");
    }
}
