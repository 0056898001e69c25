//! Mutations of seed files: byte-level (flips, interesting values, insertions, deletions,
//! truncation, splices) and text-level (numbers and words of header lines replaced, lines
//! dropped or repeated), and gzip-aware (the decompressed bytes mutated, then compressed again,
//! so the reader behind the decompressor is reached).

use super::rng::Rng;
use flate2::{read::MultiGzDecoder, write::GzEncoder, Compression};
use std::io::{Read, Write};

/// Values that find boundary bugs, as 8-byte little-endian words.
const INTERESTING: [u64; 14] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
    0x7ff0_0000_0000_0000, // f64 infinity
    0x7f80_0000,           // f32 infinity
];

/// Words and numbers put into text headers.
const TOKENS: [&str; 22] = [
    "0",
    "-1",
    "1",
    "2",
    "4",
    "65535",
    "2147483648",
    "9223372036854775807",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "0.0",
    "none",
    "(0,0,0)",
    "(1,0,0) (1,0,0) (0,0,1)",
    "/dev/zero",
    "..",
    "LIST",
    "",
    "\u{fffd}",
];

/// `1..=4` random byte-level mutations of `bytes`; `focus` (a byte range) receives most of them
/// when given (a header's fields).
pub fn bytes(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    focus: Option<std::ops::Range<usize>>,
    other: &[u8],
) {
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            data.push(rng.next() as u8);
            continue;
        }
        let at = match &focus {
            Some(f) if rng.chance(0.7) && f.start < f.end.min(data.len()) => {
                f.start + rng.below(f.end.min(data.len()) - f.start)
            }
            _ => rng.below(data.len()),
        };
        match rng.below(9) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = rng.next() as u8,
            2 | 3 => {
                let width = *rng.pick(&[1usize, 2, 4, 8]);
                let v = rng.pick(&INTERESTING).to_le_bytes();
                let v = if rng.chance(0.5) {
                    v
                } else {
                    u64::from_le_bytes(v).to_be_bytes()
                };
                for k in 0..width.min(data.len() - at) {
                    data[at + k] = if rng.chance(0.5) {
                        v[k]
                    } else {
                        v[8 - width + k]
                    };
                }
            }
            4 => {
                let n = 1 + rng.below(64);
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, junk);
            }
            5 => {
                let n = 1 + rng.below(64.min(data.len() - at));
                data.drain(at..at + n);
            }
            6 => data.truncate(at),
            7 => {
                // repeat a piece of the file
                let n = 1 + rng.below(256.min(data.len() - at));
                let piece = data[at..at + n].to_vec();
                let to = rng.below(data.len() + 1);
                data.splice(to..to, piece);
            }
            _ => {
                // a piece of another seed
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below(256.min(other.len() - from));
                    let end = (at + n).min(data.len());
                    data.splice(at..end, other[from..from + n].iter().copied());
                }
            }
        }
    }
}

/// `1..=3` mutations of the text lines in `data[..end]` (a header): a number or word replaced by
/// one of [`TOKENS`], a line dropped, repeated or cut. Bytes from `end` on are kept.
pub fn text_lines(rng: &mut Rng, data: &mut Vec<u8>, end: usize) {
    let end = end.min(data.len());
    let text = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(lines.len());
        match rng.below(6) {
            0 => {
                lines.remove(i);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let l = &lines[i];
                let cut = rng.below(l.len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|&c| l.is_char_boundary(c))
                    .unwrap_or(0);
                lines[i] = l[..cut].to_string();
            }
            _ => {
                // replace one whitespace- or comma-separated word after the field name
                let l = lines[i].clone();
                let words: Vec<(usize, usize)> = word_spans(&l);
                if let Some(&(a, b)) = words.get(rng.below(words.len().max(1))) {
                    let token = *rng.pick(&TOKENS);
                    lines[i] = format!("{}{}{}", &l[..a], token, &l[b..]);
                }
            }
        }
    }
    let mut out = lines.join("\n").into_bytes();
    out.extend_from_slice(&data[end..]);
    *data = out;
}

/// Byte spans of the words of a line (separated by spaces, commas, parentheses or a colon).
fn word_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        let sep = c.is_whitespace() || matches!(c, ',' | '(' | ')' | ':');
        match (sep, start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    spans
}

pub fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).ok()?;
    Some(out)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}
