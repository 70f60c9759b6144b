//! Switchable faults: which requests they hit, and whether each is slowed, answered with an
//! error, or dropped before or after it is processed.

use http::{Method, StatusCode};

use super::config::FaultScope;
use super::shared::Shared;
use super::wire::Req;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FaultAction {
    None,
    Error(StatusCode),
    DropBefore,
    DropAfter,
}

pub(super) struct Fault {
    pub(super) latency: std::time::Duration,
    pub(super) action: FaultAction,
}

fn is_trigger_path(segments: &[String]) -> bool {
    matches!(
        segments.last().map(String::as_str),
        Some("build" | "buildWithParameters")
    )
}

pub(super) fn decide_fault(shared: &Shared, req: &Req) -> Fault {
    let mut model = shared.lock();
    let faults = model.faults.clone();
    let in_scope = match faults.scope {
        FaultScope::All => true,
        FaultScope::Reads => matches!(req.method, Method::GET | Method::HEAD),
        FaultScope::Posts => req.is_post(),
        FaultScope::Triggers => is_trigger_path(&req.segments),
    };
    let latency = if in_scope {
        faults.latency.0
    } else {
        std::time::Duration::ZERO
    };
    if !in_scope {
        return Fault {
            latency,
            action: FaultAction::None,
        };
    }
    let status = StatusCode::from_u16(faults.error_status.unwrap_or(503))
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let drop = if faults.reset_after_processing {
        FaultAction::DropAfter
    } else {
        FaultAction::DropBefore
    };
    let action = if faults.error_burst > 0 {
        model.faults.error_burst -= 1;
        FaultAction::Error(status)
    } else if faults.reset_burst > 0 {
        model.faults.reset_burst -= 1;
        drop
    } else if faults.error_rate > 0.0 && model.rng.f64() < faults.error_rate {
        FaultAction::Error(status)
    } else if faults.reset_rate > 0.0 && model.rng.f64() < faults.reset_rate {
        drop
    } else {
        FaultAction::None
    };
    if action != FaultAction::None {
        model.stats.faults_injected += 1;
    }
    Fault { latency, action }
}
