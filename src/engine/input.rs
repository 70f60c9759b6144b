//! A build paused at a Pipeline `input` step: told on every output, answered from the step's
//! `input:`, `--approve` or the terminal, or left for a person; `input_timeout` bounds the wait.
//! Every answer is journaled before it is sent, so a resumed run never answers twice.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::journal::Record;
use super::step::{StepContext, WaitEnded};
use crate::jenkins::{self, InputError, InputParam, InputReply, PendingInput};
use crate::pipeline::{Condition, InputAction, JobStep};
use crate::report::prompt::{Asking, Field, Question, Reply};
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
    /// When its `input_timeout` runs out, in pipeline time like the step's `timeout`.
    until: Option<Instant>,
    /// An answer was decided (or nothing to decide): it is not looked for again.
    decided: bool,
    answer: Option<(InputAction, &'static str)>,
    /// The question open on the terminal (`action: prompt`); dropped, it is withdrawn.
    asking: Option<Asking>,
    /// What was typed there, once it was.
    typed: Option<Reply>,
}

/// What the poll does after an input was looked at.
pub(super) enum Turn {
    Poll,
    /// An answer was sent: the build moves again, and is best read again soon.
    Answered,
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
    pub(super) fn act_at(&self) -> Option<Instant> {
        let waiting = self.current.as_ref().filter(|w| w.answer.is_none())?;
        waiting.until
    }

    /// Once an answer is typed on the terminal; never while no question is open.
    pub(super) async fn typed(&mut self) {
        match self.current.as_mut() {
            Some(waiting) if waiting.typed.is_none() && waiting.asking.is_some() => {
                if let Some(asking) = waiting.asking.as_mut() {
                    waiting.typed = Some(asking.reply().await);
                }
            }
            _ => std::future::pending().await,
        }
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
    if let Some(id) = gate
        .current
        .as_ref()
        .filter(|w| w.asking.is_some())
        .map(|w| w.input.id.clone())
    {
        // While a question is open, someone may answer in Jenkins and the build may stop at
        // its next input before the next read: the question must not outlive its input.
        let client = ctx.client.clone();
        match ctx.read(None, client.pending_inputs(job, number)).await {
            Ok(pending) if !pending.iter().any(|i| i.id == id) => gate.moved_on(ctx, result),
            Ok(_) | Err(WaitEnded::Jenkins(jenkins::Error::NotFound { .. })) => {}
            Err(ended) => return end(ended_while_waiting(ctx, result, ended)),
        }
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
            until: step.inputs.timeout.map(|t| ctx.time.after(t)),
            decided: false,
            answer: None,
            asking: None,
            typed: None,
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
        match chosen {
            Choice::Send(action, params, by) => {
                return answer(ctx, gate, step, job, number, action, &params, by, result).await;
            }
            Choice::Ask(given) => {
                let url = ctx.client.input_page(job, number).unwrap_or_default();
                let question = question(ctx.id(), number, &waiting.input, &url, &given);
                waiting.asking = Some(ctx.reporter.ask(question));
            }
            Choice::Wait => {}
        }
    }
    let typed = match gate.current.as_mut() {
        Some(w) => w
            .typed
            .take()
            .or_else(|| w.asking.as_mut().and_then(Asking::try_reply)),
        None => None,
    };
    if let Some(reply) = typed {
        let Some(waiting) = gate.current.as_mut() else {
            return Turn::Poll;
        };
        waiting.asking = None;
        match reply {
            Reply::Abort => {
                return answer(
                    ctx,
                    gate,
                    step,
                    job,
                    number,
                    InputAction::Abort,
                    &[],
                    "terminal",
                    result,
                )
                .await;
            }
            Reply::Proceed(values) => match proceed_values(&waiting.input, &values) {
                Ok(values) => {
                    return answer(
                        ctx,
                        gate,
                        step,
                        job,
                        number,
                        InputAction::Proceed,
                        &values,
                        "terminal",
                        result,
                    )
                    .await;
                }
                Err(message) => ctx.event(Event::Note {
                    step: Some(ctx.id()),
                    message: &format!("{message}; the input still waits"),
                }),
            },
            Reply::Closed => {
                let url = ctx.client.input_page(job, number).unwrap_or_default();
                ctx.event(Event::Note {
                    step: Some(ctx.id()),
                    message: &format!(
                        "input {}: nothing typed, the terminal closed its input; answer at {url}",
                        waiting.input.id
                    ),
                });
            }
        }
    }
    let timed_out = gate.act_at().is_some_and(|at| Instant::now() >= at);

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

/// How an input is answered.
enum Choice {
    /// This answer, by this.
    Send(InputAction, Vec<(String, Value)>, &'static str),
    /// Ask on the terminal, offering these values.
    Ask(Vec<(String, String)>),
    /// Leave it to a person in Jenkins (or `input_timeout`).
    Wait,
}

/// How the step answers `input`, if it does: its first `input:` block that names it (or no
/// input) and whose `if:` holds, else `--approve`.
fn choose(ctx: &StepContext, step: &JobStep, input: &PendingInput) -> Result<Choice, String> {
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
            InputAction::Prompt => Ok(Choice::Ask(given)),
            InputAction::Abort => Ok(Choice::Send(InputAction::Abort, Vec::new(), "jrun")),
            InputAction::Proceed => {
                let values = proceed_values(input, &given)?;
                Ok(Choice::Send(InputAction::Proceed, values, "jrun"))
            }
        };
    }
    let approved = ctx
        .approvals
        .iter()
        .any(|(s, id)| s == ctx.id() && id.as_ref().is_none_or(|id| *id == input.id));
    if approved {
        let values = proceed_values(input, &[])?;
        return Ok(Choice::Send(InputAction::Proceed, values, "--approve"));
    }
    Ok(Choice::Wait)
}

/// The question put on the terminal for `input`: its message, its parameters with what is
/// offered for each (the step's `params`, else the input's defaults), and where else to answer.
fn question(
    step: &str,
    number: u64,
    input: &PendingInput,
    url: &str,
    given: &[(String, String)],
) -> Question {
    let mut lines = vec![format!(
        "{step}: build #{number} waits at input {}: {}",
        input.id, input.message
    )];
    if let Some(submitter) = &input.submitter {
        lines.push(format!("  it may be answered by {submitter}"));
    }
    lines.push(format!("  answer here, or at {url}"));
    let fields = input
        .parameters
        .iter()
        .map(|param| Field {
            name: param.name.clone(),
            hint: hint(param),
            default: given
                .iter()
                .find(|(n, _)| *n == param.name)
                .map(|(_, v)| v.clone())
                .or_else(|| param.default_text()),
            secret: param.kind.starts_with("Password"),
        })
        .collect();
    let params = input.parameters.clone();
    Question {
        lines,
        ok: input.ok.clone(),
        fields,
        check: Box::new(move |index, text| match params.get(index) {
            Some(param) => typed_value(param, text),
            None => Ok(text.to_string()),
        }),
    }
}

/// What a parameter takes, as the terminal says it.
fn hint(param: &InputParam) -> String {
    if param.is_boolean() {
        "yes or no".to_string()
    } else if param.is_choice() {
        format!("one of {}", param.choices.join(", "))
    } else {
        let kind = param.kind.trim_end_matches("ParameterDefinition");
        if kind.is_empty() {
            "text".to_string()
        } else {
            kind.to_lowercase()
        }
    }
}

/// A value typed for `param`, as `input.params` would give it: a boolean from yes/no words,
/// a choice by its value or its number in the list.
pub(super) fn typed_value(param: &InputParam, typed: &str) -> Result<String, String> {
    let text = typed.trim();
    if param.is_boolean() {
        return match text.to_lowercase().as_str() {
            "y" | "yes" | "true" | "1" => Ok("true".to_string()),
            "n" | "no" | "false" | "0" => Ok("false".to_string()),
            _ => Err(format!("`{text}` is not yes or no")),
        };
    }
    if param.is_choice() {
        if param.choices.iter().any(|c| c == text) {
            return Ok(text.to_string());
        }
        let picked = text
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| param.choices.get(n));
        return match picked {
            Some(choice) => Ok(choice.clone()),
            None => Err(format!(
                "`{text}` is not one of {} (or their number, 1 to {})",
                param.choices.join(", "),
                param.choices.len()
            )),
        };
    }
    Ok(typed.to_string())
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
    // Decided here, the terminal is asked no more.
    waiting.asking = None;
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
    Turn::Answered
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn typed_values_take_yes_no_and_a_choice_by_value_or_number() {
        let input = deploy();
        let (target, force) = (&input.parameters[0], &input.parameters[1]);
        assert_eq!(typed_value(target, "us").unwrap(), "us");
        assert_eq!(typed_value(target, " 1 ").unwrap(), "eu");
        let e = typed_value(target, "3").unwrap_err();
        assert!(e.contains("one of eu, us") && e.contains("1 to 2"), "{e}");
        assert!(typed_value(target, "0").is_err());
        assert_eq!(typed_value(force, "Yes").unwrap(), "true");
        assert_eq!(typed_value(force, "n").unwrap(), "false");
        assert!(typed_value(force, "perhaps").is_err());
    }

    #[test]
    fn the_question_offers_the_steps_params_then_the_inputs_defaults() {
        let q = question(
            "release",
            7,
            &deploy(),
            "http://j/job/app/7/input/",
            &[("TARGET".into(), "us".into())],
        );
        assert!(q.lines[0].contains("#7") && q.lines[0].contains("Deploy to production?"));
        assert!(
            q.lines
                .iter()
                .any(|l| l.contains("http://j/job/app/7/input/"))
        );
        assert_eq!(q.fields[0].default.as_deref(), Some("us"));
        assert_eq!(q.fields[0].hint, "one of eu, us");
        assert_eq!(q.fields[1].default.as_deref(), Some("false"));
        assert_eq!((q.check)(1, "yes"), Ok("true".to_string()));
        assert!((q.check)(0, "asia").is_err());
        // What the terminal gives is sent only once it passes the same checks as `params`.
        let typed = vec![
            ("TARGET".to_string(), (q.check)(0, "2").unwrap()),
            ("FORCE".to_string(), (q.check)(1, "y").unwrap()),
        ];
        assert_eq!(
            proceed_values(&deploy(), &typed).unwrap(),
            vec![
                ("TARGET".to_string(), Value::from("us")),
                ("FORCE".to_string(), Value::Bool(true))
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
