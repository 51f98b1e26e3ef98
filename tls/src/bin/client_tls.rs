//! client_tls: line client for the TLS echo server.
//!
//! The Rust twin of `c-reference/client_tls.c`, step for step: `client`
//! with TLS. After connect, a handshake in which the client checks that the
//! server's certificate is signed by a CA it trusts (CAFILE), is still
//! valid, and names HOST; only then does it send a line, and it never falls
//! back to plaintext. With SSLKEYLOGFILE set it appends the session's
//! secrets there, so that Wireshark can decrypt a capture. The libssl calls
//! are in `tls/src/ssl.rs`.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use nix::errno::Errno;
use sockets::sys;
use sockets::{
    args, escape, format_addr, is_quit, parse_number, usage_error, Failure, Getopt, Opt, BUF_SIZE,
};
use tls::ssl::{self, Ctx, Ssl};
use tls::{fail, tls_die, tls_read, tls_reason, tls_write};

const PROG: &str = "client_tls";
const USAGE: &str = "usage: client_tls [-t SECONDS] [-C CAFILE] [HOST [PORT]]\n";

struct Options {
    host: CString,
    port: u16,
    /// Seconds.
    reply_timeout: u32,
    /// `-C`: the certificates this client trusts, PEM.
    ca_file: CString,
}

/// SSLKEYLOGFILE, opened for appending; unset without it.
static KEYLOG: OnceLock<File> = OnceLock::new();

/// Bytes read from stdin and not yet sent (see client.rs: read(2) on fd 0,
/// never `std::io::stdin()`, whose buffer poll(2) cannot see).
struct Input {
    data: Vec<u8>,
    /// Bytes at the start known to hold no '\n'.
    scanned: usize,
    eof: bool,
}

/// `client_tls: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

/// An argument as libssl takes it; a NUL inside cannot name a host or file.
fn c_string(what: &[u8], value: &[u8]) -> CString {
    CString::new(value).unwrap_or_else(|_| usage_error(PROG, USAGE, &[what, value]))
}

fn parse_tls_options(args: &[Vec<u8>]) -> Options {
    let mut opt = Options {
        host: c"127.0.0.1".into(),
        port: 8443,
        reply_timeout: 5,
        ca_file: c"build/tls/ca.pem".into(),
    };

    let mut getopt = Getopt::new(args, b"t:C:h");
    for found in getopt.by_ref() {
        match found {
            Opt::Found(b't', Some(value)) => match parse_number(&value, 1, 3600) {
                Some(seconds) => opt.reply_timeout = seconds,
                None => usage_error(PROG, USAGE, &[b"bad timeout: ", &value]),
            },
            Opt::Found(b'C', Some(value)) => opt.ca_file = c_string(b"bad file name: ", &value),
            Opt::Found(b'h', _) => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Opt::MissingValue(name) => usage_error(PROG, USAGE, &[b"option -", &[name], b" needs a value"]),
            Opt::Found(name, _) | Opt::Unknown(name) => {
                usage_error(PROG, USAGE, &[b"unknown option -", &[name]])
            }
        }
    }
    let mut operands = getopt.operands().iter();
    if let Some(host) = operands.next() {
        opt.host = c_string(b"bad host: ", host);
    }
    if let Some(port) = operands.next() {
        match parse_number(port, 1, 65535) {
            Some(port) => opt.port = port as u16,
            None => usage_error(PROG, USAGE, &[b"bad port: ", port]),
        }
    }
    if let Some(extra) = operands.next() {
        usage_error(PROG, USAGE, &[b"unexpected argument: ", extra]);
    }
    opt
}

/// A record that held no data (a session ticket some servers send after the
/// handshake): SSL_read returns with nothing, as this client turns libssl's
/// auto-retry off so that a ticket cannot hold it in a read. Not a timeout.
fn no_data(ssl: &Ssl, ret: i32) -> bool {
    ssl::ssl_get_error(ssl, ret) == ssl::SSL_ERROR_WANT_READ && Errno::last() != Errno::EAGAIN
}

/// getaddrinfo(3) for HOST, any family, then each address in the order given
/// until one connects (Beej's loop: "localhost" may give ::1 and 127.0.0.1).
/// Returns the connected socket and the address that answered.
fn connect_to(opt: &Options) -> (OwnedFd, String) {
    // step: resolve
    let host = opt.host.to_bytes();
    let found = match sys::getaddrinfo(host, &opt.port.to_string()) {
        Ok(found) => found,
        Err(code) => {
            let mut text = format!("{PROG}: resolve ").into_bytes();
            text.extend_from_slice(host);
            text.extend_from_slice(format!(": {}\n", sys::gai_strerror(code)).as_bytes());
            let _ = io::stderr().write_all(&text);
            std::process::exit(1);
        }
    };

    let mut failure = Failure::new("connect", Errno::ENOENT);
    let mut connected = None;
    for ai in &found {
        let server_addr = format_addr(&ai.addr);
        // step: socket
        let fd = match sys::socket(ai.family, ai.socktype, ai.protocol) {
            Ok(fd) => fd,
            Err(err) => {
                failure = Failure::new("socket", err);
                continue;
            }
        };
        // step: connect
        match sys::connect(fd.as_fd(), &ai.addr) {
            Ok(()) => {
                connected = Some((fd, server_addr));
                break;
            }
            // Dropping fd closes it, as the C's close before the next try.
            Err(err) => failure = Failure::new(format!("connect {server_addr}"), err),
        }
    }
    // The last address's failure.
    let (fd, server_addr) = connected.unwrap_or_else(|| failure.exit(PROG));

    // step: setsockopt
    // An echo that does not come within the timeout fails recv with EAGAIN.
    let timeout = sys::timeval { tv_sec: opt.reply_timeout.into(), tv_usec: 0 };
    sys::setsockopt(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)
        .unwrap_or_else(|e| die("setsockopt SO_RCVTIMEO", e));
    (fd, server_addr)
}

/// libssl's keylog callback: one line of the NSS key log format per secret.
fn write_keylog(line: &[u8]) {
    if let Some(mut file) = KEYLOG.get() {
        // One write(2) per line, as the C's fprintf and fflush.
        let _ = file.write_all(&[line, b"\n"].concat());
    }
}

/// The client's TLS context: TLS 1.2 at least, the CAs it trusts, and
/// SSL_VERIFY_PEER, without which libssl would accept any certificate and
/// the encryption would protect nothing against a man in the middle.
fn tls_client_context(opt: &Options) -> Ctx {
    // step: context
    let ctx = ssl::ssl_ctx_new(ssl::tls_client_method()).unwrap_or_else(|| tls_die(PROG, "SSL_CTX_new"));
    ssl::ssl_ctx_set_min_proto_version(&ctx, ssl::TLS1_2_VERSION);
    // A server's EOF without close_notify reads as "server closed the connection".
    ssl::ssl_ctx_set_options(&ctx, ssl::SSL_OP_IGNORE_UNEXPECTED_EOF);
    ssl::ssl_ctx_clear_mode(&ctx, ssl::SSL_MODE_AUTO_RETRY);

    // step: trust
    let what = format!("CA file {}", opt.ca_file.to_string_lossy());
    if !ssl::ssl_ctx_load_verify_locations(&ctx, &opt.ca_file) {
        tls_die(PROG, &what);
    }
    ssl::ssl_ctx_set_verify(&ctx, ssl::SSL_VERIFY_PEER);

    // step: key log
    if let Some(keylog_file) = std::env::var_os("SSLKEYLOGFILE") {
        let file = File::options().append(true).create(true).open(&keylog_file);
        let file = file.unwrap_or_else(|e| die(&keylog_file.to_string_lossy(), sockets::errno_of(&e)));
        let _ = KEYLOG.set(file);
        ssl::ssl_ctx_set_keylog_callback(&ctx, write_keylog);
    }
    ctx
}

/// The handshake on the connected socket. The certificate must name HOST: an
/// IP address is checked against the certificate's IP addresses, a name
/// against its DNS names (and sent as SNI, so a server of many names knows
/// which is meant). A failure ends the client: no plaintext fallback.
fn tls_handshake(ctx: &Ctx, fd: BorrowedFd, opt: &Options, server_addr: &str) -> Ssl {
    // step: handshake
    let ssl = ssl::ssl_new(ctx).unwrap_or_else(|| tls_die(PROG, "SSL_new"));
    ssl::ssl_set_fd(&ssl, fd);
    let param = ssl::ssl_get0_param(&ssl);
    if !ssl::x509_verify_param_set1_ip_asc(&param, &opt.host) {
        ssl::err_clear_error(); // not an IP address: a name
        ssl::ssl_set_tlsext_host_name(&ssl, &opt.host);
        ssl::x509_verify_param_set1_host(&param, &opt.host);
    }
    let ret = ssl::ssl_connect(&ssl);
    if ret != 1 {
        let verify = ssl::ssl_get_verify_result(&ssl);
        let reason = tls_reason(&ssl, ret);
        if verify != ssl::X509_V_OK as _ {
            let why = ssl::x509_verify_cert_error_string(verify);
            fail(&format!("{PROG}: TLS handshake with {server_addr}: {reason}: {why}"));
        }
        fail(&format!("{PROG}: TLS handshake with {server_addr}: {reason}"));
    }
    ssl
}

/// Length of the first whole line in the input, '\n' included, or 0 if there
/// is none yet. At the end of stdin a last line without '\n' gets one. Only
/// the bytes not yet searched are searched.
fn find_line(input: &mut Input) -> usize {
    if let Some(newline) = sys::memchr(&input.data[input.scanned..], b'\n') {
        return input.scanned + newline + 1;
    }
    input.scanned = input.data.len();
    if input.eof && !input.data.is_empty() {
        input.data.push(b'\n');
        return input.data.len();
    }
    0
}

/// One read(2) of stdin into the input buffer; returns how many bytes came.
fn read_input(input: &mut Input) -> usize {
    let mut chunk = [0u8; BUF_SIZE];
    let n = loop {
        match sys::read(io::stdin().as_fd(), &mut chunk) {
            Err(Errno::EINTR) => continue,
            Err(err) => die("read stdin", err),
            Ok(n) => break n,
        }
    };
    if n == 0 {
        input.eof = true;
    }
    input.data.extend_from_slice(&chunk[..n]);
    n
}

/// Drop the first len bytes of the input: that line is done.
fn consume(input: &mut Input, len: usize) {
    input.data.drain(..len);
    input.scanned = 0;
}

/// Between echoes the server has nothing to say but TLS's own messages, so a
/// readable socket holding data means it closed the connection (after its
/// idle timeout, say) or broke the protocol. A record with no data (a session
/// ticket) is kept by libssl, and the wait goes on. If the prompt is showing,
/// the message starts a line of its own.
fn tls_server_gone(ssl: &Ssl, prompt_showing: bool) {
    let mut byte = [0u8; 1];
    let n = tls_read(ssl, &mut byte);
    if n <= 0 && no_data(ssl, n) {
        return;
    }
    if prompt_showing {
        println!();
    }
    if n <= 0 && ssl::ssl_get_error(ssl, n) == ssl::SSL_ERROR_ZERO_RETURN {
        println!("server closed the connection");
        std::process::exit(1);
    }
    if n <= 0 {
        fail(&format!("{PROG}: recv: {}", tls_reason(ssl, n)));
    }
    fail(&format!("{PROG}: unexpected data from server"));
}

/// Wait until stdin has input; notice at once if the server goes away.
fn tls_wait_for_input(ssl: &Ssl, fd: BorrowedFd, prompt_showing: bool) {
    // step: poll
    let mut fds = [
        libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    loop {
        match sys::poll(&mut fds, -1) {
            Err(Errno::EINTR) => continue,
            Err(err) => die("poll", err),
            Ok(_) => {}
        }
        if fds[1].revents != 0 {
            tls_server_gone(ssl, prompt_showing);
        }
        if fds[0].revents != 0 {
            return;
        }
    }
}

/// Read back the echo of one piece: exactly `sent.len()` bytes, the bytes sent.
fn tls_receive_echo(ssl: &Ssl, sent: &[u8], reply_timeout: u32) {
    // step: echo
    let mut buf = [0u8; BUF_SIZE];
    let mut received = 0;
    while received < sent.len() {
        let n = tls_read(ssl, &mut buf[..sent.len() - received]);
        if n <= 0 && no_data(ssl, n) {
            continue;
        }
        if n <= 0 && ssl::ssl_get_error(ssl, n) == ssl::SSL_ERROR_ZERO_RETURN {
            println!("server closed the connection");
            std::process::exit(1);
        }
        if n <= 0 && ssl::ssl_get_error(ssl, n) == ssl::SSL_ERROR_WANT_READ {
            println!("no reply within {reply_timeout} s");
            std::process::exit(1);
        }
        if n <= 0 {
            fail(&format!("{PROG}: recv: {}", tls_reason(ssl, n)));
        }
        let n = n as usize;
        if buf[..n] != sent[received..received + n] {
            fail(&format!("{PROG}: echo mismatch"));
        }
        received += n;
    }
}

/// `client_tls: send: REASON` and exit 1.
fn tls_send(ssl: &Ssl, data: &[u8]) {
    let n = tls_write(ssl, data);
    if n <= 0 {
        fail(&format!("{PROG}: send: {}", tls_reason(ssl, n)));
    }
}

/// Send one line, check its echo, print it. A line longer than BUF_SIZE goes
/// in pieces of BUF_SIZE bytes, each echo read before the next piece is sent,
/// as the server echoes every full BUF_SIZE piece (see client.rs).
fn tls_echo_line(ssl: &Ssl, line: &[u8], reply_timeout: u32) {
    for piece in line.chunks(BUF_SIZE) {
        tls_send(ssl, piece);
        tls_receive_echo(ssl, piece, reply_timeout);
    }

    println!("echo: {}", escape(&line[..line.len() - 1]));
}

fn main() {
    let opt = parse_tls_options(&args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).
    // libssl writes with write(2), which has no MSG_NOSIGNAL: a vanished
    // server must give EPIPE, not a process-killing SIGPIPE. Rust's runtime
    // has ignored SIGPIPE before main (the C's signal(SIGPIPE, SIG_IGN)).
    let ctx = tls_client_context(&opt);

    let (fd, server_addr) = connect_to(&opt);
    let ssl = tls_handshake(&ctx, fd.as_fd(), &opt, &server_addr);
    println!(
        "connected to {server_addr} ({}, {})",
        ssl::ssl_get_version(&ssl),
        ssl::ssl_cipher_get_name(ssl::ssl_get_current_cipher(&ssl))
    );

    let interactive = sys::isatty(io::stdin().as_fd());
    let mut prompt_showing = false; // "> " on the screen, the cursor after it
    let mut input = Input { data: Vec::new(), scanned: 0, eof: false };
    loop {
        let len = find_line(&mut input);
        if len == 0 && input.eof {
            break; // end of stdin: say quit
        }
        if len == 0 {
            if interactive && input.data.is_empty() {
                print!("> ");
                let _ = io::stdout().flush();
                prompt_showing = true;
            }
            tls_wait_for_input(&ssl, fd.as_fd(), prompt_showing);
            let n = read_input(&mut input);
            // Enter ends the prompt's line; Ctrl-D leaves the cursor on it.
            if prompt_showing && n > 0 {
                prompt_showing = input.data.last() != Some(&b'\n');
            }
            continue;
        }
        if prompt_showing {
            // Ctrl-D after a partial line: the cursor is still on the prompt's line.
            println!();
            prompt_showing = false;
        }
        if is_quit(&input.data[..len]) {
            break;
        }
        tls_echo_line(&ssl, &input.data[..len], opt.reply_timeout);
        consume(&mut input, len);
    }

    // step: close
    tls_send(&ssl, b"quit\n");
    if prompt_showing {
        println!();
    }
    println!("closing connection");
    // close_notify, then wait (at most the reply timeout) for the server's:
    // both sides know the stream ended whole, and no byte is left unread to
    // make the kernel answer the server with RST.
    if ssl::ssl_shutdown(&ssl) == 0 {
        ssl::ssl_shutdown(&ssl);
    }
    ssl::err_clear_error();
    drop(ssl); // SSL_free
    drop(ctx); // SSL_CTX_free
    drop(fd); // close(2)
}
