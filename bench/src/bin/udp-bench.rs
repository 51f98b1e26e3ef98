//! udp-bench: round trips per second through a UDP echo server, the
//! datagram counterpart of `echo-bench -c CLIENTS -n ROUNDS -s SIZE`.
//!
//!     udp-bench [-c CLIENTS] [-n ROUNDS] [-s SIZE] HOST PORT
//!
//! Each client is a thread with a connected UDP socket of its own; it sends a
//! datagram of SIZE bytes (the last one `\n`), waits for it to come back
//! (at most 1 s: then it counts a loss and goes on, as `client_udp` does),
//! checks it, and sends the next one. It prints the round trips per second
//! of all clients together, the median and 99th percentile round trip, and
//! the datagrams lost. On loopback nothing is lost unless a socket buffer
//! overflows. Standard library only; a module of its own, apart from
//! echo-bench's suite.

use std::net::UdpSocket;
use std::process::exit;
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: udp-bench [-c CLIENTS] [-n ROUNDS] [-s SIZE] HOST PORT";

struct Options {
    clients: usize,
    rounds: usize,
    size: usize,
    host: String,
    port: u16,
}

fn parse_options() -> Options {
    let mut opt = Options { clients: 1, rounds: 20_000, size: 64, host: String::new(), port: 0 };
    let mut operands = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> usize {
            let text = args.next().unwrap_or_else(|| fail(&format!("{name} needs a value")));
            text.parse().unwrap_or_else(|_| fail(&format!("bad {name}: {text}")))
        };
        match arg.as_str() {
            "-c" => opt.clients = value("-c"),
            "-n" => opt.rounds = value("-n"),
            "-s" => opt.size = value("-s"),
            "-h" => {
                println!("{USAGE}");
                exit(0);
            }
            _ => operands.push(arg),
        }
    }
    let [host, port] = operands.as_slice() else { fail("HOST and PORT, please") };
    opt.host = host.clone();
    opt.port = port.parse().unwrap_or_else(|_| fail(&format!("bad port: {port}")));
    if opt.clients == 0 || opt.rounds == 0 || !(1..=65_507).contains(&opt.size) {
        fail("CLIENTS and ROUNDS at least 1, SIZE 1..65507");
    }
    opt
}

fn fail(what: &str) -> ! {
    eprintln!("udp-bench: {what}\n{USAGE}");
    exit(2);
}

/// One client: `rounds` round trips; returns each one's time (None: lost).
fn client(opt: &Options, seed: usize) -> Vec<Option<Duration>> {
    let bind = if opt.host.contains(':') { "[::]:0" } else { "0.0.0.0:0" };
    let socket = UdpSocket::bind(bind).unwrap_or_else(|e| fail(&format!("bind: {e}")));
    socket.connect((opt.host.as_str(), opt.port)).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut datagram: Vec<u8> = (0..opt.size).map(|i| b'a' + ((i + seed) % 26) as u8).collect();
    datagram[opt.size - 1] = b'\n';
    let mut echo = vec![0u8; 65_536];
    let mut times = Vec::with_capacity(opt.rounds);
    for round in 0..opt.rounds {
        datagram[0] = b'a' + (round % 26) as u8; // each round's datagram differs from the last
        let start = Instant::now();
        socket.send(&datagram).unwrap_or_else(|e| fail(&format!("send: {e}")));
        let time = loop {
            match socket.recv(&mut echo) {
                Ok(n) if echo[..n] == datagram[..] => break Some(start.elapsed()),
                Ok(_) => continue, // a late echo of an earlier round
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break None,
                Err(e) => fail(&format!("recv: {e}")),
            }
        };
        times.push(time);
    }
    times
}

fn main() {
    let opt = parse_options();
    let start = Instant::now();
    let results: Vec<Vec<Option<Duration>>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..opt.clients)
            .map(|c| {
                scope.spawn({
                    let opt = &opt;
                    move || client(opt, c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let elapsed = start.elapsed();
    let mut times: Vec<Duration> = results.iter().flatten().flatten().copied().collect();
    let lost = opt.clients * opt.rounds - times.len();
    times.sort();
    let percentile = |p: usize| times.get((times.len() * p / 100).min(times.len().saturating_sub(1)));
    let micros = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6);
    println!(
        "{} clients x {} B: {:.0} round trips/s, median {:.1} us, p99 {:.1} us, {lost} lost of {}",
        opt.clients,
        opt.size,
        times.len() as f64 / elapsed.as_secs_f64(),
        micros(percentile(50)),
        micros(percentile(99)),
        opt.clients * opt.rounds
    );
}
