//! Statistics of a backtest, each a pure function of numbers already computed (no I/O, no threads, no clock):
//!
//! - [`rank`]: average (fractional) ranks, the basis of Spearman correlation;
//! - [`spearman`]: rank correlation with ties (the information coefficient, IC);
//! - [`moments`]: mean, standard deviation, skewness and kurtosis of a return series;
//! - [`sharpe`]: the Sharpe ratio with its time interval in its type;
//! - [`deflated_sharpe`]: the probabilistic and deflated Sharpe ratios (Bailey & López de Prado 2012, 2014);
//! - [`confidence_set`]: the model confidence set of the best parameter sets (Hansen, Lunde & Nason 2011);
//! - [`pbo`]: the probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey,
//!   Borwein, López de Prado & Zhu 2015).
//!
//! Every sum runs in a fixed order over its input, so a result depends only on the input, never on threads.

pub mod confidence_set;
pub mod deflated_sharpe;
pub mod moments;
pub mod pbo;
pub mod rank;
pub mod sharpe;
pub mod spearman;
