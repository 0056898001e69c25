//! Decompressing gzip as `gunzip` and Python's `gzip` (hence nibabel) do: one or more members, and
//! zero bytes after the last one (tape-block padding) ignored. Anything else after a member is an
//! error, never voxels.

use flate2::bufread::GzDecoder;
use std::io::{BufRead, Read};

/// The first bytes of a gzip member.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start with a gzip member header (magic, deflate, no reserved flag bits).
pub(crate) fn starts_gzip_member(bytes: &[u8]) -> bool {
    bytes.len() >= 10 && bytes[..2] == GZIP_MAGIC && bytes[2] == 8 && bytes[3] & 0xe0 == 0
}

/// A reader of the decompressed bytes of a gzip stream.
pub(crate) struct GzipStream<R: BufRead> {
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> GzipStream<R> {
    pub(crate) fn new(r: R) -> Self {
        GzipStream {
            member: Some(GzDecoder::new(r)),
        }
    }
}

impl<R: BufRead> Read for GzipStream<R> {
    fn read(&mut self, into: &mut [u8]) -> std::io::Result<usize> {
        while let Some(member) = self.member.as_mut() {
            let n = member.read(into)?;
            if n > 0 || into.is_empty() {
                return Ok(n);
            }
            // This member is done: skip zero padding, then either the input ends or a new member
            // starts.
            let mut inner = self.member.take().expect("a member").into_inner();
            loop {
                let buf = inner.fill_buf()?;
                if buf.is_empty() {
                    return Ok(0);
                }
                let zeros = buf.iter().take_while(|&&b| b == 0).count();
                if zeros == 0 {
                    if buf[0] != GZIP_MAGIC[0] {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "bytes after the end of the gzip stream that are neither zero padding \
                             nor another gzip member",
                        ));
                    }
                    self.member = Some(GzDecoder::new(inner));
                    break;
                }
                inner.consume(zeros);
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        GzipStream::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn reads_one_member_and_several() {
        assert_eq!(gunzip(&gz(b"hello")).unwrap(), b"hello");
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        assert_eq!(gunzip(&two).unwrap(), b"hello world");
    }

    #[test]
    fn zero_padding_after_the_stream_is_ignored_as_gunzip_does() {
        let mut padded = gz(b"voxels");
        padded.extend([0u8; 3000]);
        assert_eq!(gunzip(&padded).unwrap(), b"voxels");
        // padding between members too (Python's gzip reads on past it)
        let mut between = gz(b"a");
        between.extend([0u8; 7]);
        between.extend(gz(b"b"));
        assert_eq!(gunzip(&between).unwrap(), b"ab");
    }

    #[test]
    fn other_bytes_after_the_stream_are_an_error() {
        let mut junk = gz(b"voxels");
        junk.extend([0, 0, 7, 1]);
        let e = gunzip(&junk).unwrap_err();
        assert!(e.to_string().contains("neither zero padding"), "{e}");
        // a cut-short stream is still an early end
        let whole = gz(b"some longer text to compress");
        let cut = gunzip(&whole[..whole.len() - 5]).unwrap_err();
        assert_eq!(cut.kind(), std::io::ErrorKind::UnexpectedEof, "{cut}");
    }

    #[test]
    fn member_header_is_recognised() {
        assert!(starts_gzip_member(&gz(b"x")));
        assert!(!starts_gzip_member(b"\x1f\x8b\x08"));
        assert!(!starts_gzip_member(&[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0]));
    }
}
