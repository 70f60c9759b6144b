//! Unattended runs: the lock that keeps cron runs from overlapping.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{jrun, pipeline_file, wait_for};
use predicates::prelude::PredicateBooleanExt;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SLOW: &str = "name: slow\nsteps:\n  - id: wait\n    job: long\n";
const SLOW_SANDBOX: &str = "speed: 1\nquiet_period: 0s\njobs:\n  - {path: long, kind: pipeline, builds: [{duration: 1h}]}\n";

#[test]
fn a_second_run_with_the_same_lock_exits_5_at_once_and_triggers_nothing() {
    let (dir, pipeline) = pipeline_file(SLOW);
    let sandbox = dir.path().join("sandbox.yaml");
    std::fs::write(&sandbox, SLOW_SANDBOX).unwrap();
    let lock = dir.path().join("run.lock");
    let first = Command::new(env!("CARGO_BIN_EXE_jrun"))
        .arg(&pipeline)
        .args(["--progress", "never", "--sandbox-config"])
        .arg(&sandbox)
        .arg("--lock")
        .arg(&lock)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _first = Child(first);
    wait_for(
        Duration::from_secs(10),
        "the first run to take the lock",
        || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|t| t.starts_with("pid "))
        },
    );
    // The second run would start its own sandbox and trigger there; exiting first proves it
    // triggered nothing.
    jrun()
        .arg(&pipeline)
        .args(["--progress", "never", "--sandbox-config"])
        .arg(&sandbox)
        .arg("--lock")
        .arg(&lock)
        .timeout(Duration::from_secs(10))
        .assert()
        .code(5)
        .stderr(predicates::str::contains("another run holds the lock"))
        .stderr(predicates::str::contains("triggered").not());
}

#[test]
fn lock_wait_gives_up_with_exit_5_when_the_holder_stays() {
    let (dir, pipeline) = pipeline_file(SLOW);
    let lock = dir.path().join("run.lock");
    let holder = jrun::lock::acquire(&lock, None).unwrap();
    jrun()
        .arg(&pipeline)
        .args(["--sandbox", "--progress", "never", "--lock"])
        .arg(&lock)
        .args(["--lock-wait", "300ms"])
        .assert()
        .code(5);
    drop(holder);
}
