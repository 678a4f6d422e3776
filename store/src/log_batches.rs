//! The sink's log side: a thread that reads the log from a seq and hands batches of records to the inserter over
//! a bounded channel. When the inserter is slow or ClickHouse is down, this thread waits on the channel; the log
//! writer, which never reads this channel, is never slowed.
//!
//! The first message is a prelude with the `Instrument` events before the start seq (trades after it need them).
//! In catch-up mode the thread stops at the snapshot's end; in follow mode it keeps tailing with a
//! [`Follower`], cutting a batch at `batch_records` records or `flush_interval` after its first record.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dealerflow_log::LogError;
use dealerflow_log::{Follower, LogReader};
use dealerflow_schemas::event::ArchivedEvent;
use dealerflow_schemas::Record;
use tokio::sync::mpsc;

use super::error::ClickHouseError;

/// Records `[first_seq, next_seq)` of the log.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Seq of the first record (or the start seq, for the prelude).
    pub first_seq: u64,
    /// Seq after the last record.
    pub next_seq: u64,
    /// The records, in seq order.
    pub records: Vec<Record>,
    /// True for the prelude: instrument definitions before the start seq, already stored, only to be learned.
    pub prelude: bool,
}

/// What the reader thread reads.
#[derive(Debug)]
pub(crate) struct ReadPlan {
    pub dir: PathBuf,
    pub start_seq: u64,
    /// `Some(end)`: stop at `end` (catch-up). `None`: follow until shutdown.
    pub end_seq: Option<u64>,
    pub batch_records: usize,
    pub flush_interval: Duration,
    pub shutdown: Arc<AtomicBool>,
}

type Sender = mpsc::Sender<Result<Batch, ClickHouseError>>;

/// Starts the reader thread. It ends when the plan is done, on shutdown, on a log error (sent on the channel)
/// or when the receiver is dropped.
pub(crate) fn spawn(plan: ReadPlan, tx: Sender) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("clickhouse-sink-reader".into())
        .spawn(move || {
            if let Err(e) = read(&plan, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        })
}

fn log_error(plan: &ReadPlan, seq: Option<u64>, source: LogError) -> ClickHouseError {
    ClickHouseError::Log {
        dir: plan.dir.clone(),
        seq,
        source,
    }
}

/// Sends a batch; `false` when the receiver is gone.
fn send(tx: &Sender, batch: Batch) -> bool {
    tx.blocking_send(Ok(batch)).is_ok()
}

fn read(plan: &ReadPlan, tx: &Sender) -> Result<(), ClickHouseError> {
    // Prelude: instruments defined before the start seq.
    let reader = LogReader::open(&plan.dir).map_err(|e| log_error(plan, None, e))?;
    let mut prelude = Vec::new();
    for rec in reader.iter() {
        let rec = rec.map_err(|e| log_error(plan, None, e))?;
        if rec.seq >= plan.start_seq {
            break;
        }
        if let ArchivedEvent::Instrument(_) = rec.event {
            prelude.push(rec.to_record());
        }
    }
    drop(reader);
    if !send(
        tx,
        Batch {
            first_seq: plan.start_seq,
            next_seq: plan.start_seq,
            records: prelude,
            prelude: true,
        },
    ) {
        return Ok(());
    }

    let mut follower = Follower::open(&plan.dir, plan.start_seq)
        .map_err(|e| log_error(plan, Some(plan.start_seq), e))?;
    follower.poll_interval = Duration::from_millis(5);
    let mut pending: Vec<Record> = Vec::with_capacity(plan.batch_records.min(1 << 20));
    let mut pending_since = Instant::now();
    let flush = |pending: &mut Vec<Record>| -> bool {
        let records =
            std::mem::replace(pending, Vec::with_capacity(plan.batch_records.min(1 << 20)));
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return true;
        };
        let (first_seq, next_seq) = (first.seq, last.seq + 1);
        send(
            tx,
            Batch {
                first_seq,
                next_seq,
                records,
                prelude: false,
            },
        )
    };
    loop {
        let seq = follower.next_seq();
        if let Some(end) = plan.end_seq {
            if seq >= end {
                flush(&mut pending);
                return Ok(());
            }
        }
        let wait = match plan.end_seq {
            Some(_) => Duration::ZERO,
            None if pending.is_empty() => Duration::from_millis(100),
            None => plan
                .flush_interval
                .saturating_sub(pending_since.elapsed())
                .max(Duration::from_millis(1)),
        };
        let next = if wait.is_zero() {
            follower.try_next()
        } else {
            follower.next_timeout(wait)
        }
        .map_err(|e| log_error(plan, Some(seq), e))?;
        match next {
            Some(rec) => {
                if pending.is_empty() {
                    pending_since = Instant::now();
                }
                pending.push(rec);
                if pending.len() >= plan.batch_records {
                    if !flush(&mut pending) {
                        return Ok(());
                    }
                    if plan.shutdown.load(Ordering::Acquire) && plan.end_seq.is_some() {
                        return Ok(());
                    }
                }
            }
            None => match plan.end_seq {
                Some(end) => {
                    return Err(ClickHouseError::LogEndsEarly {
                        dir: plan.dir.clone(),
                        next_seq: seq,
                        expected_seq: end,
                    })
                }
                None => {
                    let stopping = plan.shutdown.load(Ordering::Acquire);
                    if !pending.is_empty()
                        && (stopping || pending_since.elapsed() >= plan.flush_interval)
                        && !flush(&mut pending)
                    {
                        return Ok(());
                    }
                    if stopping {
                        return Ok(());
                    }
                }
            },
        }
    }
}
