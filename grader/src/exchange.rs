//! The exchange as the grader sees it at its sockets: every step with its
//! time, and a failure's `expected` and `got`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sockets::escape;

/// What one step was, for the text and for the ladder's arrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Sent,
    Got,
    End,
    Reset,
    Nothing,
    Note,
}

#[derive(Clone, Debug)]
pub struct Step {
    pub at: Duration,
    /// Which of the grader's connections (A, B, ...), empty if only one.
    pub who: String,
    pub kind: Kind,
    pub text: String,
}

impl Step {
    pub fn line(&self) -> String {
        let who = if self.who.is_empty() { String::new() } else { format!("{} ", self.who) };
        let arrow = match self.kind {
            Kind::Connect | Kind::Sent => "->",
            Kind::Got | Kind::End | Kind::Reset => "<-",
            Kind::Nothing | Kind::Note => "..",
        };
        format!("{:7.3} s  {who}{arrow} {}", self.at.as_secs_f64(), self.text)
    }
}

/// The steps of one stage, shared by its connections (some run in threads).
#[derive(Clone)]
pub struct Log {
    start: Instant,
    steps: Arc<Mutex<Vec<Step>>>,
}

/// Steps kept per stage: `many` makes thousands; the first ones explain.
const STEPS_KEPT: usize = 400;

impl Log {
    pub fn new() -> Log {
        Log { start: Instant::now(), steps: Arc::new(Mutex::new(Vec::new())) }
    }
    pub fn add(&self, who: &str, kind: Kind, text: String) {
        let mut steps = self.steps.lock().unwrap();
        if steps.len() < STEPS_KEPT {
            steps.push(Step { at: self.start.elapsed(), who: who.to_string(), kind, text });
        }
    }
    pub fn note(&self, text: impl Into<String>) {
        self.add("", Kind::Note, text.into());
    }
    pub fn steps(&self) -> Vec<Step> {
        self.steps.lock().unwrap().clone()
    }
}

/// Bytes as the project escapes them, in quotes; a long payload shortened
/// in the middle.
pub fn quoted(data: &[u8]) -> String {
    const SHOWN: usize = 48;
    if data.len() <= SHOWN * 2 {
        return format!("\"{}\"", escape(data));
    }
    format!(
        "\"{}\"...\"{}\" ({} bytes)",
        escape(&data[..SHOWN]),
        escape(&data[data.len() - SHOWN / 2..]),
        data.len()
    )
}

/// How a read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The bytes wanted arrived.
    Complete,
    Eof,
    Reset,
    Timeout,
}

impl End {
    pub fn words(self, waited: Duration) -> String {
        match self {
            End::Complete => "".into(),
            End::Eof => "then the end of stream".into(),
            End::Reset => "then a reset".into(),
            End::Timeout => format!("then nothing for {:.1} s", waited.as_secs_f64()),
        }
    }
}

/// A failed stage: what was expected, what came, and a guess at the cause.
#[derive(Clone, Debug, Default)]
pub struct Fail {
    pub expected: String,
    pub got: String,
    pub hint: Option<String>,
    /// A window around the first differing byte, with a caret.
    pub window: Option<String>,
}

impl Fail {
    pub fn new(expected: impl Into<String>, got: impl Into<String>) -> Fail {
        Fail { expected: expected.into(), got: got.into(), hint: None, window: None }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Fail {
        self.hint = Some(hint.into());
        self
    }
    pub fn hint_opt(mut self, hint: Option<String>) -> Fail {
        self.hint = hint.or(self.hint);
        self
    }
}

/// The first byte at which `got` differs from `expected` (or the end of
/// the shorter), and a window of both around it with a caret.
pub fn window(expected: &[u8], got: &[u8]) -> (usize, String) {
    let at = expected.iter().zip(got).position(|(a, b)| a != b).unwrap_or(expected.len().min(got.len()));
    let from = at.saturating_sub(24);
    let show = |data: &[u8]| {
        let end = (at + 24).min(data.len());
        let lead = if from > 0 { "..." } else { "" };
        let tail = if end < data.len() { "..." } else { "" };
        let before = escape(&data[from.min(data.len())..at.min(data.len())]);
        let (after, tail) =
            if at < data.len() { (escape(&data[at..end]), tail) } else { (String::new(), " (nothing more)") };
        (format!("{lead}\"{before}{after}\"{tail}"), lead.len() + 1 + before.chars().count())
    };
    let (e, _) = show(expected);
    let (g, caret) = show(got);
    let text = format!(
        "  first difference at byte {at} (of {} expected, {} got):\n    expected {e}\n    got      {g}\n             {}^",
        expected.len(),
        got.len(),
        " ".repeat(caret)
    );
    (at, text)
}

/// One of the grader's connections, every step of it logged.
pub struct Conn {
    pub stream: TcpStream,
    pub who: String,
    log: Log,
    pub received: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr, who: &str, log: &Log) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr().map(|a| a.port()).unwrap_or(0);
        log.add(who, Kind::Connect, format!("connected (from port {local})"));
        Ok(Conn { stream, who: who.to_string(), log: log.clone(), received: Vec::new() })
    }

    pub fn accept(listener: &TcpListener, within: Duration, who: &str, log: &Log) -> io::Result<Conn> {
        listener.set_nonblocking(true)?;
        let deadline = Instant::now() + within;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    stream.set_nodelay(true)?;
                    log.add(who, Kind::Connect, "accepted the program's connection".into());
                    return Ok(Conn { stream, who: who.to_string(), log: log.clone(), received: Vec::new() });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    log.add(who, Kind::Nothing, format!("no connection for {:.1} s", within.as_secs_f64()));
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let r = self.stream.write_all(data);
        match &r {
            Ok(()) => self.log.add(&self.who, Kind::Sent, format!("sent {}", quoted(data))),
            Err(e) => self.log.add(&self.who, Kind::Note, format!("send {} failed: {e}", quoted(data))),
        }
        r
    }

    /// Reads until `want` bytes came in all (since the last take), the
    /// stream ends, or `within` passes.
    pub fn read_up_to(&mut self, want: usize, within: Duration) -> End {
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 64 << 10];
        while self.received.len() < want {
            let now = Instant::now();
            if now >= deadline {
                self.log.add(&self.who, Kind::Nothing, format!("nothing for {:.1} s", within.as_secs_f64()));
                return End::Timeout;
            }
            let _ = self.stream.set_read_timeout(Some(deadline - now));
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.log.add(&self.who, Kind::End, "end of stream".into());
                    return End::Eof;
                }
                Ok(n) => {
                    self.log.add(&self.who, Kind::Got, format!("got {}", quoted(&buf[..n])));
                    self.received.extend_from_slice(&buf[..n]);
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    self.log.add(&self.who, Kind::Reset, "reset".into());
                    return End::Reset;
                }
                Err(e) => {
                    self.log.add(&self.who, Kind::Reset, format!("error: {e}"));
                    return End::Reset;
                }
            }
        }
        End::Complete
    }

    /// What came since the last take.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.received)
    }

    /// Expects exactly `expected` back within `within`; Err explains.
    pub fn expect(&mut self, expected: &[u8], within: Duration) -> Result<(), Fail> {
        let end = self.read_up_to(expected.len(), within);
        let got = self.take();
        if got == expected {
            return Ok(());
        }
        Err(mismatch(expected, &got, end, within))
    }

    /// Expects the end of the connection (no byte before it) within `within`.
    pub fn expect_end(&mut self, within: Duration) -> (End, Vec<u8>) {
        let end = self.read_up_to(usize::MAX, within);
        (end, self.take())
    }

    /// Expects that nothing at all comes during `during`.
    pub fn expect_silence(&mut self, during: Duration) -> Vec<u8> {
        let _ = self.read_up_to(1, during);
        self.take()
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.log.add(&self.who, Kind::Sent, "end of stream (shutdown)".into());
    }

    /// Closes with SO_LINGER 0: the kernel sends a reset.
    pub fn reset(self) {
        let _ = nix::sys::socket::setsockopt(
            &self.stream,
            nix::sys::socket::sockopt::Linger,
            &libc::linger { l_onoff: 1, l_linger: 0 },
        );
        self.log.add(&self.who, Kind::Reset, "reset (close with SO_LINGER 0)".into());
    }
}

/// `expected` and `got` for bytes that differ.
pub fn mismatch(expected: &[u8], got: &[u8], end: End, within: Duration) -> Fail {
    let tail = end.words(within);
    let got_text = if got.is_empty() {
        match end {
            End::Timeout => format!("nothing within {:.1} s", within.as_secs_f64()),
            End::Eof => "the end of stream and no byte".into(),
            End::Reset => "a reset and no byte".into(),
            End::Complete => "nothing".into(),
        }
    } else if end == End::Complete {
        quoted(got)
    } else {
        format!("{} {tail}", quoted(got))
    };
    let mut fail = Fail::new(quoted(expected), got_text);
    if !got.is_empty() && (expected.len() > 40 || got.len() > 40) {
        fail.window = Some(window(expected, got).1);
    }
    fail
}
