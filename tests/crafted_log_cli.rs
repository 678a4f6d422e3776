//! Every command that reads a log, on a log with one crafted frame (a payload of random bytes under a fixed
//! CRC32C, in an instrument, a trade or an index price): each exits with status 1 (not killed by a signal) and
//! prints exactly one line on stderr naming the segment file and the frame's byte offset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use cli_support::{bin, ok, require_shared_data, REAL};
use dealerflow_log::{verify, LogReader};
use dealerflow_schemas::EventKind;
use dealerflow_store::TestDatabase;

/// Seeds of the crafted frames; each picks the victim's kind and position and the random bytes.
const SEEDS: [u64; 4] = [1, 2, 3, 4];

/// SplitMix64, so that a failing case is reproduced by its seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The crafted frame.
#[derive(Debug)]
struct Victim {
    segment: PathBuf,
    offset: u64,
    seq: u64,
    kind: EventKind,
}

/// Imports the real trades into `dir` and crafts one frame chosen by `seed`: its payload becomes random bytes
/// (drawn again until the library's `verify` refuses them) and its checksum is fixed.
fn crafted_log(dir: &Path, seed: u64) -> Victim {
    ok(bin()
        .args(["import", "deribit-json", REAL, "--data-dir"])
        .arg(dir));
    let mut rng = Rng(seed);
    let reader = LogReader::open(dir).unwrap();
    assert_eq!(reader.segments().len(), 1);
    let segment = reader.segments()[0].path.clone();
    let mut frames = Vec::new();
    let mut it = reader.iter();
    loop {
        let (_, offset) = it.location();
        let Some(rec) = it.next() else { break };
        let rec = rec.unwrap();
        frames.push((rec.seq, offset, rec.event.kind()));
    }
    drop(reader);
    let kinds = [
        EventKind::Instrument,
        EventKind::Trade,
        EventKind::IndexPrice,
    ];
    let kind = kinds[(seed % 3) as usize];
    let of_kind: Vec<_> = frames.iter().filter(|f| f.2 == kind).collect();
    assert!(!of_kind.is_empty(), "the import wrote {kind:?} events");
    let &(seq, offset, _) = of_kind[(rng.next() % of_kind.len() as u64) as usize];

    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .unwrap();
    let mut len = [0u8; 4];
    file.read_exact_at(&mut len, offset).unwrap();
    let len = u32::from_le_bytes(len) as usize;
    let mut frame = vec![0u8; 32 + len];
    file.read_exact_at(&mut frame, offset).unwrap();
    for _attempt in 0..100 {
        for b in &mut frame[32..] {
            *b = rng.next() as u8;
        }
        let crc = crc32c::crc32c(&frame[8..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        file.write_all_at(&frame, offset).unwrap();
        if !verify(dir).unwrap().is_sound() {
            return Victim {
                segment,
                offset,
                seq,
                kind,
            };
        }
    }
    panic!("seed {seed}: 100 random payloads were all valid events");
}

/// Checks that a command failed cleanly on the crafted frame: status 1 and one stderr line naming it.
fn assert_fails_naming(out: &Output, victim: &Victim, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what} on {victim:?}: {:?}\n{stderr}",
        out.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what} on {victim:?}: {stderr}");
    let name = victim.segment.file_name().unwrap().to_string_lossy();
    assert!(lines[0].contains(&*name), "{what}: {stderr}");
    assert!(
        lines[0].contains(&format!("offset {}", victim.offset)),
        "{what} on {victim:?}: {stderr}"
    );
    assert!(
        lines[0].contains(&format!("seq {}", victim.seq)),
        "{what} on {victim:?}: {stderr}"
    );
}

#[test]
fn every_reading_command_fails_with_one_line_naming_segment_and_offset() {
    if !require_shared_data(REAL) {
        return;
    }
    let mut kinds = Vec::new();
    for seed in SEEDS {
        let commands: [(&str, &[&str]); 5] = [
            ("log verify", &["log", "verify"]),
            ("log cat", &["log", "cat"]),
            ("log inspect", &["log", "inspect"]),
            ("gex --at latest", &["gex", "--at", "latest", "--data-dir"]),
            ("replay", &["replay", "--data-dir"]),
        ];
        for (what, args) in commands {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("log");
            let victim = crafted_log(&dir, seed);
            kinds.push(victim.kind);
            let mut cmd = bin();
            cmd.args(args).arg(&dir);
            if what == "replay" {
                cmd.arg("--out").arg(tmp.path().join("replay.csv"));
            }
            let out = cmd.output().unwrap();
            assert_fails_naming(&out, &victim, &format!("seed {seed}: {what}"));
            if what == "log verify" {
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(stdout.contains("NOT sound: 1 problem(s)"), "{stdout}");
            }
        }
    }
    for kind in [
        EventKind::Instrument,
        EventKind::Trade,
        EventKind::IndexPrice,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} frame was crafted");
    }
}

#[test]
fn sync_clickhouse_fails_with_one_line_naming_segment_and_offset() {
    if !require_shared_data(REAL) {
        return;
    }
    let Some(db) = TestDatabase::new("crafted_log_sync") else {
        return;
    };
    let t = db.target().clone();
    for seed in SEEDS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let victim = crafted_log(&dir, seed);
        let out = bin()
            .args(["sync-clickhouse", "--clickhouse", t.url(), "--database"])
            .arg(t.database())
            .arg("--data-dir")
            .arg(&dir)
            .env_remove("CLICKHOUSE_URL")
            .env_remove("CLICKHOUSE_USER")
            .env_remove("CLICKHOUSE_PASSWORD")
            .env_remove("CLICKHOUSE_DATABASE")
            .output()
            .unwrap();
        assert_fails_naming(&out, &victim, &format!("seed {seed}: sync-clickhouse"));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(db.drop_database())
        .unwrap();
}
