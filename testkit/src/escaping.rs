//! The SPEC's escaping, the model the programs' `recv:` and `echo:` lines
//! are checked against.

/// The SPEC's escaping ("Server output", "Escaping"), written here from the
/// text of the rule rather than taken from the programs: printable ASCII as
/// is, `\\`, `\t`, `\r`, `\n`; a well-formed UTF-8 sequence of a printable
/// code point from U+00A0 up as it is; every other byte `\xHH`.
pub fn spec_escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => match utf8_char(&bytes[i..]) {
                Some((c, len)) if shown_as_text(c) => {
                    out.push(c);
                    i += len;
                    continue;
                }
                // One byte at a time: the rest of an invisible character's
                // sequence is continuation bytes, escaped as well.
                _ => out.push_str(&format!("\\x{b:02x}")),
            },
        }
        i += 1;
    }
    out
}

/// The code point a well-formed UTF-8 sequence at the start of `bytes`
/// encodes, and the sequence's length; None if it is not one. Written from
/// the definition (RFC 3629): a lead byte 110xxxxx, 1110xxxx or 11110xxx,
/// then 1, 2 or 3 bytes 10xxxxxx; the shortest form only (no overlongs), no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
fn utf8_char(bytes: &[u8]) -> Option<(char, usize)> {
    let lead = *bytes.first()?;
    let (len, bits, min) = match lead {
        _ if lead & 0b1110_0000 == 0b1100_0000 => (2, lead & 0b0001_1111, 0x80),
        _ if lead & 0b1111_0000 == 0b1110_0000 => (3, lead & 0b0000_1111, 0x800),
        _ if lead & 0b1111_1000 == 0b1111_0000 => (4, lead & 0b0000_0111, 0x1_0000),
        _ => return None,
    };
    let tail = bytes.get(1..len)?;
    let mut code = u32::from(bits);
    for &b in tail {
        if b & 0b1100_0000 != 0b1000_0000 {
            return None;
        }
        code = code << 6 | u32::from(b & 0b0011_1111);
    }
    if code < min || (0xd800..=0xdfff).contains(&code) || code > 0x10_ffff {
        return None;
    }
    char::from_u32(code).map(|c| (c, len))
}

/// SPEC "Escaping": a code point from U+00A0 up shows as itself, except the
/// invisible ones that hide or reorder text on a terminal.
fn shown_as_text(c: char) -> bool {
    let invisible = matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}');
    c >= '\u{a0}' && !invisible
}

/// The edge cases of SPEC "Escaping", each written out by hand from its
/// text (tests/escaping.rs sends them through every pairing): (what it is,
/// the line's bytes, how SPEC says it is shown). Raw strings
/// (`r"\xc2\x80"`) hold the escaped text as it is printed.
pub const EDGE_CASES: &[(&str, &[u8], &str)] = &[
    // One byte: printable ASCII as is, `\` `\t` `\r` doubled or named, the rest hex.
    ("printable ASCII, space to ~", b" !09AZaz~", " !09AZaz~"),
    ("backslash", b"a\\b", r"a\\b"),
    ("tab and CR", b"a\tb\rc", r"a\tb\rc"),
    ("NUL", b"a\x00b", r"a\x00b"),
    ("C0 control U+0001", b"\x01", r"\x01"),
    ("C0 control U+001F", b"\x1f", r"\x1f"),
    ("backspace", b"ab\x08c", r"ab\x08c"),
    ("BEL", b"\x07", r"\x07"),
    ("DEL U+007F", b"\x7f", r"\x7f"),
    // Two bytes: C1 controls (U+0080..U+009F) byte by byte, U+00A0 up as is.
    ("U+0080, first C1 control", b"\xc2\x80", r"\xc2\x80"),
    ("U+0085 NEL", b"\xc2\x85", r"\xc2\x85"),
    ("U+009B CSI, the one-byte ANSI introducer", b"\xc2\x9b31m", r"\xc2\x9b31m"),
    ("U+009F, last C1 control", b"\xc2\x9f", r"\xc2\x9f"),
    ("U+00A0, first shown (no-break space)", b"<\xc2\xa0>", "<\u{a0}>"),
    ("U+00AC, before the soft hyphen", b"\xc2\xac", "\u{ac}"),
    ("U+00AD soft hyphen, invisible", b"\xc2\xad", r"\xc2\xad"),
    ("U+00AE, after the soft hyphen", b"\xc2\xae", "\u{ae}"),
    ("e acute, in a word", b"caf\xc3\xa9", "caf\u{e9}"),
    ("U+07FF, last of two bytes", b"\xdf\xbf", "\u{7ff}"),
    // Three bytes.
    ("U+0800, first of three bytes", b"\xe0\xa0\x80", "\u{800}"),
    ("U+200A, before the zero-width ones", b"\xe2\x80\x8a", "\u{200a}"),
    ("U+200B zero-width space", b"\xe2\x80\x8b", r"\xe2\x80\x8b"),
    ("U+200E left-to-right mark", b"\xe2\x80\x8e", r"\xe2\x80\x8e"),
    ("U+200F right-to-left mark", b"\xe2\x80\x8f", r"\xe2\x80\x8f"),
    ("U+2010, after them", b"\xe2\x80\x90", "\u{2010}"),
    ("U+2027, before the separators", b"\xe2\x80\xa7", "\u{2027}"),
    ("U+2028 line separator", b"\xe2\x80\xa8", r"\xe2\x80\xa8"),
    ("U+2029 paragraph separator", b"\xe2\x80\xa9", r"\xe2\x80\xa9"),
    ("U+202A left-to-right embedding", b"\xe2\x80\xaa", r"\xe2\x80\xaa"),
    ("U+202E right-to-left override", b"abc\xe2\x80\xaedef", r"abc\xe2\x80\xaedef"),
    ("U+202F, after the overrides", b"\xe2\x80\xaf", "\u{202f}"),
    ("U+205F, before the invisible operators", b"\xe2\x81\x9f", "\u{205f}"),
    ("U+2060 word joiner", b"\xe2\x81\xa0", r"\xe2\x81\xa0"),
    ("U+2066 left-to-right isolate", b"\xe2\x81\xa6", r"\xe2\x81\xa6"),
    ("U+206F, last of them", b"\xe2\x81\xaf", r"\xe2\x81\xaf"),
    ("U+2070, after them", b"\xe2\x81\xb0", "\u{2070}"),
    ("U+20AC euro sign", b"\xe2\x82\xac", "\u{20ac}"),
    ("U+D7FF, last before the surrogates", b"\xed\x9f\xbf", "\u{d7ff}"),
    ("U+D800, first surrogate", b"\xed\xa0\x80", r"\xed\xa0\x80"),
    ("U+DBFF..U+DC00, a surrogate pair in CESU-8", b"\xed\xaf\xbf\xed\xb0\x80", r"\xed\xaf\xbf\xed\xb0\x80"),
    ("U+DFFF, last surrogate", b"\xed\xbf\xbf", r"\xed\xbf\xbf"),
    ("U+E000, first after the surrogates", b"\xee\x80\x80", "\u{e000}"),
    ("U+FEFE, before the BOM", b"\xef\xbb\xbe", "\u{fefe}"),
    ("U+FEFF byte order mark, invisible", b"\xef\xbb\xbfx", r"\xef\xbb\xbfx"),
    ("U+FFFD replacement character", b"\xef\xbf\xbd", "\u{fffd}"),
    ("U+FFFF, last of three bytes", b"\xef\xbf\xbf", "\u{ffff}"),
    // Four bytes.
    ("U+10000, first of four bytes", b"\xf0\x90\x80\x80", "\u{10000}"),
    ("waving hand, with text", b"caf\xc3\xa9 \xf0\x9f\x91\x8b", "caf\u{e9} \u{1f44b}"),
    ("U+10FFFF, the last code point", b"\xf4\x8f\xbf\xbf", "\u{10ffff}"),
    ("F4 90 80 80, above U+10FFFF", b"\xf4\x90\x80\x80", r"\xf4\x90\x80\x80"),
    // Overlong forms: every byte escaped.
    ("C0 80, overlong NUL", b"\xc0\x80", r"\xc0\x80"),
    ("C1 BF, overlong U+007F", b"\xc1\xbf", r"\xc1\xbf"),
    ("E0 80 80, overlong NUL", b"\xe0\x80\x80", r"\xe0\x80\x80"),
    ("E0 9F BF, overlong U+07FF", b"\xe0\x9f\xbf", r"\xe0\x9f\xbf"),
    ("F0 80 80 80, overlong NUL", b"\xf0\x80\x80\x80", r"\xf0\x80\x80\x80"),
    ("F0 8F BF BF, overlong U+FFFF", b"\xf0\x8f\xbf\xbf", r"\xf0\x8f\xbf\xbf"),
    ("C0 AF, overlong slash", b"\xc0\xaf", r"\xc0\xaf"),
    // Continuation bytes without a lead byte.
    ("lone continuation 80", b"a\x80b", r"a\x80b"),
    ("lone continuation BF", b"\xbf", r"\xbf"),
    ("continuations after a whole character", b"\xc3\xa9\xa9\xa9", "\u{e9}\\xa9\\xa9"),
    // Truncated sequences: each byte escaped, what follows read afresh.
    ("two-byte lead at the end", b"caf\xc3", r"caf\xc3"),
    ("two-byte lead, then ASCII", b"\xc3a", r"\xc3a"),
    ("two-byte lead, then a whole e acute", b"\xc3\xc3\xa9", "\\xc3\u{e9}"),
    ("three-byte lead and one continuation, at the end", b"\xe2\x82", r"\xe2\x82"),
    ("three-byte lead and one continuation, then a space", b"\xe2\x82 ", r"\xe2\x82 "),
    (
        "four-byte lead and two continuations, then the euro sign",
        b"\xf0\x9f\x91\xe2\x82\xac",
        "\\xf0\\x9f\\x91\u{20ac}",
    ),
    ("four-byte lead alone", b"\xf0", r"\xf0"),
    // Bytes that never occur in UTF-8.
    ("F5, first lead byte past U+10FFFF", b"\xf5\x80\x80\x80", r"\xf5\x80\x80\x80"),
    ("F7 BF BF BF", b"\xf7\xbf\xbf\xbf", r"\xf7\xbf\xbf\xbf"),
    ("F8, an old five-byte lead", b"\xf8\x88\x80\x80\x80", r"\xf8\x88\x80\x80\x80"),
    ("FE", b"\xfe", r"\xfe"),
    ("FF", b"\xff", r"\xff"),
    // What a hostile peer sends to a terminal: never raw.
    ("ANSI colour", b"\x1b[31mred", r"\x1b[31mred"),
    ("ANSI clear screen and cursor home", b"\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),
    ("OSC window title", b"\x1b]0;pwned\x07", r"\x1b]0;pwned\x07"),
    ("ESC alone", b"\x1b", r"\x1b"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle agrees with the table: two readings of the rule, one as
    /// code, one by hand, so a slip in either shows here.
    #[test]
    fn spec_escape_agrees_with_the_edge_cases() {
        for (what, bytes, shown) in EDGE_CASES {
            assert_eq!(spec_escape(bytes), *shown, "{what}");
            assert!(!bytes.contains(&b'\n'), "{what}: a line of the table holds a newline");
        }
    }
}
