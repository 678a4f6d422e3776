//! The dependency rule of docs/ARCHITECTURE.md §3, checked on the real dependency graph (`cargo tree -e normal`):
//! the engine links no async runtime, network stack, random source, thread pool or ClickHouse client; the recorder
//! does not link the ClickHouse client; the store does not depend on the recorder; and no library crate depends on
//! more than one of the recorder, the simulator and the store; the service re-implements none of the fold: it
//! reads the log and asks the engine, and depends on neither the recorder, the simulator nor the store; the venue
//! crates depend on the schemas and the log and on no other dealerflow crate, but for the Tardis importer, which
//! also depends on the Deribit venue (for its trade-id order).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

/// The names of the packages `package` depends on through normal (non-dev, non-build) edges, itself excluded.
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .args(["--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_owned)
        .collect()
}

const LIBRARIES: [&str; 13] = [
    "dealerflow-schemas",
    "dealerflow-log",
    "dealerflow-deribit",
    "dealerflow-us",
    "dealerflow-tardis",
    "dealerflow-recorder",
    "dealerflow-sim",
    "dealerflow-store",
    "dealerflow-engine",
    "dealerflow-serve",
    "dealerflow-synth",
    "dealerflow-backtest",
    "dealerflow-benches",
];

#[test]
fn the_engine_is_pure() {
    let deps = normal_dependencies("dealerflow-engine");
    for banned in [
        "tokio",
        "hyper",
        "reqwest",
        "tokio-tungstenite",
        "clickhouse",
        "rand",
        "rand_core",
        "getrandom",
        "rayon",
        "dealerflow-recorder",
        "dealerflow-sim",
        "dealerflow-store",
    ] {
        assert!(
            !deps.contains(banned),
            "dealerflow-engine depends on {banned}"
        );
    }
    assert!(deps.contains("dealerflow-log"), "{deps:?}");
}

#[test]
fn the_recorder_does_not_link_clickhouse_and_the_store_not_the_recorder() {
    let recorder = normal_dependencies("dealerflow-recorder");
    assert!(!recorder.contains("clickhouse"), "{recorder:?}");
    assert!(!recorder.contains("dealerflow-store"), "{recorder:?}");
    let store = normal_dependencies("dealerflow-store");
    assert!(!store.contains("dealerflow-recorder"), "{store:?}");
    assert!(!store.contains("dealerflow-sim"), "{store:?}");
    assert!(store.contains("clickhouse"), "{store:?}");
}

#[test]
fn only_the_cli_and_benches_combine_recorder_sim_and_store() {
    let rooms = ["dealerflow-recorder", "dealerflow-sim", "dealerflow-store"];
    for lib in LIBRARIES {
        if lib == "dealerflow-benches" {
            continue;
        }
        let deps = normal_dependencies(lib);
        let linked: Vec<_> = rooms.iter().filter(|r| deps.contains(**r)).collect();
        assert!(linked.len() <= 1, "{lib} depends on {linked:?}");
    }
    // The CLI does combine them (the check above would not be vacuous).
    let cli = normal_dependencies("dealerflow");
    assert!(rooms.iter().all(|r| cli.contains(*r)), "{cli:?}");
}

#[test]
fn the_service_asks_the_engine_and_records_nothing_itself() {
    let serve = normal_dependencies("dealerflow-serve");
    for needed in ["dealerflow-engine", "dealerflow-log", "axum", "tokio"] {
        assert!(serve.contains(needed), "{needed} in {serve:?}");
    }
    for banned in [
        "dealerflow-recorder",
        "dealerflow-sim",
        "dealerflow-store",
        "clickhouse",
    ] {
        assert!(
            !serve.contains(banned),
            "dealerflow-serve depends on {banned}"
        );
    }
}

#[test]
fn the_venues_depend_on_the_schemas_and_the_log_only() {
    for venue in ["dealerflow-deribit", "dealerflow-us"] {
        let deps = normal_dependencies(venue);
        let ours: Vec<&String> = deps
            .iter()
            .filter(|d| d.starts_with("dealerflow-"))
            .collect();
        assert_eq!(
            ours,
            ["dealerflow-log", "dealerflow-schemas"],
            "{venue} depends on {ours:?}"
        );
        for banned in ["tokio", "hyper", "reqwest", "clickhouse"] {
            assert!(!deps.contains(banned), "{venue} depends on {banned}");
        }
    }
}

#[test]
fn the_tardis_importer_reads_files_into_the_log_and_nothing_else() {
    let deps = normal_dependencies("dealerflow-tardis");
    let ours: Vec<&String> = deps
        .iter()
        .filter(|d| d.starts_with("dealerflow-"))
        .collect();
    assert_eq!(
        ours,
        ["dealerflow-deribit", "dealerflow-log", "dealerflow-schemas"],
        "dealerflow-tardis depends on {ours:?}"
    );
    for banned in ["tokio", "hyper", "reqwest", "clickhouse"] {
        assert!(
            !deps.contains(banned),
            "dealerflow-tardis depends on {banned}"
        );
    }
}
