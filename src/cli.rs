//! The command line: getopt(3) as the C twins call it, the options of the
//! servers and those of the line clients.

use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;

use crate::sys::{self, in6_addr, in_addr, SockAddr};

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
    /// `-b` and `-p`: an IPv4 or IPv6 address, and the port.
    pub bind_addr: SockAddr,
    /// Seconds.
    pub idle_timeout: u32,
    pub quiet: bool,
}

/// The usage line of `server` and `server_single`.
pub fn server_usage(prog: &str) -> String {
    format!("usage: {prog} [-b ADDR] [-p PORT] [-t SECONDS] [-q]\n")
}

/// A numeric IPv4 or IPv6 address, as inet_pton(3) reads it; the port 0.
pub fn parse_bind_addr(text: &[u8]) -> Option<SockAddr> {
    if let Some(v4) = sys::inet_pton::<in_addr>(text) {
        return Some(SockAddr::v4(v4, 0));
    }
    sys::inet_pton::<in6_addr>(text).map(|v6| SockAddr::v6(v6, 0))
}

/// What every program does with an option its parser has no arm for: `-h`
/// shows the usage (exit 0); an option of its own goes to `own`, which says
/// whether it took it; anything else is a usage error (exit 2).
fn other_option(prog: &str, usage: &str, found: Opt, own: &mut impl FnMut(u8, &[u8]) -> bool) {
    match found {
        Opt::Found(b'h', _) => {
            print!("{usage}");
            std::process::exit(0);
        }
        Opt::MissingValue(name) => usage_error(prog, usage, &[b"option -", &[name], b" needs a value"]),
        Opt::Found(name, Some(value)) if own(name, &value) => {}
        Opt::Found(name, _) | Opt::Unknown(name) => usage_error(prog, usage, &[b"unknown option -", &[name]]),
    }
}

/// The TCP servers' command line: 0.0.0.0, 8080, a 5-second idle timeout.
pub fn parse_server_options(prog: &str, args: &[Vec<u8>]) -> ServerOptions {
    parse_server_options_with(prog, &server_usage(prog), b"b:p:t:qh", args, 8080, |_, _| false)
}

/// The most threads, children or loops `-n` may ask for (the C's `MAX_COUNT`).
pub const MAX_COUNT: u32 = 1024;

/// The command line of the servers that take `-n N` (server_prefork,
/// server_pool, server_reuseport): the TCP servers' options and the count,
/// `default_count` unless `-n` says otherwise (the C's `parse_options` of
/// those three, one copy).
pub fn parse_counted_server_options(
    prog: &str,
    args: &[Vec<u8>],
    default_count: u32,
) -> (ServerOptions, u32) {
    let usage = format!("usage: {prog} [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]\n");
    let mut count = default_count;
    let opt = parse_server_options_with(prog, &usage, b"b:p:t:qn:h", args, 8080, |name, value| {
        if name != b'n' {
            return false;
        }
        match parse_number(value, 1, MAX_COUNT) {
            Some(number) => count = number,
            None => usage_error(prog, &usage, &[b"bad number: ", value]),
        }
        true
    });
    (opt, count)
}

/// The options of `spec` that every server knows (`-b`, `-p`, `-t`, `-q`,
/// `-h`; server_udp's spec leaves `-t` out), the port `port` unless `-p`
/// says otherwise. The other options of `spec` (server_tls's `c:k:`) go to
/// `own`, which says whether it took the option.
pub fn parse_server_options_with(
    prog: &str,
    usage: &str,
    spec: &'static [u8],
    args: &[Vec<u8>],
    mut port: u16,
    mut own: impl FnMut(u8, &[u8]) -> bool,
) -> ServerOptions {
    let mut opt = ServerOptions {
        bind_addr: SockAddr::v4(in_addr { s_addr: libc::INADDR_ANY.to_be() }, 0),
        idle_timeout: 5,
        quiet: false,
    };

    let mut getopt = Getopt::new(args, spec);
    for found in getopt.by_ref() {
        match found {
            Opt::Found(b'b', Some(value)) => match parse_bind_addr(&value) {
                Some(addr) => opt.bind_addr = addr,
                None => usage_error(prog, usage, &[b"bad address: ", &value]),
            },
            Opt::Found(b'p', Some(value)) => match parse_number(&value, 0, 65535) {
                Some(number) => port = number as u16,
                None => usage_error(prog, usage, &[b"bad port: ", &value]),
            },
            Opt::Found(b't', Some(value)) => match parse_number(&value, 1, 3600) {
                Some(seconds) => opt.idle_timeout = seconds,
                None => usage_error(prog, usage, &[b"bad timeout: ", &value]),
            },
            Opt::Found(b'q', _) => opt.quiet = true,
            other => other_option(prog, usage, other, &mut own),
        }
    }
    if let Some(extra) = getopt.operands().first() {
        usage_error(prog, usage, &[b"unexpected argument: ", extra]);
    }
    opt.bind_addr.set_port(port);
    opt
}

/// A line client's command line: `[-t SECONDS] [HOST [PORT]]`.
pub struct ClientOptions {
    pub host: Vec<u8>,
    pub port: u16,
    /// Seconds.
    pub reply_timeout: u32,
}

/// The options every line client takes, `-t` and `-h`, and HOST and PORT,
/// into `opt` (its defaults). `spec` may name more options (client_tls's
/// `C:`): each of those goes to `own`, which says whether it took it.
pub fn parse_client_options(
    prog: &str,
    usage: &str,
    spec: &'static [u8],
    args: &[Vec<u8>],
    mut opt: ClientOptions,
    mut own: impl FnMut(u8, &[u8]) -> bool,
) -> ClientOptions {
    let mut getopt = Getopt::new(args, spec);
    for found in getopt.by_ref() {
        match found {
            Opt::Found(b't', Some(value)) => match parse_number(&value, 1, 3600) {
                Some(seconds) => opt.reply_timeout = seconds,
                None => usage_error(prog, usage, &[b"bad timeout: ", &value]),
            },
            other => other_option(prog, usage, other, &mut own),
        }
    }
    let mut operands = getopt.operands().iter();
    if let Some(host) = operands.next() {
        opt.host = host.clone();
    }
    if let Some(port) = operands.next() {
        match parse_number(port, 1, 65535) {
            Some(port) => opt.port = port as u16,
            None => usage_error(prog, usage, &[b"bad port: ", port]),
        }
    }
    if let Some(extra) = operands.next() {
        usage_error(prog, usage, &[b"unexpected argument: ", extra]);
    }
    opt
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
}
