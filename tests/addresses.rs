//! SPEC "Addresses" and "Command line": IPv4 and IPv6 the way users type
//! them. The servers take a numeric `-b` address of either family (`::`
//! serves IPv4 clients too) and refuse a name; the client resolves HOST with
//! getaddrinfo, tries each address in order, prints the numeric address that
//! answered, and names the last one tried when none does.

mod common;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::Command;

use common::*;

/// An address as the programs write it: `a.b.c.d:port` or `[v6]:port`
/// (Rust's `SocketAddr` display is the same text as inet_ntop's).
fn written(addr: SocketAddr) -> String {
    addr.to_string()
}

/// A port on which nothing listens on 127.0.0.1 or ::1 (the kernel gave it
/// to a listener on `::`, both families, just closed).
fn unused_port() -> u16 {
    TcpListener::bind("[::]:0").unwrap().local_addr().unwrap().port()
}

/// SPEC "Addresses": `localhost`, `::1` and `127.0.0.1` each reach a server
/// on `-b ::`, and the client prints the numeric address that answered
/// (for `localhost`, the first address getaddrinfo gives).
#[test]
fn client_connects_to_localhost_ipv6_and_ipv4_hosts() {
    for (server_lang, program) in every_server() {
        let mut server = Server::start_bound(server_lang, program, "::", &[]);
        for client in LANGS {
            for host in ["localhost", "::1", "127.0.0.1"] {
                let first = (host, server.port).to_socket_addrs().unwrap().next().expect("an address");
                let out = run_client_at(client, &[], host, server.port, b"hi\nquit\n");
                let who = format!("{client:?} client {host} -> {server_lang:?} {program} -b ::");
                assert_eq!(
                    (out.stdout().as_str(), out.stderr().as_str(), out.code()),
                    (
                        format!("connected to {}\necho: hi\nclosing connection\n", written(first)).as_str(),
                        "",
                        Some(0)
                    ),
                    "{who}"
                );
                // The server writes the peer the same way (IPv4-mapped as IPv4).
                let peer = format!("[{}:", written(first).rsplit_once(':').unwrap().0);
                let connected = server.wait_for("] connected");
                assert!(connected.starts_with(&peer), "{who}: {connected:?} is not from {peer}PORT");
                server.wait_for("] quit");
            }
        }
    }
}

/// SPEC "Addresses": when every address fails the error names the last one
/// tried, in the same form: `client: connect [::1]:PORT: Connection refused`.
#[test]
fn client_names_the_address_that_failed() {
    let port = unused_port();
    for client in LANGS {
        for host in ["::1", "127.0.0.1", "localhost"] {
            let last = (host, port).to_socket_addrs().unwrap().last().expect("an address");
            let out = run_client_at(client, &[], host, port, b"hi\n");
            assert_eq!(
                (out.stdout().as_str(), out.stderr(), out.code()),
                ("", format!("client: connect {}: Connection refused\n", written(last)), Some(1)),
                "{client:?} client {host}"
            );
        }
    }
}

/// The client against `sbs-dual PORT`, with `sbs-dual` in its own hosts file.
fn dual_client(dual: &DualHost, lang: Lang, port: u16) -> Output {
    let command =
        dual.command(bin(lang, "client").as_os_str(), &[DualHost::NAME.as_ref(), port.to_string().as_ref()]);
    run(command, b"hi\nquit\n", DEADLINE)
}

/// SPEC "Addresses": a name with both families: the client tries `::1`
/// first, then 127.0.0.1, and prints the one that answered; when neither
/// does, the error names the last one, 127.0.0.1.
#[test]
fn client_tries_each_address_of_a_name_in_order() {
    let Some(dual) = DualHost::new() else { return };
    for client in LANGS {
        for (bind, answered) in [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")] {
            let server = Server::start_bound(Lang::C, "server", bind, &[]);
            let out = dual_client(&dual, client, server.port);
            assert_eq!(
                (out.stdout(), out.stderr(), out.code()),
                (
                    format!("connected to {answered}:{}\necho: hi\nclosing connection\n", server.port),
                    String::new(),
                    Some(0)
                ),
                "{client:?} client sbs-dual (::1, then 127.0.0.1) -> server -b {bind}"
            );
        }
        let port = unused_port();
        let out = dual_client(&dual, client, port);
        assert_eq!(
            (out.stdout(), out.stderr(), out.code()),
            (String::new(), format!("client: connect 127.0.0.1:{port}: Connection refused\n"), Some(1)),
            "{client:?} client sbs-dual, nothing listening"
        );
    }
}

/// SPEC "Command line": `-b` takes a numeric address of either family and
/// nothing else: a name, or a malformed address, is `bad address`, exit 2.
#[test]
fn servers_take_numeric_ipv4_and_ipv6_bind_addresses_only() {
    for (lang, program) in every_server() {
        for bad in ["localhost", "::1::2", "127.0.0.256", "1.2.3", "[::1]", ""] {
            let out = run_program(lang, program, &["-b", bad, "-p", "0"], b"");
            assert_eq!(out.code(), Some(2), "{lang:?} {program} -b {bad:?}: {}", out.stderr());
            let first = out.stderr().lines().next().unwrap_or("").to_string();
            assert_eq!(first, format!("{program}: bad address: {bad}"), "{lang:?} {program} -b {bad:?}");
            assert!(out.stderr().contains(&format!("usage: {program} ")), "{lang:?} {program}: no usage");
            assert_eq!(out.stdout(), "", "{lang:?} {program} -b {bad:?}");
        }
        for (bind, listening) in [("::", "[::]"), ("::1", "[::1]"), ("0.0.0.0", "0.0.0.0")] {
            let server = Server::start_bound(lang, program, bind, &[]);
            let port = server.port;
            let (status, log) = server.stop();
            assert!(status.success(), "{lang:?} {program} -b {bind}: {status}");
            assert!(
                log[0].starts_with(&format!("listening on {listening}:{port} (")),
                "{lang:?} {program} -b {bind}: {:?}",
                log[0]
            );
        }
    }
}

/// A network namespace of this test's own, its loopback up, where IPv6
/// sockets are IPv6-only unless told otherwise (net.ipv6.bindv6only = 1,
/// a per-namespace setting); removed on drop. None (the check recorded as
/// skipped) without root or where namespaces are not allowed.
struct V6OnlyNamespace {
    name: String,
}

impl V6OnlyNamespace {
    fn new() -> Option<V6OnlyNamespace> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout == b"0\n");
        if !root {
            skip("a network namespace needs root", "run make test as root (.ci/run does)");
            return None;
        }
        if !have("ip", "-V") {
            return None;
        }
        let name = namespace_name("v6only");
        let added = Command::new("ip").args(["netns", "add", &name]).output().expect("ip netns add");
        if !added.status.success() {
            let why = format!("ip netns add fails here: {}", String::from_utf8_lossy(&added.stderr).trim());
            skip(&why, "run make test where network namespaces are allowed (not in a restricted container)");
            return None;
        }
        let namespace = V6OnlyNamespace { name };
        let setup = namespace
            .command("sh")
            .args(["-c", "ip link set lo up && echo 1 > /proc/sys/net/ipv6/bindv6only"])
            .status();
        assert!(setup.is_ok_and(|s| s.success()), "could not set up {}", namespace.name);
        Some(namespace)
    }

    /// `program` run inside the namespace.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for V6OnlyNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// SPEC "Addresses": `-b ::` sets IPV6_V6ONLY to 0 itself, so it takes
/// IPv4 clients also where the system's default is IPv6-only (here a
/// namespace with net.ipv6.bindv6only = 1): every server, C and Rust,
/// serves a client at 127.0.0.1.
#[test]
fn ipv6_any_takes_ipv4_clients_where_the_default_is_ipv6_only() {
    let Some(namespace) = V6OnlyNamespace::new() else { return };
    let default = namespace.command("cat").arg("/proc/sys/net/ipv6/bindv6only").output().expect("cat");
    assert_eq!(default.stdout, b"1\n", "the namespace's default is not IPv6-only");
    for (lang, program) in every_server() {
        let mut command = namespace.command(bin(lang, program));
        command.args(["-b", "::", "-p", "0"]);
        let mut server = Server::start_command(lang, program, command); // `ip netns exec` execs it
        let mut client = namespace.command(bin(lang, "client"));
        client.args(["127.0.0.1", &server.port.to_string()]);
        let out = run(client, b"hi\nquit\n", DEADLINE);
        let who = format!("{lang:?} {program} -b :: (bindv6only = 1)");
        assert_eq!(
            (out.stdout(), out.code()),
            (format!("connected to 127.0.0.1:{}\necho: hi\nclosing connection\n", server.port), Some(0)),
            "{who}: {}",
            out.stderr()
        );
        server.wait_for("[127.0.0.1:");
        let (status, _) = server.stop();
        assert!(status.success(), "{who}: {status}");
    }
}
