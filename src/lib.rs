//! sockets, side by side: the Rust port of a C socket assignment.
//!
//! [`sys`] wraps the C calls, one function per call, and is the only place
//! with `unsafe`. This module holds what the three Rust twins share; the C
//! files each carry their own copy of it (they must build alone, as in the
//! assignment), under the same names, so `server.c` and `src/bin/server.rs`
//! plus this file read as a translation of each other. The contract is
//! `SPEC.md`.

pub mod sys;

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use sys::{in_addr, sockaddr_in, strerror};

/// The recv buffer; also the longest piece echoed.
pub const BUF_SIZE: usize = 1024;
/// Connections the kernel queues before `accept`.
pub const BACKLOG: i32 = 128;
/// The echo loop needs ~6 KiB; a small stack keeps idle clients cheap.
pub const THREAD_STACK_SIZE: usize = 64 * 1024;

/// A failed call: what was being done, and the errno it failed with.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub errno: Errno,
}

impl Failure {
    pub fn new(what: impl Into<String>, errno: Errno) -> Failure {
        Failure { what: what.into(), errno }
    }

    /// `prog: what: strerror(errno)` and exit 1, as netcat does (the C `die`).
    pub fn exit(&self, prog: &str) -> ! {
        eprintln!("{prog}: {}: {}", self.what, strerror(self.errno));
        std::process::exit(1);
    }
}

/// The errno behind an `io::Error` from the standard library (a thread spawn).
pub fn errno_of(err: &io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

/// The command line after the program name, as bytes: an argument need not be
/// UTF-8, and the C sees bytes too.
pub fn args() -> Vec<Vec<u8>> {
    std::env::args_os().skip(1).map(|arg| arg.into_vec()).collect()
}

/// A bad command line: say what is wrong, show the usage, exit 2.
pub fn usage_error(prog: &str, usage: &str, message: &[&[u8]]) -> ! {
    let mut text = format!("{prog}: ").into_bytes();
    message.iter().for_each(|part| text.extend_from_slice(part));
    text.push(b'\n');
    text.extend_from_slice(usage.as_bytes());
    // If stderr is gone there is no one left to tell.
    let _ = io::stderr().write_all(&text);
    std::process::exit(2);
}

/// Digits only, within [min, max]: a plain `parse` would take "+8".
pub fn parse_number(s: &[u8], min: u32, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = s.iter().fold(0, |value, digit| value * 10 + u32::from(digit - b'0'));
    (min..=max).contains(&value).then_some(value)
}

/// One answer of [`Getopt`], as getopt(3) gives it.
pub enum Opt {
    /// An option in the option string, with its value if it takes one.
    Found(u8, Option<Vec<u8>>),
    /// An option that takes a value came last (getopt's `':'`).
    MissingValue(u8),
    /// A character not in the option string (getopt's `'?'`).
    Unknown(u8),
}

/// getopt(3) as the C twins call it, with `"+:"` before the option string:
/// options may be grouped (`-qp0`), a value may be attached (`-p0`) or be the
/// next argument (`-p 0`), and the first operand or `--` ends the options.
/// The same command lines as the C, by the same rules; written in Rust rather
/// than wrapped because getopt keeps its state in globals (`optind`).
pub struct Getopt<'a> {
    args: &'a [Vec<u8>],
    spec: &'static [u8],
    /// The next argument to look at (getopt's `optind`).
    index: usize,
    /// The next character in a group such as `-qp0` (0: start a new argument).
    next_char: usize,
}

impl<'a> Getopt<'a> {
    /// `spec` as getopt's option string, without the leading `"+:"`.
    pub fn new(args: &'a [Vec<u8>], spec: &'static [u8]) -> Getopt<'a> {
        Getopt { args, spec, index: 0, next_char: 0 }
    }

    /// The arguments after the options (`argv + optind`).
    pub fn operands(&self) -> &'a [Vec<u8>] {
        &self.args[self.index..]
    }
}

impl Iterator for Getopt<'_> {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        if self.next_char == 0 {
            let arg = self.args.get(self.index)?;
            if arg == b"--" {
                self.index += 1;
                return None;
            }
            if arg.len() < 2 || arg[0] != b'-' {
                return None;
            }
            self.next_char = 1;
        }
        let arg = &self.args[self.index];
        let name = arg[self.next_char];
        self.next_char += 1;
        let rest_of_group = &arg[self.next_char..];
        let end_of_group = rest_of_group.is_empty();

        let position = self.spec.iter().position(|&c| c == name && c != b':');
        let takes_value = position.is_some_and(|i| self.spec.get(i + 1) == Some(&b':'));
        let answer = match position {
            None => Opt::Unknown(name),
            Some(_) if !takes_value => Opt::Found(name, None),
            Some(_) if !end_of_group => {
                let value = rest_of_group.to_vec();
                self.index += 1;
                self.next_char = 0;
                return Some(Opt::Found(name, Some(value)));
            }
            Some(_) => match self.args.get(self.index + 1) {
                Some(value) => {
                    self.index += 2;
                    self.next_char = 0;
                    return Some(Opt::Found(name, Some(value.clone())));
                }
                None => Opt::MissingValue(name),
            },
        };
        if end_of_group {
            self.index += 1;
            self.next_char = 0;
        }
        Some(answer)
    }
}

/// The server's command line: `[-b ADDR] [-p PORT] [-t SECONDS] [-q]`.
#[derive(Clone, Copy)]
pub struct ServerOptions {
    pub bind_addr: in_addr,
    pub port: u16,
    /// Seconds.
    pub idle_timeout: u32,
    pub quiet: bool,
}

/// The usage line of `server` and `server_single`.
pub fn server_usage(prog: &str) -> String {
    format!("usage: {prog} [-b ADDR] [-p PORT] [-t SECONDS] [-q]\n")
}

pub fn parse_server_options(prog: &str, args: &[Vec<u8>]) -> ServerOptions {
    let usage = server_usage(prog);
    let mut opt = ServerOptions {
        bind_addr: in_addr { s_addr: libc::INADDR_ANY.to_be() },
        port: 8080,
        idle_timeout: 5,
        quiet: false,
    };

    let mut getopt = Getopt::new(args, b"b:p:t:qh");
    for found in getopt.by_ref() {
        match found {
            Opt::Found(b'b', Some(value)) => match sys::inet_pton(&value) {
                Some(addr) => opt.bind_addr = addr,
                None => usage_error(prog, &usage, &[b"bad address: ", &value]),
            },
            Opt::Found(b'p', Some(value)) => match parse_number(&value, 0, 65535) {
                Some(port) => opt.port = port as u16,
                None => usage_error(prog, &usage, &[b"bad port: ", &value]),
            },
            Opt::Found(b't', Some(value)) => match parse_number(&value, 1, 3600) {
                Some(seconds) => opt.idle_timeout = seconds,
                None => usage_error(prog, &usage, &[b"bad timeout: ", &value]),
            },
            Opt::Found(b'q', _) => opt.quiet = true,
            Opt::Found(b'h', _) => {
                print!("{usage}");
                std::process::exit(0);
            }
            Opt::MissingValue(name) => usage_error(prog, &usage, &[b"option -", &[name], b" needs a value"]),
            Opt::Found(name, _) | Opt::Unknown(name) => {
                usage_error(prog, &usage, &[b"unknown option -", &[name]])
            }
        }
    }
    if let Some(extra) = getopt.operands().first() {
        usage_error(prog, &usage, &[b"unexpected argument: ", extra]);
    }
    opt
}

/// `a.b.c.d:port`, the form every log line and error message uses.
pub fn format_addr(addr: &sockaddr_in) -> String {
    // s_addr and sin_port are in network byte order: their bytes, in memory
    // order, are the address as written.
    let [a, b, c, d] = addr.sin_addr.s_addr.to_ne_bytes();
    format!("{a}.{b}.{c}.{d}:{}", u16::from_be(addr.sin_port))
}

/// Printable ASCII as is; `\\ \t \r \n`; any other byte as `\xHH`.
pub fn escape(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len());
    for &b in data {
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
    }
    out
}

/// A whole line `quit\n` or `quit\r\n`.
pub fn is_quit(line: &[u8]) -> bool {
    line == b"quit\n" || line == b"quit\r\n"
}

/// send(2) until every byte is written: a short write is not an error.
pub fn send_all(fd: BorrowedFd, mut data: &[u8]) -> Result<(), Errno> {
    // step: send
    while !data.is_empty() {
        // MSG_NOSIGNAL: a vanished peer gives EPIPE, not a process-killing SIGPIPE.
        match sys::send(fd, data, libc::MSG_NOSIGNAL) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// recv(2), retried when a signal interrupts it.
pub fn recv_retry(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // step: recv
    loop {
        match sys::recv(fd, buf, 0) {
            Err(Errno::EINTR) => continue,
            result => return result,
        }
    }
}

/// Log one line or piece (unless `-q`), then echo it.
fn echo_piece(fd: BorrowedFd, peer: &str, data: &[u8], opt: &ServerOptions) -> Result<(), Errno> {
    if !opt.quiet {
        let text = data.strip_suffix(b"\n").unwrap_or(data);
        // The whole line first, then one print: println! would hand stdout's
        // buffer (1024 bytes) the escaped text, up to 4096 bytes, as a piece
        // of its own, written by a write(2) of its own, and in server_fork
        // another process's line could come in between.
        let line = format!("[{peer}] recv: {}\n", escape(text));
        print!("{line}");
    }
    send_all(fd, data)
}

/// The echo loop: a function of one connected socket, as Stevens' `str_echo`.
/// Frames the stream into lines and echoes each; returns when the session
/// ends, logging why. The caller closes the socket.
pub fn serve_client(fd: BorrowedFd, peer: &str, opt: &ServerOptions) {
    let mut buf = [0u8; BUF_SIZE];
    let mut used = 0; // bytes in buf not yet echoed
    let mut mid_line = false; // a piece of the current line was already echoed

    loop {
        // step: recv result
        let n = match recv_retry(fd, &mut buf[used..]) {
            Ok(0) => {
                // EOF: echo what is pending, then close.
                let pending = if used > 0 { echo_piece(fd, peer, &buf[..used], opt) } else { Ok(()) };
                match pending {
                    Ok(()) => println!("[{peer}] disconnected"),
                    Err(err) => println!("[{peer}] error: {}", strerror(err)),
                }
                return;
            }
            Ok(n) => n,
            // SO_RCVTIMEO expired (EAGAIN and EWOULDBLOCK are one number on Linux).
            Err(Errno::EAGAIN) => {
                println!("[{peer}] idle for {} s, closing", opt.idle_timeout);
                return;
            }
            Err(err) => {
                println!("[{peer}] error: {}", strerror(err));
                return;
            }
        };
        used += n;

        // step: framing
        let mut start = 0;
        while let Some(newline) = sys::memchr(&buf[start..used], b'\n') {
            let line = &buf[start..start + newline + 1];
            if !mid_line && is_quit(line) {
                println!("[{peer}] quit");
                return;
            }
            if let Err(err) = echo_piece(fd, peer, line, opt) {
                println!("[{peer}] error: {}", strerror(err));
                return;
            }
            mid_line = false;
            start += line.len();
        }
        buf.copy_within(start..used, 0);
        used -= start;

        if used == buf.len() {
            // A full buffer without '\n': echo it as a piece; nothing is dropped.
            if let Err(err) = echo_piece(fd, peer, &buf, opt) {
                println!("[{peer}] error: {}", strerror(err));
                return;
            }
            used = 0;
            mid_line = true;
        }
    }
}

/// socket, SO_REUSEADDR, bind, listen; returns the socket and where it listens.
pub fn open_listener(opt: &ServerOptions) -> Result<(OwnedFd, sockaddr_in), Failure> {
    // step: socket
    let fd = sys::socket(libc::AF_INET, libc::SOCK_STREAM, 0).map_err(|e| Failure::new("socket", e))?;

    // step: setsockopt
    // Restart at once on the same port, even with old connections in TIME_WAIT.
    let on: libc::c_int = 1;
    sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, &on)
        .map_err(|e| Failure::new("setsockopt SO_REUSEADDR", e))?;

    // step: bind
    let mut addr = sys::sockaddr_in_zeroed();
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr = opt.bind_addr;
    addr.sin_port = opt.port.to_be();
    sys::bind(fd.as_fd(), &addr).map_err(|e| Failure::new(format!("bind {}", format_addr(&addr)), e))?;
    // step: listen
    sys::listen(fd.as_fd(), BACKLOG).map_err(|e| Failure::new("listen", e))?;

    // step: getsockname
    // With -p 0 the kernel chose the port: ask which.
    let addr = sys::getsockname(fd.as_fd()).map_err(|e| Failure::new("getsockname", e))?;
    Ok((fd, addr))
}

fn wait_for_shutdown(shutdown_signals: sys::sigset_t) {
    // sigwait fails only for a bad set; either way the server stops.
    let _ = sys::sigwait(&shutdown_signals);
    println!("shutting down");
    std::process::exit(0);
}

/// SIGINT and SIGTERM are blocked in every thread (new threads inherit the
/// mask) and taken by one thread with sigwait: no handler, no flag, no race,
/// and no recv or accept is ever interrupted by them.
pub fn start_shutdown_thread() -> Result<(), Failure> {
    // step: signals
    let shutdown_signals = sys::sigset(&[libc::SIGINT, libc::SIGTERM]);
    sys::block_signals(&shutdown_signals).map_err(|e| Failure::new("pthread_sigmask", e))?;

    // step: shutdown thread
    // std::thread::spawn is pthread_create underneath; the C names the call.
    thread::Builder::new()
        .spawn(move || wait_for_shutdown(shutdown_signals))
        .map_err(|e| Failure::new("pthread_create", errno_of(&e)))?;
    Ok(())
}

/// accept(2), retried on EINTR; other errors (EMFILE...) are logged and paused on.
pub fn accept_client(prog: &str, listener: BorrowedFd) -> (OwnedFd, String) {
    // step: accept
    loop {
        match sys::accept(listener) {
            Ok((fd, addr)) => return (fd, format_addr(&addr)),
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("{prog}: accept: {}", strerror(err));
                // Out of descriptors: the pending connection stays queued; do not spin.
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The idle timeout on both directions, and no Nagle delay on the echo.
pub fn configure_client(fd: BorrowedFd, idle_timeout: u32) -> Result<(), Errno> {
    // step: configure
    let timeout = sys::timeval { tv_sec: idle_timeout.into(), tv_usec: 0 };
    let on: libc::c_int = 1;
    sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
    sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &timeout)?;
    sys::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &on)
}

/// The `main` of `server.c` and `server_single.c`, which differ only in how
/// they serve a connection: `serve` gets each accepted, configured socket
/// (and owns it: dropping it is `close`). `model` is how the `listening`
/// line names the difference.
pub fn run_server(prog: &str, model: &str, mut serve: impl FnMut(OwnedFd, String, &ServerOptions)) -> ! {
    sys::restore_default_sigpipe();
    let opt = parse_server_options(prog, &args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).

    start_shutdown_thread().unwrap_or_else(|failure| failure.exit(prog));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(prog));
    println!("listening on {} ({model}, idle timeout {} s)", format_addr(&listen_addr), opt.idle_timeout);

    loop {
        let (fd, peer) = accept_client(prog, listener.as_fd());
        println!("[{peer}] connected");
        if let Err(err) = configure_client(fd.as_fd(), opt.idle_timeout) {
            println!("[{peer}] error: {}", strerror(err));
            continue; // dropping fd closes it
        }
        serve(fd, peer, &opt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn parse(list: &[&str]) -> (Vec<String>, Vec<String>) {
        let args = args(list);
        let mut getopt = Getopt::new(&args, b"b:p:t:qh");
        let found = getopt
            .by_ref()
            .map(|opt| match opt {
                Opt::Found(c, None) => format!("{}", c as char),
                Opt::Found(c, Some(v)) => format!("{}={}", c as char, String::from_utf8_lossy(&v)),
                Opt::MissingValue(c) => format!(":{}", c as char),
                Opt::Unknown(c) => format!("?{}", c as char),
            })
            .collect();
        let rest = getopt.operands().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        (found, rest)
    }

    #[test]
    fn getopt_follows_posix_rules() {
        assert_eq!(parse(&["-qp0", "-t", "3"]), (vec!["q".into(), "p=0".into(), "t=3".into()], vec![]));
        assert_eq!(parse(&["-p", "-q"]), (vec!["p=-q".into()], vec![]));
        assert_eq!(
            parse(&["-q", "x", "-p", "1"]),
            (vec!["q".into()], vec!["x".into(), "-p".into(), "1".into()])
        );
        assert_eq!(parse(&["--", "-q"]), (vec![], vec!["-q".into()]));
        assert_eq!(parse(&["-", "-q"]), (vec![], vec!["-".into(), "-q".into()]));
        assert_eq!(parse(&["-p"]), (vec![":p".into()], vec![]));
        assert_eq!(parse(&["-x:"]), (vec!["?x".into(), "?:".into()], vec![]));
    }

    #[test]
    fn numbers_are_digits_only() {
        assert_eq!(parse_number(b"8080", 0, 65535), Some(8080));
        assert_eq!(parse_number(b"0", 0, 65535), Some(0));
        for bad in [&b""[..], b"+8", b" 8", b"8x", b"-1", b"70000", b"9999999999"] {
            assert_eq!(parse_number(bad, 0, 65535), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn escape_matches_the_spec() {
        assert_eq!(escape(b"a\\b\t\r\n\x00\x7f\xff~ "), "a\\\\b\\t\\r\\n\\x00\\x7f\\xff~ ");
    }

    #[test]
    fn quit_is_a_whole_line() {
        assert!(is_quit(b"quit\n") && is_quit(b"quit\r\n"));
        assert!(!is_quit(b"quitx\n") && !is_quit(b" quit\n") && !is_quit(b"quit"));
    }
}
