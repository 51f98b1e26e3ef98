//! The one list of the programs, `programs.txt` at the project root,
//! compiled in and parsed once. Tools ask a program what it is (a server? an
//! event loop? does it fork?) instead of comparing its name.

use std::sync::OnceLock;

/// What the program is in the session: it listens or it connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// How a server serves its clients (`Line` for a client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Threads,
    Single,
    Fork,
    Poll,
    Epoll,
    Prefork,
    Pool,
    Reuseport,
    Line,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Tls,
    Udp,
}

/// One line of `programs.txt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    pub name: &'static str,
    pub role: Role,
    pub model: Model,
    pub transport: Transport,
    /// The Rust package of the twin: `sockets` (the root) or `tls`.
    pub krate: &'static str,
    /// The model in words, as the listening line says it.
    pub label: &'static str,
}

impl Program {
    pub fn is_server(&self) -> bool {
        self.role == Role::Server
    }
    pub fn is_client(&self) -> bool {
        self.role == Role::Client
    }
    /// poll or epoll: one thread, non-blocking sockets, a loop that waits.
    pub fn is_event_loop(&self) -> bool {
        matches!(self.model, Model::Poll | Model::Epoll)
    }
    pub fn forks(&self) -> bool {
        self.model == Model::Fork
    }
    /// `c-reference/NAME.c`, from the project root.
    pub fn c_source(&self) -> String {
        format!("c-reference/{}.c", self.name)
    }
    /// `src/bin/NAME.rs` or `CRATE/src/bin/NAME.rs`, from the project root.
    pub fn rust_source(&self) -> String {
        match self.krate {
            "sockets" => format!("src/bin/{}.rs", self.name),
            krate => format!("{krate}/src/bin/{}.rs", self.name),
        }
    }
}

const LIST: &str = include_str!("../../programs.txt");

/// Every program, in the order of the list.
pub fn all() -> &'static [Program] {
    static PROGRAMS: OnceLock<Vec<Program>> = OnceLock::new();
    PROGRAMS.get_or_init(|| parse(LIST).unwrap_or_else(|e| panic!("programs.txt: {e}")))
}

/// The program called `name`; panics on a name the list does not hold.
pub fn get(name: &str) -> &'static Program {
    all().iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} is not in programs.txt"))
}

/// The servers over plain TCP: the ones every TCP suite runs.
pub fn tcp_servers() -> Vec<&'static Program> {
    all().iter().filter(|p| p.is_server() && p.transport == Transport::Tcp).collect()
}

fn parse(text: &'static str) -> Result<Vec<Program>, String> {
    let mut programs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: &str| format!("line {}: {what}: {line}", number + 1);
        let mut rest = line;
        let mut next = |what: &str| {
            let field = rest.split_whitespace().next().ok_or_else(|| at(&format!("no {what}")))?;
            rest = rest[field.len()..].trim_start();
            Ok::<_, String>(field)
        };
        let name = next("name")?;
        let role = match next("role")? {
            "server" => Role::Server,
            "client" => Role::Client,
            other => return Err(at(&format!("role {other}"))),
        };
        let model = match next("model")? {
            "threads" => Model::Threads,
            "single" => Model::Single,
            "fork" => Model::Fork,
            "poll" => Model::Poll,
            "epoll" => Model::Epoll,
            "prefork" => Model::Prefork,
            "pool" => Model::Pool,
            "reuseport" => Model::Reuseport,
            "line" => Model::Line,
            other => return Err(at(&format!("model {other}"))),
        };
        let transport = match next("transport")? {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            "udp" => Transport::Udp,
            other => return Err(at(&format!("transport {other}"))),
        };
        let krate = next("crate")?;
        let label = Some(rest).filter(|label| !label.is_empty()).ok_or_else(|| at("no label"))?;
        programs.push(Program { name, role, model, transport, krate, label });
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_names_each_program_once() {
        let names: Vec<_> = all().iter().map(|p| p.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "a name twice in programs.txt: {names:?}");
        assert_eq!(get("server").label, "thread per client");
        assert!(get("client").is_client());
    }

    #[test]
    fn a_bad_line_is_an_error_that_names_it() {
        assert!(parse("server server threads tcp").unwrap_err().contains("line 1"));
        assert!(parse("x server sideways tcp sockets y").unwrap_err().contains("model sideways"));
    }
}
