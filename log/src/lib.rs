//! The event log (docs/ARCHITECTURE.md §6): a directory of segment files named by their first seq, each a 64-byte
//! versioned header followed by frames `length | CRC32C | seq | ts_recv_ns | ts_exchange_ms | rkyv payload` (see
//! [`frame`] and [`segment`]), plus a sparse time index per segment ([`index`]).
//!
//! - One writer ([`LogWriter`], guarded by an exclusive lock on `DIR/LOCK`), many readers ([`LogReader`]
//!   snapshots, [`Follower`] tails), also in other processes and while the writer appends.
//! - A torn tail (crash mid-append) is truncated when a writer opens the log, and reported; a bad frame followed by
//!   good ones is corruption, reported with segment and offset, never skipped.
//! - Every payload is validated (rkyv's bytecheck) before it is read as an event, so no input file, however
//!   damaged or forged, makes a reader read outside its segment.
//! - Records are never edited in place. A format change gets a new version number; this build reads version 1.
//! - Files derived from the log (checkpoints, sample chunks, feature caches) are written and checked by one
//!   helper, [`checksummed_file`]: atomic replacement, fsync, magic, version, length and CRC32C.
//!
//! This crate knows nothing about markets: it stores [`dealerflow_schemas::Event`]s.
//!
//! # The memory-map contract
//!
//! Readers and the writer reach segments through shared memory maps (zero-copy reads; a reader in another process
//! sees an append without a system call). A map is only sound while the file under it keeps its bytes and its
//! length, so the files of a log directory may be changed by the log's writer only:
//!
//! - The writer takes the exclusive lock before it touches a file, so there is one writer per directory.
//! - It only appends: a frame's bytes are written first and published by storing its length last (a release
//!   store; readers load it with acquire), and a published frame is never changed again.
//! - It truncates a segment once, when sealing it, and only the never-published zeros after the end-of-segment
//!   marker, which no reader reads; a sealed segment is never touched again. Repairing a torn tail zeroes bytes
//!   that were never published (their length word is 0), it does not shrink the file.
//!
//! Anything else that writes the files breaks the contract, and the behaviour is then undefined: truncating a
//! mapped segment (`truncate`, `cp` over it, an editor saving it) makes the pages past the new end unbacked and a
//! reader touching them is killed by SIGBUS; bytes rewritten while a reader is using them can change after they
//! were checked. Replace or copy over a log's files only while no process has the log open.
//!
//! # What each kind of damage does
//!
//! Damage in files at rest (a bad disk, a bad copy, an edit made while nothing had the log open) never crashes a
//! reader; wherever it can be detected it is an error or a report naming the segment and the byte offset:
//!
//! | damage | readers ([`LogReader`], iterators, [`Follower`]) | writer on open | [`verify()`] |
//! |---|---|---|---|
//! | crash mid-append: length 0, stray bytes after the last frame | invisible | zeroed, in [`OpenReport`] | sound |
//! | last frame fails its checksum, nothing valid after it | stop before it ([`Fault::TornTail`]) | truncated, reported | torn tail, sound |
//! | a frame fails its checksum, valid frames follow | [`LogError::Corrupt`] when reached | refuses to open if in the active segment | problem |
//! | checksum matches, payload is not a valid event | [`LogError::InvalidEvent`] when the record is read | opens (payloads are not read) | problem, every such frame |
//! | checksum matches, payload is another valid event | read as that event (the log cannot tell) | opens | sound |
//! | index sidecar missing or inconsistent | rebuilt in memory ([`IndexHealth::Rebuilt`]) | rewritten (active segment) | noted, sound |
//! | index entry consistent but pointing at other bytes | a seek there gets an error, or reads the event it finds | rewritten (active segment) | not detected |
//! | sealed-block table damaged, foreign, or older than a change to a segment it covers | ignored, replaced | — | not used |
//! | covered segment edited keeping its length, inode and modification time | [`LogError::Corrupt`] / `BadHeader` when first read, unless header and end marker still match | — | as any segment |
//! | segment missing / foreign file / newer format / bad header | [`LogError::SeqGap`] / `BadMagic` / `FutureVersion` / `BadHeader` on open | same | same |
//!
//! Opening a reader checks frame headers and checksums only from each segment's last index block on, so it stays
//! cheap on large logs; the sealed segments at the start of a long log are taken from the sealed-block table
//! ([`block_table`]) and opened only when read. A frame's checksum and payload are checked when the record is
//! first read through a reader: each segment of a [`LogReader`] remembers how far from its start its frames have
//! been checked along the chain of frames, so a second pass from the start checks nothing again, and a seek
//! through the index checks every frame it reads. [`LogReader::verify_ahead`] runs those checks on a second thread
//! ahead of a read from the start. A reader stops at the first bad record with the error; it never skips to the
//! next good one.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod block_table;
pub mod catalog;
pub mod checksummed_file;
pub mod error;
pub mod follow;
pub mod frame;
pub mod index;
pub mod reader;
pub mod segment;
pub mod verify;
pub mod writer;

pub use checksummed_file::{ChecksummedFormat, ChecksummedWriter, Payload};
pub use error::LogError;
pub use follow::Follower;
pub use index::IndexHealth;
pub use reader::{
    checked_event, BlockInfo, Blocks, Fault, Iter, LogReader, RecordView, SegmentInfo,
};
pub use verify::{verify, Problem, VerifyReport};
pub use writer::{FsyncPolicy, LogOptions, LogWriter, OpenReport, DEFAULT_BLOCK_FRAMES};
