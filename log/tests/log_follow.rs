//! A reader in another process follows the log while this process appends: it sees every record, in order.
//! (The latency figure, within 10 ms, is measured by the `log` bench, not asserted here.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::event_for_seq;
use dealerflow_log::{Follower, FsyncPolicy, LogOptions, LogWriter};

const CHILD_ENV: &str = "DEALERFLOW_LOG_FOLLOW_CHILD_DIR";
const N: u64 = 3000;

/// Child mode: follow the log from seq 0 and print each record's seq and whether it matches.
#[test]
fn follow_child_reader() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut f = Follower::open(std::path::Path::new(&dir), 0).unwrap();
    let mut seen = 0;
    while seen < N {
        match f.next_timeout(Duration::from_secs(20)).unwrap() {
            Some(rec) => {
                let ok = rec.event == event_for_seq(rec.seq);
                println!("\nREC {} {}", rec.seq, if ok { "ok" } else { "MISMATCH" });
                seen += 1;
            }
            None => {
                println!("\nREC timeout");
                return;
            }
        }
    }
}

#[test]
fn follower_in_another_process_sees_every_record_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // The log must exist before the follower opens it.
    let (mut w, _) = LogWriter::open(
        dir.path(),
        LogOptions {
            segment_bytes: 64 << 10,
            fsync: FsyncPolicy::Never,
            ..LogOptions::default()
        },
    )
    .unwrap();
    w.append(0, &event_for_seq(0)).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "follow_child_reader",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Append the rest in bursts, across many segment rolls, while the child follows.
    for seq in 1..N {
        w.append(seq as i64, &event_for_seq(seq)).unwrap();
        if seq % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    w.close().unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut expect = 0u64;
    for line in out.lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("REC ") else {
            continue;
        };
        assert_ne!(rest, "timeout", "follower timed out at seq {expect}");
        let (seq, verdict) = rest.split_once(' ').unwrap();
        assert_eq!(seq.parse::<u64>().unwrap(), expect);
        assert_eq!(verdict, "ok", "seq {seq}");
        expect += 1;
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(expect, N);
}
