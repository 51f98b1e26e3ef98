//! server_tls: TLS echo server, one thread per client.
//!
//! The Rust twin of `c-reference/server_tls.c`, step for step: `server`
//! with TLS between it and its clients. After accept, a handshake proves the
//! server holds the private key of its certificate and agrees the keys;
//! SSL_read and SSL_write then take the place of recv and send. The libssl
//! calls are in `tls/src/ssl.rs`; the server's steps that TLS leaves alone
//! (listener, shutdown thread, accept, configure, the lingering close, the
//! log lines) come from the library `sockets`.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::thread;

use sockets::sys::strerror;
use sockets::{
    args, errno_of, lingering_close, log_recv, next_client, open_listener, parse_server_options_with,
    print_listening, start_signal_thread, usage_error, Framing, Piece, ServerOptions, SHUTDOWN_THREAD,
    THREAD_STACK_SIZE,
};
use tls::ssl::{self, Ctx, Ssl};
use tls::{tls_die, tls_read, tls_reason, tls_write};

const PROG: &str = "server_tls";
const USAGE: &str = "usage: server_tls [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-c CERT] [-k KEY]\n";

/// The plain server's options, and the certificate and key.
struct Options {
    server: ServerOptions,
    /// `-c`: the certificate chain, PEM.
    cert_file: CString,
    /// `-k`: its private key, PEM.
    key_file: CString,
}

/// A path as libssl takes it; a NUL inside cannot name a file.
fn path(prog: &str, value: &[u8]) -> CString {
    CString::new(value).unwrap_or_else(|_| usage_error(prog, USAGE, &[b"bad file name: ", value]))
}

/// The plain server's options, the port 8443, `-c CERT` and `-k KEY`.
fn parse_tls_options(args: &[Vec<u8>]) -> Options {
    let mut cert_file = c"build/tls/server.pem".into();
    let mut key_file = c"build/tls/server.key".into();
    let server = parse_server_options_with(PROG, USAGE, b"b:p:t:qc:k:h", args, 8443, |name, value| {
        match name {
            b'c' => cert_file = path(PROG, value),
            b'k' => key_file = path(PROG, value),
            _ => return false,
        }
        true
    });
    Options { server, cert_file, key_file }
}

/// Log one line or piece (unless `-q`), then echo it; SSL_write's result.
fn tls_echo_piece(ssl: &Ssl, peer: &str, data: &[u8], opt: &ServerOptions) -> i32 {
    log_recv(peer, data, opt);
    tls_write(ssl, data)
}

/// The echo loop of `server` over TLS: the same framing and log lines, with
/// SSL_read and SSL_write for recv and send. Returns when the session ends,
/// logging why. The caller frees the session and closes the socket.
fn serve_tls_client(ssl: &Ssl, fd: BorrowedFd, peer: &str, opt: &ServerOptions) {
    let mut framing = Framing::new();

    loop {
        // step: recv result
        let n = tls_read(ssl, framing.spare());
        let err = if n > 0 { ssl::SSL_ERROR_NONE } else { ssl::ssl_get_error(ssl, n) };
        if err == ssl::SSL_ERROR_ZERO_RETURN {
            // close_notify, or EOF without it: echo what is pending, then close.
            let ret = match framing.pending() {
                Some(piece) => tls_echo_piece(ssl, peer, framing.bytes(piece), opt),
                None => 1,
            };
            if ret <= 0 {
                println!("[{peer}] error: {}", tls_reason(ssl, ret));
            } else {
                println!("[{peer}] disconnected");
            }
            return;
        }
        if err == ssl::SSL_ERROR_WANT_READ {
            // SO_RCVTIMEO expired: say goodbye with close_notify, not a bare FIN.
            println!("[{peer}] idle for {} s, closing", opt.idle_timeout);
            ssl::ssl_shutdown(ssl);
            return;
        }
        if err != ssl::SSL_ERROR_NONE {
            println!("[{peer}] error: {}", tls_reason(ssl, n));
            return;
        }
        framing.filled(n as usize);

        // step: framing
        // Each whole line, and each full buffer without '\n' (nothing is dropped).
        while let Some(piece) = framing.next_piece() {
            let Piece::Echo(piece) = piece else {
                println!("[{peer}] quit");
                // close_notify first: the client knows the stream ended whole.
                ssl::ssl_shutdown(ssl);
                lingering_close(fd, opt.idle_timeout);
                return;
            };
            let ret = tls_echo_piece(ssl, peer, framing.bytes(piece), opt);
            if ret <= 0 {
                println!("[{peer}] error: {}", tls_reason(ssl, ret));
                return;
            }
        }
    }
}

/// The handshake, in the client's thread: a client that stalls in it holds
/// up no one else, and the idle timeout (SO_RCVTIMEO, set before) ends it.
fn tls_client_thread(ctx: &Ctx, fd: OwnedFd, peer: &str, opt: &ServerOptions) {
    // step: handshake
    match ssl::ssl_new(ctx) {
        None => println!("[{peer}] error: TLS handshake: out of memory"),
        Some(ssl) => {
            ssl::ssl_set_fd(&ssl, fd.as_fd());
            let ret = ssl::ssl_accept(&ssl);
            if ret == 1 {
                serve_tls_client(&ssl, fd.as_fd(), peer, opt);
            } else {
                println!("[{peer}] error: TLS handshake: {}", tls_reason(&ssl, ret));
            }
            drop(ssl); // SSL_free
        }
    }
    // step: close
    drop(fd);
}

/// The server's TLS context: TLS 1.2 at least, its certificate chain and the
/// private key that proves it owns it. No session tickets: they let a client
/// resume a later session, which these clients never do.
fn tls_server_context(opt: &Options) -> Ctx {
    // step: context
    let ctx = ssl::ssl_ctx_new(ssl::tls_server_method()).unwrap_or_else(|| tls_die(PROG, "SSL_CTX_new"));
    ssl::ssl_ctx_set_min_proto_version(&ctx, ssl::TLS1_2_VERSION);
    // A client's EOF without close_notify is "disconnected", as in server.
    ssl::ssl_ctx_set_options(&ctx, ssl::SSL_OP_IGNORE_UNEXPECTED_EOF);
    ssl::ssl_ctx_set_num_tickets(&ctx, 0);

    // step: certificate
    let what = format!("certificate {}", opt.cert_file.to_string_lossy());
    if !ssl::ssl_ctx_use_certificate_chain_file(&ctx, &opt.cert_file) {
        tls_die(PROG, &what);
    }
    let what = format!("key {}", opt.key_file.to_string_lossy());
    if !ssl::ssl_ctx_use_private_key_file(&ctx, &opt.key_file, ssl::SSL_FILETYPE_PEM) {
        tls_die(PROG, &what);
    }
    ctx
}

fn main() {
    let opt = parse_tls_options(&args());
    // Rust's stdout is line-buffered already, also into a pipe (the C's setvbuf).
    // libssl writes with write(2), which has no MSG_NOSIGNAL: a vanished
    // client must give EPIPE, not a process-killing SIGPIPE. Rust's runtime
    // has ignored SIGPIPE before main (the C's signal(SIGPIPE, SIG_IGN)).
    // The context lives as long as the server, as the C's: every thread borrows it.
    let ctx: &'static Ctx = Box::leak(Box::new(tls_server_context(&opt)));

    start_signal_thread(SHUTDOWN_THREAD).unwrap_or_else(|failure| failure.exit(PROG));

    let server = opt.server;
    let (listener, listen_addr) = open_listener(&server).unwrap_or_else(|failure| failure.exit(PROG));
    print_listening(&listen_addr, "TLS, thread per client", &server);

    loop {
        let (fd, peer) = next_client(PROG, listener.as_fd(), server.idle_timeout);
        // step: thread
        // The thread owns its copy of fd, peer and the options (moved into
        // the closure): the next accept cannot overwrite them.
        let thread_peer = peer.clone();
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || tls_client_thread(ctx, fd, &thread_peer, &server));
        if let Err(err) = spawned {
            // EAGAIN (too many threads): lose this one connection, not the server.
            println!("[{peer}] error: {}", strerror(errno_of(&err)));
        }
    }
}
