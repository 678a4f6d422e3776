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

use dealerflow_log::{LogOptions, LogWriter, OpenReport};
use dealerflow_schemas::Event;

use super::error::RecordError;

/// One batch of events with their local receive times (ns since the epoch).
pub type Batch = Vec<(i64, Event)>;

enum Command {
    Append(Batch),
    Sync(tokio::sync::oneshot::Sender<Result<u64, String>>),
}

/// A handle to the journal thread. Cloneable; the thread ends when [`Journal::close`] is called.
#[derive(Clone, Debug)]
pub struct JournalHandle {
    tx: mpsc::Sender<Command>,
    failure: Arc<Mutex<Option<RecordError>>>,
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
            return Err(self.failure().unwrap_or(RecordError::WriteLog {
                dir: PathBuf::new(),
                seq: 0,
                message: "the journal thread has stopped".into(),
            }));
        }
        match rx.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(message)) => Err(RecordError::WriteLog {
                dir: PathBuf::new(),
                seq: 0,
                message,
            }),
            Err(_) => Err(self.failure().unwrap_or(RecordError::WriteLog {
                dir: PathBuf::new(),
                seq: 0,
                message: "the journal thread has stopped".into(),
            })),
        }
    }

    /// The error that stopped the journal, if it stopped.
    pub fn failure(&self) -> Option<RecordError> {
        self.failure.lock().ok().and_then(|f| {
            f.as_ref().map(|e| match e {
                RecordError::WriteLog { dir, seq, message } => RecordError::WriteLog {
                    dir: dir.clone(),
                    seq: *seq,
                    message: message.clone(),
                },
                other => RecordError::WriteLog {
                    dir: PathBuf::new(),
                    seq: 0,
                    message: other.to_string(),
                },
            })
        })
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
            .map_err(|e| RecordError::OpenLog {
                dir: dir.to_path_buf(),
                message: format!("cannot start the writer thread: {e}"),
            })?;
        let report = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(RecordError::OpenLog {
                    dir: dir.to_path_buf(),
                    message: "the writer thread ended while opening".into(),
                })
            }
        };
        Ok((
            Journal {
                handle: JournalHandle { tx, failure },
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
        drop(handle);
        match thread.join() {
            Ok(r) => r,
            Err(_) => Err(RecordError::WriteLog {
                dir: PathBuf::new(),
                seq: 0,
                message: "the writer thread panicked".into(),
            }),
        }
    }
}

fn run(
    dir: PathBuf,
    opts: LogOptions,
    rx: mpsc::Receiver<Command>,
    ready: mpsc::Sender<Result<OpenReport, RecordError>>,
    failure: Arc<Mutex<Option<RecordError>>>,
) -> Result<u64, RecordError> {
    let (mut writer, report) = match LogWriter::open(&dir, opts) {
        Ok(x) => x,
        Err(e) => {
            let _ = ready.send(Err(RecordError::OpenLog {
                dir: dir.clone(),
                message: e.to_string(),
            }));
            return Err(RecordError::OpenLog {
                dir,
                message: "open failed".into(),
            });
        }
    };
    let _ = ready.send(Ok(report));
    let fail = |writer: &LogWriter, e: String| {
        let err = RecordError::WriteLog {
            dir: dir.clone(),
            seq: writer.next_seq(),
            message: e,
        };
        tracing::error!(error = %err, "log writer stopped");
        if let Ok(mut f) = failure.lock() {
            *f = Some(RecordError::WriteLog {
                dir: dir.clone(),
                seq: writer.next_seq(),
                message: err.to_string(),
            });
        }
        err
    };
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Command::Append(batch) => {
                for (ts_recv_ns, event) in &batch {
                    if let Err(e) = writer.append(*ts_recv_ns, event) {
                        return Err(fail(&writer, e.to_string()));
                    }
                }
                if let Err(e) = writer.maybe_sync() {
                    return Err(fail(&writer, e.to_string()));
                }
            }
            Command::Sync(reply) => {
                let r = writer.sync().map(|_| writer.next_seq());
                match r {
                    Ok(seq) => {
                        let _ = reply.send(Ok(seq));
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        let _ = reply.send(Err(msg.clone()));
                        return Err(fail(&writer, msg));
                    }
                }
            }
        }
    }
    let next = writer.next_seq();
    writer
        .close()
        .map_err(|e| fail_close(&dir, next, e.to_string()))?;
    Ok(next)
}

fn fail_close(dir: &Path, seq: u64, message: String) -> RecordError {
    RecordError::WriteLog {
        dir: dir.to_path_buf(),
        seq,
        message,
    }
}
