//! The log writer on its own thread, fed by a channel: the network side hands over events and never waits
//! for the disk; the journal appends them in the order received, syncs per the fsync policy, and on close
//! syncs and releases the log.
//!
//! A failed append or fsync stops the journal (a failed fsync stops the writer: docs/ARCHITECTURE.md §6); the
//! error is kept for the recorder to report, and nothing after it is acknowledged.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use dealerflow_log::{LogError, LogOptions, LogWriter, OpenReport};
use dealerflow_schemas::Event;

use super::error::RecordError;

/// One batch of events with their local receive times (ns since the epoch).
pub type Batch = Vec<(i64, Event)>;

enum Command {
    Append(Batch),
    Sync(tokio::sync::oneshot::Sender<Result<u64, RecordError>>),
}

/// Why the journal stopped: the first seq that may not be stored and the log error, kept for every later caller.
#[derive(Clone, Debug)]
struct Failure {
    seq: u64,
    source: Arc<LogError>,
}

impl Failure {
    fn error(&self, dir: &Path) -> RecordError {
        RecordError::WriteLog {
            dir: dir.to_path_buf(),
            seq: self.seq,
            source: self.source.clone(),
        }
    }
}

/// A handle to the journal thread. Cloneable; the thread ends when [`Journal::close`] is called.
#[derive(Clone, Debug)]
pub struct JournalHandle {
    tx: mpsc::Sender<Command>,
    dir: PathBuf,
    failure: Arc<Mutex<Option<Failure>>>,
}

impl JournalHandle {
    /// Queues a batch; never blocks. Events are appended in the order batches are queued.
    pub fn append(&self, batch: Batch) {
        if !batch.is_empty() {
            let _ = self.tx.send(Command::Append(batch));
        }
    }

    /// Waits until everything queued so far is appended and synced; returns the next seq.
    pub async fn sync(&self) -> Result<u64, RecordError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Command::Sync(tx)).is_err() {
            return Err(self.stopped());
        }
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(self.stopped()),
        }
    }

    /// The error that stopped the journal, or that it stopped without one.
    fn stopped(&self) -> RecordError {
        self.failure()
            .unwrap_or_else(|| RecordError::JournalStopped {
                dir: self.dir.clone(),
                what: "has stopped",
            })
    }

    /// The error that stopped the journal, if it stopped.
    pub fn failure(&self) -> Option<RecordError> {
        let failure = self.failure.lock().ok()?.clone()?;
        Some(failure.error(&self.dir))
    }

    /// True when the journal stopped because of an error.
    pub fn failed(&self) -> bool {
        self.failure.lock().map(|f| f.is_some()).unwrap_or(true)
    }
}

/// The journal: its handle and thread.
#[derive(Debug)]
pub struct Journal {
    handle: JournalHandle,
    thread: JoinHandle<Result<u64, RecordError>>,
}

impl Journal {
    /// Opens (or creates) the log in `dir` on a new thread. Returns once the log is open (a torn tail has
    /// been truncated), with what opening found.
    pub fn open(dir: &Path, opts: LogOptions) -> Result<(Journal, OpenReport), RecordError> {
        let (tx, rx) = mpsc::channel::<Command>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<OpenReport, RecordError>>();
        let failure = Arc::new(Mutex::new(None));
        let dir_owned = dir.to_path_buf();
        let failure_thread = failure.clone();
        let thread = std::thread::Builder::new()
            .name("dealerflow-journal".into())
            .spawn(move || run(dir_owned, opts, rx, ready_tx, failure_thread))
            .map_err(|source| RecordError::JournalThread {
                dir: dir.to_path_buf(),
                source,
            })?;
        let report = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(RecordError::JournalStopped {
                    dir: dir.to_path_buf(),
                    what: "ended while opening the log",
                })
            }
        };
        Ok((
            Journal {
                handle: JournalHandle {
                    tx,
                    dir: dir.to_path_buf(),
                    failure,
                },
                thread,
            },
            report,
        ))
    }

    /// A handle for queueing events.
    pub fn handle(&self) -> JournalHandle {
        self.handle.clone()
    }

    /// Appends what is queued, syncs, closes the log and joins the thread; returns the next seq. Every other
    /// handle must be dropped first or the thread keeps waiting for them.
    pub fn close(self) -> Result<u64, RecordError> {
        let Journal { handle, thread } = self;
        let dir = handle.dir.clone();
        drop(handle);
        match thread.join() {
            Ok(r) => r,
            Err(_) => Err(RecordError::JournalStopped {
                dir,
                what: "panicked",
            }),
        }
    }
}

fn run(
    dir: PathBuf,
    opts: LogOptions,
    rx: mpsc::Receiver<Command>,
    ready: mpsc::Sender<Result<OpenReport, RecordError>>,
    failure: Arc<Mutex<Option<Failure>>>,
) -> Result<u64, RecordError> {
    let (mut writer, report) = match LogWriter::open(&dir, opts) {
        Ok(x) => x,
        Err(source) => {
            let _ = ready.send(Err(RecordError::OpenLog {
                dir: dir.clone(),
                source,
            }));
            return Err(RecordError::JournalStopped {
                dir,
                what: "could not open the log",
            });
        }
    };
    let _ = ready.send(Ok(report));
    // Keeps the failure for every later caller and returns it.
    let fail = |seq: u64, e: LogError| {
        let f = Failure {
            seq,
            source: Arc::new(e),
        };
        let err = f.error(&dir);
        tracing::error!(error = %err, "log writer stopped");
        if let Ok(mut kept) = failure.lock() {
            *kept = Some(f.clone());
        }
        f
    };
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Command::Append(batch) => {
                for (ts_recv_ns, event) in &batch {
                    if let Err(e) = writer.append(*ts_recv_ns, event) {
                        return Err(fail(writer.next_seq(), e).error(&dir));
                    }
                }
                if let Err(e) = writer.maybe_sync() {
                    return Err(fail(writer.next_seq(), e).error(&dir));
                }
            }
            Command::Sync(reply) => match writer.sync() {
                Ok(_) => {
                    let _ = reply.send(Ok(writer.next_seq()));
                }
                Err(e) => {
                    let f = fail(writer.next_seq(), e);
                    let _ = reply.send(Err(f.error(&dir)));
                    return Err(f.error(&dir));
                }
            },
        }
    }
    let next = writer.next_seq();
    writer.close().map_err(|e| RecordError::WriteLog {
        dir: dir.clone(),
        seq: next,
        source: Arc::new(e),
    })?;
    Ok(next)
}
