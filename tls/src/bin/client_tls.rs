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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::OnceLock;

use nix::errno::Errno;
use sockets::sys;
use sockets::{
    args, connect_to, consume, escape, find_line, format_addr, is_quit, parse_client_options, read_input,
    usage_error, ClientOptions, Failure, Input, BUF_SIZE,
};
use tls::ssl::{self, Ctx, Ssl};
use tls::{fail, tls_die, tls_read, tls_reason, tls_write};

const PROG: &str = "client_tls";
const USAGE: &str = "usage: client_tls [-t SECONDS] [-C CAFILE] [HOST [PORT]]\n";

/// `client`'s options, and the CA file.
struct Options {
    client: ClientOptions,
    /// HOST as libssl takes it, for the name check and SNI.
    host: CString,
    /// `-C`: the certificates this client trusts, PEM.
    ca_file: CString,
}

/// SSLKEYLOGFILE, opened for appending; unset without it.
static KEYLOG: OnceLock<File> = OnceLock::new();

/// `client_tls: what: strerror(errno)` and exit 1.
fn die(what: &str, errno: Errno) -> ! {
    Failure::new(what, errno).exit(PROG)
}

/// An argument as libssl takes it; a NUL inside cannot name a host or file.
fn c_string(what: &[u8], value: &[u8]) -> CString {
    CString::new(value).unwrap_or_else(|_| usage_error(PROG, USAGE, &[what, value]))
}

/// `client`'s options, the port 8443, and `-C CAFILE`.
fn parse_tls_options(args: &[Vec<u8>]) -> Options {
    let defaults = ClientOptions { host: b"127.0.0.1".to_vec(), port: 8443, reply_timeout: 5 };
    let mut ca_file = c"build/tls/ca.pem".into();
    let client = parse_client_options(PROG, USAGE, b"t:C:h", args, defaults, |name, value| {
        if name == b'C' {
            ca_file = c_string(b"bad file name: ", value);
        }
        name == b'C'
    });
    let host = c_string(b"bad host: ", &client.host);
    Options { client, host, ca_file }
}

/// A record that held no data (a session ticket some servers send after the
/// handshake): SSL_read returns with nothing, as this client turns libssl's
/// auto-retry off so that a ticket cannot hold it in a read. Not a timeout.
fn no_data(ssl: &Ssl, ret: i32) -> bool {
    ssl::ssl_get_error(ssl, ret) == ssl::SSL_ERROR_WANT_READ && Errno::last() != Errno::EAGAIN
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

    let (fd, server) = connect_to(PROG, &opt.client, libc::SOCK_STREAM);
    let server_addr = format_addr(&server);
    let ssl = tls_handshake(&ctx, fd.as_fd(), &opt, &server_addr);
    println!(
        "connected to {server_addr} ({}, {})",
        ssl::ssl_get_version(&ssl),
        ssl::ssl_cipher_get_name(ssl::ssl_get_current_cipher(&ssl))
    );

    let interactive = sys::isatty(io::stdin().as_fd());
    let mut prompt_showing = false; // "> " on the screen, the cursor after it
    let mut input = Input::default();
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
            let n = read_input(&mut input).unwrap_or_else(|e| die("read stdin", e));
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
        tls_echo_line(&ssl, &input.data[..len], opt.client.reply_timeout);
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
