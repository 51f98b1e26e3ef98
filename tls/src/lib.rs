//! The TLS twins' shared part: `server_tls` and `client_tls` are `server`
//! and `client` of the main library `sockets` with TLS between them, over
//! libssl. [`ssl`] wraps the libssl calls, one function per call, and is the
//! crate's only `unsafe`; this file holds the helpers both C files carry a
//! copy of (`error_reason`, `tls_reason`, `tls_die`, `tls_write`,
//! `tls_read`), under the same names. The rest (framing, escaping, options,
//! the server's steps) comes from `sockets`. The contract is `SPEC.md`,
//! "TLS".

pub mod ssl;

use std::ffi::{c_int, c_ulong};

use nix::errno::Errno;
use sockets::sys::strerror;

use ssl::Ssl;

/// OpenSSL's flag on an error code that carries an errno (`ERR_SYSTEM_FLAG`).
const ERR_SYSTEM_FLAG: c_ulong = 0x8000_0000;

/// The text of an OpenSSL error code; a system error (a missing file)
/// carries an errno (`ERR_SYSTEM_ERROR`, `ERR_GET_REASON`).
pub fn error_reason(code: c_ulong) -> String {
    if code & ERR_SYSTEM_FLAG != 0 {
        return strerror(Errno::from_raw((code & !ERR_SYSTEM_FLAG) as i32));
    }
    ssl::err_reason_error_string(code).unwrap_or_else(|| "unknown error".to_string())
}

/// Why a TLS call failed: the reason of the first error in OpenSSL's queue
/// (a bad record, the peer's alert, an old protocol version), else the
/// system's (errno), else the timeout. Empties the queue: the next call on
/// this thread must start with none, or SSL_get_error would misreport it.
pub fn tls_reason(ssl: &Ssl, ret: c_int) -> String {
    let saved_errno = Errno::last();
    let err = ssl::ssl_get_error(ssl, ret);
    let code = ssl::err_get_error();
    ssl::err_clear_error();
    if code != 0 {
        return error_reason(code);
    }
    if err == ssl::SSL_ERROR_WANT_READ || err == ssl::SSL_ERROR_WANT_WRITE {
        return "timed out".to_string(); // SO_RCVTIMEO or SO_SNDTIMEO expired
    }
    if err == ssl::SSL_ERROR_SYSCALL && saved_errno != Errno::UnknownErrno {
        return strerror(saved_errno);
    }
    "unexpected end of stream".to_string()
}

/// `text` and a newline on stderr in one write(2), as the C's fprintf
/// makes it (`eprintln!` writes each piece of its format by itself), and
/// exit 1.
pub fn fail(text: &str) -> ! {
    let line = format!("{text}\n");
    eprint!("{line}");
    std::process::exit(1);
}

/// `prog: what: REASON` from OpenSSL's error queue, and exit 1.
pub fn tls_die(prog: &str, what: &str) -> ! {
    fail(&format!("{prog}: {what}: {}", error_reason(ssl::err_get_error())))
}

/// SSL_write(3): a record (or more) on the wire. The socket blocks and
/// partial writes are off (libssl's default), so it writes all of `data` or
/// fails. Returns what SSL_write returned: <= 0 is a failure.
pub fn tls_write(ssl: &Ssl, data: &[u8]) -> c_int {
    // step: send
    loop {
        Errno::clear();
        let n = ssl::ssl_write(ssl, data);
        if n > 0 || ssl::ssl_get_error(ssl, n) != ssl::SSL_ERROR_WANT_WRITE || Errno::last() != Errno::EINTR {
            return n;
        }
    }
}

/// SSL_read(3), retried when a signal interrupts it; <= 0: SSL_get_error says why.
pub fn tls_read(ssl: &Ssl, buf: &mut [u8]) -> c_int {
    // step: recv
    loop {
        Errno::clear();
        let n = ssl::ssl_read(ssl, buf);
        if n > 0 || ssl::ssl_get_error(ssl, n) != ssl::SSL_ERROR_WANT_READ || Errno::last() != Errno::EINTR {
            return n;
        }
    }
}
