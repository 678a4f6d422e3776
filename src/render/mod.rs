//! Everything the CLI shows, in one place: tables for people ([`table`]), CSV for programs ([`csv`]), the GEX
//! profile plot ([`plot`]), progress bars ([`progress`]), and the layouts of the reports built from them ([`gex`],
//! [`backtest`], [`levels`], [`synth`], [`query`]).
//!
//! Renderers only decide how a result looks; they compute nothing that is not already in the result, and they
//! never read a log.

pub mod backtest;
pub mod csv;
pub mod gex;
pub mod levels;
pub mod plot;
pub mod progress;
pub mod query;
pub mod setups;
pub mod synth;
pub mod table;
