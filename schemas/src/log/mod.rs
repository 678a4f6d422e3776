//! The segmented, memory-mapped event log (in progress).
