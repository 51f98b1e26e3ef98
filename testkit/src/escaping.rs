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
