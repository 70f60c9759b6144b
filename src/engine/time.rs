//! Pipeline time. Against a real Jenkins it is real time; against jrun's in-process sandbox it
//! runs as fast as the sandbox's clock, so a rehearsal of a 45-minute release keeps every
//! proportion (poll intervals, timeouts) while taking seconds.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

type ServerClock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Clone)]
pub struct PipelineTime {
    scale: f64,
    server_now: Option<ServerClock>,
}

impl PipelineTime {
    pub fn real() -> Self {
        PipelineTime {
            scale: 1.0,
            server_now: None,
        }
    }

    /// Time that runs `scale` times faster than real time, with the server's clock read from
    /// `server_now` (epoch milliseconds) since its epoch drifts from ours.
    pub fn scaled(scale: f64, server_now: ServerClock) -> Self {
        PipelineTime {
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
            server_now: Some(server_now),
        }
    }

    /// Pipeline time per real time.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The real duration that `d` of pipeline time takes.
    pub fn real_duration(&self, d: Duration) -> Duration {
        if self.scale == 1.0 {
            d
        } else {
            Duration::from_secs_f64(d.as_secs_f64() / self.scale)
        }
    }

    /// The pipeline duration that `d` of real time stands for.
    pub fn pipeline_duration(&self, d: Duration) -> Duration {
        if self.scale == 1.0 {
            d
        } else {
            Duration::from_secs_f64(d.as_secs_f64() * self.scale)
        }
    }

    /// The instant `d` of pipeline time from now.
    pub fn after(&self, d: Duration) -> Instant {
        Instant::now() + self.real_duration(d)
    }

    /// The server's clock when it is known exactly (the in-process sandbox).
    pub fn exact_server_now_ms(&self) -> Option<i64> {
        self.server_now.as_ref().map(|now| now())
    }

    /// Jenkins' clock, in epoch milliseconds, for comparing with its timestamps.
    pub fn server_now_ms(&self) -> i64 {
        match &self.server_now {
            Some(now) => now(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_time_divides_waits_and_multiplies_elapsed() {
        let t = PipelineTime::scaled(100.0, Arc::new(|| 42));
        assert_eq!(
            t.real_duration(Duration::from_secs(10)),
            Duration::from_millis(100)
        );
        assert_eq!(
            t.pipeline_duration(Duration::from_millis(100)),
            Duration::from_secs(10)
        );
        assert_eq!(t.server_now_ms(), 42);
        let real = PipelineTime::real();
        assert_eq!(
            real.real_duration(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
    }
}
