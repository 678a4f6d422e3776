//! Crash safety with real processes: a writer child is killed with SIGKILL at random points; the log must reopen,
//! verify, and hold every record whose append returned before the child's last completed fsync, with no partial or
//! duplicated record. The child is this test binary re-executed in "writer" mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::event_for_seq;
use dealerflow_log::{verify, FsyncPolicy, LogOptions, LogReader, LogWriter};

const CHILD_ENV: &str = "DEALERFLOW_LOG_CRASH_CHILD_DIR";

fn opts(policy: FsyncPolicy) -> LogOptions {
    LogOptions {
        segment_bytes: 64 << 10,
        fsync: policy,
        ..LogOptions::default()
    }
}

/// Child mode: append deterministic events forever, announcing each completed sync on stdout.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let policy = match std::env::var("DEALERFLOW_LOG_CRASH_POLICY").as_deref() {
        Ok("always") => FsyncPolicy::Always,
        _ => FsyncPolicy::EveryMs(2),
    };
    let (mut w, _) = LogWriter::open(std::path::Path::new(&dir), opts(policy)).unwrap();
    println!("ready {}", w.next_seq());
    let mut announced = w.synced_seq();
    loop {
        let seq = w.next_seq();
        w.append(seq as i64, &event_for_seq(seq)).unwrap();
        if seq % 64 == 0 {
            w.sync().unwrap();
        }
        if w.synced_seq() != announced {
            announced = w.synced_seq();
            println!("synced {announced}");
        }
    }
}

fn kill_once(dir: &std::path::Path, policy: &str, run_for: Duration) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env("DEALERFLOW_LOG_CRASH_POLICY", policy)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("synced ") {
                let _ = tx.send(n.trim().parse::<u64>().unwrap());
            } else if line.starts_with("ready") {
                let _ = tx.send(0);
            }
        }
    });
    // Wait until the child is writing, then let it run for the chosen time and kill it.
    let mut synced = 0;
    let ready_by = Instant::now() + Duration::from_secs(30);
    match rx.recv_timeout(ready_by - Instant::now()) {
        Ok(n) => synced = synced.max(n),
        Err(_) => panic!("child writer did not start"),
    }
    std::thread::sleep(run_for);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(n) = rx.try_recv() {
        synced = synced.max(n);
    }
    synced
}

#[test]
fn sigkill_at_random_points_loses_nothing_synced() {
    let dir = tempfile::tempdir().unwrap();
    // A small deterministic pseudo-random sequence of run times (1–40 ms), different kill points each round.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut truncated = 0;
    let kills = 60;
    for round in 0..kills {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let run_for = Duration::from_micros(1_000 + x % 39_000);
        let policy = if round % 3 == 0 { "always" } else { "every" };
        let synced = kill_once(dir.path(), policy, run_for);

        let (w, report) = LogWriter::open(dir.path(), opts(FsyncPolicy::Never)).unwrap();
        if report.truncated_tail.is_some() {
            truncated += 1;
        }
        assert!(
            report.records >= synced,
            "round {round}: {} records after reopen, but {synced} were synced",
            report.records
        );
        w.close().unwrap();
        let v = verify(dir.path()).unwrap();
        assert!(v.is_sound(), "round {round}: {:?}", v.problems);
        assert!(v.torn_tail.is_none());
    }
    // Every record is exactly the one the child appended with that seq: nothing partial, nothing duplicated.
    let r = LogReader::open(dir.path()).unwrap();
    let mut n = 0u64;
    for rec in r.iter() {
        let rec = rec.unwrap().to_record();
        assert_eq!(rec.seq, n);
        assert_eq!(rec.event, event_for_seq(n), "seq {n}");
        n += 1;
    }
    assert!(n > 1000, "only {n} records written in {kills} rounds");
    eprintln!("{kills} kills, {n} records, {truncated} torn tails repaired");
}
