//! `defaults:` and the per-step settings they fill in: timeouts, retry, expect, poll.

use std::time::Duration;

use crate::duration::Dur;
use crate::pipeline::file::{PollFile, RetryFile};
use crate::pipeline::locate::YamlPath;
use crate::pipeline::model::{BranchScan, Poll, ResultName, Retry};

use super::lowering::{Defaults, Lowering};

pub(super) const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long a scan of a multibranch project may take until the branch appears.
pub(super) const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(600);

/// Most retries a step may ask for.
pub(super) const MAX_RETRIES: u32 = 100;

impl Lowering<'_> {
    /// A duration that must be more than zero.
    pub(super) fn positive(&mut self, value: Option<Dur>, path: &YamlPath) -> Option<Duration> {
        let value = value?;
        if value.0.is_zero() {
            self.diags.at(
                path,
                format!("{path} must be more than 0s; remove it to use the default"),
            );
        }
        Some(value.0)
    }

    /// A `trigger_id:` names a build parameter: a plain name, never a template.
    pub(super) fn trigger_id_name(&mut self, name: &str, path: &YamlPath) -> Option<String> {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if plain {
            Some(name.to_string())
        } else {
            self.diags.at(
                path,
                format!(
                    "trigger_id must name a string parameter of the job (letters, digits, `_`, \
                     `-`, `.`), not `{name}`"
                ),
            );
            None
        }
    }

    pub(super) fn defaults(&mut self) -> Defaults {
        let mut defaults = Defaults {
            expect: vec![ResultName::Success],
            timeout: None,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            poll: Poll::default(),
            retry: None,
            trigger_id: None,
            branch_scan: BranchScan::Never,
            scan_timeout: DEFAULT_SCAN_TIMEOUT,
        };
        let Some(doc) = &self.doc.defaults else {
            return defaults;
        };
        let base = YamlPath::root().key("defaults");
        if let Some(expect) = &doc.expect {
            self.expect_list(expect, &base.key("expect"));
            defaults.expect = expect.clone();
        }
        defaults.timeout = self.positive(doc.timeout, &base.key("timeout"));
        if let Some(queue_timeout) = self.positive(doc.queue_timeout, &base.key("queue_timeout")) {
            defaults.queue_timeout = queue_timeout;
        }
        if let Some(poll) = &doc.poll {
            defaults.poll = self.poll(Poll::default(), poll, &base.key("poll"));
        }
        if let Some(retry) = &doc.retry {
            self.check_retry(retry, &base.key("retry"));
            defaults.retry = Some(retry.clone());
        }
        if let Some(name) = &doc.trigger_id {
            defaults.trigger_id = self.trigger_id_name(name, &base.key("trigger_id"));
        }
        if let Some(scan) = doc.branch_scan {
            defaults.branch_scan = scan;
        }
        if let Some(timeout) = self.positive(doc.scan_timeout, &base.key("scan_timeout")) {
            defaults.scan_timeout = timeout;
        }
        defaults
    }

    pub(super) fn check_retry(&mut self, retry: &RetryFile, path: &YamlPath) {
        if let Some(max) = retry.max
            && max > MAX_RETRIES
        {
            self.diags.at(
                &path.key("max"),
                format!("{path}.max is {max}, more than the {MAX_RETRIES} allowed"),
            );
        }
        if retry.on.as_ref().is_some_and(Vec::is_empty) {
            self.diags.at(
                &path.key("on"),
                format!(
                    "{path}.on is empty; list the reasons to retry, e.g. [FAILURE, lost], or \
                     set `max: 0` for no retry"
                ),
            );
        }
    }

    /// A step's own `retry:` over `defaults.retry`, key by key, over the built-in defaults.
    pub(super) fn retry(
        &mut self,
        own: Option<&RetryFile>,
        defaults: &Defaults,
        path: &YamlPath,
    ) -> Retry {
        if let Some(own) = own {
            self.check_retry(own, &path.key("retry"));
        }
        let layers = [own, defaults.retry.as_ref()];
        let builtin = Retry::default();
        Retry {
            max: layers
                .iter()
                .flatten()
                .find_map(|r| r.max)
                .unwrap_or(builtin.max),
            on: layers
                .iter()
                .flatten()
                .find_map(|r| r.on.clone())
                .unwrap_or(builtin.on),
            delay: layers
                .iter()
                .flatten()
                .find_map(|r| r.delay)
                .map_or(builtin.delay, |d| d.0),
        }
    }

    pub(super) fn expect_list(&mut self, list: &[ResultName], path: &YamlPath) {
        if list.is_empty() {
            self.diags.at(
                path,
                format!("{path} is empty; list the results that count as passing, e.g. [SUCCESS]"),
            );
        }
    }

    pub(super) fn poll(&mut self, base: Poll, own: &PollFile, path: &YamlPath) -> Poll {
        let poll = Poll {
            initial: own.initial.map_or(base.initial, |d| d.0),
            max: own.max.map_or(base.max, |d| d.0),
            factor: own.factor.unwrap_or(base.factor),
        };
        let at = |key: &str, set: bool| if set { path.key(key) } else { path.clone() };
        if poll.initial.is_zero() {
            self.diags.at(
                &at("initial", own.initial.is_some()),
                format!("{path}.initial must be more than 0s"),
            );
        }
        if !(poll.factor.is_finite() && poll.factor >= 1.0) {
            self.diags.at(
                &at("factor", own.factor.is_some()),
                format!(
                    "{path}.factor must be at least 1 (1 keeps the interval constant), not {}",
                    poll.factor
                ),
            );
        }
        if poll.initial > poll.max {
            self.diags.at(
                &at("initial", own.initial.is_some()),
                format!(
                    "{path}.initial ({}) is longer than {path}.max ({}); make initial at most max",
                    Dur(poll.initial),
                    Dur(poll.max)
                ),
            );
        }
        poll
    }
}
