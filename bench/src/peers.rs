//! The peers the bench starts and measures: the servers built by `make`, the
//! tokio echo server, socat, and the floor (its own echo loop).

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::procfs;

/// A peer started for a run; killed (by its PID) when dropped, once it has
/// no child process left (a forking server's children end when their
/// clients close).
pub struct Running {
    pub addr: SocketAddr,
    child: Child,
    /// The child processes it keeps (forked before any client).
    pub kept: usize,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        procfs::settle(self.child.id(), self.kept);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program`, or `taskset -c CPU program` when pinned to a CPU.
pub fn pinned(pin: Option<&str>, program: &OsStr) -> Command {
    match pin {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cpu]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Spawns `command`; ETXTBSY (a concurrent `make` is copying the binary into
/// build/) is waited out.
fn spawn(command: &mut Command) -> Result<Child, String> {
    for _try in 0..100 {
        match command.spawn() {
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy => thread::sleep(Duration::from_millis(100)),
            spawned => return spawned.map_err(|e| format!("cannot start {:?}: {e}", command.get_program())),
        }
    }
    Err(format!("cannot start {:?}: text file busy", command.get_program()))
}

/// Starts `command` (a server with `-p 0`, tokio-echo or the echo loop),
/// reads its `listening on 127.0.0.1:PORT` line, and drains the rest of its
/// stdout on a thread.
pub fn start_listening(mut command: Command) -> Result<Running, String> {
    let what = format!("{:?}", command.get_program());
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = spawn(&mut command)?;
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    let port = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|rest| rest.split([' ', '\n']).next())
        .and_then(|p| p.parse::<u16>().ok());
    let running =
        Running { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0))), child, kept: 0 };
    if port.is_none() {
        return Err(format!("{what}: no listening line, got {line:?}"));
    }
    thread::spawn(move || {
        let mut sink = [0u8; 8192];
        while let Ok(1..) = stdout.get_mut().read(&mut sink) {}
    });
    Ok(running)
}

/// A server built by `make`: `build/LANG/PROGRAM ARGS` (`target.rs` says
/// which: `-b 127.0.0.1 -p 0 -q` and the rest of its transport).
pub fn start_server(path: &Path, args: &[OsString], pin: Option<&str>) -> Result<Running, String> {
    let mut command = pinned(pin, path.as_os_str());
    command.args(args);
    start_listening(command)
}

/// A program of the bench crate, beside this one (target/release/ or
/// build/bench/).
pub fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Ok(exe.with_file_name(name))
}

/// The tokio echo server (src/bin/tokio-echo.rs), on tokio's default
/// runtime or on its current_thread runtime.
pub fn start_tokio(pin: Option<&str>, current_thread: bool) -> Result<Running, String> {
    let path = sibling("tokio-echo")?;
    let mut command = pinned(pin, path.as_os_str());
    command.args(current_thread.then_some("--current-thread")).arg("127.0.0.1:0");
    start_listening(command)
}

/// The floor's echo loop, in a process of its own (this program again).
pub fn start_floor(pin: Option<&str>) -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = pinned(pin, exe.as_os_str());
    command.arg("--echo-loop");
    start_listening(command)
}

/// socat as an echo peer no one here wrote: a process per connection
/// (fork), echoing through a pipe, TCP_NODELAY like the servers.
pub fn start_socat(pin: Option<&str>) -> Result<Running, String> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))?;
    let mut command = pinned(pin, "socat".as_ref());
    command
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=4096"))
        .arg("PIPE")
        .stdin(Stdio::null());
    let running =
        Running { addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), child: spawn(&mut command)?, kept: 0 };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(running.addr).is_err() {
        if Instant::now() > deadline {
            return Err("socat never started listening".into());
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(running)
}

/// Whether `program ARGS` runs and succeeds (socat -V, taskset -c 0 true).
pub fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The floor: the tightest echo loop, recv then send, on loopback TCP with
/// TCP_NODELAY like the servers, a thread per connection. `echo-bench
/// --echo-loop` runs it in a process of its own, as the servers run, and
/// prints a `listening on 127.0.0.1:PORT` line like theirs.
pub fn echo_loop() -> ! {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| {
        eprintln!("echo-bench: bind 127.0.0.1:0: {e}");
        std::process::exit(1);
    });
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    println!("listening on 127.0.0.1:{port} (echo loop)");
    let _ = std::io::stdout().flush();
    for mut stream in listener.incoming().flatten() {
        let _ = stream.set_nodelay(true);
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                if stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    std::process::exit(1);
}
