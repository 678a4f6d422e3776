//! Helpers shared by the root tests that drive the `dealerflow` binary.
#![allow(dead_code)]

use std::process::Command;

/// The real Deribit trade file beside the repository.
pub const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/deribit/btc-option-trades-2026-08-16.json"
);

/// The `dealerflow` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dealerflow"))
}

/// Runs a command that must succeed and returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rows of `query --format json` output (a bare array or an object with `rows`).
pub fn json_rows(json: &str) -> Vec<serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(json).unwrap() {
        serde_json::Value::Array(a) => a,
        other => other["rows"].as_array().cloned().unwrap_or_default(),
    }
}

/// Whether a test may go on: true when `path` exists. When it does not, the test fails under `CI=true` (CI provides
/// the shared data, so its absence is an error there) and otherwise prints `SKIPPED` and returns false.
pub fn require_shared_data(path: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but a test prerequisite is missing: {path} not found"
    );
    eprintln!("SKIPPED: {path} not found");
    false
}

/// Waits for a child process; kills it and fails after `limit`.
pub fn wait_child(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("the process did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
