//! Run-length archiving of a `Vec<u32>` for checkpoints: the state's id → slot table has one entry per
//! instrument id ever defined (a year of daily expiries: ~250 000), almost all of them in long runs of the same
//! "retired" or "absent" value, so a checkpoint stores `(value, run length)` pairs instead of every entry.
//! In memory the table stays a plain vector (one load per event in the fold).
//!
//! Deserializing refuses a table longer than [`MAX_RUN_LENGTH_TOTAL`] entries, so a crafted checkpoint cannot
//! make the reader allocate without bound.

use rkyv::rancor::{Fallible, Source};
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::with::{ArchiveWith, DeserializeWith, SerializeWith};
use rkyv::Place;

use crate::state::MAX_INSTRUMENT_ID;

/// Longest table a checkpoint may hold: one entry per possible instrument id.
pub const MAX_RUN_LENGTH_TOTAL: u64 = MAX_INSTRUMENT_ID as u64 + 1;

/// `len` consecutive entries equal to `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct Run {
    /// The entries' value.
    pub value: u32,
    /// How many entries.
    pub len: u32,
}

/// The runs of `values`, in order; adjacent runs have different values.
pub fn runs(values: &[u32]) -> impl ExactSizeIterator<Item = Run> + Clone + '_ {
    let starts: Vec<usize> = (0..values.len())
        .filter(|&i| i == 0 || values[i] != values[i - 1])
        .collect();
    let n = values.len();
    (0..starts.len()).map(move |k| {
        let start = starts[k];
        let end = starts.get(k + 1).copied().unwrap_or(n);
        Run {
            value: values[start],
            len: (end - start) as u32,
        }
    })
}

/// The rkyv wrapper (`#[rkyv(with = RunLength)]` on a `Vec<u32>` field).
#[derive(Debug)]
pub struct RunLength;

impl ArchiveWith<Vec<u32>> for RunLength {
    type Archived = ArchivedVec<ArchivedRun>;
    type Resolver = VecResolver;

    fn resolve_with(field: &Vec<u32>, resolver: Self::Resolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_len(runs(field).len(), resolver, out);
    }
}

impl<S: Fallible + Allocator + Writer + ?Sized> SerializeWith<Vec<u32>, S> for RunLength {
    fn serialize_with(field: &Vec<u32>, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        ArchivedVec::<ArchivedRun>::serialize_from_iter::<Run, _, _>(runs(field), serializer)
    }
}

/// A run-length table longer than [`MAX_RUN_LENGTH_TOTAL`].
#[derive(Debug, thiserror::Error)]
#[error("run-length table of {0} entries or more, above the limit of {MAX_RUN_LENGTH_TOTAL}")]
pub struct TooLong(u64);

impl<D> DeserializeWith<ArchivedVec<ArchivedRun>, Vec<u32>, D> for RunLength
where
    D: Fallible + ?Sized,
    D::Error: Source,
{
    fn deserialize_with(field: &ArchivedVec<ArchivedRun>, _: &mut D) -> Result<Vec<u32>, D::Error> {
        let mut total: u64 = 0;
        for r in field.iter() {
            total += u64::from(r.len.to_native());
            if total > MAX_RUN_LENGTH_TOTAL {
                return Err(D::Error::new(TooLong(total)));
            }
        }
        let mut out = Vec::with_capacity(total as usize);
        for r in field.iter() {
            out.extend(std::iter::repeat_n(
                r.value.to_native(),
                r.len.to_native() as usize,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
    struct Table {
        #[rkyv(with = RunLength)]
        values: Vec<u32>,
    }

    fn round_trip(values: Vec<u32>) -> Vec<u32> {
        let t = Table { values };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&t).unwrap();
        rkyv::from_bytes::<Table, rkyv::rancor::Error>(&bytes)
            .unwrap()
            .values
    }

    #[test]
    fn round_trips_and_compresses_runs() {
        for v in [
            vec![],
            vec![7],
            vec![1, 1, 1, 2, 2, 3, 1, 1],
            (0..1000).collect(),
            std::iter::repeat_n(u32::MAX, 100_000)
                .chain([0, 1, 2])
                .collect(),
        ] {
            assert_eq!(round_trip(v.clone()), v);
        }
        let long = Table {
            values: std::iter::repeat_n(1u32 << 31, 250_000).collect(),
        };
        assert!(rkyv::to_bytes::<rkyv::rancor::Error>(&long).unwrap().len() < 64);
    }

    #[test]
    fn a_table_above_the_limit_is_refused() {
        #[derive(rkyv::Archive, rkyv::Serialize)]
        struct Raw {
            runs: Vec<Run>,
        }
        let raw = Raw {
            runs: vec![
                Run {
                    value: 0,
                    len: u32::MAX
                };
                2
            ],
        };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&raw).unwrap();
        // (rancor's error keeps its message only in debug builds with its `alloc` feature.)
        assert!(rkyv::from_bytes::<Table, rkyv::rancor::Error>(&bytes).is_err());
    }
}
