//! SPEC "The protocol" 2-5, as a property: random byte streams (newlines,
//! NULs, `quit` lines, UTF-8 text whole and cut, runs longer than the
//! 1024-byte buffer, at random places) cut at random points and sent with
//! small random pauses to each server; what comes back, and what the
//! server logs, is exactly what the framing rules predict (the model below,
//! written from SPEC.md, with `spec_escape` for the `recv:` text, plus the
//! rule SPEC leaves implicit: after a 1024-byte piece the rest of that line
//! is a continuation, so a `quit\n` right after a full piece is data).
//!
//! Seeded and reproducible: `SOCKETS_SEED=N` replays a run (the seed is
//! printed on failure); `SOCKETS_CASES=N` changes the number of cases per
//! server (default 200).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

/// xorshift64* (Vigna): small, seeded, good enough to pick bytes and cuts.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that nearby seeds give unrelated streams
        // and no state is zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// 0..n
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

/// Characters at the edges of SPEC "Escaping": C1 controls, the first shown
/// code points of each length, the invisible ones, the last before and first
/// after the surrogates, the last code point.
const EDGE_CHARS: [char; 22] = [
    '\u{7f}',
    '\u{80}',
    '\u{9f}',
    '\u{a0}',
    '\u{ad}',
    '\u{e9}',
    '\u{7ff}',
    '\u{800}',
    '\u{200b}',
    '\u{200f}',
    '\u{2028}',
    '\u{202e}',
    '\u{2060}',
    '\u{206f}',
    '\u{d7ff}',
    '\u{e000}',
    '\u{feff}',
    '\u{ffff}',
    '\u{10000}',
    '\u{1f44b}',
    '\u{10ffff}',
    '\u{20ac}',
];

/// An edge character, or any code point of 2, 3 or 4 bytes in UTF-8.
fn random_char(rng: &mut Rng) -> char {
    if rng.percent(50) {
        return EDGE_CHARS[rng.below(EDGE_CHARS.len())];
    }
    let ranges = [(0x80, 0x800), (0x800, 0xd800), (0xe000, 0x1_0000), (0x1_0000, 0x11_0000)];
    let (low, high) = ranges[rng.below(ranges.len())];
    char::from_u32(low + rng.below((high - low) as usize) as u32).expect("no surrogate in the ranges")
}

/// A random stream: short runs of any bytes, newlines, NULs, `quit` lines
/// and near misses, runs of 1023 to 2200 bytes without a newline (so
/// pieces, and `quit\n` right after a piece, happen often), and UTF-8 text,
/// now and then a character cut short, sometimes long enough that a piece
/// cuts a character in two.
fn random_stream(rng: &mut Rng) -> Vec<u8> {
    let mut stream = Vec::new();
    for _ in 0..rng.below(14) {
        match rng.below(15) {
            0..=3 => {
                for _ in 0..rng.below(40) {
                    // Any byte, but mostly printable so lines stay readable.
                    let byte =
                        if rng.percent(70) { b' ' + rng.below(95) as u8 } else { rng.below(256) as u8 };
                    stream.push(byte);
                }
            }
            4 | 5 => stream.push(b'\n'),
            6 => stream.push(0),
            7 => stream.extend_from_slice(if rng.percent(50) { b"quit\n" } else { b"quit\r\n" }),
            8 => {
                let near: [&[u8]; 5] = [b"quit", b"quitx\n", b" quit\n", b"quit\r", b"\nquit\n"];
                stream.extend_from_slice(near[rng.below(near.len())]);
            }
            13 | 14 => {
                let count = if rng.percent(20) { 300 + rng.below(300) } else { 1 + rng.below(12) };
                for _ in 0..count {
                    let mut buf = [0u8; 4];
                    let bytes = random_char(rng).encode_utf8(&mut buf).as_bytes();
                    let keep = if bytes.len() > 1 && rng.percent(5) {
                        1 + rng.below(bytes.len() - 1)
                    } else {
                        bytes.len()
                    };
                    stream.extend_from_slice(&bytes[..keep]);
                }
            }
            9 => {
                // A whole piece at the start of a line, then `quit\n`: data.
                stream.push(b'\n');
                stream.extend(std::iter::repeat_n(b'p', 1024 * (1 + rng.below(2))));
                stream.extend_from_slice(b"quit\n");
            }
            _ => {
                let len =
                    [1023, 1024, 1025, 2048][rng.below(4)] - rng.below(2) + rng.below(200) * rng.below(2);
                let byte = [b'a', 0, 0xff, b'\r'][rng.below(4)];
                stream.extend(std::iter::repeat_n(byte, len));
            }
        }
    }
    stream
}

/// Where to cut the stream, and how long to pause before each part.
fn random_cuts(rng: &mut Rng, len: usize) -> Vec<(usize, Duration)> {
    let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(len + 1)).collect();
    cuts.push(len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.into_iter().map(|end| (end, Duration::from_micros(rng.below(3) as u64 * 1000))).collect()
}

/// What the cases exercised, so that a generator that stopped producing
/// some situation fails rather than passing vacuously.
#[derive(Default, Debug)]
struct Seen {
    quit: usize,
    eof: usize,
    pieces: usize,
    quit_after_piece: usize,
    pending_at_eof: usize,
    /// `recv:` lines that show UTF-8 text as text.
    text: usize,
    /// Pieces that end inside a well-formed UTF-8 character.
    char_cut_by_piece: usize,
}

/// The `recv:` line for `bytes`, counting the lines that show text.
fn recv_line(bytes: &[u8], seen: &mut Seen) -> String {
    let text = spec_escape(bytes);
    seen.text += usize::from(!text.is_ascii());
    format!("recv: {text}")
}

/// Whether the first `at` bytes of `stream` end inside a well-formed UTF-8
/// character that the bytes after `at` complete.
fn cuts_a_char(stream: &[u8], at: usize) -> bool {
    (1..=3.min(at)).any(|before| {
        let start = at - before;
        let len = match stream[start] {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return false,
        };
        len > before && stream.get(start..start + len).is_some_and(|c| std::str::from_utf8(c).is_ok())
    })
}

/// What SPEC's framing predicts for a stream sent whole and then half-closed:
/// the bytes echoed, and the server's log lines for the session.
fn predict(stream: &[u8], seen: &mut Seen) -> (Vec<u8>, Vec<String>) {
    const BUF_SIZE: usize = 1024;
    let mut echo = Vec::new();
    let mut log = vec!["connected".to_string()];
    let mut rest = stream;
    let mut mid_line = false; // a piece of this line was echoed already
    loop {
        let window = &rest[..rest.len().min(BUF_SIZE)];
        match window.iter().position(|&b| b == b'\n') {
            Some(i) => {
                // Rule 2 and 4: a whole line; `quit` only as a line of its own.
                let line = &rest[..=i];
                let is_quit = line == b"quit\n" || line == b"quit\r\n";
                if is_quit && !mid_line {
                    seen.quit += 1;
                    log.push("quit".to_string());
                    return (echo, log);
                }
                seen.quit_after_piece += usize::from(is_quit);
                echo.extend_from_slice(line);
                log.push(recv_line(&line[..i], seen));
                mid_line = false;
                rest = &rest[i + 1..];
            }
            None if window.len() == BUF_SIZE => {
                // Rule 3: a full buffer without `\n` is echoed as a piece.
                echo.extend_from_slice(window);
                log.push(recv_line(window, seen));
                mid_line = true;
                seen.pieces += 1;
                seen.char_cut_by_piece += usize::from(cuts_a_char(rest, BUF_SIZE));
                rest = &rest[BUF_SIZE..];
            }
            None => {
                // Rule 5: pending bytes at EOF are echoed, then the close.
                if !rest.is_empty() {
                    seen.pending_at_eof += 1;
                    echo.extend_from_slice(rest);
                    log.push(recv_line(rest, seen));
                }
                seen.eof += 1;
                log.push("disconnected".to_string());
                return (echo, log);
            }
        }
    }
}

/// Sends `stream` in the parts `cuts` says, then half-closes; returns all the
/// server sent back. After a `quit` the server closes with our bytes unread,
/// so a reset (or a failed send) is how such a session may end.
fn send_in_parts(server: &Server, stream: &[u8], cuts: &[(usize, Duration)]) -> (u16, Vec<u8>) {
    let mut reader = server.connect();
    reader.set_nodelay(true).unwrap();
    let port = reader.local_addr().unwrap().port();
    let mut writer = reader.try_clone().unwrap();
    let (parts, stream) = (cuts.to_vec(), stream.to_vec());
    let sender = thread::spawn(move || {
        let mut start = 0;
        for (end, pause) in parts {
            thread::sleep(pause);
            if writer.write_all(&stream[start..end]).is_err() {
                return; // the server quit and closed
            }
            start = end;
        }
        let _ = writer.shutdown(Shutdown::Write);
    });
    let mut echoed = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => echoed.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the echo: {e}"),
        }
    }
    sender.join().expect("sender");
    (port, echoed)
}

/// The run's seed: `SOCKETS_SEED`, or the clock; one for every server,
/// so they get the same streams.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        std::env::var("SOCKETS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        })
    })
}

/// What differs between the predicted and the real echo, or else log (a
/// message with a diff), or None if both are as predicted.
fn difference(echo: (&[u8], &[u8]), log: (&[String], &[String])) -> Option<String> {
    let ((want_echo, echoed), (want_log, got_log)) = (echo, log);
    if echoed != want_echo {
        let at = echoed
            .iter()
            .zip(want_echo)
            .position(|(a, b)| a != b)
            .unwrap_or(echoed.len().min(want_echo.len()));
        return Some(format!(
            "the echo differs from byte {at} (expected {} bytes, got {}):\n{}",
            want_echo.len(),
            echoed.len(),
            unified_diff("expected echo", &show(want_echo), "echo", &show(echoed))
        ));
    }
    let wrapped = |log: &[String]| wrap_long_lines(&log.join("\n"), 100);
    (got_log != want_log).then(|| {
        format!(
            "the log differs:\n{}",
            unified_diff("expected", &wrapped(want_log), "server log", &wrapped(got_log))
        )
    })
}

/// Runs the cases against one server; panics with the seed on the first
/// case whose echo or log differs from the prediction.
fn check_server(lang: Lang, program: &str) {
    let seed = seed();
    let cases: usize = std::env::var("SOCKETS_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut server = Server::start(lang, program, &[]);
    let mut seen = Seen::default();
    for case in 0..cases {
        let mut rng = Rng::new(seed ^ (case as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let stream = random_stream(&mut rng);
        let cuts = random_cuts(&mut rng, stream.len());
        let (want_echo, want_log) = predict(&stream, &mut seen);

        // Only this case's lines: the kernel may give a later connection
        // the same client port as an earlier one.
        let log_start = server.log.len();
        let (port, echoed) = send_in_parts(&server, &stream, &cuts);
        let prefix = format!("[127.0.0.1:{port}] ");
        wait_for_session_end(&mut server, &prefix, DEADLINE);
        let got_log: Vec<String> = server.log[log_start..]
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(str::to_string)
            .collect();

        let Some(failure) = difference((&want_echo, &echoed), (&want_log, &got_log)) else {
            continue;
        };
        let parts: Vec<_> =
            cuts.iter().map(|(end, pause)| format!("{}@{}ms", end, pause.as_millis())).collect();
        panic!(
            "SPEC \"The protocol\" 2-5, {lang:?} {program}, case {case} of SOCKETS_SEED={seed}:\n{failure}\n\
             stream ({} bytes, sent in parts ending at {}):\n{}",
            stream.len(),
            parts.join(" "),
            clip(&show(&stream), 40)
        );
    }
    eprintln!("{lang:?} {program}: {cases} cases of SOCKETS_SEED={seed}: {seen:?}");
    if cases >= 100 {
        let Seen { quit, eof, pieces, quit_after_piece, pending_at_eof, text, char_cut_by_piece } = seen;
        assert!(
            [quit, eof, pieces, quit_after_piece, pending_at_eof, text, char_cut_by_piece]
                .iter()
                .all(|&n| n > 0),
            "the generator missed a situation: {seen:?} (SOCKETS_SEED={seed})"
        );
    }
}

/// The bytes, one escaped line per `\n`, for diffs.
/// Runs of 8 or more equal bytes are written `{BYTE xCOUNT}`, long lines
/// are cut into rows, so that a diff points at what differs.
fn show(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let mut rest = line;
        while let Some(&first) = rest.first() {
            let run = rest.iter().take_while(|&&b| b == first).count();
            if run >= 8 {
                out.push_str(&format!("{{{} x{run}}}", spec_escape(&[first])));
            } else {
                out.push_str(&spec_escape(&rest[..run]));
            }
            rest = &rest[run..];
        }
        out.push('\n');
    }
    wrap_long_lines(&out, 100)
}

/// At most `max` lines of `text`.
fn clip(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return text.to_string();
    }
    format!("{}\n... ({} more lines)\n", lines[..max].join("\n"), lines.len() - max)
}

/// SPEC "The protocol" 2-5 (framing, pieces, quit, EOF): every server of
/// programs.txt, C and Rust, all at once, each failing one named.
#[test]
fn property_framing_every_server() {
    for_every_server(check_server);
}
