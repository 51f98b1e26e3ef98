//! The libssl calls of the TLS twins: one function per call, under the
//! call's name in snake case, over `openssl-sys` (the C API itself). This is
//! the crate's only `unsafe`. The C twins make the same calls, in the same
//! order; the manual pages are OpenSSL's (`man 3ssl SSL_read`).
//!
//! Two functions `openssl-sys` does not declare are declared here
//! (`X509_VERIFY_PARAM_set1_ip_asc`, `SSL_set_fd`). Three C macros are the
//! call they expand to: `SSL_CTX_clear_mode` and
//! `SSL_CTX_set_min_proto_version` are `SSL_CTX_ctrl`,
//! `SSL_set_tlsext_host_name` is `SSL_ctrl`.

use std::ffi::{c_char, c_int, c_long, c_ulong, CStr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use openssl_sys as ffi;

pub use ffi::{
    SSL_ERROR_NONE, SSL_ERROR_SYSCALL, SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE, SSL_ERROR_ZERO_RETURN,
    SSL_FILETYPE_PEM, SSL_MODE_AUTO_RETRY, SSL_OP_IGNORE_UNEXPECTED_EOF, SSL_VERIFY_PEER, TLS1_2_VERSION,
    X509_V_OK,
};

/// `SSL_CTX_clear_mode` is `SSL_CTX_ctrl(ctx, SSL_CTRL_CLEAR_MODE, mode, NULL)`.
const SSL_CTRL_CLEAR_MODE: c_int = 78;

extern "C" {
    fn X509_VERIFY_PARAM_set1_ip_asc(param: *mut ffi::X509_VERIFY_PARAM, ipasc: *const c_char) -> c_int;
    fn SSL_set_fd(ssl: *mut ffi::SSL, fd: c_int) -> c_int;
}

/// A text libssl owns (a static string), copied.
fn text(p: *const c_char) -> Option<String> {
    // SAFETY: libssl returns NULL or a NUL-terminated string that lives as
    // long as the library; it is copied before anything else is called.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A protocol family's methods (`TLS_server_method`, `TLS_client_method`).
#[derive(Clone, Copy)]
pub struct Method(*const ffi::SSL_METHOD);

/// An `SSL_CTX`: what every session of the program shares (certificate,
/// trust, versions). `SSL_CTX_free` when dropped.
pub struct Ctx(NonNull<ffi::SSL_CTX>);

// SAFETY: libssl locks an SSL_CTX's shared state (its reference count, the
// session cache): sessions on many threads may use one context (the C
// server's threads share theirs).
unsafe impl Send for Ctx {}
// SAFETY: as above; after set-up the threads only pass it to SSL_new.
unsafe impl Sync for Ctx {}

/// A cipher suite: an entry of libssl's static table (or NULL: none yet).
#[derive(Clone, Copy)]
pub struct Cipher(*const ffi::SSL_CIPHER);

/// An `SSL`: one connection's session. `SSL_free` when dropped.
pub struct Ssl(NonNull<ffi::SSL>);

/// The verification settings of a session (`SSL_get0_param`), borrowed from it.
pub struct Param<'a>(NonNull<ffi::X509_VERIFY_PARAM>, std::marker::PhantomData<&'a Ssl>);

/// TLS_server_method(3): any version this libssl has, as a server.
pub fn tls_server_method() -> Method {
    // SAFETY: no arguments; returns a static table.
    Method(unsafe { ffi::TLS_server_method() })
}

/// TLS_client_method(3): any version this libssl has, as a client.
pub fn tls_client_method() -> Method {
    // SAFETY: no arguments; returns a static table.
    Method(unsafe { ffi::TLS_client_method() })
}

/// SSL_CTX_new(3); `None` with the reason in the error queue.
pub fn ssl_ctx_new(method: Method) -> Option<Ctx> {
    // SAFETY: method is one of the static tables above.
    NonNull::new(unsafe { ffi::SSL_CTX_new(method.0) }).map(Ctx)
}

/// SSL_CTX_set_min_proto_version(3) (`SSL_CTX_ctrl`): older versions are refused.
pub fn ssl_ctx_set_min_proto_version(ctx: &Ctx, version: c_int) -> bool {
    // SAFETY: ctx is a live context.
    unsafe { ffi::SSL_CTX_set_min_proto_version(ctx.0.as_ptr(), version as _) == 1 }
}

/// SSL_CTX_set_options(3): adds the options; returns them all.
pub fn ssl_ctx_set_options(ctx: &Ctx, options: u64) -> u64 {
    // SAFETY: ctx is a live context.
    unsafe { ffi::SSL_CTX_set_options(ctx.0.as_ptr(), options as _) as u64 }
}

/// SSL_CTX_set_num_tickets(3): how many session tickets a server sends.
pub fn ssl_ctx_set_num_tickets(ctx: &Ctx, tickets: usize) -> bool {
    // SAFETY: ctx is a live context.
    unsafe { ffi::SSL_CTX_set_num_tickets(ctx.0.as_ptr(), tickets) == 1 }
}

/// SSL_CTX_clear_mode(3) (`SSL_CTX_ctrl`); returns the modes left.
pub fn ssl_ctx_clear_mode(ctx: &Ctx, mode: c_long) -> c_long {
    // SAFETY: ctx is a live context; this control takes no pointer.
    unsafe { ffi::SSL_CTX_ctrl(ctx.0.as_ptr(), SSL_CTRL_CLEAR_MODE, mode, ptr::null_mut()) }
}

/// SSL_CTX_use_certificate_chain_file(3): the server's certificate and the
/// CA certificates between it and the root, PEM.
pub fn ssl_ctx_use_certificate_chain_file(ctx: &Ctx, file: &CStr) -> bool {
    // SAFETY: ctx is live; file is NUL-terminated and read during the call.
    unsafe { ffi::SSL_CTX_use_certificate_chain_file(ctx.0.as_ptr(), file.as_ptr()) == 1 }
}

/// SSL_CTX_use_PrivateKey_file(3): the key; fails if it is not the certificate's.
pub fn ssl_ctx_use_private_key_file(ctx: &Ctx, file: &CStr, kind: c_int) -> bool {
    // SAFETY: ctx is live; file is NUL-terminated and read during the call.
    unsafe { ffi::SSL_CTX_use_PrivateKey_file(ctx.0.as_ptr(), file.as_ptr(), kind) == 1 }
}

/// SSL_CTX_load_verify_locations(3): the CA certificates to trust, PEM.
pub fn ssl_ctx_load_verify_locations(ctx: &Ctx, ca_file: &CStr) -> bool {
    // SAFETY: ctx is live; ca_file is NUL-terminated; no directory (NULL).
    unsafe { ffi::SSL_CTX_load_verify_locations(ctx.0.as_ptr(), ca_file.as_ptr(), ptr::null()) == 1 }
}

/// SSL_CTX_set_verify(3), without a callback: libssl's own verification decides.
pub fn ssl_ctx_set_verify(ctx: &Ctx, mode: c_int) {
    // SAFETY: ctx is live; a NULL callback is allowed.
    unsafe { ffi::SSL_CTX_set_verify(ctx.0.as_ptr(), mode, None) }
}

/// Where the key log lines go: set once, by the one context that logs.
static KEYLOG: OnceLock<fn(&[u8])> = OnceLock::new();

extern "C" fn keylog_line(_ssl: *const ffi::SSL, line: *const c_char) {
    // SAFETY: libssl passes a NUL-terminated line, valid during the call.
    let line = unsafe { CStr::from_ptr(line) };
    if let Some(write) = KEYLOG.get() {
        write(line.to_bytes());
    }
}

/// SSL_CTX_set_keylog_callback(3): `write` gets each secret's line (NSS key
/// log format, no newline). One program, one key log: a second call keeps the first `write`.
pub fn ssl_ctx_set_keylog_callback(ctx: &Ctx, write: fn(&[u8])) {
    let _ = KEYLOG.set(write);
    // SAFETY: ctx is live; keylog_line is a plain function for the program's life.
    unsafe { ffi::SSL_CTX_set_keylog_callback(ctx.0.as_ptr(), Some(keylog_line)) }
}

impl Drop for Ctx {
    /// SSL_CTX_free(3).
    fn drop(&mut self) {
        // SAFETY: the context is ours, and no session of it outlives it (an
        // Ssl holds a reference count of its own on it anyway).
        unsafe { ffi::SSL_CTX_free(self.0.as_ptr()) }
    }
}

/// SSL_new(3): a session with the context's settings.
pub fn ssl_new(ctx: &Ctx) -> Option<Ssl> {
    // SAFETY: ctx is live; the session takes a reference on it.
    NonNull::new(unsafe { ffi::SSL_new(ctx.0.as_ptr()) }).map(Ssl)
}

/// SSL_set_fd(3): the session reads and writes this socket (with read(2)
/// and write(2)). The socket must outlive the session's use of it.
pub fn ssl_set_fd(ssl: &Ssl, fd: BorrowedFd) -> bool {
    // SAFETY: ssl is live; libssl stores the number and never closes it
    // (BIO_NOCLOSE); the callers drop the session before the socket.
    unsafe { SSL_set_fd(ssl.0.as_ptr(), fd.as_raw_fd()) == 1 }
}

/// SSL_get0_param(3): the session's verification settings.
pub fn ssl_get0_param(ssl: &Ssl) -> Param<'_> {
    // SAFETY: ssl is live; the settings live as long as it (the lifetime says so).
    let param = unsafe { ffi::SSL_get0_param(ssl.0.as_ptr()) };
    Param(NonNull::new(param).expect("SSL_get0_param is never NULL"), std::marker::PhantomData)
}

/// X509_VERIFY_PARAM_set1_ip_asc(3): the certificate must hold this IP
/// address; false (and nothing set) if `ip` is not an address.
pub fn x509_verify_param_set1_ip_asc(param: &Param, ip: &CStr) -> bool {
    // SAFETY: param is live (borrowed from its session); ip is NUL-terminated.
    unsafe { X509_VERIFY_PARAM_set1_ip_asc(param.0.as_ptr(), ip.as_ptr()) == 1 }
}

/// X509_VERIFY_PARAM_set1_host(3): the certificate must hold this DNS name.
pub fn x509_verify_param_set1_host(param: &Param, name: &CStr) -> bool {
    // SAFETY: param is live; name is NUL-terminated (length 0: up to the NUL).
    unsafe { ffi::X509_VERIFY_PARAM_set1_host(param.0.as_ptr(), name.as_ptr(), 0) == 1 }
}

/// SSL_set_tlsext_host_name(3) (`SSL_ctrl`): the name sent as SNI.
pub fn ssl_set_tlsext_host_name(ssl: &Ssl, name: &CStr) -> bool {
    // SAFETY: ssl is live; libssl copies the name.
    unsafe { ffi::SSL_set_tlsext_host_name(ssl.0.as_ptr(), name.as_ptr() as *mut c_char) == 1 }
}

/// SSL_accept(3): the server's handshake; 1 when done.
pub fn ssl_accept(ssl: &Ssl) -> c_int {
    // SAFETY: ssl is live and has its socket.
    unsafe { ffi::SSL_accept(ssl.0.as_ptr()) }
}

/// SSL_connect(3): the client's handshake, verification included; 1 when done.
pub fn ssl_connect(ssl: &Ssl) -> c_int {
    // SAFETY: ssl is live and has its socket.
    unsafe { ffi::SSL_connect(ssl.0.as_ptr()) }
}

/// SSL_read(3): decrypted bytes of one record at most; <= 0, see ssl_get_error.
pub fn ssl_read(ssl: &Ssl, buf: &mut [u8]) -> c_int {
    let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
    // SAFETY: ssl is live; buf is writable for len bytes.
    unsafe { ffi::SSL_read(ssl.0.as_ptr(), buf.as_mut_ptr().cast(), len) }
}

/// SSL_write(3): `data` in records; <= 0, see ssl_get_error.
pub fn ssl_write(ssl: &Ssl, data: &[u8]) -> c_int {
    let len = c_int::try_from(data.len()).expect("a piece fits an int");
    // SAFETY: ssl is live; data is readable for len bytes.
    unsafe { ffi::SSL_write(ssl.0.as_ptr(), data.as_ptr().cast(), len) }
}

/// SSL_get_error(3): why a call returned `ret` (reads the error queue, changes nothing).
pub fn ssl_get_error(ssl: &Ssl, ret: c_int) -> c_int {
    // SAFETY: ssl is live.
    unsafe { ffi::SSL_get_error(ssl.0.as_ptr(), ret) }
}

/// SSL_shutdown(3): sends close_notify; 0 until the peer's has come, then 1.
pub fn ssl_shutdown(ssl: &Ssl) -> c_int {
    // SAFETY: ssl is live.
    unsafe { ffi::SSL_shutdown(ssl.0.as_ptr()) }
}

/// SSL_get_verify_result(3): X509_V_OK, or why the certificate was refused.
pub fn ssl_get_verify_result(ssl: &Ssl) -> c_long {
    // SAFETY: ssl is live.
    unsafe { ffi::SSL_get_verify_result(ssl.0.as_ptr()) }
}

/// SSL_get_version(3): the protocol agreed, as "TLSv1.3".
pub fn ssl_get_version(ssl: &Ssl) -> String {
    // SAFETY: ssl is live; the result is a static string.
    text(unsafe { ffi::SSL_get_version(ssl.0.as_ptr()) }).unwrap_or_default()
}

/// SSL_get_current_cipher(3): the cipher suite agreed (the C's
/// `SSL_get_cipher_name` macro is this and `SSL_CIPHER_get_name`).
pub fn ssl_get_current_cipher(ssl: &Ssl) -> Cipher {
    // SAFETY: ssl is live; the result is NULL or a static table entry.
    Cipher(unsafe { ffi::SSL_get_current_cipher(ssl.0.as_ptr()) })
}

/// SSL_CIPHER_get_name(3): the suite's standard name, as "TLS_AES_256_GCM_SHA384".
pub fn ssl_cipher_get_name(cipher: Cipher) -> String {
    // SAFETY: cipher is a static table entry, or NULL, which gives "(NONE)".
    text(unsafe { ffi::SSL_CIPHER_get_name(cipher.0) }).unwrap_or_default()
}

impl Drop for Ssl {
    /// SSL_free(3); the socket stays open (the caller closes it).
    fn drop(&mut self) {
        // SAFETY: the session is ours and no longer used.
        unsafe { ffi::SSL_free(self.0.as_ptr()) }
    }
}

/// X509_verify_cert_error_string(3): a verification result in words.
pub fn x509_verify_cert_error_string(result: c_long) -> String {
    // SAFETY: any value is accepted; the result is a static string.
    text(unsafe { ffi::X509_verify_cert_error_string(result) }).unwrap_or_default()
}

/// ERR_get_error(3): the oldest error in this thread's queue, removed; 0 if none.
pub fn err_get_error() -> c_ulong {
    // SAFETY: no arguments; the queue is per thread.
    unsafe { ffi::ERR_get_error() }
}

/// ERR_clear_error(3): empties this thread's queue.
pub fn err_clear_error() {
    // SAFETY: no arguments; the queue is per thread.
    unsafe { ffi::ERR_clear_error() }
}

/// ERR_reason_error_string(3): an error code's reason, as "wrong version number".
pub fn err_reason_error_string(code: c_ulong) -> Option<String> {
    // SAFETY: any code is accepted; the result is NULL or a static string.
    text(unsafe { ffi::ERR_reason_error_string(code) })
}
