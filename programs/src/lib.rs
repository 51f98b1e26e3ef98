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

/// How a server serves its clients (`Line` for a client); the words of
/// programs.txt's model column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// `threads`: a thread per client.
    Threads,
    /// `single`: one client at a time.
    Single,
    /// `fork`: a process per client.
    Fork,
    /// `prefork`: N processes forked before any client, each blocking in accept.
    Prefork,
    /// `pool`: N threads fed by the main thread's accept through a bounded queue.
    Pool,
    /// `poll`: one poll loop.
    Poll,
    /// `epoll`: one epoll loop.
    Epoll,
    /// `reuseport`: N epoll loops, each with its own SO_REUSEPORT listener.
    Reuseport,
    /// `line`: a line client.
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
    /// poll, epoll or reuseport: non-blocking sockets, a loop that waits
    /// for the ready ones (one loop, or N of them).
    pub fn is_event_loop(&self) -> bool {
        matches!(self.model, Model::Poll | Model::Epoll | Model::Reuseport)
    }
    /// Waits with epoll: a wake-up costs the ready sockets, not every
    /// client, so tens of thousands of idle clients are cheap to hold.
    pub fn waits_with_epoll(&self) -> bool {
        matches!(self.model, Model::Epoll | Model::Reuseport)
    }
    /// Serves a client with blocking calls (a thread, a process, or one at a time).
    pub fn is_blocking(&self) -> bool {
        self.is_server() && !self.is_event_loop()
    }
    /// Forks children that serve clients and log through a relay (fork, prefork).
    pub fn forks(&self) -> bool {
        matches!(self.model, Model::Fork | Model::Prefork)
    }
    /// Forks a child for each client, which ends with its session (fork).
    pub fn forks_per_client(&self) -> bool {
        self.model == Model::Fork
    }
    /// The server takes `-n N` (children, threads or loops), and its label
    /// says N.
    pub fn takes_count(&self) -> bool {
        matches!(self.model, Model::Prefork | Model::Pool | Model::Reuseport)
    }
    /// The label as the listening line says it with `-n count`: the `N` of
    /// the label is the number.
    pub fn label_with(&self, count: u32) -> String {
        self.label
            .split(' ')
            .map(|word| if word == "N" { count.to_string() } else { word.to_string() })
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// Whether `text` (the inside of a listening line's parentheses, up to
    /// the comma before `idle timeout`) is this program's label, with any
    /// number for `N`.
    pub fn label_matches(&self, text: &str) -> bool {
        let words: Vec<&str> = text.split(' ').collect();
        let label: Vec<&str> = self.label.split(' ').collect();
        words.len() == label.len()
            && words.iter().zip(&label).all(|(word, expected)| {
                word == expected
                    || (*expected == "N" && !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()))
            })
    }
    /// Serves every client that connects at once, however many (limited by
    /// descriptors only): not `single` (one), `prefork` or `pool` (N, the
    /// next ones wait in the backlog). A suite about many clients served at
    /// once (thousands idle, a load's concurrency) asks this.
    pub fn serves_every_client_at_once(&self) -> bool {
        self.is_server() && !matches!(self.model, Model::Single | Model::Prefork | Model::Pool)
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
            "prefork" => Model::Prefork,
            "pool" => Model::Pool,
            "poll" => Model::Poll,
            "epoll" => Model::Epoll,
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

    /// .gitignore covers the ./NAME links by `/server*` and `/client*`.
    #[test]
    fn every_name_begins_with_its_role() {
        for p in all() {
            let role = if p.is_server() { "server" } else { "client" };
            assert!(p.name.starts_with(role), "{}: a {role}'s name begins with {role} (.gitignore)", p.name);
        }
    }

    #[test]
    fn a_bad_line_is_an_error_that_names_it() {
        assert!(parse("server server threads tcp").unwrap_err().contains("line 1"));
        assert!(parse("x server sideways tcp sockets y").unwrap_err().contains("model sideways"));
    }

    #[test]
    fn the_models_answer_what_the_suites_ask() {
        let list = "a server prefork tcp sockets x\nb server pool tcp sockets x\nc server reuseport tcp sockets x\n\
                    d server fork tcp sockets x\ne server single tcp sockets x\nf server poll tcp sockets x\n";
        let [prefork, pool, reuseport, fork, single, poll] = parse(list).unwrap()[..] else { panic!("six") };
        assert_eq!(
            [prefork.model, pool.model, reuseport.model],
            [Model::Prefork, Model::Pool, Model::Reuseport]
        );
        assert!(prefork.forks() && fork.forks() && !pool.forks() && !reuseport.forks());
        assert!(fork.forks_per_client() && !prefork.forks_per_client());
        assert!(reuseport.is_event_loop() && poll.is_event_loop() && !pool.is_event_loop());
        assert!(reuseport.waits_with_epoll() && !poll.waits_with_epoll());
        assert!(prefork.is_blocking() && pool.is_blocking() && !reuseport.is_blocking());
        let at_once: Vec<bool> = [prefork, pool, reuseport, fork, single, poll]
            .iter()
            .map(|p| p.serves_every_client_at_once())
            .collect();
        assert_eq!(at_once, [false, false, true, true, false, true]);
    }
}
