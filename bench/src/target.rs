//! What a run is measured against, typed: a server of programs.txt in one
//! language, tokio, socat or the floor; how it starts; and how the tables
//! (`C server_poll`) and the charts (`server_poll (poll loop)`) name it.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use programs::{Model, Program, Transport};
use serde::{Deserialize, Serialize};

use crate::dial::Dialer;
use crate::peers::{self, Running};
use crate::tls::{self, Connector};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Rust,
}

impl Lang {
    pub const BOTH: [Lang; 2] = [Lang::C, Lang::Rust];

    pub fn name(self) -> &'static str {
        match self {
            Lang::C => "C",
            Lang::Rust => "Rust",
        }
    }

    /// The directory of `build/` its binaries are in.
    fn dir(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Rust => "rust",
        }
    }
}

/// A peer of a run. In the results (JSON) it is its name, `C server` or
/// `tokio (2 workers)`, read back through programs.txt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Target {
    /// `build/{c,rust}/PROGRAM`
    Server(Lang, &'static Program),
    Tokio(Runtime),
    Socat,
    Floor,
}

/// Which of tokio's runtimes `tokio-echo` runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// The default, multi-threaded: this many workers (one per CPU); 0 in
    /// results saved before the bench ran both runtimes (named `tokio`).
    Workers(usize),
    /// current_thread: every task on one thread, one epoll loop.
    CurrentThread,
}

impl Target {
    /// tokio's default runtime, as tokio-echo starts it on this machine.
    pub fn tokio() -> Target {
        Target::Tokio(Runtime::Workers(std::thread::available_parallelism().map_or(1, |n| n.get())))
    }

    /// tokio's current_thread runtime.
    pub const TOKIO_ONE: Target = Target::Tokio(Runtime::CurrentThread);

    /// Both tokio runtimes: the peers of every row.
    pub fn tokios() -> [Target; 2] {
        [Target::tokio(), Target::TOKIO_ONE]
    }

    /// tokio's default runtime, whatever its workers: the peer the
    /// ratios and targets say `tokio` of.
    pub fn is_tokio_default(self) -> bool {
        matches!(self, Target::Tokio(Runtime::Workers(_)))
    }
}

/// The TCP servers of programs.txt, in its order: the columns of the tables.
pub fn servers() -> Vec<&'static Program> {
    programs::tcp_servers()
}

/// The servers of programs.txt over `transport`, in its order.
fn over(transport: Transport) -> Vec<&'static Program> {
    programs::all().iter().filter(|p| p.is_server() && p.transport == transport).collect()
}

/// The TLS servers: rows of their own (handshakes), and beside the plain
/// servers in the 1- and 16-client rows.
pub fn tls_servers() -> Vec<&'static Program> {
    over(Transport::Tls)
}

/// The UDP servers: beside the plain servers in the 1- and 16-client rows.
pub fn udp_servers() -> Vec<&'static Program> {
    over(Transport::Udp)
}

/// Every server of programs.txt, whatever its transport: the chart's groups.
pub fn all_servers() -> Vec<&'static Program> {
    programs::all().iter().filter(|p| p.is_server()).collect()
}

/// The plain server TLS and UDP are measured against: the TCP server with a
/// thread per client, which the TLS server is with TLS added, and whose
/// blocking recv then send, for one client, the UDP server's loop makes as
/// recvfrom then sendto.
pub fn plain_server() -> Option<&'static Program> {
    servers().into_iter().find(|p| p.model == Model::Threads)
}

/// The servers that serve clients at the same time (all but `single`).
pub fn concurrent() -> Vec<&'static Program> {
    servers().into_iter().filter(|p| p.model != Model::Single).collect()
}

/// The pre-forked children and the pool's threads the bench starts those
/// servers with (`-n`, SPEC's default): as many clients as it serves at once.
pub const POOL: usize = 16;

/// How many clients a server serves at once, where its design bounds them:
/// one at a time, or N children each serving one, or a pool of N threads.
pub fn serves_at_once(program: &Program) -> Option<usize> {
    match program.model {
        Model::Single => Some(1),
        Model::Prefork | Model::Pool => Some(POOL),
        _ => None,
    }
}

/// The child processes a server keeps from its start (not one per client).
fn kept_children(program: &Program) -> usize {
    match program.model {
        Model::Prefork => POOL,
        _ => 0,
    }
}

/// C and Rust of each program.
pub fn both(programs: &[&'static Program]) -> Vec<Target> {
    programs.iter().flat_map(|&p| Lang::BOTH.map(|lang| Target::Server(lang, p))).collect()
}

/// `server_poll (poll loop)`: a program and its model, for a chart's group.
pub fn program_label(program: &Program) -> String {
    format!("{} ({})", program.name, program.label)
}

impl Target {
    /// The program, for a server of the project.
    pub fn program(self) -> Option<&'static Program> {
        match self {
            Target::Server(_, program) => Some(program),
            _ => None,
        }
    }

    /// A peer's label in a chart (the servers' come from `program_label`).
    pub fn peer_label(self) -> String {
        match self {
            Target::Tokio(Runtime::Workers(0)) => "tokio (tasks on epoll)".into(),
            Target::Tokio(Runtime::Workers(n)) => format!("tokio, {n} workers (tasks on epoll)"),
            Target::Tokio(Runtime::CurrentThread) => "tokio current_thread (one loop)".into(),
            Target::Socat => "socat (fork, then a pipe)".into(),
            _ => String::new(),
        }
    }

    /// The server's binary, if it is a server of the project.
    pub fn path(self, build: &Path) -> Option<PathBuf> {
        let Target::Server(lang, program) = self else { return None };
        Some(build.join(lang.dir()).join(program.name))
    }

    /// Why the suite cannot run it, if it cannot: a server whose binary is
    /// not built, or a TLS server without its certificate, or with a bench
    /// built without TLS.
    pub fn missing(self, build: &Path) -> Option<&'static str> {
        let tls = self.program().is_some_and(|p| p.transport == Transport::Tls);
        if self.path(build).is_some_and(|p| !p.exists()) {
            Some(if tls { "not built (make tls)" } else { "not built (make)" })
        } else if tls && !tls::AVAILABLE {
            Some("echo-bench was built without TLS (no libssl-dev)")
        } else if tls && tls::files(build).iter().any(|f| !f.exists()) {
            Some("no certificate in build/tls/ (make tls)")
        } else {
            None
        }
    }

    /// How its clients reach it: by its transport (TCP for the peers).
    pub fn dialer(self, build: &Path) -> Result<Dialer, String> {
        match self.program().map(|p| p.transport) {
            Some(Transport::Tls) => Connector::new(&tls::files(build)[0]).map(Dialer::Tls),
            Some(Transport::Udp) => Ok(Dialer::Udp),
            _ => Ok(Dialer::Tcp),
        }
    }

    pub fn start(self, build: &Path, pin: Option<&str>) -> Result<Running, String> {
        match (self, self.path(build)) {
            (Target::Server(_, program), Some(path)) => {
                let mut running = peers::start_server(&path, &server_args(program, build), pin)?;
                running.kept = kept_children(program);
                Ok(running)
            }
            (Target::Tokio(runtime), _) => peers::start_tokio(pin, runtime == Runtime::CurrentThread),
            (Target::Socat, _) => peers::start_socat(pin),
            _ => peers::start_floor(pin),
        }
    }
}

/// `-b 127.0.0.1 -p 0 -q` (no per-line logging), `-n 16` for the pre-forked
/// children and the pool (a loop per core keeps its default, the number of
/// CPUs), and by transport: TCP and
/// TLS `-t 3600` (no client times out while it waits for a core, or while
/// 20,000 others are opened against poll, a few minutes), TLS its
/// certificate and key from the build directory; UDP has no timeout.
fn server_args(program: &Program, build: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-b", "127.0.0.1", "-p", "0", "-q"].map(OsString::from).to_vec();
    if program.transport != Transport::Udp {
        args.extend(["-t", "3600"].map(OsString::from));
    }
    if matches!(program.model, Model::Prefork | Model::Pool) {
        args.extend(["-n".into(), POOL.to_string().into()]);
    }
    if program.transport == Transport::Tls {
        let [_, cert, key] = tls::files(build);
        args.extend(["-c".into(), cert.into(), "-k".into(), key.into()]);
    }
    args
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Server(lang, program) => write!(f, "{} {}", lang.name(), program.name),
            Target::Tokio(Runtime::Workers(0)) => f.write_str("tokio"),
            Target::Tokio(Runtime::Workers(1)) => f.write_str("tokio (1 worker)"),
            Target::Tokio(Runtime::Workers(n)) => write!(f, "tokio ({n} workers)"),
            Target::Tokio(Runtime::CurrentThread) => f.write_str("tokio current_thread"),
            Target::Socat => f.write_str("socat"),
            Target::Floor => f.write_str("floor"),
        }
    }
}

impl From<Target> for String {
    fn from(target: Target) -> String {
        target.to_string()
    }
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(name: String) -> Result<Target, String> {
        let server = |lang, program: &str| {
            let found = programs::all().iter().find(|p| p.name == program && p.is_server());
            found.map(|p| Target::Server(lang, p)).ok_or(format!("{name}: not a server of programs.txt"))
        };
        match name.split_once(' ') {
            Some(("C", program)) => server(Lang::C, program),
            Some(("Rust", program)) => server(Lang::Rust, program),
            _ => match name.as_str() {
                "tokio" => Ok(Target::Tokio(Runtime::Workers(0))),
                "tokio current_thread" => Ok(Target::TOKIO_ONE),
                "tokio (1 worker)" => Ok(Target::Tokio(Runtime::Workers(1))),
                _ if name.starts_with("tokio (") && name.ends_with(" workers)") => {
                    let n = &name["tokio (".len()..name.len() - " workers)".len()];
                    n.parse()
                        .map(|n| Target::Tokio(Runtime::Workers(n)))
                        .map_err(|_| format!("{name}: not a peer of the bench"))
                }
                "socat" => Ok(Target::Socat),
                "floor" => Ok(Target::Floor),
                _ => Err(format!("{name}: not a peer of the bench")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_reads_back_from_its_name() {
        let peers = [
            Target::Tokio(Runtime::Workers(0)),
            Target::Tokio(Runtime::Workers(1)),
            Target::Tokio(Runtime::Workers(4)),
        ];
        for target in both(&all_servers()).into_iter().chain(peers).chain([
            Target::TOKIO_ONE,
            Target::Socat,
            Target::Floor,
        ]) {
            assert_eq!(Target::try_from(target.to_string()), Ok(target));
        }
        assert!(Target::try_from("C client".to_string()).is_err());
        assert!(Target::try_from("Go server".to_string()).is_err());
    }

    #[test]
    fn every_tcp_server_is_a_column_and_the_concurrent_ones_leave_out_single() {
        let names = |ps: Vec<&Program>| ps.iter().map(|p| p.name).collect::<Vec<_>>();
        let tcp = programs::tcp_servers();
        assert_eq!(names(servers()), names(tcp.clone()));
        let concurrent = names(concurrent());
        for p in tcp {
            assert_eq!(concurrent.contains(&p.name), p.model != Model::Single, "{}", p.name);
        }
    }

    /// Each server starts with the options its transport has (SPEC
    /// "Command line", "TLS", "UDP"): no `-t` for UDP, a certificate for TLS.
    #[test]
    fn a_server_is_started_with_the_options_of_its_transport() {
        let program = |transport| Program { transport, ..*programs::get("server") };
        let args = |transport| {
            let args = server_args(&program(transport), Path::new("B"));
            args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(args(Transport::Tcp), "-b 127.0.0.1 -p 0 -q -t 3600");
        assert_eq!(args(Transport::Udp), "-b 127.0.0.1 -p 0 -q");
        assert_eq!(
            args(Transport::Tls),
            "-b 127.0.0.1 -p 0 -q -t 3600 -c B/tls/server.pem -k B/tls/server.key"
        );
        assert_eq!(plain_server().map(|p| p.model), Some(Model::Threads));
    }
}
