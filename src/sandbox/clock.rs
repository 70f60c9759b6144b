//! Sandbox time: epoch milliseconds that run `speed` times faster than real time, so that
//! builds of minutes play in milliseconds while every timestamp stays consistent.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Clock {
    base_real: Instant,
    base_ms: f64,
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Self {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0);
        Clock {
            base_real: Instant::now(),
            base_ms: epoch_ms,
            speed,
        }
    }

    pub fn now_ms(&self) -> i64 {
        (self.base_ms + self.base_real.elapsed().as_secs_f64() * 1000.0 * self.speed) as i64
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Changes the speed from now on without moving the current time.
    pub fn set_speed(&mut self, speed: f64) {
        self.base_ms += self.base_real.elapsed().as_secs_f64() * 1000.0 * self.speed;
        self.base_real = Instant::now();
        self.speed = speed;
    }

    /// The real time that `sandbox_ms` of sandbox time takes.
    pub fn real(&self, sandbox_ms: i64) -> Duration {
        Duration::from_secs_f64((sandbox_ms.max(0) as f64 / 1000.0) / self.speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_clock_runs_ahead_of_real_time() {
        let clock = Clock::new(1000.0);
        let start = clock.now_ms();
        std::thread::sleep(Duration::from_millis(20));
        assert!(clock.now_ms() - start >= 20_000);
        assert_eq!(clock.real(60_000), Duration::from_millis(60));
    }

    #[test]
    fn changing_speed_keeps_time_continuous() {
        let mut clock = Clock::new(1.0);
        let before = clock.now_ms();
        clock.set_speed(1000.0);
        let after = clock.now_ms();
        assert!(after >= before && after - before < 1000);
    }
}
