//! The grader's only `unsafe`: the calls nix has no safe form for.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;

/// Gives the child `status` as its descriptor 3 and `go` as its 4 (the
/// sandbox helper's status pipe and start signal): dup2 in the child,
/// between fork and exec.
pub fn pass_fds(cmd: &mut Command, status: BorrowedFd, go: BorrowedFd) {
    let (status, go) = (status.as_raw_fd(), go.as_raw_fd());
    // SAFETY: fcntl and dup2 are async-signal-safe and touch no memory of
    // the parent; both descriptors stay open in the parent until spawn
    // returns. Moved above 10 first, so that either may be 3 or 4.
    unsafe {
        cmd.pre_exec(move || {
            let (s, g) = (libc::fcntl(status, libc::F_DUPFD, 10), libc::fcntl(go, libc::F_DUPFD, 10));
            if s < 0 || g < 0 || libc::dup2(s, 3) < 0 || libc::dup2(g, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(s);
            libc::close(g);
            Ok(())
        });
    }
}

/// `ifconfig lo up`: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP, on any
/// socket of the current network namespace.
pub fn loopback_up(sock: BorrowedFd) -> Result<(), Errno> {
    // SAFETY: ifreq is plain old data; zeroed is a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the kernel reads the name and writes the flags of `req`,
    // which lives for the call.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the union's flags member is what SIOCGIFFLAGS just filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; the kernel reads `req`.
    Errno::result(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) })?;
    Ok(())
}

/// Descriptor `fd` (3 or 4, given by `pass_fds`) as a File; close-on-exec
/// if the children to come must not inherit it (the program), else left for
/// them (the helper passes both on to init).
pub fn take_fd(fd: i32, cloexec: bool) -> std::fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: the descriptor was dup2'd for this process by its parent
    // (pass_fds) and nothing else in this process owns it.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    if cloexec {
        let _ = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    }
    file
}

/// Points descriptors 0, 1 and 2 at `file` (init lets go of the program's
/// pipes, so that their end of stream is the program's own).
pub fn redirect_stdio(file: &std::fs::File) {
    for fd in 0..3 {
        // SAFETY: dup2 onto 0..2 replaces this process's standard
        // descriptors, which no Rust object of init owns.
        unsafe { libc::dup2(file.as_raw_fd(), fd) };
    }
}

/// setpriority(PRIO_PROCESS, 0, nice): this process (init) and what it
/// starts run at `nice`.
pub fn set_nice(nice: i32) {
    // SAFETY: setpriority takes plain integers and touches no memory.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
}
