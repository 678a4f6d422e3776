//! Frame layout: how one record sits in a segment.
//!
//! ```text
//! offset  size  field
//! 0       4     payload length (u32 LE). Written LAST, with release ordering: it is the commit marker.
//!               0 = nothing written here yet; 0xFFFF_FFFF = end of segment, continue in the next file.
//! 4       4     CRC32C (Castagnoli) of bytes 8 .. 32 + length
//! 8       8     seq (u64 LE)
//! 16      8     ts_recv_ns (i64 LE)
//! 24      8     ts_exchange_ms (i64 LE), i64::MIN when the event has no exchange time
//! 32      len   rkyv archive of the Event (16-byte aligned: frames start at 16-byte boundaries)
//! ..      pad   zero padding to the next 16-byte boundary
//! ```
//!
//! A crash in the middle of an append leaves the length at 0 (it is written last), so the half-written bytes are
//! invisible to readers and are zeroed when a writer next opens the log. Damage that the length cannot hide is
//! caught by the CRC.

use std::sync::atomic::{AtomicU32, Ordering};

/// Frames start at multiples of this many bytes; rkyv payloads are aligned to it.
pub const FRAME_ALIGN: usize = 16;
/// Bytes before the payload.
pub const FRAME_HEADER: usize = 32;
/// Length value that marks the end of a sealed segment.
pub const END_OF_SEGMENT: u32 = u32::MAX;
/// Largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// `ts_exchange_ms` stored for events without an exchange time.
pub const NO_TS: i64 = i64::MIN;

/// Rounds `n` up to the frame alignment.
pub const fn align_up(n: usize) -> usize {
    (n + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

/// Bytes a frame with a payload of `payload_len` occupies, padding included.
pub const fn frame_size(payload_len: usize) -> usize {
    align_up(FRAME_HEADER + payload_len)
}

/// A decoded, CRC-checked frame borrowing the segment bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Local receive time, ns.
    pub ts_recv_ns: i64,
    /// Exchange time, ms (`None` for instruments and session events).
    pub ts_exchange_ms: Option<i64>,
    /// The rkyv payload, 16-byte aligned.
    pub payload: &'a [u8],
    /// Offset of the next frame.
    pub next_offset: usize,
}

/// What is found at a frame position.
#[derive(Clone, Copy, Debug)]
pub enum Slot<'a> {
    /// A complete frame whose checksum matches.
    Frame(FrameRef<'a>),
    /// Nothing committed here yet (length 0), or the position is past the end of the mapped bytes.
    Empty,
    /// The segment was sealed here; the log continues in the next segment.
    EndOfSegment,
    /// Bytes that are not a valid frame.
    Bad(&'static str),
}

fn u64_at(buf: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[off..off + 8]);
    u64::from_le_bytes(b)
}

/// True when a frame may start at `off` of `buf`: the address is a multiple of [`FRAME_ALIGN`] (segments are
/// page-aligned maps and frames start at multiples of 16 in them).
fn frame_aligned(buf: &[u8], off: usize) -> bool {
    (buf.as_ptr() as usize)
        .wrapping_add(off)
        .is_multiple_of(FRAME_ALIGN)
}

/// Atomically loads the length word at `off` (acquire), pairing with the writer's release store; `None` when the
/// word is out of bounds or not 4-byte aligned (not a frame position).
fn load_len(buf: &[u8], off: usize) -> Option<u32> {
    let bytes = buf.get(off..off.checked_add(4)?)?;
    let ptr = bytes.as_ptr();
    if !(ptr as usize).is_multiple_of(std::mem::align_of::<AtomicU32>()) {
        return None;
    }
    // SAFETY: the four bytes are in bounds (`get` above) and 4-byte aligned (checked above). The word may be
    // written concurrently by the writer (possibly in another process) only through an atomic store, so an
    // atomic load is the correct access.
    let word = unsafe { &*(ptr as *const AtomicU32) };
    Some(u32::from_le(word.load(Ordering::Acquire)))
}

/// Reads the frame at `off`, verifying its bounds, alignment and checksum. A position past the end of `buf` is
/// [`Slot::Empty`]; a position that is not 16-byte aligned in memory is [`Slot::Bad`]. Crate-private: readers
/// use it on the page-aligned segment maps only, and the payload it returns is validated before it is read as an
/// event (see `reader::event_in_frame`).
pub(crate) fn read_slot(buf: &[u8], off: usize) -> Slot<'_> {
    parse_slot::<true>(buf, off)
}

/// [`read_slot`] without comparing the checksum: for a frame whose checksum [`checked_frames_end`] has just
/// verified (the bytes of a published frame never change).
pub(crate) fn read_checked_slot(buf: &[u8], off: usize) -> Slot<'_> {
    parse_slot::<false>(buf, off)
}

/// The frame at `off`: bounds, alignment and, with `VERIFY`, the checksum.
#[inline(always)]
fn parse_slot<const VERIFY: bool>(buf: &[u8], off: usize) -> Slot<'_> {
    let (len, end) = match frame_extent(buf, off) {
        Ok(extent) => extent,
        Err(slot) => return slot,
    };
    if VERIFY && crc32c::crc32c(&buf[off + 8..end]) != stored_crc(buf, off) {
        return Slot::Bad("checksum mismatch");
    }
    let ts_exch = u64_at(buf, off + 24) as i64;
    Slot::Frame(FrameRef {
        seq: u64_at(buf, off + 8),
        ts_recv_ns: u64_at(buf, off + 16) as i64,
        ts_exchange_ms: (ts_exch != NO_TS).then_some(ts_exch),
        payload: &buf[off + FRAME_HEADER..end],
        next_offset: off + frame_size(len),
    })
}

/// The payload length of the frame at `off` and the end of its payload, when a complete frame is published there
/// (every check of [`read_slot`] but the checksum); else what is found there instead.
#[inline(always)]
fn frame_extent(buf: &[u8], off: usize) -> Result<(usize, usize), Slot<'static>> {
    if off.checked_add(4).is_none_or(|end| end > buf.len()) {
        return Err(Slot::Empty);
    }
    if !frame_aligned(buf, off) {
        return Err(Slot::Bad("frame position is not 16-byte aligned"));
    }
    let Some(len) = load_len(buf, off) else {
        return Err(Slot::Bad("frame position is not 16-byte aligned"));
    };
    if len == 0 {
        return Err(Slot::Empty);
    }
    if len == END_OF_SEGMENT {
        return Err(Slot::EndOfSegment);
    }
    if off + FRAME_HEADER > buf.len() {
        return Err(Slot::Bad("frame header runs past the end of the segment"));
    }
    let len = len as usize;
    if len > MAX_PAYLOAD {
        return Err(Slot::Bad("length field larger than the frame limit"));
    }
    let end = off + FRAME_HEADER + len;
    if end > buf.len() {
        return Err(Slot::Bad("frame runs past the end of the segment"));
    }
    Ok((len, end))
}

/// The checksum stored in the frame header at `off` (in bounds: checked by the caller).
fn stored_crc(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([buf[off + 4], buf[off + 5], buf[off + 6], buf[off + 7]])
}

/// Frames whose checksums [`checked_frames_end`] verifies at once.
const CHECK_AHEAD: usize = 3;

/// Verifies the checksums of the frame at `off` and of the frames that follow it (up to three in all, fewer where
/// the segment ends or a frame is not complete) at once, and returns the offset after the last frame of the
/// leading run that passed every check of [`read_slot`]: `off` itself when the first did not. Frames before the
/// returned offset then read with [`read_checked_slot`].
///
/// The three checksums run interleaved: CRC32C is a chain of dependent steps per frame, and three independent
/// chains keep the CPU's CRC unit busy where one chain waits on each step.
pub(crate) fn checked_frames_end(buf: &[u8], off: usize) -> usize {
    // (frame start, end of its payload, next frame's start) of the frames found ([`frame_extent`]).
    let mut frames = [(0usize, 0usize, 0usize); CHECK_AHEAD];
    let mut found = 0;
    let mut at = off;
    while found < CHECK_AHEAD {
        let Ok((len, end)) = frame_extent(buf, at) else {
            break;
        };
        frames[found] = (at, end, at + frame_size(len));
        at = frames[found].2;
        found += 1;
    }
    let body = |i: usize| &buf[frames[i].0 + 8..frames[i].1];
    let crcs = if found == CHECK_AHEAD {
        crc32c_3([body(0), body(1), body(2)])
    } else {
        std::array::from_fn(|i| {
            if i < found {
                crc32c::crc32c(body(i))
            } else {
                0
            }
        })
    };
    let mut end = off;
    for (&(start, _, next), crc) in frames[..found].iter().zip(crcs) {
        if crc != stored_crc(buf, start) {
            break;
        }
        end = next;
    }
    end
}

/// CRC32C (the `crc32c` crate's values) of three byte strings, computed side by side where the CPU has SSE 4.2.
pub(crate) fn crc32c_3(data: [&[u8]; 3]) -> [u32; 3] {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU reported SSE 4.2 just above.
        return unsafe { crc32c_3_sse42(data[0], data[1], data[2]) };
    }
    data.map(crc32c::crc32c)
}

/// [`crc32c_3`] on the SSE 4.2 `crc32` instruction: the three strings' common length in steps of eight bytes side by
/// side, then each one's rest.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_3_sse42(a: &[u8], b: &[u8], c: &[u8]) -> [u32; 3] {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
    // The registers start at all ones and are inverted at the end, as CRC32C (Castagnoli) defines.
    let (mut x, mut y, mut z) = (
        u64::from(u32::MAX),
        u64::from(u32::MAX),
        u64::from(u32::MAX),
    );
    let words = a.len().min(b.len()).min(c.len()) / 8;
    for ((wa, wb), wc) in a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .zip(c.chunks_exact(8))
        .take(words)
    {
        x = _mm_crc32_u64(x, word(wa));
        y = _mm_crc32_u64(y, word(wb));
        z = _mm_crc32_u64(z, word(wc));
    }
    let rest = |mut r: u64, data: &[u8]| {
        let data = &data[words * 8..];
        let mut chunks = data.chunks_exact(8);
        for w in &mut chunks {
            r = _mm_crc32_u64(r, word(w));
        }
        let mut r = r as u32;
        for &byte in chunks.remainder() {
            r = _mm_crc32_u8(r, byte);
        }
        !r
    };
    [rest(x, a), rest(y, b), rest(z, c)]
}

/// Writes a frame at `off` and publishes it by storing the length last (release).
///
/// The caller guarantees `off + frame_size(payload.len()) <= buf.len()` and that the bytes there are zero.
pub(crate) fn write_frame(
    buf: &mut [u8],
    off: usize,
    seq: u64,
    ts_recv_ns: i64,
    ts_exchange_ms: Option<i64>,
    payload: &[u8],
) -> usize {
    let len = payload.len();
    let end = off + FRAME_HEADER + len;
    buf[off + 8..off + 16].copy_from_slice(&seq.to_le_bytes());
    buf[off + 16..off + 24].copy_from_slice(&ts_recv_ns.to_le_bytes());
    buf[off + 24..off + 32].copy_from_slice(&ts_exchange_ms.unwrap_or(NO_TS).to_le_bytes());
    buf[off + FRAME_HEADER..end].copy_from_slice(payload);
    let crc = crc32c::crc32c(&buf[off + 8..end]);
    buf[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
    store_len(buf, off, len as u32);
    off + frame_size(len)
}

/// Atomically stores the length word at `off` (release): the commit point of a frame.
pub(crate) fn store_len(buf: &mut [u8], off: usize, len: u32) {
    let ptr = buf[off..off + 4].as_mut_ptr() as *const AtomicU32;
    // SAFETY: in bounds and 4-byte aligned as in `load_len`; readers only ever load this word atomically.
    let word = unsafe { &*ptr };
    word.store(len.to_le(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(16))]
    struct Buf([u8; 256]);

    #[test]
    fn write_then_read() {
        let mut b = Buf([0; 256]);
        let next = write_frame(&mut b.0, 0, 7, 11, Some(13), b"hello world");
        assert_eq!(next, 48);
        match read_slot(&b.0, 0) {
            Slot::Frame(f) => {
                assert_eq!((f.seq, f.ts_recv_ns, f.ts_exchange_ms), (7, 11, Some(13)));
                assert_eq!(f.payload, b"hello world");
                assert_eq!(f.next_offset, 48);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_slot(&b.0, 48), Slot::Empty));
        b.0[40] ^= 1;
        assert!(matches!(read_slot(&b.0, 0), Slot::Bad("checksum mismatch")));
    }

    #[test]
    fn misaligned_and_out_of_range_positions_are_not_frames() {
        let mut b = Buf([0; 256]);
        write_frame(&mut b.0, 16, 7, 11, Some(13), b"hello world");
        assert!(matches!(read_slot(&b.0, 16), Slot::Frame(_)));
        // A slice that starts one byte into the buffer: its multiples of 16 are misaligned addresses.
        for off in [0, 16, 32] {
            assert!(
                matches!(read_slot(&b.0[1..], off), Slot::Bad(r) if r.contains("aligned")),
                "{off}"
            );
        }
        assert!(matches!(read_slot(&b.0, 8), Slot::Bad(r) if r.contains("aligned")));
        assert!(matches!(read_slot(&b.0, 256), Slot::Empty));
        assert!(matches!(read_slot(&b.0, usize::MAX - 2), Slot::Empty));
        assert!(matches!(read_slot(&[], 0), Slot::Empty));
    }

    /// Frames of `payload_lens` bytes written one after another from offset 0; their starts and the end.
    fn frames(b: &mut Buf4k, payload_lens: &[usize]) -> (Vec<usize>, usize) {
        let mut starts = Vec::new();
        let mut off = 0;
        for (i, &len) in payload_lens.iter().enumerate() {
            starts.push(off);
            let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j * 7) as u8).collect();
            off = write_frame(&mut b.0, off, i as u64, 0, None, &payload);
        }
        (starts, off)
    }

    #[repr(align(16))]
    struct Buf4k([u8; 4096]);

    proptest::proptest! {
        /// The side-by-side checksums are the crate's, for any three lengths (common part and rests).
        #[test]
        fn three_checksums_side_by_side_are_the_crates(
            a in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            b in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            c in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            proptest::prop_assert_eq!(
                crc32c_3([&a, &b, &c]),
                [crc32c::crc32c(&a), crc32c::crc32c(&b), crc32c::crc32c(&c)]
            );
        }

        /// The checked run ends before the first damaged frame (or where the frames end, at most three frames
        /// on), and a damaged first frame checks nothing.
        #[test]
        fn checked_frames_end_stops_before_a_damaged_frame(
            lens in proptest::collection::vec(1usize..200, 1..8),
            from in 0usize..8,
            damaged in proptest::option::of((0usize..8, 8usize..232)),
        ) {
            let mut b = Buf4k([0; 4096]);
            let (starts, end) = frames(&mut b, &lens);
            let from = from.min(starts.len() - 1);
            let mut bad_frame = None;
            if let Some((k, byte)) = damaged {
                let k = k.min(starts.len() - 1);
                let next = starts.get(k + 1).copied().unwrap_or(end);
                // A byte of the checksummed part: seq, times or payload.
                let at = starts[k] + byte.min(next - starts[k] - 1).max(8);
                if at < starts[k] + FRAME_HEADER + lens[k] {
                    b.0[at] ^= 0x40;
                    bad_frame = Some(k);
                }
            }
            let mut expected = starts[from];
            for k in from..(from + CHECK_AHEAD).min(starts.len()) {
                if bad_frame == Some(k) {
                    break;
                }
                expected = starts.get(k + 1).copied().unwrap_or(end);
            }
            proptest::prop_assert_eq!(checked_frames_end(&b.0, starts[from]), expected);
            for (k, &start) in starts.iter().enumerate() {
                let ok = matches!(read_slot(&b.0, start), Slot::Frame(_));
                proptest::prop_assert_eq!(ok, bad_frame != Some(k));
            }
        }
    }

    #[test]
    fn checked_frames_end_at_the_end_or_at_no_frame_checks_nothing() {
        let mut b = Buf4k([0; 4096]);
        let (_, end) = frames(&mut b, &[10, 20]);
        assert_eq!(checked_frames_end(&b.0, end), end);
        assert_eq!(checked_frames_end(&b.0, 8), 8);
        assert_eq!(checked_frames_end(&b.0, 4096), 4096);
        assert_eq!(
            checked_frames_end(&b.0[..40], 0),
            0,
            "the first frame runs past the end"
        );
    }
}
