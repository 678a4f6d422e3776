//! The alerts journal, `DIR/alerts/journal.jsonl`: every alert is appended (and fsynced) here before it is
//! published or sent, and every delivery after the target acknowledged it, so that a restart neither loses nor
//! re-sends an alert.
//!
//! One JSON object per line, each a single-key object naming what happened:
//!
//! ```text
//! {"alert":{"id":"big-trade:BTC:2471","rule":"big-trade","when":"trade_size","currency":"BTC","pos":2471,...,"targets":["ops"]}}
//! {"delivered":{"id":"big-trade:BTC:2471","target":"ops","at":"2026-08-17T04:31:20.112Z"}}
//! {"undeliverable":{"id":"...","target":"ops","at":"...","error":"HTTP 404 Not Found"}}
//! ```
//!
//! An alert is pending for each of its targets until a `delivered` (the target answered 2xx) or an
//! `undeliverable` (it answered a 4xx that a retry cannot cure) line names that target. On start the pending
//! ones are sent again, the others never; the follower fires no alert whose id is already in the journal. A
//! line cut short by a crash (the last one, without its newline) was never acted on and is removed; any other
//! line that does not read is an error naming it. One service at a time holds the journal (a file lock).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dealerflow_schemas::time::format_ms;
use serde::{Deserialize, Serialize};

use super::{Alert, AlertsError};

/// The journal's directory under the data directory.
pub const JOURNAL_DIR: &str = "alerts";
/// The journal's file name.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// An alert fired.
    Alert(Alert),
    /// A target acknowledged an alert.
    Delivered {
        /// The alert's id.
        id: String,
        /// The target's name.
        target: String,
        /// When (wall clock, RFC 3339).
        at: String,
    },
    /// A target refused an alert for good (a 4xx other than 408 and 429).
    Undeliverable {
        /// The alert's id.
        id: String,
        /// The target's name.
        target: String,
        /// When (wall clock, RFC 3339).
        at: String,
        /// The target's answer.
        error: String,
    },
}

/// The open journal: the file, and what it says.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    known: HashSet<String>,
    /// Pending alerts by journal order, with the targets still to deliver to.
    pending: BTreeMap<u64, (Arc<Alert>, BTreeSet<String>)>,
    order: HashMap<String, u64>,
    last_fired: HashMap<(String, String), i64>,
    next: u64,
}

fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    format_ms(ms)
}

impl Journal {
    /// The journal's path for the data directory `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(JOURNAL_DIR).join(JOURNAL_FILE)
    }

    /// Opens (creating it, and its directory, when missing) and reads the journal of the data directory `dir`.
    pub fn open(dir: &Path) -> Result<Journal, AlertsError> {
        let jdir = dir.join(JOURNAL_DIR);
        let path = jdir.join(JOURNAL_FILE);
        let io = |what: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| AlertsError::Io {
                path: p,
                what,
                source,
            }
        };
        std::fs::create_dir_all(&jdir).map_err(io("create directory", &jdir))?;
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AlertsError::Locked { path });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
        if !existed {
            File::open(&jdir)
                .and_then(|d| d.sync_all())
                .map_err(io("fsync directory", &jdir))?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read", &path))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            // A line cut short by a crash: it was never fsynced whole, so nothing acted on it.
            file.set_len(complete as u64)
                .and_then(|()| file.sync_all())
                .map_err(io("truncate the torn last line of", &path))?;
        }
        let mut journal = Journal {
            path,
            file,
            known: HashSet::new(),
            pending: BTreeMap::new(),
            order: HashMap::new(),
            last_fired: HashMap::new(),
            next: 0,
        };
        for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry: Entry = serde_json::from_slice(line).map_err(|e| AlertsError::Corrupt {
                path: journal.path.clone(),
                line: i + 1,
                message: e.to_string(),
            })?;
            journal.apply(entry);
        }
        Ok(journal)
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Alert(a) => {
                if !self.known.insert(a.id.clone()) {
                    return;
                }
                let key = (a.rule.clone(), a.currency.clone());
                let last = self.last_fired.entry(key).or_insert(a.at_ms);
                *last = (*last).max(a.at_ms);
                let targets: BTreeSet<String> = a.targets.iter().cloned().collect();
                if !targets.is_empty() {
                    self.order.insert(a.id.clone(), self.next);
                    self.pending.insert(self.next, (Arc::new(a), targets));
                }
                self.next += 1;
            }
            Entry::Delivered { id, target, .. } | Entry::Undeliverable { id, target, .. } => {
                if let Some(&n) = self.order.get(&id) {
                    if let Some((_, left)) = self.pending.get_mut(&n) {
                        left.remove(&target);
                        if left.is_empty() {
                            self.pending.remove(&n);
                            self.order.remove(&id);
                        }
                    }
                }
            }
        }
    }

    fn append(&mut self, entry: Entry) -> Result<(), AlertsError> {
        let mut line = serde_json::to_vec(&entry).map_err(|e| AlertsError::Io {
            path: self.path.clone(),
            what: "encode an entry of",
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| AlertsError::Io {
                path: self.path.clone(),
                what: "append to",
                source,
            })?;
        self.apply(entry);
        Ok(())
    }

    /// Whether an alert with this id was ever journaled.
    pub fn contains(&self, id: &str) -> bool {
        self.known.contains(id)
    }

    /// Alerts journaled.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// True before the first alert.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Appends an alert (written and fsynced when this returns).
    pub fn record_alert(&mut self, alert: &Alert) -> Result<(), AlertsError> {
        self.append(Entry::Alert(alert.clone()))
    }

    /// Appends that `target` acknowledged alert `id`.
    pub fn record_delivered(&mut self, id: &str, target: &str) -> Result<(), AlertsError> {
        self.append(Entry::Delivered {
            id: id.into(),
            target: target.into(),
            at: now_rfc3339(),
        })
    }

    /// Appends that `target` refused alert `id` for good.
    pub fn record_undeliverable(
        &mut self,
        id: &str,
        target: &str,
        error: &str,
    ) -> Result<(), AlertsError> {
        self.append(Entry::Undeliverable {
            id: id.into(),
            target: target.into(),
            at: now_rfc3339(),
            error: error.into(),
        })
    }

    /// The alerts not yet delivered to every target, oldest first, each with the targets still owed.
    pub fn pending(&self) -> Vec<(Arc<Alert>, Vec<String>)> {
        self.pending
            .values()
            .map(|(a, left)| (a.clone(), left.iter().cloned().collect()))
            .collect()
    }

    /// The exchange time each (rule, currency) last fired at.
    pub fn last_fired(&self) -> impl Iterator<Item = (&str, &str, i64)> + '_ {
        self.last_fired
            .iter()
            .map(|((r, c), t)| (r.as_str(), c.as_str(), *t))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn alert(rule: &str, pos: u64, at_ms: i64, targets: &[&str]) -> Alert {
        Alert {
            id: Alert::id_for(rule, "BTC", pos),
            rule: rule.into(),
            when: "trade_size".into(),
            currency: "BTC".into(),
            pos,
            at_ms,
            at: format_ms(at_ms),
            message: "m".into(),
            values: json!({"amount": 30.0}),
            targets: targets.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn pending_ids(j: &Journal) -> Vec<(String, Vec<String>)> {
        j.pending()
            .into_iter()
            .map(|(a, t)| (a.id.clone(), t))
            .collect()
    }

    #[test]
    fn a_restart_resends_what_is_pending_and_nothing_delivered() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(dir.path()).unwrap();
            assert!(j.is_empty());
            j.record_alert(&alert("big", 3, 100, &["a", "b"])).unwrap();
            j.record_alert(&alert("big", 7, 200, &["a"])).unwrap();
            j.record_alert(&alert("flip", 8, 250, &[])).unwrap();
            j.record_delivered("big:BTC:3", "a").unwrap();
            j.record_delivered("big:BTC:7", "a").unwrap();
            assert_eq!(
                pending_ids(&j),
                [("big:BTC:3".to_string(), vec!["b".to_string()])]
            );
        }
        let path = Journal::path_in(dir.path());
        assert!(path.ends_with("alerts/journal.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(
            text.starts_with("{\"alert\":{\"id\":\"big:BTC:3\""),
            "{text}"
        );
        assert!(
            text.lines()
                .nth(3)
                .unwrap()
                .starts_with("{\"delivered\":{\"id\":\"big:BTC:3\",\"target\":\"a\",\"at\":\""),
            "{text}"
        );

        // The restart: what was pending still is; the delivered ones are not; every id is known.
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.len(), 3);
        assert_eq!(
            pending_ids(&j),
            [("big:BTC:3".to_string(), vec!["b".to_string()])]
        );
        assert!(j.contains("big:BTC:7") && j.contains("flip:BTC:8"));
        assert!(!j.contains("big:BTC:9"));
        let mut last: Vec<_> = j
            .last_fired()
            .map(|(r, c, t)| (r.to_string(), c.to_string(), t))
            .collect();
        last.sort();
        assert_eq!(
            last,
            [
                ("big".to_string(), "BTC".to_string(), 200),
                ("flip".to_string(), "BTC".to_string(), 250)
            ]
        );
        j.record_undeliverable("big:BTC:3", "b", "HTTP 404")
            .unwrap();
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.pending().is_empty());
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_bad_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(dir.path()).unwrap();
            j.record_alert(&alert("big", 3, 100, &["a"])).unwrap();
        }
        let path = Journal::path_in(dir.path());
        let whole = std::fs::read(&path).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(b"{\"alert\":{\"id\":\"big:BT");
        std::fs::write(&path, &torn).unwrap();
        {
            let mut j = Journal::open(dir.path()).unwrap();
            assert_eq!(j.len(), 1);
            assert_eq!(std::fs::read(&path).unwrap(), whole);
            j.record_delivered("big:BTC:3", "a").unwrap();
        }
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.pending().is_empty());
        drop(j);

        let mut bad = b"{\"alert\":1}\n".to_vec();
        bad.extend_from_slice(&whole);
        std::fs::write(&path, &bad).unwrap();
        let e = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("journal.jsonl: line 1 is not a journal entry"),
            "{e}"
        );
    }

    #[test]
    fn one_service_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let e = Journal::open(dir.path()).unwrap_err();
        assert!(matches!(e, AlertsError::Locked { .. }), "{e}");
        drop(j);
        Journal::open(dir.path()).unwrap();
    }
}
