//! A file's bytes as CSV text: plain, or gzip-decompressed as a stream when the file starts with the gzip magic
//! bytes (`1f 8b`), whatever its name. Concatenated gzip members are read one after the other, as `zcat` does.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

/// The first two bytes of every gzip stream (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Read buffer of the compressed or plain file.
const BUFFER_BYTES: usize = 256 * 1024;

/// The text of a Tardis file, decompressed when it was gzip.
#[derive(Debug)]
pub enum Input<R: BufRead> {
    /// Plain CSV.
    Plain(R),
    /// Gzip-compressed CSV, decompressed while read. A stream that ends early (a truncated download) or is
    /// corrupt gives an I/O error at that point, after the text before it.
    Gzip(MultiGzDecoder<R>),
}

impl<R: BufRead> Input<R> {
    /// Looks at the first bytes of `reader` (without consuming them) and decompresses when they are gzip's.
    pub fn detect(mut reader: R) -> io::Result<Input<R>> {
        let head = loop {
            match reader.fill_buf() {
                Ok(b) => break b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        // A buffer holding one byte of a longer file cannot happen with the buffer sizes used here (a BufReader
        // fills as much as the first read gives, and files are read from the start), so two bytes are enough.
        if head.len() >= 2 && head[..2] == GZIP_MAGIC {
            Ok(Input::Gzip(MultiGzDecoder::new(reader)))
        } else {
            Ok(Input::Plain(reader))
        }
    }

    /// True when the text is decompressed from gzip.
    pub fn is_gzip(&self) -> bool {
        matches!(self, Input::Gzip(_))
    }
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(r) => r.read(buf),
            Input::Gzip(r) => r.read(buf),
        }
    }
}

/// Opens `path` for reading as CSV text, plain or gzip.
pub fn open_input(path: &Path) -> io::Result<Input<BufReader<File>>> {
    let file = File::open(path)?;
    Input::detect(BufReader::with_capacity(BUFFER_BYTES, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(text).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_is_told_by_its_magic_bytes() {
        let text = b"exchange,symbol\nderibit,BTC-17AUG26-63000-P\n";
        let mut out = Vec::new();
        let mut plain = Input::detect(&text[..]).unwrap();
        assert!(!plain.is_gzip());
        plain.read_to_end(&mut out).unwrap();
        assert_eq!(out, text);

        let packed = gzip(text);
        let mut z = Input::detect(&packed[..]).unwrap();
        assert!(z.is_gzip());
        out.clear();
        z.read_to_end(&mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn concatenated_members_read_as_one_text() {
        let mut packed = gzip(b"a,b\n");
        packed.extend(gzip(b"c,d\n"));
        let mut out = String::new();
        Input::detect(&packed[..])
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "a,b\nc,d\n");
    }

    #[test]
    fn a_truncated_stream_is_an_error_after_its_text() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("row {i}\n").into_bytes())
            .collect();
        let packed = gzip(&text);
        let cut = &packed[..packed.len() / 2];
        let mut z = Input::detect(cut).unwrap();
        let mut out = Vec::new();
        let err = z.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        // What was decompressed before the fault is a prefix of the text.
        assert!(!out.is_empty() && text.starts_with(&out));
    }
}
