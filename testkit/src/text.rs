//! Text to compare and to show: ports replaced, long lines wrapped, diffs.

/// Replaces every `:PORT` of 127.0.0.1 and 0.0.0.0 addresses, and of IPv6
/// ones (`[::1]:PORT`), with `:PORT`, so logs of different runs compare byte
/// for byte.
pub fn normalise_ports(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let markers = [".0.0.1:", ".0.0.0:", "]:"];
    while let Some((i, marker)) = markers.iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min() {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(if digits > 0 { "PORT" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// How many lines of a diff an assertion message shows at most.
const DIFF_MAX_LINES: usize = 80;

/// Lines longer than `width` characters cut into rows, each continuation
/// starting with `  ...`, so that a diff of long lines (a 1024-byte piece,
/// escaped) points at the part that differs.
pub fn wrap_long_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        for (i, row) in chars.chunks(width.max(1)).enumerate() {
            out.push_str(if i == 0 { "" } else { "  ..." });
            out.extend(row);
            out.push('\n');
        }
        if chars.is_empty() {
            out.push('\n');
        }
    }
    out
}

/// A unified-style line diff of `expected` and `got` (`-` expected, `+` got,
/// three lines of context), for assertion messages that show what drifted.
/// Empty when they are equal.
pub fn unified_diff(expected_name: &str, expected: &str, got_name: &str, got: &str) -> String {
    if expected == got {
        return String::new();
    }
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = got.lines().collect();
    // Longest common subsequence table, from the ends (inputs are small).
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops: Vec<(char, &str)> = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change =
        |k: usize| ops[k.saturating_sub(3)..(k + 4).min(ops.len())].iter().any(|(op, _)| *op != ' ');
    let mut out = format!("--- {expected_name}\n+++ {got_name}\n");
    let mut skipped = true;
    let mut shown = 0;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if shown == DIFF_MAX_LINES {
                let left = (k..ops.len()).filter(|&k| near_change(k)).count();
                out.push_str(&format!("... ({left} more lines of diff)\n"));
                break;
            }
            if skipped {
                out.push_str("@@\n");
            }
            out.push_str(&format!("{op}{line}\n"));
            skipped = false;
            shown += 1;
        } else {
            skipped = true;
        }
    }
    if expected.ends_with('\n') != got.ends_with('\n') {
        out.push_str("(the two differ in the final newline)\n");
    }
    out
}
