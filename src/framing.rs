//! The protocol's rules, written once for every Rust server: the framing of
//! the byte stream into lines and pieces, `quit`, and the escaping of what
//! the log and the client show. The blocking servers use [`Framing`] inside
//! `serve_client`; `server_poll` uses it directly, one per client. Each C
//! file carries its own copy of these rules (`serve_client`, `is_quit`,
//! `escape`), since each must build alone.

use std::ops::Range;

use crate::sys;

/// The recv buffer; also the longest piece echoed.
pub const BUF_SIZE: usize = 1024;

/// A whole line `quit\n` or `quit\r\n`.
pub fn is_quit(line: &[u8]) -> bool {
    line == b"quit\n" || line == b"quit\r\n"
}

/// What [`Framing::next_piece`] found in the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A whole line (with its `\n`) or a full buffer without one: echo these
    /// bytes, [`Framing::bytes`] of the range.
    Echo(Range<usize>),
    /// The line `quit`: the session ends; it is not echoed.
    Quit,
}

/// One connection's framing state: the C's `buf`, `used` and `mid_line` in
/// `serve_client`, and where the next line starts.
pub struct Framing {
    buf: [u8; BUF_SIZE],
    /// Bytes in buf.
    used: usize,
    /// Bytes at the front of buf already handed out as pieces.
    start: usize,
    /// A piece of the current line was already echoed: the rest of that line
    /// is data, even when it reads `quit`.
    mid_line: bool,
}

impl Default for Framing {
    fn default() -> Framing {
        Framing::new()
    }
}

impl Framing {
    pub const fn new() -> Framing {
        Framing { buf: [0; BUF_SIZE], used: 0, start: 0, mid_line: false }
    }

    /// Where the next recv(2) writes: the free end of the buffer, after the
    /// bytes not yet framed are moved to its front (the C's `memmove`). The
    /// ranges handed out before are no longer valid: call it only when they
    /// have been sent.
    pub fn spare(&mut self) -> &mut [u8] {
        self.buf.copy_within(self.start..self.used, 0);
        self.used -= self.start;
        self.start = 0;
        &mut self.buf[self.used..]
    }

    /// `n` bytes were received into [`Framing::spare`].
    pub fn filled(&mut self, n: usize) {
        self.used += n;
    }

    /// The next whole line, or a full buffer without `\n` (nothing is
    /// dropped), or `quit`; None when more bytes are needed.
    pub fn next_piece(&mut self) -> Option<Piece> {
        let len = match sys::memchr(&self.buf[self.start..self.used], b'\n') {
            Some(newline) => newline + 1,
            None if self.start == 0 && self.used == BUF_SIZE => BUF_SIZE,
            None => return None,
        };
        let piece = self.start..self.start + len;
        if !self.mid_line && is_quit(&self.buf[piece.clone()]) {
            return Some(Piece::Quit);
        }
        self.mid_line = self.buf[piece.end - 1] != b'\n';
        self.start = piece.end;
        Some(Piece::Echo(piece))
    }

    /// The bytes of a piece from [`Framing::next_piece`] or [`Framing::pending`].
    pub fn bytes(&self, piece: Range<usize>) -> &[u8] {
        &self.buf[piece]
    }

    /// At the end of the stream: the bytes of an unfinished line, if any.
    pub fn pending(&mut self) -> Option<Range<usize>> {
        let pending = self.start..self.used;
        self.start = self.used;
        (!pending.is_empty()).then_some(pending)
    }
}

/// The character of the UTF-8 sequence at the start of `s` and its length,
/// if the sequence is well formed (shortest form, no surrogate, at most
/// U+10FFFF) and the character is text a terminal shows: U+00A0 and up, less
/// the invisible characters that hide or reorder text. The C's
/// `printable_utf8`.
fn printable_utf8(s: &[u8]) -> Option<(char, usize)> {
    const SMALLEST: [u32; 5] = [0, 0, 0x80, 0x800, 0x10000]; // by length
    let (len, first_bits) = match s[0] {
        0xc2..=0xdf => (2, s[0] & 0x1f),
        0xe0..=0xef => (3, s[0] & 0x0f),
        0xf0..=0xf4 => (4, s[0] & 0x07),
        _ => return None,
    };
    let rest = s.get(1..len)?;
    let mut c = u32::from(first_bits);
    for &b in rest {
        if b & 0xc0 != 0x80 {
            return None;
        }
        c = c << 6 | u32::from(b & 0x3f);
    }
    // from_u32 refuses surrogates and anything past U+10FFFF.
    let text = char::from_u32(c).filter(|_| c >= SMALLEST[len])?;
    let invisible =
        matches!(c, 0..=0x9f | 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff);
    (!invisible).then_some((text, len))
}

/// Text as text, every other byte made visible: printable ASCII and
/// printable UTF-8 as they are; `\\ \t \r \n`; any other byte as `\xHH`. A
/// peer's bytes never reach the terminal raw (no escape sequences, no
/// reordering).
pub fn escape(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b >= 0x80 {
            if let Some((text, len)) = printable_utf8(&data[i..]) {
                out.push(text);
                i += len;
                continue;
            }
        }
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                out.push_str("\\x");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_matches_the_spec() {
        assert_eq!(escape(b"a\\b\t\r\n\x00\x7f\xff~ "), "a\\\\b\\t\\r\\n\\x00\\x7f\\xff~ ");
        assert_eq!(escape("café 👋".as_bytes()), "café 👋");
        assert_eq!(escape(b"caf\xc3"), "caf\\xc3");
        assert_eq!(escape(b"\xc2\x9f\xc2\xa0"), "\\xc2\\x9f\u{a0}");
        assert_eq!(escape("\u{202e}x".as_bytes()), "\\xe2\\x80\\xaex");
        assert_eq!(escape(b"\xed\xa0\x80"), "\\xed\\xa0\\x80");
        assert_eq!(escape(b"\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
        assert_eq!(escape(b"\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
        assert_eq!(escape(b"\x1b[31m"), "\\x1b[31m");
    }

    #[test]
    fn quit_is_a_whole_line() {
        assert!(is_quit(b"quit\n") && is_quit(b"quit\r\n"));
        assert!(!is_quit(b"quitx\n") && !is_quit(b" quit\n") && !is_quit(b"quit"));
    }

    /// Feed `input` in chunks of `chunk` bytes; the pieces handed out, as text.
    fn frame(input: &[u8], chunk: usize) -> Vec<String> {
        let mut framing = Framing::new();
        let mut pieces = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let spare = framing.spare();
            let n = chunk.min(spare.len()).min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            framing.filled(n);
            rest = &rest[n..];
            while let Some(piece) = framing.next_piece() {
                match piece {
                    Piece::Quit => return pieces,
                    Piece::Echo(range) => {
                        pieces.push(String::from_utf8_lossy(framing.bytes(range)).into_owned())
                    }
                }
            }
        }
        if let Some(range) = framing.pending() {
            pieces.push(String::from_utf8_lossy(framing.bytes(range)).into_owned());
        }
        pieces
    }

    #[test]
    fn framing_follows_the_spec() {
        for chunk in [1, 3, 1024] {
            assert_eq!(frame(b"a\nbc\nquit\nd\n", chunk), ["a\n", "bc\n"]);
            assert_eq!(frame(b"a\nquit\r\n", chunk), ["a\n"]);
            assert_eq!(frame(b"no newline", chunk), ["no newline"]);
        }
        let long = [b'x'; 1024];
        let mut input = long.to_vec();
        input.extend_from_slice(b"quit\nquit\n");
        assert_eq!(frame(&input, 700), ["x".repeat(1024), "quit\n".into()]);
    }
}
