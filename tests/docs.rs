//! The teaching aid keeps telling the truth: docs/SIDE-BY-SIDE.md is what
//! `make docs` makes from the sources now, its strace lines are what the
//! programs do now, `make capture` records the echo in both directions, and
//! `make demo-netns` runs between two namespaces and removes them, also when
//! interrupted. Tools (python3, strace, tcpdump, ip) come from `.ci/run`; a
//! test whose tool is missing, or that needs root where it is not, says so
//! and passes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Generous: the scripts take about a second each on an idle machine.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(60);

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    let root = String::from_utf8_lossy(&out.stdout).trim() == "0";
    if !root {
        eprintln!("SKIPPED: needs root (packet capture, network namespaces)");
    }
    root
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

fn script(name: &str) -> Command {
    Command::new(root().join("scripts").join(name))
}

fn generator(args: &[&str]) -> Output {
    let mut command = Command::new("python3");
    command.arg(root().join("scripts/gen-side-by-side.py")).args(args);
    run(command, b"", SCRIPT_DEADLINE)
}

/// SPEC "Parity" as the guide shows it: every step has a marker in both
/// twins, the steps a function holds come in the same order in C and Rust,
/// and docs/SIDE-BY-SIDE.md is exactly what the generator makes of the
/// sources today (so a changed excerpt shows up as a stale guide).
#[test]
fn spec_parity_side_by_side_guide_is_fresh_and_steps_match() {
    if !have("python3", "--version") {
        return;
    }
    let out = generator(&["--check"]);
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout(), out.stderr());
    assert!(out.stdout().contains("is fresh; C and Rust steps match"), "{}", out.stdout());
}

/// The check above can fail: in a copy of the sources where the Rust twin
/// lost one marker and the C twin has its steps in another order, it reports both.
#[test]
fn spec_parity_side_by_side_check_catches_a_missing_and_a_moved_step() {
    if !have("python3", "--version") {
        return;
    }
    let copy = scratch("markers");
    for dir in ["scripts", "c-reference", "src/bin", "docs/strace"] {
        fs::create_dir_all(copy.join(dir)).unwrap();
    }
    let files = ["scripts/gen-side-by-side.py", "src/lib.rs", "src/sys.rs", "docs/SIDE-BY-SIDE.md"];
    let sources = ["server", "server_single", "server_poll", "client"];
    let mut paths: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    for p in sources {
        paths.push(format!("c-reference/{p}.c"));
        paths.push(format!("src/bin/{p}.rs"));
    }
    for name in fs::read_dir(root().join("docs/strace")).unwrap() {
        paths.push(format!("docs/strace/{}", name.unwrap().file_name().to_string_lossy()));
    }
    for path in &paths {
        fs::copy(root().join(path), copy.join(path)).unwrap_or_else(|e| panic!("copy {path}: {e}"));
    }
    let lib = fs::read_to_string(copy.join("src/lib.rs")).unwrap();
    assert!(lib.contains("// step: listen\n"), "src/lib.rs has no listen marker");
    fs::write(copy.join("src/lib.rs"), lib.replacen("// step: listen\n", "\n", 1)).unwrap();
    let c = fs::read_to_string(copy.join("c-reference/client.c")).unwrap();
    let swapped = c.replacen("/* step: connect */", "/* step: TMP */", 1).replacen(
        "/* step: socket */",
        "/* step: connect */",
        1,
    );
    fs::write(
        copy.join("c-reference/client.c"),
        swapped.replacen("/* step: TMP */", "/* step: socket */", 1),
    )
    .unwrap();

    let mut command = Command::new("python3");
    command.arg(copy.join("scripts/gen-side-by-side.py")).arg("--check");
    let out = run(command, b"", SCRIPT_DEADLINE);
    assert_eq!(out.code(), Some(1), "{}{}", out.stdout(), out.stderr());
    assert!(out.stdout().contains("server: Rust has no marker for step 'listen'"), "{}", out.stdout());
    assert!(out.stdout().contains("client: the steps of connect_to() differ"), "{}", out.stdout());
    let _ = fs::remove_dir_all(&copy);
}

/// SPEC "Parity" (the same sequence of socket system calls): the strace
/// lines the guide quotes are what the six programs do today, in a fresh
/// run of the same scripted session.
#[test]
fn spec_parity_guide_strace_lines_match_a_fresh_run() {
    if !have("python3", "--version") || !have("strace", "-V") {
        return;
    }
    let out = generator(&["--check-strace"]);
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout(), out.stderr());
}

/// One TCP segment of a capture: source and destination port, flags, payload.
struct Segment {
    src: u16,
    dst: u16,
    flags: u8,
    payload: Vec<u8>,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// The IPv4 TCP segments of a pcap file (Ethernet link type, as tcpdump
/// writes for lo and a veth), in capture order.
fn read_pcap(path: &Path) -> Vec<Segment> {
    let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(data.len() >= 24, "{} is not a pcap file", path.display());
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    assert!(magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d, "unexpected pcap magic {magic:#x}");
    let link_type = u32::from_le_bytes(data[20..24].try_into().unwrap());
    assert_eq!(link_type, 1, "expected Ethernet frames");
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let mut segments = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let captured = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..at + 16 + captured];
        at += 16 + captured;
        if frame.len() < 14 + 20 || be16(frame, 12) != 0x0800 {
            continue; // ARP, IPv6
        }
        let ip = &frame[14..];
        let ip_header = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(be16(ip, 2));
        if ip[9] != 6 {
            continue;
        }
        let tcp = &ip[ip_header..total];
        let tcp_header = usize::from(tcp[12] >> 4) * 4;
        segments.push(Segment {
            src: be16(tcp, 0),
            dst: be16(tcp, 2),
            flags: tcp[13],
            payload: tcp[tcp_header..].to_vec(),
        });
    }
    segments
}

/// What a capture of one echo session must hold: the handshake, the bytes
/// each side sent (in order), and a FIN from each side.
fn assert_echo_session(segments: &[Segment], client_sent: &[u8], server_sent: &[u8]) {
    let syn = segments.iter().find(|s| s.flags & (SYN | ACK) == SYN).expect("a SYN from the client");
    let (client, server) = (syn.src, syn.dst);
    assert!(
        segments.iter().any(|s| s.src == server && s.flags & (SYN | ACK) == SYN | ACK),
        "no SYN-ACK from the server"
    );
    let stream = |from: u16| -> Vec<u8> {
        segments.iter().filter(|s| s.src == from).flat_map(|s| s.payload.iter().copied()).collect()
    };
    assert_eq!(
        String::from_utf8_lossy(&stream(client)),
        String::from_utf8_lossy(client_sent),
        "client -> server"
    );
    assert_eq!(
        String::from_utf8_lossy(&stream(server)),
        String::from_utf8_lossy(server_sent),
        "server -> client"
    );
    for (side, port) in [("client", client), ("server", server)] {
        assert!(segments.iter().any(|s| s.src == port && s.flags & FIN != 0), "no FIN from the {side}");
    }
}

/// SPEC "The protocol" 2 and 4 on the wire: `make capture` records each line
/// going to the server and coming back byte for byte, `quit` going out and
/// not coming back, and the handshake and FIN exchange it explains.
#[test]
fn spec_protocol_capture_holds_the_echoed_payloads_both_ways() {
    if !have("tcpdump", "--version") || !is_root() {
        return;
    }
    let dir = scratch("capture");
    let pcap = dir.join("capture.pcap");
    let mut command = script("capture.sh");
    command.env("CAPTURE_OUT", &pcap);
    let out = run(command, b"", SCRIPT_DEADLINE);
    assert_eq!(out.code(), Some(0), "{}{}", out.stdout(), out.stderr());
    assert_echo_session(&read_pcap(&pcap), b"hello\nworld\nquit\n", b"hello\nworld\n");
    let decode = out.stdout();
    for line in [
        "handshake 1/3: SYN",
        "handshake 2/3: SYN-ACK",
        "handshake 3/3: ACK",
        "data client -> server: \"hello\\n\"",
        "data server -> client: \"hello\\n\", the echo",
        "data client -> server: \"world\\n\"",
        "data server -> client: \"world\\n\", the echo",
        "data client -> server: \"quit\\n\", the client ends the session",
        "FIN from the client",
        "FIN from the server",
        "ACK of the last FIN",
    ] {
        assert!(decode.contains(line), "the decode has no {line:?}:\n{decode}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Whether this machine lets us create a network namespace (a container may
/// not); says why not if it does not.
fn netns_allowed() -> bool {
    if !is_root() || !have("ip", "-V") {
        return false;
    }
    let probe = format!("sbs-probe-{}", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &probe]).output().expect("ip netns add");
    if !added.status.success() {
        eprintln!("SKIPPED: ip netns add fails here: {}", String::from_utf8_lossy(&added.stderr).trim());
        return false;
    }
    let deleted = Command::new("ip").args(["netns", "del", &probe]).status().expect("ip netns del");
    assert!(deleted.success(), "could not delete the probe namespace {probe}");
    true
}

/// The namespaces a demo-netns run with this shell pid would leave behind.
fn leftover_namespaces(script_pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let prefix = format!("sbs-{script_pid}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(String::from)
        .collect()
}

/// SPEC "The protocol" 2 between two hosts: `make demo-netns` runs the
/// server in one namespace and the client in another, on 10.77.0.1 and
/// 10.77.0.2 over a veth; the session, the capture on the veth, and the
/// namespaces removed afterwards.
#[test]
fn spec_protocol_demo_netns_runs_between_two_namespaces_and_cleans_up() {
    if !netns_allowed() {
        return;
    }
    let dir = scratch("netns");
    let pcap = dir.join("netns.pcap");
    let mut command = script("demo-netns.sh");
    command.env("NETNS_OUT", &pcap);
    let out = run(command, b"", SCRIPT_DEADLINE);
    let stdout = out.stdout();
    assert_eq!(out.code(), Some(0), "{stdout}{}", out.stderr());
    for line in [
        "client: connected to 10.77.0.1:8080",
        "client: echo: hello from 10.77.0.2",
        "client: echo: second line",
        "server: listening on 10.77.0.1:8080",
        "] recv: second line",
        "] quit",
        "demo-netns: removed the namespaces",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(stdout.contains("server: [10.77.0.2:"), "the server did not see the client's address:\n{stdout}");
    let pid: u32 = stdout
        .split("ip netns add sbs-")
        .nth(1)
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse().ok())
        .expect("the namespace names in the output");
    assert_eq!(leftover_namespaces(pid), Vec::<String>::new(), "namespaces left behind");
    if pcap.exists() {
        assert_echo_session(
            &read_pcap(&pcap),
            b"hello from 10.77.0.2\nsecond line\nquit\n",
            b"hello from 10.77.0.2\nsecond line\n",
        );
    } else {
        eprintln!("(no capture: tcpdump is not installed)");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// The cleanup runs on an interrupt too: SIGINT (Ctrl-C) while the
/// namespaces exist, then they are gone.
#[test]
fn demo_netns_removes_the_namespaces_when_interrupted() {
    if !netns_allowed() {
        return;
    }
    let dir = scratch("netns-interrupt");
    let log = dir.join("stdout");
    let mut child = script("demo-netns.sh")
        .env("NETNS_PAUSE", "30")
        .env("NETNS_OUT", dir.join("netns.pcap"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo-netns.sh");
    let start = Instant::now();
    while !fs::read_to_string(&log).unwrap_or_default().contains("namespaces ready") {
        if start.elapsed() > DEADLINE || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("demo-netns.sh never got ready:\n{}", fs::read_to_string(&log).unwrap_or_default());
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(leftover_namespaces(child.id()).len(), 2, "the two namespaces exist while it runs");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT");
    let status = wait_bounded(&mut child, DEADLINE);
    let stdout = fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("demo-netns: interrupted"), "{stdout}");
    assert!(stdout.contains("demo-netns: removed the namespaces"), "{stdout}");
    assert_eq!(leftover_namespaces(child.id()), Vec::<String>::new(), "namespaces left behind");
    let _ = fs::remove_dir_all(&dir);
}
