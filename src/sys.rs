//! Thin wrappers over the C library: the only `unsafe` in the crate.
//!
//! Each function makes one call into libc, is named after it, and says which
//! manual page it mirrors. None retries: the EINTR loops live one layer up,
//! written once (`send_all`, `recv_retry` in the crate root). The C error
//! convention (-1 and errno) becomes `Result<_, Errno>` through
//! `Errno::result`, so callers use `?` or `match` where the C checks `< 0`.
//! Descriptors from `socket` and `accept` come back as `OwnedFd`: dropping one
//! is `close(2)`, so every path closes it.

use std::ffi::{CStr, CString};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub use libc::{in_addr, pollfd, sigset_t, sockaddr_in, timeval};
use nix::errno::Errno;

/// `sizeof(struct sockaddr_in)`, as the C passes it.
const SOCKADDR_IN_LEN: libc::socklen_t = mem::size_of::<sockaddr_in>() as libc::socklen_t;

/// An all-zero `struct sockaddr_in`, as `memset(&addr, 0, sizeof addr)`.
pub fn sockaddr_in_zeroed() -> sockaddr_in {
    // SAFETY: sockaddr_in is plain integers and byte arrays; all zeros is valid.
    unsafe { mem::zeroed() }
}

/// socket(2)
pub fn socket(domain: i32, ty: i32, protocol: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: socket takes no pointers.
    let res = unsafe { libc::socket(domain, ty, protocol) };
    let fd = Errno::result(res)?;
    // SAFETY: on success fd is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(2) with a plain value: an `int` flag or a `struct timeval`.
pub fn setsockopt<T: Copy>(fd: BorrowedFd, level: i32, name: i32, value: &T) -> Result<(), Errno> {
    let len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: value points at len readable bytes for the duration of the call.
    let res = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    Errno::result(res).map(drop)
}

/// bind(2)
pub fn bind(fd: BorrowedFd, addr: &sockaddr_in) -> Result<(), Errno> {
    let ptr = (addr as *const sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: ptr points at a whole sockaddr_in, whose size is passed along.
    let res = unsafe { libc::bind(fd.as_raw_fd(), ptr, SOCKADDR_IN_LEN) };
    Errno::result(res).map(drop)
}

/// listen(2)
pub fn listen(fd: BorrowedFd, backlog: i32) -> Result<(), Errno> {
    // SAFETY: listen takes no pointers.
    let res = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    Errno::result(res).map(drop)
}

/// getsockname(2)
pub fn getsockname(fd: BorrowedFd) -> Result<sockaddr_in, Errno> {
    let mut addr = sockaddr_in_zeroed();
    let mut len = SOCKADDR_IN_LEN;
    let ptr = (&mut addr as *mut sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: ptr and len describe a writable sockaddr_in; the kernel writes
    // at most len bytes.
    let res = unsafe { libc::getsockname(fd.as_raw_fd(), ptr, &mut len) };
    Errno::result(res).map(|_| addr)
}

/// accept(2): the connected socket and the peer's address.
pub fn accept(fd: BorrowedFd) -> Result<(OwnedFd, sockaddr_in), Errno> {
    let mut addr = sockaddr_in_zeroed();
    let mut len = SOCKADDR_IN_LEN;
    let ptr = (&mut addr as *mut sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: ptr and len describe a writable sockaddr_in; the kernel writes
    // at most len bytes.
    let res = unsafe { libc::accept(fd.as_raw_fd(), ptr, &mut len) };
    let client = Errno::result(res)?;
    // SAFETY: on success client is a new descriptor that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(client) }, addr))
}

/// connect(2)
pub fn connect(fd: BorrowedFd, addr: &sockaddr_in) -> Result<(), Errno> {
    let ptr = (addr as *const sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: ptr points at a whole sockaddr_in, whose size is passed along.
    let res = unsafe { libc::connect(fd.as_raw_fd(), ptr, SOCKADDR_IN_LEN) };
    Errno::result(res).map(drop)
}

/// recv(2): how many bytes arrived; 0 is the peer's end of stream.
pub fn recv(fd: BorrowedFd, buf: &mut [u8], flags: i32) -> Result<usize, Errno> {
    // SAFETY: buf is writable for buf.len() bytes.
    let res = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
    Errno::result(res).map(|n| n as usize)
}

/// send(2): how many bytes the kernel took, which may be fewer than `buf.len()`.
pub fn send(fd: BorrowedFd, buf: &[u8], flags: i32) -> Result<usize, Errno> {
    // SAFETY: buf is readable for buf.len() bytes.
    let res = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    Errno::result(res).map(|n| n as usize)
}

/// read(2)
pub fn read(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is writable for buf.len() bytes.
    let res = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(res).map(|n| n as usize)
}

/// poll(2): how many of `fds` have events; their `revents` say which.
pub fn poll(fds: &mut [pollfd], timeout_ms: i32) -> Result<usize, Errno> {
    // SAFETY: fds is a writable array of fds.len() pollfd structs.
    let res = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    Errno::result(res).map(|n| n as usize)
}

/// memchr(3): the index of the first `byte` in `buf`, if any. The C's framing
/// loop finds each `\n` with memchr; this is the same call (a plain
/// `iter().position` compares byte by byte, ~8 instructions a byte against
/// memchr's vector scan).
pub fn memchr(buf: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: buf is readable for buf.len() bytes; memchr reads no further.
    let found = unsafe { libc::memchr(buf.as_ptr().cast(), libc::c_int::from(byte), buf.len()) };
    (!found.is_null()).then(|| found as usize - buf.as_ptr() as usize)
}

/// isatty(3)
pub fn isatty(fd: BorrowedFd) -> bool {
    // SAFETY: isatty takes no pointers.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

// The libc crate does not declare inet_pton(3); glibc has it, as POSIX says.
extern "C" {
    #[link_name = "inet_pton"]
    fn c_inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
}

/// inet_pton(3) for AF_INET: a dotted IPv4 address, or None.
pub fn inet_pton(src: &[u8]) -> Option<in_addr> {
    let src = CString::new(src).ok()?;
    let mut addr = in_addr { s_addr: 0 };
    // SAFETY: src is a NUL-terminated string; addr is a writable in_addr.
    let res = unsafe { c_inet_pton(libc::AF_INET, src.as_ptr(), (&mut addr as *mut in_addr).cast()) };
    (res == 1).then_some(addr)
}

/// getaddrinfo(3) for IPv4 stream sockets: the first address of `host`, or
/// the EAI_* code, for `gai_strerror`.
pub fn getaddrinfo(host: &[u8]) -> Result<sockaddr_in, i32> {
    let host = CString::new(host).map_err(|_| libc::EAI_NONAME)?;
    // SAFETY: addrinfo is plain integers and pointers; all zeros (NULL) is valid.
    let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
    hints.ai_family = libc::AF_INET;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut found: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: host is NUL-terminated, hints is initialised, found is writable.
    let err = unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut found) };
    if err != 0 {
        return Err(err);
    }
    // SAFETY: on success found is a non-empty list whose first ai_addr is a
    // sockaddr_in (ai_family AF_INET); it is read once and freed once.
    unsafe {
        let addr = *(*found).ai_addr.cast::<sockaddr_in>();
        libc::freeaddrinfo(found);
        Ok(addr)
    }
}

/// gai_strerror(3): the text for a getaddrinfo error code.
pub fn gai_strerror(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
    text.to_string_lossy().into_owned()
}

/// strerror_r(3): the C library's text for errno, the same text the C twins
/// print (`Errno::desc()` has its own table, which differs for some errors).
pub fn strerror(errno: Errno) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is writable for its whole length, which is passed along;
    // strerror_r NUL-terminates what it writes.
    let res = unsafe { libc::strerror_r(errno as i32, buf.as_mut_ptr(), buf.len()) };
    if res != 0 {
        return format!("Unknown error {}", errno as i32);
    }
    // SAFETY: on success buf holds a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// sigemptyset(3) and sigaddset(3): a set of the given signals.
pub fn sigset(signals: &[i32]) -> sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: sigset_t = unsafe { mem::zeroed() };
    // SAFETY: set is a writable sigset_t, and the signals are valid numbers.
    unsafe {
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
    }
    set
}

/// pthread_sigmask(3) with SIG_BLOCK: block `set` in this thread and in the
/// threads it creates from now on.
pub fn block_signals(set: &sigset_t) -> Result<(), Errno> {
    // SAFETY: set is an initialised sigset_t; the old mask is not asked for.
    let err = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    // pthread functions return the error number instead of setting errno.
    match err {
        0 => Ok(()),
        err => Err(Errno::from_raw(err)),
    }
}

/// sigwait(3): wait for one of the blocked signals in `set`; returns it.
pub fn sigwait(set: &sigset_t) -> Result<i32, Errno> {
    let mut signal = 0;
    // SAFETY: set is an initialised sigset_t; signal is writable.
    let err = unsafe { libc::sigwait(set, &mut signal) };
    match err {
        0 => Ok(signal),
        err => Err(Errno::from_raw(err)),
    }
}

/// signal(2) with SIG_DFL for SIGPIPE. Rust's runtime ignores SIGPIPE before
/// `main`; a C program starts with the default. Restoring it makes the twins
/// end the same way when stdout is a closed pipe. The sockets never raise it:
/// every send uses MSG_NOSIGNAL.
pub fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

// ---------------------------------------------------------------------------
// server_poll: non-blocking sockets and a monotonic clock.

pub use libc::timespec;

/// fcntl(2) with F_GETFL: the file status flags (O_NONBLOCK among them).
pub fn fcntl_getfl(fd: BorrowedFd) -> Result<i32, Errno> {
    // SAFETY: F_GETFL takes no argument and no pointer.
    let res = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    Errno::result(res)
}

/// fcntl(2) with F_SETFL: set the file status flags.
pub fn fcntl_setfl(fd: BorrowedFd, flags: i32) -> Result<(), Errno> {
    // SAFETY: F_SETFL takes an int, not a pointer.
    let res = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) };
    Errno::result(res).map(drop)
}

/// clock_gettime(2): the time on `clock` (CLOCK_MONOTONIC never jumps when
/// the date is set).
pub fn clock_gettime(clock: libc::clockid_t) -> Result<timespec, Errno> {
    let mut now = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: now is a writable timespec.
    let res = unsafe { libc::clock_gettime(clock, &mut now) };
    Errno::result(res).map(|_| now)
}

/// shutdown(2)
pub fn shutdown(fd: BorrowedFd, how: i32) -> Result<(), Errno> {
    // SAFETY: shutdown takes no pointers.
    let res = unsafe { libc::shutdown(fd.as_raw_fd(), how) };
    Errno::result(res).map(drop)
}
