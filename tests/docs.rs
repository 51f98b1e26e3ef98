//! The teaching aid keeps telling the truth: docs/SIDE-BY-SIDE.md is what
//! `make docs` makes from the sources now, its strace lines are what the
//! programs do now, `make capture` records the echo in both directions, and
//! `make demo-netns` runs between two namespaces and removes them, also when
//! interrupted. Tools (python3, strace, tcpdump, ip) come from `.ci/run`; a
//! test whose tool is missing, or that needs root where it is not, is
//! recorded as skipped (`make test` lists it at the end; under CI it fails).

mod common;

use std::fs;
use std::path::Path;
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
        skip("needs root (packet capture, network namespaces)", "run make test as root (.ci/run does)");
    }
    root
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
    for dir in ["scripts/guide/steps", "c-reference", "src/bin", "docs/strace"] {
        fs::create_dir_all(copy.join(dir)).unwrap();
    }
    // Everything the generator reads: itself (scripts/gen-side-by-side.py,
    // its package scripts/guide/ and scripts/programs.py), the list of the
    // programs, their sources, the library's modules, the traces and the
    // diagrams.
    let mut paths: Vec<String> = vec!["programs.txt".into(), "docs/SIDE-BY-SIDE.md".into()];
    for (dir, ending) in [
        ("scripts", ".py"),
        ("scripts/guide", ".py"),
        ("scripts/guide/steps", ".py"),
        ("src", ".rs"),
        ("src/bin", ".rs"),
        ("c-reference", ".c"),
        ("docs/strace", ""),
        ("docs", ".svg"),
    ] {
        for entry in fs::read_dir(root().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(ending) && root().join(dir).join(&name).is_file() {
                paths.push(format!("{dir}/{name}"));
            }
        }
    }
    for path in &paths {
        fs::copy(root().join(path), copy.join(path)).unwrap_or_else(|e| panic!("copy {path}: {e}"));
    }
    let server = fs::read_to_string(copy.join("src/server.rs")).unwrap();
    assert!(server.contains("// step: listen\n"), "src/server.rs has no listen marker");
    fs::write(copy.join("src/server.rs"), server.replacen("// step: listen\n", "\n", 1)).unwrap();
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
/// lines the guide quotes are what the programs do today, in a fresh
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
        "RST from the client",
    ] {
        assert!(decode.contains(line), "the decode has no {line:?}:\n{decode}");
    }
    let reset = read_pcap(&dir.join("reset.pcap"));
    assert!(reset.iter().any(|s| s.flags & RST != 0), "no RST in reset.pcap");
    assert!(reset.iter().all(|s| s.flags & FIN == 0), "a FIN in reset.pcap");
    assert_picture_fresh("session", &pcap, &dir);
    assert_picture_fresh("reset", &dir.join("reset.pcap"), &dir);
    // The same session over TLS: every segment's payload is TLS records, and
    // no line crosses in the clear.
    let tls = read_pcap(&dir.join("tls.pcap"));
    let data: Vec<&Segment> = tls.iter().filter(|s| !s.payload.is_empty()).collect();
    assert!(data.len() >= 8, "tls.pcap holds {} segments with data", data.len());
    for s in data {
        assert!(matches!(s.payload[0], 20..=23), "a segment that is no TLS record: {:?}", &s.payload[..5]);
        for line in [&b"hello"[..], b"world", b"quit"] {
            assert!(!s.payload.windows(line.len()).any(|w| w == line), "a line in the clear in tls.pcap");
        }
    }
    assert_picture_fresh("tls", &dir.join("tls.pcap"), &dir);
    let _ = fs::remove_dir_all(&dir);
}

/// Whether this machine lets us create a network namespace (a container may
/// not); says why not if it does not.
fn netns_allowed() -> bool {
    if !is_root() || !have("ip", "-V") {
        return false;
    }
    let probe = namespace_name("probe");
    let added = Command::new("ip").args(["netns", "add", &probe]).output().expect("ip netns add");
    if !added.status.success() {
        let why = format!("ip netns add fails here: {}", String::from_utf8_lossy(&added.stderr).trim());
        skip(&why, "run make test where network namespaces are allowed (not in a restricted container)");
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
    // Without tcpdump the script runs the session uncaptured: the capture
    // check is then recorded as skipped (have), never passed in silence;
    // with it, a missing capture is a failure (the script fails too).
    if have("tcpdump", "--version") {
        assert!(pcap.exists(), "tcpdump is installed and there is no {}:\n{stdout}", pcap.display());
        assert_echo_session(
            &read_pcap(&pcap),
            b"hello from 10.77.0.2\nsecond line\nquit\n",
            b"hello from 10.77.0.2\nsecond line\n",
        );
        assert_picture_fresh("netns", &pcap, &dir);
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
    // Ctrl-C as a terminal delivers it: SIGINT at its default action. A test
    // run started in the background (`make test &`, nohup) ignores SIGINT,
    // and bash can trap no signal ignored when it starts, so without the
    // reset the script would sleep its whole pause and this test would fail
    // for a reason that is not the script's.
    let mut child = Command::new("env")
        .arg("--default-signal=INT")
        .arg(root().join("scripts/demo-netns.sh"))
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

// ---------------------------------------------------------------- the ladder diagrams

/// The ladder diagrams in docs/: `make capture` draws session, reset and
/// tls, `make demo-netns` draws netns (scripts/ladder.py --picture NAME).
const PICTURES: [&str; 4] = ["session", "reset", "tls", "netns"];

const RST: u8 = 0x04;
const PSH: u8 = 0x08;

/// `python3 scripts/ladder.py ARGS`.
fn ladder(args: &[&std::ffi::OsStr]) -> Output {
    let mut command = Command::new("python3");
    command.arg(root().join("scripts/ladder.py")).args(args);
    run(command, b"", SCRIPT_DEADLINE)
}

/// The packet list a diagram holds in its `<desc>` (what `ladder.py --list`
/// prints), with the XML escapes undone.
fn packet_list(svg: &str) -> String {
    let open = "<desc id=\"desc\">";
    let start = svg.find(open).expect("the diagram has no <desc>") + open.len();
    let end = start + svg[start..].find("</desc>").expect("the <desc> is not closed");
    svg[start..end].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Issue 13: the committed docs/PICTURE.svg is what scripts/ladder.py draws
/// from a fresh capture: the same packets (direction, flags, relative
/// numbers, length, payload, the steps and states beside them), and then
/// the same file byte for byte, so a rerun of `make capture` changes nothing.
fn assert_picture_fresh(picture: &str, pcap: &Path, dir: &Path) {
    let fresh_path = dir.join(format!("{picture}.svg"));
    let out = ladder(&["--picture".as_ref(), picture.as_ref(), pcap.as_os_str(), fresh_path.as_os_str()]);
    assert_eq!(out.code(), Some(0), "ladder.py --picture {picture}: {}{}", out.stdout(), out.stderr());
    let committed_path = root().join("docs").join(format!("{picture}.svg"));
    let committed =
        fs::read_to_string(&committed_path).unwrap_or_else(|e| panic!("read docs/{picture}.svg: {e}"));
    let fresh = fs::read_to_string(&fresh_path).unwrap();
    let remedy = if picture == "netns" { "make demo-netns" } else { "make capture" };
    let diff = unified_diff(
        &format!("docs/{picture}.svg (committed)"),
        &packet_list(&committed),
        "a fresh capture",
        &packet_list(&fresh),
    );
    assert!(
        diff.is_empty(),
        "docs/{picture}.svg no longer shows the packets of a fresh capture: run `{remedy}` (as root) and commit \
         docs/{picture}.svg\n{diff}"
    );
    assert!(
        committed == fresh,
        "docs/{picture}.svg has the packets of a fresh capture but is drawn differently (scripts/ladder.py \
         changed?): run `{remedy}` (as root) and commit docs/{picture}.svg"
    );
}

/// Each diagram is well-formed XML (Python's parser rejects anything else),
/// an SVG with an opaque white background of its full size (readable on
/// GitHub's dark theme too), and rsvg-convert renders it to a PNG of that
/// size without a warning.
#[test]
fn ladder_diagrams_are_well_formed_svg_and_render() {
    if !have("python3", "--version") || !have("rsvg-convert", "--version") {
        return;
    }
    let dir = scratch("render");
    for picture in PICTURES {
        let path = root().join("docs").join(format!("{picture}.svg"));
        let mut command = Command::new("python3");
        command
            .arg("-c")
            .arg("import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.tag, r.get('width'), r.get('height'))")
            .arg(&path);
        let out = run(command, b"", SCRIPT_DEADLINE);
        assert_eq!(out.code(), Some(0), "docs/{picture}.svg is not well-formed XML: {}", out.stderr());
        let parsed = out.stdout();
        let fields: Vec<&str> = parsed.split_whitespace().collect();
        assert_eq!(fields.first(), Some(&"{http://www.w3.org/2000/svg}svg"), "docs/{picture}.svg: {parsed}");
        let (width, height): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let svg = fs::read_to_string(&path).unwrap();
        let background = format!("<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        assert!(svg.contains(&background), "docs/{picture}.svg has no opaque white background {background}");

        let png = dir.join(format!("{picture}.png"));
        let mut command = Command::new("rsvg-convert");
        command.arg("--output").arg(&png).arg(&path);
        let out = run(command, b"", SCRIPT_DEADLINE);
        assert_eq!(out.code(), Some(0), "rsvg-convert docs/{picture}.svg: {}", out.stderr());
        assert_eq!(out.stderr(), "", "rsvg-convert warned about docs/{picture}.svg");
        let bytes = fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "rsvg-convert made no PNG of docs/{picture}.svg");
        let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!((be32(16), be32(20)), (width, height), "the PNG of docs/{picture}.svg (IHDR)");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A pcap file of `frames` as tcpdump writes it: little-endian with
/// microseconds, or big-endian with nanoseconds; Ethernet link type. The
/// times differ from frame to frame: the diagram must not show them.
fn pcap_file(frames: &[Vec<u8>], big_endian_nanoseconds: bool) -> Vec<u8> {
    let word = |n: u32| if big_endian_nanoseconds { n.to_be_bytes() } else { n.to_le_bytes() };
    let half = |n: u16| if big_endian_nanoseconds { n.to_be_bytes() } else { n.to_le_bytes() };
    let mut out = Vec::new();
    out.extend(word(if big_endian_nanoseconds { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend(half(2));
    out.extend(half(4));
    for field in [0, 0, 65535, 1] {
        out.extend(word(field)); // time zone, accuracy, snapshot length, Ethernet
    }
    for (i, frame) in frames.iter().enumerate() {
        let i = i as u32;
        for field in [1_700_000_000 + i, 123_457 * i, frame.len() as u32, frame.len() as u32] {
            out.extend(word(field));
        }
        out.extend(frame);
    }
    out
}

/// An Ethernet frame, padded to the 60-byte minimum as a real link pads it
/// (the padding is not payload: the IP length says where the packet ends).
fn ethernet(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    frame.extend(ethertype.to_be_bytes());
    frame.extend(body);
    frame.resize(frame.len().max(60), 0);
    frame
}

fn arp(op: u16, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut body = vec![0, 1, 8, 0, 6, 4];
    body.extend(op.to_be_bytes());
    body.extend([0x02, 0, 0, 0, 0, 7]);
    body.extend(sender);
    body.extend([0; 6]);
    body.extend(target);
    ethernet(0x0806, &body)
}

/// A TCP header of 20 bytes and the payload.
fn tcp(from: u16, to: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut segment = Vec::new();
    for half in [from, to] {
        segment.extend(half.to_be_bytes());
    }
    segment.extend(seq.to_be_bytes());
    segment.extend(ack.to_be_bytes());
    segment.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    segment.extend(payload);
    segment
}

fn ipv4(from: ([u8; 4], u16), to: ([u8; 4], u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let segment = tcp(from.1, to.1, seq, ack, flags, payload);
    let mut packet = vec![0x45, 0];
    packet.extend((20 + segment.len() as u16).to_be_bytes());
    packet.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
    packet.extend(from.0);
    packet.extend(to.0);
    packet.extend(segment);
    ethernet(0x0800, &packet)
}

fn ipv6(
    from: ([u8; 16], u16),
    to: ([u8; 16], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let segment = tcp(from.1, to.1, seq, ack, flags, payload);
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend((segment.len() as u16).to_be_bytes());
    packet.extend([6, 64]);
    packet.extend(from.0);
    packet.extend(to.0);
    packet.extend(segment);
    ethernet(0x86dd, &packet)
}

/// One arrow of the SVG per line of `expected` (ladder.py --list): a group
/// each, its tooltip the line, its label and payload shown, pointing from
/// the sender to the receiver.
fn assert_arrows(svg: &str, expected: &[&str]) {
    let groups: Vec<&str> =
        svg.split("<g id=\"arrow-").skip(1).map(|g| &g[..g.find("</g>").unwrap()]).collect();
    assert_eq!(groups.len(), expected.len(), "one arrow per packet");
    let number = |text: &str, attribute: &str| -> f64 {
        let at = text.find(&format!(" {attribute}=\"")).unwrap() + attribute.len() + 3;
        text[at..at + text[at..].find('"').unwrap()].parse().unwrap()
    };
    for (i, (group, line)) in groups.iter().zip(expected).enumerate() {
        let xml_line = line.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            group.starts_with(&format!("{}\"><title>{xml_line}</title>", i + 1)),
            "arrow {}: {group}",
            i + 1
        );
        let label = &line[line.find("  ").unwrap() + 2..line.find("  |").unwrap()];
        assert!(group.contains(&format!(">{}</text>", label)), "arrow {} shows no {label:?}: {group}", i + 1);
        if let Some((_, payload)) = line.split_once(" | \"") {
            assert!(
                group.contains(&format!(">\"{payload}</text>")),
                "arrow {} shows no payload: {group}",
                i + 1
            );
        }
        let rightwards = number(group, "x1") < number(group, "x2");
        assert_eq!(rightwards, line.contains(" client -> server "), "arrow {} points the wrong way", i + 1);
    }
}

/// The text of an SVG file, its tags left out (colours such as #555555 are
/// not ports).
fn text_outside_tags(svg: &str) -> String {
    let mut shown = String::new();
    let mut in_tag = false;
    for c in svg.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => shown.push(c),
            _ => {}
        }
    }
    shown
}

/// Draws `frames` with scripts/ladder.py and checks the picture against
/// `expected`, one line per arrow (ladder.py --list): the list, the arrows
/// in the SVG (one group each, its tooltip the line, its label and payload
/// shown, pointing from the sender to the receiver), no time or port in the
/// file, and the same file from a second run.
fn assert_draws(
    name: &str,
    frames: &[Vec<u8>],
    big_endian_nanoseconds: bool,
    expected: &[&str],
    hidden: &[&str],
) {
    let dir = scratch(name);
    let pcap = dir.join("made.pcap");
    fs::write(&pcap, pcap_file(frames, big_endian_nanoseconds)).unwrap();
    let out = ladder(&["--list".as_ref(), pcap.as_os_str()]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr());
    let wanted = expected.join("\n") + "\n";
    let diff = unified_diff("expected", &wanted, "ladder.py --list", &out.stdout());
    assert!(diff.is_empty(), "{diff}");

    let (svg_path, again_path) = (dir.join("made.svg"), dir.join("again.svg"));
    for path in [&svg_path, &again_path] {
        let out = ladder(&[pcap.as_os_str(), path.as_os_str(), "--client".as_ref(), "the client".as_ref()]);
        assert_eq!(out.code(), Some(0), "{}", out.stderr());
    }
    let svg = fs::read_to_string(&svg_path).unwrap();
    assert_eq!(
        svg,
        fs::read_to_string(&again_path).unwrap(),
        "two runs on the same packets drew different files"
    );
    assert_eq!(packet_list(&svg), expected.join("\n"), "the <desc> of the SVG");
    assert_arrows(&svg, expected);
    let shown = text_outside_tags(&svg);
    for text in hidden {
        assert!(!shown.contains(text), "the picture shows {text:?}, which changes from run to run");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Issue 13: the generator reads a pcap made here, byte by byte, and draws
/// the expected arrows: ARP first, the handshake, a line with UTF-8, a
/// control byte and a backslash (escaped as the server logs it), its echo,
/// quit without an echo, the FIN exchange with the TCP states, and the
/// server's sequence numbers running past 2^32. A packet of another
/// connection and an ARP of another host are left out.
#[test]
fn ladder_draws_a_known_pcap_into_the_expected_arrows() {
    if !have("python3", "--version") {
        return;
    }
    let (client, server, other) = (([10, 0, 0, 2], 40000), ([10, 0, 0, 1], 7), ([10, 0, 0, 9], 5555));
    let line: &[u8] = b"caf\xc3\xa9 \x01\\\n";
    let server_isn = 0xffff_fffa_u32;
    let frames = vec![
        arp(2, other.0, server.0),
        arp(1, client.0, server.0),
        arp(2, server.0, client.0),
        ipv4(other, server, 1, 1, ACK, b"not this one\n"),
        ipv4(client, server, 1000, 0, SYN, b""),
        ipv4(server, client, server_isn, 1001, SYN | ACK, b""),
        ipv4(client, server, 1001, server_isn.wrapping_add(1), ACK, b""),
        ipv4(client, server, 1001, server_isn.wrapping_add(1), PSH | ACK, line),
        ipv4(server, client, server_isn.wrapping_add(1), 1010, PSH | ACK, line),
        ipv4(client, server, 1010, server_isn.wrapping_add(10), PSH | ACK, b"quit\n"),
        ipv4(client, server, 1015, server_isn.wrapping_add(10), FIN | ACK, b""),
        ipv4(server, client, server_isn.wrapping_add(10), 1016, FIN | ACK, b""),
        ipv4(client, server, 1016, server_isn.wrapping_add(11), ACK, b""),
    ];
    assert_draws(
        "ladder-known",
        &frames,
        false,
        &[
            "1. client -> server  ARP request: who has 10.0.0.1?  | client: connect (its kernel asks first)",
            "2. server -> client  ARP reply: 10.0.0.1 is at (its MAC address)  | server: kernel",
            "3. client -> server  SYN  seq 0  len 0  | client: connect | server: listen (queued for accept) \
             | now: client SYN_SENT",
            "4. server -> client  SYN, ACK  seq 0  ack 1  len 0  | server: kernel (answers for listen) \
             | client: connect | now: client ESTABLISHED, server SYN_RECEIVED",
            "5. client -> server  ACK  seq 1  ack 1  len 0  | client: connect (returns) \
             | server: accept (can return) | now: server ESTABLISHED",
            "6. client -> server  PSH, ACK  seq 1  ack 1  len 9  | client: send | server: recv | \"café \\x01\\\\\\n\"",
            "7. server -> client  PSH, ACK  seq 1  ack 10  len 9  | server: send (the echo) | client: recv \
             | \"café \\x01\\\\\\n\"",
            "8. client -> server  PSH, ACK  seq 10  ack 10  len 5  | client: close (sends quit) \
             | server: recv (quit: no echo) | \"quit\\n\"",
            "9. client -> server  FIN, ACK  seq 15  ack 10  len 0  | client: close \
             | server: shutdown (its recv returns 0) | now: client FIN_WAIT_1, server CLOSE_WAIT",
            "10. server -> client  FIN, ACK  seq 10  ack 16  len 0  | server: shutdown (SHUT_WR after quit) \
             | now: client TIME_WAIT, server LAST_ACK",
            "11. client -> server  ACK  seq 16  ack 11  len 0  | client: kernel | now: server CLOSED",
        ],
        &["40000", "5555", "1700000", "not this one", "10.0.0.9"],
    );
}

/// The same over IPv6 (and the other pcap byte order), for a connection
/// that ends with RST: both sides go straight to CLOSED, no FIN, no TIME_WAIT.
#[test]
fn ladder_draws_an_ipv6_connection_that_ends_with_rst() {
    if !have("python3", "--version") {
        return;
    }
    let mut address = [0u8; 16];
    address[..2].copy_from_slice(&[0xfd, 0]);
    address[15] = 2;
    let client = (address, 40001);
    address[15] = 1;
    let server = (address, 8080);
    let frames = vec![
        ipv6(client, server, 7, 0, SYN, b""),
        ipv6(server, client, 70, 8, SYN | ACK, b""),
        ipv6(client, server, 8, 71, ACK, b""),
        ipv6(client, server, 8, 71, RST | ACK, b""),
    ];
    assert_draws(
        "ladder-rst",
        &frames,
        true,
        &[
            "1. client -> server  SYN  seq 0  len 0  | client: connect | server: listen (queued for accept) \
             | now: client SYN_SENT",
            "2. server -> client  SYN, ACK  seq 0  ack 1  len 0  | server: kernel (answers for listen) \
             | client: connect | now: client ESTABLISHED, server SYN_RECEIVED",
            "3. client -> server  ACK  seq 1  ack 1  len 0  | client: connect (returns) \
             | server: accept (can return) | now: server ESTABLISHED",
            "4. client -> server  RST, ACK  seq 1  ack 1  len 0  | client: close (SO_LINGER 0) \
             | server: recv (ECONNRESET) | now: client CLOSED, server CLOSED",
        ],
        &["40001", "8080"],
    );
}
