//! SPEC "TLS": `server_tls` and `client_tls`, in both languages.
//!
//! The certificates are made here with the `openssl` command, into a
//! directory of this test run: a CA and a good server certificate, and the
//! bad ones a client must refuse (another CA's, another name's and address's,
//! an expired one). The client must refuse each before it sends a byte of
//! the session, and never fall back to plaintext; the server must survive
//! whatever a client sends instead of a handshake (plaintext, garbage, an old
//! protocol version, nothing at all) and broken records after it, and serve
//! the next client. Then the sessions of the contract in all four pairings,
//! peers no one here wrote (`openssl s_client`, `socat`, Python's `ssl`),
//! and parity: the same output, the same socket system calls, the same TLS
//! record types and lengths on the wire.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The files of one certificate: `NAME.pem` and `NAME.key` in [`certs`].
struct Cert {
    pem: String,
    key: String,
}

/// The certificates of this test run, made once, or None if there is no
/// `openssl` command (then every test here is a skip).
fn certs() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        if Command::new("openssl").arg("version").output().is_err() {
            return None;
        }
        let dir =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-certs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        make_certs(&dir);
        Some(dir)
    })
    .as_deref()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

/// A self-signed CA: NAME.pem, NAME.key.
fn make_ca(dir: &Path, name: &str) {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    let mut args = vec!["req", "-x509", "-nodes", "-days", "30", "-subj"];
    let subject = format!("/CN=test CA {name}");
    args.extend([subject.as_str(), "-keyout", &key, "-out", &pem]);
    args.extend(EC);
    openssl(dir, &args);
}

/// A server certificate NAME.pem (key NAME.key) signed by CA, with the
/// subject alternative names `san`, valid `days` from now (negative: it
/// expired that long ago).
fn make_server_cert(dir: &Path, name: &str, ca: &str, san: &str, days: &str) {
    make_server_cert_with(dir, name, ca, san, days, &EC);
}

/// As [`make_server_cert`], with the key made by `key_args` of `openssl req`.
fn make_server_cert_with(dir: &Path, name: &str, ca: &str, san: &str, days: &str, key_args: &[&str]) {
    let (pem, key, csr, ext) =
        (format!("{name}.pem"), format!("{name}.key"), format!("{name}.csr"), format!("{name}.ext"));
    fs::write(dir.join(&ext), format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n")).unwrap();
    let mut args = vec!["req", "-new", "-nodes", "-subj", "/CN=test server", "-keyout", &key, "-out", &csr];
    args.extend(key_args);
    openssl(dir, &args);
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-days", days, "-extfile", &ext,
            "-out", &pem,
        ],
    );
}

fn make_certs(dir: &Path) {
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    let local = "DNS:localhost,IP:127.0.0.1,IP:::1";
    make_server_cert(dir, "good", "ca", local, "30");
    make_server_cert(dir, "stranger", "other-ca", local, "30");
    make_server_cert(dir, "other-name", "ca", "DNS:example.com,IP:192.0.2.1", "30");
    make_server_cert(dir, "expired", "ca", local, "-1");
    // An ECDSA signature's length varies by a byte or two from run to run
    // (DER integers); an RSA one does not: the wire test compares lengths.
    make_server_cert_with(dir, "rsa", "ca", local, "30", &["-newkey", "rsa:2048"]);
}

fn cert(name: &str) -> Cert {
    let dir = certs().expect("certificates made");
    Cert {
        pem: dir.join(format!("{name}.pem")).display().to_string(),
        key: dir.join(format!("{name}.key")).display().to_string(),
    }
}

fn ca_file() -> String {
    cert("ca").pem
}

/// Whether the TLS checks can run: the openssl command, and the TLS twins
/// built (`make tls`).
fn ready() -> bool {
    if certs().is_none() {
        skip("openssl is not installed", "apt-get install openssl");
        return false;
    }
    true
}

/// `server_tls` with certificate `name`, idle timeout `idle`.
fn start_server(lang: Lang, name: &str, idle: &str) -> Server {
    let cert = cert(name);
    Server::start(lang, "server_tls", &["-t", idle, "-c", &cert.pem, "-k", &cert.key])
}

/// `client_tls -C CA [options] HOST PORT` to its end.
fn run_client_tls(lang: Lang, options: &[&str], host: &str, port: u16, stdin: &[u8]) -> Output {
    let ca = ca_file();
    let port = port.to_string();
    let mut args = vec!["-C", ca.as_str()];
    args.extend(options);
    args.extend([host, port.as_str()]);
    run_program(lang, "client_tls", &args, stdin)
}

/// A whole session against `server` that must work: the proof it still serves.
fn assert_serves(lang: Lang, server: &mut Server) {
    let out = run_client_tls(lang, &[], "127.0.0.1", server.port, b"still here\n");
    assert_eq!(out.code(), Some(0), "{lang:?} client_tls after the attack: {}", out.stderr());
    assert!(out.stdout().contains("echo: still here\n"), "{}", out.stdout());
    server.wait_for("recv: still here");
}

/// The next session's end in the server's log (one client at a time here).
fn session_end(server: &mut Server) -> String {
    wait_for_session_end(server, "] ", DEADLINE)
        .unwrap_or_else(|| panic!("no end of session; log:\n{}", server.log.join("\n")))
}

// ---------------------------------------------------------------------------
// What a correct client checks.

/// Each bad certificate, its host, and the verification result the client must name.
const REFUSALS: [(&str, &str, &str); 4] = [
    ("stranger", "127.0.0.1", "certificate verify failed: unable to get local issuer certificate"),
    ("other-name", "127.0.0.1", "certificate verify failed: IP address mismatch"),
    ("other-name", "localhost", "certificate verify failed: hostname mismatch"),
    ("expired", "127.0.0.1", "certificate verify failed: certificate has expired"),
];

#[test]
fn client_refuses_a_bad_certificate_before_a_byte_of_the_session() {
    if !ready() {
        return;
    }
    for (name, host, reason) in REFUSALS {
        for server_lang in LANGS {
            let mut server = start_server(server_lang, name, "5");
            for client in LANGS {
                let out = run_client_tls(client, &[], host, server.port, b"secret\n");
                let expected =
                    format!("client_tls: TLS handshake with 127.0.0.1:{}: {reason}\n", server.port);
                assert_eq!(out.code(), Some(1), "{client:?} client_tls accepted {name} for {host}");
                assert_eq!(out.stderr(), expected, "{client:?} client_tls, certificate {name}, host {host}");
                assert_eq!(out.stdout(), "", "{client:?} client_tls printed before the handshake succeeded");
                // The client's alert is the server's reason.
                let end = session_end(&mut server);
                assert!(end.contains("] error: TLS handshake: "), "{server_lang:?} server_tls: {end}");
            }
            assert!(!server.log.iter().any(|l| l.contains("secret")), "{:?}", server.log);
        }
    }
}

#[test]
fn client_never_falls_back_to_plaintext() {
    if !ready() {
        return;
    }
    for server_lang in LANGS {
        let mut server = Server::start(server_lang, "server", &[]);
        for client in LANGS {
            let out = run_client_tls(client, &[], "127.0.0.1", server.port, b"secret\n");
            assert_eq!(out.code(), Some(1), "{client:?} client_tls against a plaintext server");
            let expected = format!("client_tls: TLS handshake with 127.0.0.1:{}: ", server.port);
            assert!(out.stderr().starts_with(&expected), "{}", out.stderr());
            assert_eq!(out.stdout(), "");
            session_end(&mut server);
        }
        let (_, log) = server.stop();
        assert!(!log.iter().any(|l| l.contains("secret")), "plaintext reached the server: {log:?}");
    }
}

// ---------------------------------------------------------------------------
// What the server survives.

/// Runs `attack` on a connection to a fresh server, then expects the
/// server's `error: TLS handshake: REASON` line (REASON containing
/// `reason`) and a good session after it.
fn survives(what: &str, reason: &str, attack: impl Fn(&Server)) {
    for lang in LANGS {
        let mut server = start_server(lang, "good", "1");
        attack(&server);
        let end = session_end(&mut server);
        let event = end.split_once("] ").unwrap().1;
        assert!(
            event.starts_with("error: TLS handshake: ") && event.contains(reason),
            "{lang:?} server_tls, {what}: {end:?}, expected a handshake error with {reason:?}"
        );
        assert_serves(lang, &mut server);
    }
}

/// Sends `data`, reads what comes back until the server closes (an alert,
/// then FIN or RST: the server closes with the rest of `data` unread).
fn send_and_close(server: &Server, data: &[u8]) {
    let mut stream = server.connect();
    stream.write_all(data).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
}

#[test]
fn server_survives_a_plaintext_client() {
    if ready() {
        survives("plaintext", "wrong version number", |server| {
            send_and_close(server, b"hello\nquit\n");
        });
    }
}

#[test]
fn server_survives_garbage_instead_of_a_client_hello() {
    if ready() {
        // A handshake record header that announces a record bigger than TLS allows.
        survives("garbage", "packet length too long", |server| {
            send_and_close(server, b"\x16\x03\x01\xff\xff\x00\x01\x02garbage");
        });
    }
}

#[test]
fn server_survives_a_client_that_stalls_in_the_handshake() {
    if ready() {
        survives("stall", "timed out", |server| {
            let mut stream = server.connect();
            let start = Instant::now();
            let mut rest = Vec::new();
            // The server's idle timeout (1 s) frees the connection: its FIN.
            stream.read_to_end(&mut rest).expect("read until the server closes");
            assert!(start.elapsed() < Duration::from_secs(5), "held for {:?}", start.elapsed());
        });
    }
}

#[test]
fn server_refuses_tls_1_1() {
    if !ready() || !have("python3", "--version") {
        return;
    }
    // Python's ssl offers only TLS 1.0 and 1.1 here; if the local OpenSSL
    // refuses to even send that ClientHello, the check is recorded as skipped.
    for lang in LANGS {
        let mut server = start_server(lang, "good", "5");
        let out = python(PY_OLD_CLIENT, &[&server.port.to_string(), &ca_file()]);
        if out.stdout().contains("cannot offer") {
            skip("this OpenSSL does not offer TLS 1.1 at all", "an OpenSSL built with TLS 1.1");
            return;
        }
        let end = session_end(&mut server);
        assert!(end.ends_with("] error: TLS handshake: unsupported protocol"), "{lang:?}: {end}");
        assert!(out.stdout().contains("refused"), "{}", out.stdout());
        assert_serves(lang, &mut server);
    }
}

const PY_OLD_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(sys.argv[2])
try:
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
except (ValueError, ssl.SSLError) as e:
    print("cannot offer", e); sys.exit(0)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
try:
    ctx.wrap_socket(s, server_hostname="localhost")
    print("accepted")
except ssl.SSLError as e:
    print("cannot offer" if "NO_PROTOCOLS_AVAILABLE" in str(e) else "refused", e)
"#;

/// `python3 -c SCRIPT ARGS`, to its end.
fn python(script: &str, args: &[&str]) -> Output {
    let mut command = Command::new("python3");
    command.arg("-c").arg(script).args(args);
    run(command, b"", DEADLINE)
}

/// A Python client that completes the handshake, then breaks the record
/// stream: `cut` sends half of a record and vanishes, `tamper` flips a bit
/// of a record (its authentication tag fails), `pipeline` sends lines and
/// quit in one record and prints all it gets until the server's close_notify.
const PY_RAW_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", port))
if mode == "pipeline":
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(b"one\ntwo\nquit\nafter quit\n")
    got = b""
    while True:
        try:
            data = t.recv(4096)
        except ssl.SSLError as e:
            print("error", e); break
        if not data:
            break
        got += data
    sys.stdout.write(got.decode())
    sys.exit(0)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
t = ctx.wrap_bio(inc, out, server_hostname="localhost")
while True:
    try:
        t.do_handshake(); break
    except ssl.SSLWantReadError:
        s.sendall(out.read())
        inc.write(s.recv(65536))
s.sendall(out.read())
t.write(b"hello\n")
record = bytearray(out.read())
if mode == "cut":
    s.sendall(record[: len(record) // 2])
elif mode == "tamper":
    record[-1] ^= 1
    s.sendall(record)
    s.recv(4096)
s.close()
print("done")
"#;

#[test]
fn server_survives_broken_records() {
    if !ready() || !have("python3", "--version") {
        return;
    }
    for (mode, expected) in
        [("cut", "disconnected"), ("tamper", "error: decryption failed or bad record mac")]
    {
        for lang in LANGS {
            let mut server = start_server(lang, "good", "2");
            let out = python(PY_RAW_CLIENT, &[&server.port.to_string(), &ca_file(), mode]);
            assert!(out.stdout().contains("done"), "{mode}: {}", out.stderr());
            let end = session_end(&mut server);
            assert!(end.ends_with(&format!("] {expected}")), "{lang:?} server_tls, {mode}: {end}");
            assert!(!server.log.iter().any(|l| l.contains("recv: hello")), "{:?}", server.log);
            assert_serves(lang, &mut server);
        }
    }
}

#[test]
fn no_echo_is_lost_after_quit() {
    if !ready() || !have("python3", "--version") {
        return;
    }
    for lang in LANGS {
        let mut server = start_server(lang, "good", "5");
        let out = python(PY_RAW_CLIENT, &[&server.port.to_string(), &ca_file(), "pipeline"]);
        // Every echo before quit, then the server's close_notify (a clean end, no error).
        assert_eq!(out.stdout(), "one\ntwo\n", "{lang:?}: {}", out.stderr());
        assert!(session_end(&mut server).ends_with("] quit"));
    }
}

// ---------------------------------------------------------------------------
// The sessions of the contract, in all four pairings.

/// One session in every pairing; `check` gets the client's output and the
/// server's log lines of the session, ports as PORT.
fn every_tls_pairing(idle: &str, stdin: &[u8], check: impl Fn(Lang, Lang, &Output, &[String]) + Sync) {
    let check = &check;
    thread::scope(|scope| {
        for server_lang in LANGS {
            for client in LANGS {
                scope.spawn(move || {
                    let mut server = start_server(server_lang, "good", idle);
                    let out = run_client_tls(client, &[], "127.0.0.1", server.port, stdin);
                    session_end(&mut server);
                    let log: Vec<String> = server.log.iter().map(|l| normalise_ports(l)).collect();
                    check(client, server_lang, &out, &log);
                });
            }
        }
    });
}

#[test]
fn echo_and_quit() {
    if !ready() {
        return;
    }
    every_tls_pairing("5", b"hello\nw\xc3\xb6rld\nquit\nnot sent\n", |client, server, out, log| {
        let expected = "connected to 127.0.0.1:PORT (TLSv1.3, TLS_AES_256_GCM_SHA384)\n\
                        echo: hello\necho: wörld\nclosing connection\n";
        assert_eq!(normalise_ports(&out.stdout()), expected, "{client:?} -> {server:?}");
        assert_eq!(out.code(), Some(0));
        assert_eq!(
            log,
            [
                "listening on 127.0.0.1:PORT (TLS, thread per client, idle timeout 5 s)",
                "[127.0.0.1:PORT] connected",
                "[127.0.0.1:PORT] recv: hello",
                "[127.0.0.1:PORT] recv: wörld",
                "[127.0.0.1:PORT] quit",
            ],
            "{client:?} -> {server:?}"
        );
    });
}

#[test]
fn long_and_binary_lines_and_eof() {
    if !ready() {
        return;
    }
    let long = "x".repeat(3000);
    let stdin = format!("{long}\n\x01\x1b[31m\tbin\\ary\r\nlast line without newline");
    every_tls_pairing("5", stdin.as_bytes(), |client, server, out, log| {
        let expected = format!(
            "connected to 127.0.0.1:PORT (TLSv1.3, TLS_AES_256_GCM_SHA384)\necho: {long}\n\
             echo: \\x01\\x1b[31m\\tbin\\\\ary\\r\necho: last line without newline\nclosing connection\n"
        );
        assert_eq!(normalise_ports(&out.stdout()), expected, "{client:?} -> {server:?}");
        let pieces: Vec<&str> = log.iter().filter_map(|l| l.split_once("] recv: ")).map(|(_, r)| r).collect();
        let expected_pieces = [
            &long[..1024],
            &long[1024..2048],
            &long[2048..],
            "\\x01\\x1b[31m\\tbin\\\\ary\\r",
            "last line without newline",
        ];
        assert_eq!(pieces, expected_pieces, "{client:?} -> {server:?}");
        assert!(log.last().unwrap().ends_with("] quit"), "{log:?}");
    });
}

#[test]
fn idle_timeout_ends_the_session_with_close_notify() {
    if !ready() {
        return;
    }
    thread::scope(|scope| {
        for server_lang in LANGS {
            for client in LANGS {
                scope.spawn(move || {
                    let mut server = start_server(server_lang, "good", "1");
                    let ca = ca_file();
                    let mut child = Command::new(bin(client, "client_tls"))
                        .args(["-C", &ca, "127.0.0.1", &server.port.to_string()])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    child.stdin.as_mut().unwrap().write_all(b"ping\n").unwrap();
                    let end = session_end(&mut server);
                    assert!(end.ends_with("] idle for 1 s, closing"), "{end}");
                    wait_bounded(&mut child, DEADLINE);
                    let mut stdout = String::new();
                    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
                    let mut stderr = String::new();
                    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                    assert_eq!(
                        normalise_ports(&stdout),
                        "connected to 127.0.0.1:PORT (TLSv1.3, TLS_AES_256_GCM_SHA384)\necho: ping\n\
                         server closed the connection\n",
                        "{client:?} -> {server_lang:?}: {stderr}"
                    );
                    assert_eq!(stderr, "");
                });
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Peers no one here wrote.

#[test]
fn openssl_s_client_against_both_servers() {
    if !ready() {
        return;
    }
    for lang in LANGS {
        let mut server = start_server(lang, "good", "5");
        let mut command = Command::new("openssl");
        command.args(["s_client", "-quiet", "-verify_return_error", "-CAfile", &ca_file()]);
        command.args(["-verify_hostname", "localhost", "-connect", &format!("127.0.0.1:{}", server.port)]);
        let out = run(command, b"from s_client\nquit\n", DEADLINE);
        assert!(out.stdout().contains("from s_client\n"), "{lang:?}: {} {}", out.stdout(), out.stderr());
        assert!(session_end(&mut server).ends_with("] quit"));
    }
}

/// A TLS echo server made of socat (`OPENSSL-LISTEN`, a process per
/// connection, `PIPE`): its port and process.
fn socat_echo() -> Option<(u16, KillOnDrop)> {
    if !have("socat", "-V") {
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let good = cert("good");
    let listen = format!(
        "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
        good.pem, good.key
    );
    let child = KillOnDrop(
        Command::new("socat").args([listen.as_str(), "PIPE"]).stderr(Stdio::null()).spawn().unwrap(),
    );
    wait_until("socat listening", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    Some((port, child))
}

const PY_ECHO_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
for _ in range(2):
    conn, _ = listener.accept()
    with ctx.wrap_socket(conn, server_side=True) as t:
        while True:
            data = t.recv(4096)
            if not data or data.startswith(b"quit"):
                break
            t.sendall(data)
"#;

#[test]
fn both_clients_against_socat_and_python_ssl() {
    if !ready() {
        return;
    }
    let stdin = b"to a stranger\nquit\n";
    if let Some((port, mut socat)) = socat_echo() {
        for lang in LANGS {
            let out = run_client_tls(lang, &[], "localhost", port, stdin);
            assert!(
                out.stdout().contains("echo: to a stranger\nclosing connection\n"),
                "{lang:?}: {}",
                out.stderr()
            );
            assert_eq!(out.code(), Some(0), "{lang:?}: {}", out.stderr());
        }
        let _ = socat.kill();
        let _ = socat.wait();
    }
    if have("python3", "--version") {
        let good = cert("good");
        let mut child = KillOnDrop(
            Command::new("python3")
                .args(["-c", PY_ECHO_SERVER, &good.pem, &good.key])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut first = [0u8; 6];
        let n = child.stdout.as_mut().unwrap().read(&mut first).unwrap();
        let port: u16 = String::from_utf8_lossy(&first[..n]).trim().parse().unwrap();
        // Python's server sends two session tickets after the handshake: the
        // client reads them as records without data and carries on.
        for lang in LANGS {
            let out = run_client_tls(lang, &[], "127.0.0.1", port, stdin);
            assert!(
                out.stdout().contains("echo: to a stranger\nclosing connection\n"),
                "{lang:?}: {}",
                out.stderr()
            );
            assert_eq!(out.code(), Some(0), "{}", out.stderr());
        }
        wait_bounded(&mut child, DEADLINE);
    }
}

// ---------------------------------------------------------------------------
// Parity: output, system calls, records on the wire.

#[test]
fn sslkeylogfile_gets_the_secrets_and_nothing_is_written_without_it() {
    if !ready() {
        return;
    }
    let server = start_server(Lang::C, "good", "5");
    for lang in LANGS {
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("keylog-{}-{lang:?}", std::process::id()));
        let _ = fs::remove_file(&log);
        let mut command = Command::new(bin(lang, "client_tls"));
        command.args(["-C", &ca_file(), "127.0.0.1", &server.port.to_string()]).env("SSLKEYLOGFILE", &log);
        let out = run(command, b"k\n", DEADLINE);
        assert_eq!(out.code(), Some(0), "{}", out.stderr());
        let text = fs::read_to_string(&log).expect("key log written");
        let labels: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        for label in [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0",
            "SERVER_TRAFFIC_SECRET_0",
        ] {
            assert!(labels.contains(&label), "{lang:?}: {label} missing from {labels:?}");
        }
        assert!(text.lines().all(|l| l.split(' ').count() == 3), "NSS format: LABEL CLIENT_RANDOM SECRET");
        let _ = fs::remove_file(&log);
    }
}

#[test]
fn twins_print_the_same_and_exit_the_same() {
    if !ready() {
        return;
    }
    let cases: [(&str, &[u8], &str); 4] = [
        ("session", b"a\n\xff\nquit\n", "127.0.0.1"),
        ("wrong CA", b"a\n", "127.0.0.1"),
        ("wrong name", b"a\n", "localhost"),
        ("usage", b"", "-x"),
    ];
    for (what, stdin, host) in cases {
        let server = start_server(Lang::C, if what == "wrong name" { "other-name" } else { "good" }, "5");
        let outs: Vec<Output> = LANGS
            .iter()
            .map(|&lang| {
                let ca = if what == "wrong CA" { cert("other-ca").pem } else { ca_file() };
                let mut command = Command::new(bin(lang, "client_tls"));
                command.args(["-C", &ca, host, &server.port.to_string()]);
                run(command, stdin, DEADLINE)
            })
            .collect();
        assert_eq!(outs[0].stdout(), outs[1].stdout(), "{what}: stdout");
        assert_eq!(outs[0].stderr(), outs[1].stderr(), "{what}: stderr");
        assert_eq!(outs[0].code(), outs[1].code(), "{what}: exit status");
    }
    // The servers' start-up failures.
    for args in [&["-c", "/nonexistent.pem"][..], &["-c", "/etc/hostname"], &["-k"], &["-p", "x"]] {
        let outs: Vec<Output> =
            LANGS.iter().map(|&lang| run_program(lang, "server_tls", args, b"")).collect();
        assert_eq!(outs[0].stderr(), outs[1].stderr(), "server_tls {args:?}");
        assert_eq!(outs[0].code(), outs[1].code(), "server_tls {args:?}");
        assert_ne!(outs[0].code(), Some(0));
    }
}

/// The TLS records a byte stream holds, as `TYPE:LENGTH` (content type 22
/// handshake, 20 change_cipher_spec, 21 alert, 23 application data).
fn records(stream: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        out.push(format!("{}:{len}", rest[0]));
        rest = &rest[(5 + len).min(rest.len())..];
    }
    out
}

/// A client's language and its server's.
type Pairing = (Lang, Lang);

/// What crossed a relay: the client's bytes, the server's bytes.
type Recording = (Vec<u8>, Vec<u8>);

/// A relay between client and server that keeps each direction's bytes:
/// listens on a port of its own, forwards to `to`, returns (port, recording).
fn recording_relay(to: u16) -> (u16, thread::JoinHandle<Recording>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = TcpStream::connect(("127.0.0.1", to)).unwrap();
        let pump = |mut from: TcpStream, mut to: TcpStream| {
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 16384];
                from.set_read_timeout(Some(DEADLINE)).unwrap();
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let _ = to.shutdown(Shutdown::Write);
                seen
            })
        };
        let up = pump(client.try_clone().unwrap(), server.try_clone().unwrap());
        let down = pump(server, client);
        (up.join().unwrap(), down.join().unwrap())
    });
    (port, handle)
}

#[test]
fn twins_put_the_same_records_on_the_wire() {
    if !ready() {
        return;
    }
    let mut seen: Vec<(Pairing, [Vec<String>; 2])> = Vec::new();
    for server_lang in LANGS {
        for client in LANGS {
            let mut server = start_server(server_lang, "rsa", "5");
            let (port, relay) = recording_relay(server.port);
            let out = run_client_tls(client, &[], "127.0.0.1", port, b"hello\nquit\n");
            assert_eq!(out.code(), Some(0), "{}", out.stderr());
            session_end(&mut server);
            let (up, down) = relay.join().unwrap();
            // No byte of the line crosses in the clear.
            assert!(!up.windows(5).any(|w| w == b"hello") && !down.windows(5).any(|w| w == b"hello"));
            seen.push(((client, server_lang), [records(&up), records(&down)]));
        }
    }
    let reference = &seen[0].1;
    // ClientHello; ServerHello, ChangeCipherSpec, the encrypted handshake;
    // the client's Finished; the line and its echo; quit; the close_notify alerts.
    assert!(reference[0].len() >= 4 && reference[0][0].starts_with("22:"), "{reference:?}");
    for (pairing, records) in &seen[1..] {
        assert_eq!(records, reference, "{pairing:?} against C -> C (client's records, server's records)");
    }
}

// ---------------------------------------------------------------------------
// Parity of the socket system calls (as tests/syscalls.rs, for the TLS pair).

/// One strace line with its quoted data (random in TLS records) as `"…"`,
/// its descriptor named, ports and strace's padding normalised.
fn normalise_call(line: &str, fds: &mut HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        // A quoted string: skip to its closing quote, escapes included, and
        // the "..." strace adds when it shortened it.
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
        out.push_str("\"…\"");
        let rest = chars.as_str();
        if let Some(after) = rest.strip_prefix("...") {
            chars = after.chars();
        }
    }
    let fd_name = |fds: &mut HashMap<String, String>, fd: &str| {
        let next = format!("FD{}", fds.len());
        fds.entry(fd.to_string()).or_insert(next).clone()
    };
    if let Some(open) = out.find('(') {
        let digits = out[open + 1..].bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let name = fd_name(fds, &out[open + 1..open + 1 + digits]);
            out.replace_range(open + 1..open + 1 + digits, &name);
        }
    }
    while out.contains("  = ") {
        out = out.replace("  = ", " = ");
    }
    // Ports, and the buffer a failed read had (no data to show: a pointer).
    for (marker, digits) in [("htons(", 10), ("0x", 16)] {
        if let Some(i) = out.find(marker) {
            let start = i + marker.len();
            let len = out[start..].chars().take_while(|c| c.is_digit(digits)).count();
            out.replace_range(start..start + len, "N");
        }
    }
    out
}

/// The socket calls of one traced run, thread by thread in the order the
/// threads were made: read(2), write(2) and close(2) only on sockets
/// (libssl's records), not on files or the terminal; descriptors named in
/// order.
fn socket_calls(dir: &Path) -> String {
    let mut files: Vec<(u32, PathBuf)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            Some((path.extension()?.to_str()?.parse().ok()?, path))
        })
        .collect();
    files.sort();
    let mut sockets: Vec<String> = Vec::new();
    let mut out = String::new();
    for (n, (_, path)) in files.iter().enumerate() {
        out.push_str(&format!("== thread {}\n", n + 1));
        let mut fds = HashMap::new();
        for line in fs::read_to_string(path).unwrap().lines() {
            if line.contains("<unfinished ...>") || line.starts_with("+++") || line.starts_with("---") {
                continue;
            }
            let call = line.split('(').next().unwrap_or("");
            let fd = line[call.len()..].trim_start_matches('(').split([',', ')']).next().unwrap_or("");
            let ret = line.rsplit(" = ").next().unwrap_or("").trim();
            // The first thread opens files too (libssl's configuration, the
            // certificate); a server's other threads touch only their client's socket.
            let is_socket =
                if n == 0 { sockets.iter().any(|s| s == fd) } else { !matches!(fd, "0" | "1" | "2") };
            match call {
                "socket" | "accept" | "accept4" => sockets.push(ret.to_string()),
                "read" | "write" | "close" if !is_socket => continue,
                "close" => sockets.retain(|s| s != fd),
                // Rust's runtime checks descriptors 0, 1 and 2 before main.
                "poll" if line.starts_with("poll([{fd=0, events=0}") => continue,
                _ => {}
            }
            let mut normalised = normalise_call(line, &mut fds);
            if matches!(call, "socket" | "accept" | "accept4") && ret.bytes().all(|b| b.is_ascii_digit()) {
                let eq = normalised.rfind(" = ").unwrap();
                let name = format!("FD{}", fds.len());
                let name = fds.entry(ret.to_string()).or_insert(name).clone();
                normalised.replace_range(eq + 3.., &name);
            }
            out.push_str(&normalised);
            out.push('\n');
        }
    }
    let _ = fs::remove_dir_all(dir);
    out
}

fn strace_command(dir: &Path, lang: Lang, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new("strace");
    command.args(["-ff", "-e", "trace=network,read,write,poll,close", "-o"]).arg(dir.join("t"));
    command.arg(bin(lang, program)).args(args);
    command
}

fn trace_dir(what: &str, lang: Lang) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("strace-tls-{}-{what}-{lang:?}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The traced server: a session (a line, quit), a plaintext client, a
/// client that stalls in the handshake, then SIGTERM.
fn server_socket_calls(lang: Lang) -> String {
    let dir = trace_dir("server", lang);
    let rsa = cert("rsa");
    let args = ["-b", "127.0.0.1", "-p", "0", "-t", "1", "-c", &rsa.pem, "-k", &rsa.key];
    let mut server =
        Server::start_command(lang, "server_tls", strace_command(&dir, lang, "server_tls", &args));
    let out = run_client_tls(Lang::C, &[], "127.0.0.1", server.port, b"hello\nquit\n");
    assert_eq!(out.code(), Some(0), "{}", out.stderr());
    session_end(&mut server);
    send_and_close(&server, b"plain\n");
    session_end(&mut server);
    let mut stall = server.connect();
    let _ = stall.read_to_end(&mut Vec::new());
    session_end(&mut server);
    let tracee = children_of(server.pid())[0];
    // Every client thread has ended: main and the signal thread are left.
    wait_until("client threads ended", || proc_status(tracee, "Threads") <= 2);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(tracee as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let (status, _) = server.wait_exit();
    assert!(status.success(), "{lang:?} server_tls under strace: {status}");
    socket_calls(&dir)
}

/// The traced client: a session against the C server.
fn client_socket_calls(lang: Lang, port: u16) -> String {
    let dir = trace_dir("client", lang);
    let port = port.to_string();
    let ca = ca_file();
    let args = ["-C", ca.as_str(), "127.0.0.1", port.as_str()];
    let out = run(strace_command(&dir, lang, "client_tls", &args), b"hello\nquit\n", DEADLINE);
    assert_eq!(out.code(), Some(0), "{lang:?} client_tls under strace: {}", out.stderr());
    socket_calls(&dir)
}

#[test]
fn twins_make_the_same_socket_system_calls() {
    if !ready() || !have("strace", "-V") {
        return;
    }
    let [c, rust] = LANGS.map(server_socket_calls);
    let diff = unified_diff("C", &c, "Rust", &rust);
    assert!(diff.is_empty(), "server_tls: the system calls differ:\n{diff}\nC trace:\n{c}");
    // The steps of the contract are there at all: records read header first,
    // the line's echo as one record, close_notify before the lingering close.
    for needle in ["TCP_NODELAY", ", 5) = 5", "SHUT_WR", "EAGAIN"] {
        assert!(c.contains(needle), "server_tls trace without {needle}:\n{c}");
    }

    let server = start_server(Lang::C, "rsa", "5");
    let [c, rust] = LANGS.map(|lang| client_socket_calls(lang, server.port));
    let diff = unified_diff("C", &c, "Rust", &rust);
    assert!(diff.is_empty(), "client_tls: the system calls differ:\n{diff}\nC trace:\n{c}");
    assert!(c.contains("connect(") && c.contains("poll("), "{c}");
}
