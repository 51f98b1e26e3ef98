//! Thin wrappers over the C library: the only `unsafe` in the crate.
//!
//! Each function makes one call into libc, is named after it, and says which
//! manual page it mirrors. None retries: the EINTR loops live one layer up,
//! written once (`send_all`, `recv_retry` in `net.rs`). The C error
//! convention (-1 and errno) becomes `Result<_, Errno>` through
//! `Errno::result` (the pthread functions, which return the error number
//! instead, through `pthread_result`), so callers use `?` or `match` where
//! the C checks `< 0`. Descriptors from `socket`, `accept` and
//! `epoll_create1` come back as `OwnedFd`: dropping one is `close(2)`, so
//! every path closes it.
//!
//! Grouped by topic: addresses, sockets, descriptors, signals, processes,
//! time, text, and waiting for descriptors (poll, epoll).

use std::ffi::{CStr, CString};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub use libc::{
    epoll_event, in6_addr, in_addr, pollfd, sigset_t, sockaddr_in, sockaddr_in6, sockaddr_storage, timespec,
    timeval,
};
use nix::errno::Errno;

// ---------------------------------------------------------------------------
// Addresses: of either family, as text, by name.

/// A socket address of either family. The C keeps one in a `struct
/// sockaddr_storage` and looks at `ss_family` to know which struct it holds;
/// here the enum says it, so a `sockaddr_in6` is never read as a
/// `sockaddr_in`. Only this module turns it into the pointer and length the
/// calls take.
#[derive(Clone, Copy)]
pub enum SockAddr {
    V4(sockaddr_in),
    V6(sockaddr_in6),
}

impl SockAddr {
    /// An IPv4 address and port, the rest of the struct zero.
    pub fn v4(addr: in_addr, port: u16) -> SockAddr {
        let mut v4: sockaddr_in = zeroed();
        v4.sin_family = libc::AF_INET as libc::sa_family_t;
        v4.sin_addr = addr;
        v4.sin_port = port.to_be();
        SockAddr::V4(v4)
    }

    /// An IPv6 address and port, the rest of the struct zero.
    pub fn v6(addr: in6_addr, port: u16) -> SockAddr {
        let mut v6: sockaddr_in6 = zeroed();
        v6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        v6.sin6_addr = addr;
        v6.sin6_port = port.to_be();
        SockAddr::V6(v6)
    }

    /// `AF_INET` or `AF_INET6`, for socket(2).
    pub fn family(&self) -> i32 {
        match self {
            SockAddr::V4(_) => libc::AF_INET,
            SockAddr::V6(_) => libc::AF_INET6,
        }
    }

    /// The port, in host byte order.
    pub fn port(&self) -> u16 {
        match self {
            SockAddr::V4(v4) => u16::from_be(v4.sin_port),
            SockAddr::V6(v6) => u16::from_be(v6.sin6_port),
        }
    }

    pub fn set_port(&mut self, port: u16) {
        match self {
            SockAddr::V4(v4) => v4.sin_port = port.to_be(),
            SockAddr::V6(v6) => v6.sin6_port = port.to_be(),
        }
    }

    /// The pointer and length that bind(2) and connect(2) take: the size of
    /// the family's own struct, as the C's `addr_len`.
    fn as_ptr(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            SockAddr::V4(v4) => {
                ((v4 as *const sockaddr_in).cast(), mem::size_of::<sockaddr_in>() as libc::socklen_t)
            }
            SockAddr::V6(v6) => {
                ((v6 as *const sockaddr_in6).cast(), mem::size_of::<sockaddr_in6>() as libc::socklen_t)
            }
        }
    }

    /// What the kernel wrote into a `sockaddr_storage` (accept, getsockname).
    fn from_storage(storage: &sockaddr_storage) -> Result<SockAddr, Errno> {
        let ptr: *const sockaddr_storage = storage;
        match i32::from(storage.ss_family) {
            // SAFETY: ss_family says which struct the kernel wrote; the storage
            // is larger than either and aligned for both.
            libc::AF_INET => Ok(SockAddr::V4(unsafe { *ptr.cast::<sockaddr_in>() })),
            // SAFETY: as above.
            libc::AF_INET6 => Ok(SockAddr::V6(unsafe { *ptr.cast::<sockaddr_in6>() })),
            _ => Err(Errno::EAFNOSUPPORT),
        }
    }
}

/// An all-zero struct of plain C data, as `memset(&addr, 0, sizeof addr)`.
fn zeroed<T: PlainData>() -> T {
    // SAFETY: PlainData is implemented only for C structs of integers, byte
    // arrays and pointers, for which all zeros is a valid value (NULL).
    unsafe { mem::zeroed() }
}

/// The C structs for which all zero bytes is a valid value.
///
/// # Safety
/// Implement it only for such structs.
unsafe trait PlainData {}
// SAFETY: integers and byte arrays.
unsafe impl PlainData for sockaddr_in {}
// SAFETY: integers and byte arrays.
unsafe impl PlainData for sockaddr_in6 {}
// SAFETY: integers and byte arrays.
unsafe impl PlainData for sockaddr_storage {}
// SAFETY: integers and pointers, which may be NULL.
unsafe impl PlainData for libc::addrinfo {}
// SAFETY: an array of integers.
unsafe impl PlainData for sigset_t {}

// The libc crate does not declare inet_pton(3) and inet_ntop(3); glibc has
// them, as POSIX says.
extern "C" {
    #[link_name = "inet_pton"]
    fn c_inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
    #[link_name = "inet_ntop"]
    fn c_inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// The address structs inet_pton(3) and inet_ntop(3) read and write, with
/// their family.
pub trait InetAddr: Copy {
    const FAMILY: i32;
}
impl InetAddr for in_addr {
    const FAMILY: i32 = libc::AF_INET;
}
impl InetAddr for in6_addr {
    const FAMILY: i32 = libc::AF_INET6;
}

/// inet_pton(3): the numeric address `src` of A's family (`in_addr` for
/// IPv4, `in6_addr` for IPv6), or None.
pub fn inet_pton<A: InetAddr>(src: &[u8]) -> Option<A> {
    let src = CString::new(src).ok()?;
    let mut addr = mem::MaybeUninit::<A>::zeroed();
    // SAFETY: src is a NUL-terminated string; addr has room for an address of
    // the family passed.
    let res = unsafe { c_inet_pton(A::FAMILY, src.as_ptr(), addr.as_mut_ptr().cast()) };
    // SAFETY: inet_pton returned 1, so it wrote the whole address (it was
    // zeroed before, so it is initialised either way).
    (res == 1).then(|| unsafe { addr.assume_init() })
}

/// inet_ntop(3): the text of an IPv4 or IPv6 address (`::1`, `127.0.0.1`).
pub fn inet_ntop<A: InetAddr>(addr: &A) -> String {
    // INET6_ADDRSTRLEN (46), which the libc crate does not declare.
    let mut buf = [0 as libc::c_char; 46];
    let src: *const A = addr;
    // SAFETY: src is a whole address of the family passed; buf is writable for
    // its length, which is passed along, and is long enough for any address.
    let res = unsafe { c_inet_ntop(A::FAMILY, src.cast(), buf.as_mut_ptr(), buf.len() as libc::socklen_t) };
    if res.is_null() {
        return String::new();
    }
    // SAFETY: on success buf holds a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// One answer of getaddrinfo(3): what to pass to socket(2) and connect(2).
pub struct AddrInfo {
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
    pub addr: SockAddr,
}

/// getaddrinfo(3) for sockets of `socktype` (SOCK_STREAM, SOCK_DGRAM) and
/// any family (AF_UNSPEC): every address of `host` with `service` as its
/// port, in the order given, or the EAI_* code, for `gai_strerror`. The list
/// is copied, then freeaddrinfo(3).
pub fn getaddrinfo(host: &[u8], service: &str, socktype: i32) -> Result<Vec<AddrInfo>, i32> {
    let host = CString::new(host).map_err(|_| libc::EAI_NONAME)?;
    let service = CString::new(service).map_err(|_| libc::EAI_SERVICE)?;
    let mut hints: libc::addrinfo = zeroed();
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = socktype;
    let mut found: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: host and service are NUL-terminated, hints is initialised,
    // found is writable.
    let err = unsafe { libc::getaddrinfo(host.as_ptr(), service.as_ptr(), &hints, &mut found) };
    if err != 0 {
        return Err(err);
    }
    let mut list = Vec::new();
    let mut next = found;
    while !next.is_null() {
        // SAFETY: next is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*next };
        // SAFETY: ai_addr points at ai_addrlen bytes of an address of
        // ai_family, which fit in a sockaddr_storage.
        let addr = unsafe {
            let mut storage: sockaddr_storage = zeroed();
            let len = (ai.ai_addrlen as usize).min(mem::size_of::<sockaddr_storage>());
            std::ptr::copy_nonoverlapping(
                ai.ai_addr.cast::<u8>(),
                (&mut storage as *mut sockaddr_storage).cast(),
                len,
            );
            SockAddr::from_storage(&storage)
        };
        if let Ok(addr) = addr {
            list.push(AddrInfo {
                family: ai.ai_family,
                socktype: ai.ai_socktype,
                protocol: ai.ai_protocol,
                addr,
            });
        }
        next = ai.ai_next;
    }
    // SAFETY: found is the list getaddrinfo returned; it is freed once, and
    // nothing points into it any more.
    unsafe { libc::freeaddrinfo(found) };
    Ok(list)
}

/// gai_strerror(3): the text for a getaddrinfo error code.
pub fn gai_strerror(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
    text.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------
// Sockets.

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
pub fn bind(fd: BorrowedFd, addr: &SockAddr) -> Result<(), Errno> {
    let (ptr, len) = addr.as_ptr();
    // SAFETY: ptr points at a whole sockaddr_in or sockaddr_in6 of len bytes.
    let res = unsafe { libc::bind(fd.as_raw_fd(), ptr, len) };
    Errno::result(res).map(drop)
}

/// listen(2)
pub fn listen(fd: BorrowedFd, backlog: i32) -> Result<(), Errno> {
    // SAFETY: listen takes no pointers.
    let res = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    Errno::result(res).map(drop)
}

/// `sizeof(struct sockaddr_storage)`: room for an address of either family.
const STORAGE_LEN: libc::socklen_t = mem::size_of::<sockaddr_storage>() as libc::socklen_t;

/// getsockname(2)
pub fn getsockname(fd: BorrowedFd) -> Result<SockAddr, Errno> {
    let mut storage: sockaddr_storage = zeroed();
    let mut len = STORAGE_LEN;
    let ptr = (&mut storage as *mut sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: ptr and len describe a writable sockaddr_storage; the kernel
    // writes at most len bytes.
    let res = unsafe { libc::getsockname(fd.as_raw_fd(), ptr, &mut len) };
    Errno::result(res)?;
    SockAddr::from_storage(&storage)
}

/// accept(2): the connected socket and the peer's address.
pub fn accept(fd: BorrowedFd) -> Result<(OwnedFd, SockAddr), Errno> {
    let mut storage: sockaddr_storage = zeroed();
    let mut len = STORAGE_LEN;
    let ptr = (&mut storage as *mut sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: ptr and len describe a writable sockaddr_storage; the kernel
    // writes at most len bytes.
    let res = unsafe { libc::accept(fd.as_raw_fd(), ptr, &mut len) };
    let client = Errno::result(res)?;
    // SAFETY: on success client is a new descriptor that nothing else owns.
    let client = unsafe { OwnedFd::from_raw_fd(client) };
    Ok((client, SockAddr::from_storage(&storage)?))
}

/// connect(2)
pub fn connect(fd: BorrowedFd, addr: &SockAddr) -> Result<(), Errno> {
    let (ptr, len) = addr.as_ptr();
    // SAFETY: ptr points at a whole sockaddr_in or sockaddr_in6 of len bytes.
    let res = unsafe { libc::connect(fd.as_raw_fd(), ptr, len) };
    Errno::result(res).map(drop)
}

/// shutdown(2): `how` is `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
pub fn shutdown(fd: BorrowedFd, how: i32) -> Result<(), Errno> {
    // SAFETY: shutdown takes no pointers.
    let res = unsafe { libc::shutdown(fd.as_raw_fd(), how) };
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

/// socketpair(2): two connected sockets of `domain` and type `ty` (for the
/// log, `AF_UNIX` and `SOCK_SEQPACKET`: each write one message, whole).
pub fn socketpair(domain: i32, ty: i32, protocol: i32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [-1; 2];
    // SAFETY: fds is a writable array of two ints, as socketpair requires.
    let res = unsafe { libc::socketpair(domain, ty, protocol, fds.as_mut_ptr()) };
    Errno::result(res)?;
    // SAFETY: on success both are new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

// ---------------------------------------------------------------------------
// Descriptors: their flags (O_NONBLOCK), read, a terminal or not.

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

/// read(2)
pub fn read(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is writable for buf.len() bytes.
    let res = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(res).map(|n| n as usize)
}

/// isatty(3)
pub fn isatty(fd: BorrowedFd) -> bool {
    // SAFETY: isatty takes no pointers.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// dup(2): a new descriptor for what `fd` refers to (server_fork keeps the
/// real stdout so).
pub fn dup(fd: BorrowedFd) -> Result<OwnedFd, Errno> {
    // SAFETY: dup takes no pointers.
    let res = unsafe { libc::dup(fd.as_raw_fd()) };
    let fd = Errno::result(res)?;
    // SAFETY: on success fd is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// dup2(2): make descriptor `newfd` (a standard stream, `STDOUT_FILENO`) a
/// copy of `oldfd`, closing what `newfd` was. `newfd` stays the caller's,
/// not an `OwnedFd`: nothing closes a standard stream on drop.
pub fn dup2(oldfd: BorrowedFd, newfd: i32) -> Result<(), Errno> {
    // SAFETY: dup2 takes no pointers; newfd names a descriptor this process
    // does not hold as an OwnedFd.
    let res = unsafe { libc::dup2(oldfd.as_raw_fd(), newfd) };
    Errno::result(res).map(drop)
}

// ---------------------------------------------------------------------------
// Signals: blocked in every thread, taken by one with sigwait.

/// The pthread functions (and sigwait) return the error number instead of
/// setting errno: 0, or the error.
fn pthread_result(err: libc::c_int) -> Result<(), Errno> {
    match err {
        0 => Ok(()),
        err => Err(Errno::from_raw(err)),
    }
}

/// sigemptyset(3) and sigaddset(3): a set of the given signals.
pub fn sigset(signals: &[i32]) -> sigset_t {
    // All zeros first, then sigemptyset initialises it as the C library wants.
    let mut set: sigset_t = zeroed();
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
    pthread_result(err)
}

/// pthread_sigmask(3) with SIG_UNBLOCK: unblock `set` in this thread.
pub fn unblock_signals(set: &sigset_t) -> Result<(), Errno> {
    // SAFETY: set is an initialised sigset_t; the old mask is not asked for.
    let err = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut()) };
    pthread_result(err)
}

/// sigwait(3): wait for one of the blocked signals in `set`; returns it.
pub fn sigwait(set: &sigset_t) -> Result<i32, Errno> {
    let mut signal = 0;
    // SAFETY: set is an initialised sigset_t; signal is writable.
    let err = unsafe { libc::sigwait(set, &mut signal) };
    pthread_result(err).map(|()| signal)
}

/// signal(2) with SIG_DFL for SIGPIPE. Rust's runtime ignores SIGPIPE before
/// `main`; a C program starts with the default. Restoring it makes the twins
/// end the same way when stdout is a closed pipe. The sockets never raise it:
/// every send uses MSG_NOSIGNAL.
pub fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// signal(2) with SIG_DFL for SIGCHLD. A parent may start a program with
/// SIGCHLD ignored (that survives exec), and then the kernel reaps its
/// children itself: waitpid finds none.
pub fn restore_default_sigchld() {
    // SAFETY: SIG_DFL is a valid disposition for SIGCHLD; no handler runs.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// pause(2): sleep until a signal that runs a handler or ends the process;
/// with every signal blocked, until another thread ends the process.
pub fn pause() {
    // SAFETY: pause takes no arguments.
    unsafe { libc::pause() };
}

// ---------------------------------------------------------------------------
// Processes: what server_fork adds (fork, the reaping, the shutdown).

/// fork(2): 0 in the child, the child's PID in the parent.
///
/// The child is a copy of the calling process with one thread, the caller.
/// If the process has other threads, POSIX allows the child only
/// async-signal-safe calls until it exits or execs: a lock another thread
/// held at the fork stays locked in the child (`println!`'s stdout lock,
/// malloc's locks). The caller must make sure no other thread holds a lock
/// the child needs (see `src/bin/server_fork.rs`).
pub fn fork() -> Result<libc::pid_t, Errno> {
    // SAFETY: fork takes no pointers. What the child may then do is the
    // caller's contract, stated above.
    let res = unsafe { libc::fork() };
    Errno::result(res)
}

/// waitpid(2) without the exit status: the PID of a child that has ended
/// (and is now reaped), or 0 with WNOHANG when none has.
pub fn waitpid(pid: libc::pid_t, options: i32) -> Result<libc::pid_t, Errno> {
    // SAFETY: a NULL status pointer is allowed: the status is not stored.
    let res = unsafe { libc::waitpid(pid, std::ptr::null_mut(), options) };
    Errno::result(res)
}

/// waitpid(2) with the status: the PID reaped (0 with WNOHANG if none has
/// changed state) and how it ended (libc's WIFSIGNALED and the rest read it).
pub fn waitpid_status(pid: libc::pid_t, options: i32) -> Result<(libc::pid_t, i32), Errno> {
    let mut status = 0;
    // SAFETY: status is a valid int for the call to store into.
    let res = unsafe { libc::waitpid(pid, &mut status, options) };
    Errno::result(res).map(|pid| (pid, status))
}

/// kill(2)
pub fn kill(pid: libc::pid_t, signal: i32) -> Result<(), Errno> {
    // SAFETY: kill takes no pointers.
    let res = unsafe { libc::kill(pid, signal) };
    Errno::result(res).map(drop)
}

/// prctl(2) with PR_SET_PDEATHSIG: the signal this process gets when the
/// thread that created it ends (for the servers: when the server ends).
pub fn prctl_set_pdeathsig(signal: i32) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number, no pointer.
    let res = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) };
    Errno::result(res).map(drop)
}

/// sysconf(3): a system limit or option (`_SC_NPROCESSORS_ONLN`); -1 if
/// the system does not know it.
pub fn sysconf(name: i32) -> libc::c_long {
    // SAFETY: sysconf takes no pointers.
    unsafe { libc::sysconf(name) }
}

/// getpid(2)
pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::getpid() }
}

/// getppid(2)
pub fn getppid() -> libc::pid_t {
    // SAFETY: getppid takes no arguments and cannot fail.
    unsafe { libc::getppid() }
}

/// _exit(2): end the process at once, without atexit handlers or flushing
/// stdio (async-signal-safe, unlike `std::process::exit`).
pub fn _exit(status: i32) -> ! {
    // SAFETY: _exit takes no pointers and does not return.
    unsafe { libc::_exit(status) }
}

// ---------------------------------------------------------------------------
// Time: the event loops' deadlines.

/// clock_gettime(2): the time on `clock` (CLOCK_MONOTONIC never jumps when
/// the date is set).
pub fn clock_gettime(clock: libc::clockid_t) -> Result<timespec, Errno> {
    let mut now = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: now is a writable timespec.
    let res = unsafe { libc::clock_gettime(clock, &mut now) };
    Errno::result(res).map(|_| now)
}

// ---------------------------------------------------------------------------
// Text: the C library's scan and error messages.

/// memchr(3): the index of the first `byte` in `buf`, if any. The C's framing
/// loop finds each `\n` with memchr; this is the same call (a plain
/// `iter().position` compares byte by byte, ~8 instructions a byte against
/// memchr's vector scan).
pub fn memchr(buf: &[u8], byte: u8) -> Option<usize> {
    // SAFETY: buf is readable for buf.len() bytes; memchr reads no further.
    let found = unsafe { libc::memchr(buf.as_ptr().cast(), libc::c_int::from(byte), buf.len()) };
    (!found.is_null()).then(|| found as usize - buf.as_ptr() as usize)
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

// ---------------------------------------------------------------------------
// Waiting for many descriptors: poll (server_poll), epoll (server_epoll).
// Not nix::sys::epoll: its EpollEvent::events() panics on a flag it does
// not know.

/// poll(2): how many of `fds` have events; their `revents` say which.
pub fn poll(fds: &mut [pollfd], timeout_ms: i32) -> Result<usize, Errno> {
    // SAFETY: fds is a writable array of fds.len() pollfd structs.
    let res = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    Errno::result(res).map(|n| n as usize)
}

/// epoll_create1(2): a new epoll instance (`EPOLL_CLOEXEC`: not inherited by
/// a program this one starts).
pub fn epoll_create1(flags: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: epoll_create1 takes no pointers.
    let res = unsafe { libc::epoll_create1(flags) };
    let fd = Errno::result(res)?;
    // SAFETY: on success fd is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// epoll_ctl(2): `op` is `EPOLL_CTL_ADD`, `_MOD` or `_DEL`; `event` says what
/// `fd` waits for and what epoll_wait hands back with it (None for `_DEL`).
pub fn epoll_ctl(epfd: BorrowedFd, op: i32, fd: BorrowedFd, event: Option<epoll_event>) -> Result<(), Errno> {
    let mut event = event;
    let ptr = event.as_mut().map_or(std::ptr::null_mut(), |event| event as *mut epoll_event);
    // SAFETY: ptr is NULL (allowed for EPOLL_CTL_DEL) or points at an
    // epoll_event that lives for the duration of the call.
    let res = unsafe { libc::epoll_ctl(epfd.as_raw_fd(), op, fd.as_raw_fd(), ptr) };
    Errno::result(res).map(drop)
}

/// epoll_wait(2): how many of `events` the kernel filled, each a socket
/// that is ready; waits at most `timeout_ms` (-1: forever).
pub fn epoll_wait(epfd: BorrowedFd, events: &mut [epoll_event], timeout_ms: i32) -> Result<usize, Errno> {
    let max = events.len().min(i32::MAX as usize) as i32;
    // SAFETY: events is a writable array of at least max epoll_event structs.
    let res = unsafe { libc::epoll_wait(epfd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
    Errno::result(res).map(|n| n as usize)
}

// ---------------------------------------------------------------------------
// Datagrams: what the UDP pair adds.
// A datagram carries its sender's address, and a reply names where it goes.

/// recvfrom(2): one whole datagram (its length; 0 for an empty one) and the
/// address it came from. A datagram larger than `buf` is cut to fit.
pub fn recvfrom(fd: BorrowedFd, buf: &mut [u8], flags: i32) -> Result<(usize, SockAddr), Errno> {
    let mut storage: sockaddr_storage = zeroed();
    let mut len = STORAGE_LEN;
    let ptr = (&mut storage as *mut sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: buf is writable for buf.len() bytes; ptr and len describe a
    // writable sockaddr_storage, of which the kernel writes at most len bytes.
    let res =
        unsafe { libc::recvfrom(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags, ptr, &mut len) };
    let n = Errno::result(res)? as usize;
    Ok((n, SockAddr::from_storage(&storage)?))
}

/// sendto(2): `buf` as one datagram to `addr`; how many bytes were sent
/// (all of them: a datagram is never sent in part).
pub fn sendto(fd: BorrowedFd, buf: &[u8], flags: i32, addr: &SockAddr) -> Result<usize, Errno> {
    let (ptr, len) = addr.as_ptr();
    // SAFETY: buf is readable for buf.len() bytes; ptr points at a whole
    // sockaddr_in or sockaddr_in6 of len bytes.
    let res = unsafe { libc::sendto(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags, ptr, len) };
    Errno::result(res).map(|n| n as usize)
}
