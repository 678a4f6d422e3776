//! dealerflow-benches: criterion benches (`benches/*.rs`, each naming the figures it protects) and the
//! side-by-side comparison harness ([`compare`], run with the `compare` binary) that measures dealerflow against
//! the tools users have today on the same input. Not published; nothing here is used by the other crates.

#![warn(missing_docs)]

pub mod compare;
