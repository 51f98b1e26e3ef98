//! tls-bench: what TLS costs the echo servers, beside echo-bench's plain
//! figures. Two measurements against a TLS echo server (server_tls):
//!
//!   tls-bench churn N CAFILE PORT        N clients one after another: connect,
//!                                        handshake, one 64-byte round trip, close
//!   tls-bench load C ROUNDS CAFILE PORT  C clients at once, each ROUNDS round
//!                                        trips of 64 bytes on one session
//!
//! Each prints one line: connections or round trips per second. The client
//! side is the `openssl` crate over libssl (the same library as the twins),
//! verifying the server's certificate for 127.0.0.1 as client_tls does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Instant;

use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVersion};

const LINE: &[u8; 64] = b"the quick brown fox jumps over the lazy dog, 64 bytes a line...\n";

fn connector(ca_file: &str) -> SslConnector {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).expect("SSL_CTX_new");
    builder.set_min_proto_version(Some(SslVersion::TLS1_2)).expect("TLS 1.2 at least");
    builder.set_ca_file(ca_file).unwrap_or_else(|e| panic!("{ca_file}: {e}"));
    builder.build()
}

/// A verified session with the server on 127.0.0.1:port.
fn session(tls: &SslConnector, port: u16) -> SslStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_nodelay(true).unwrap();
    tls.connect("127.0.0.1", tcp).expect("TLS handshake")
}

fn round_trip(stream: &mut SslStream<TcpStream>) {
    stream.write_all(LINE).expect("send");
    let mut echo = [0u8; 64];
    stream.read_exact(&mut echo).expect("echo");
    assert_eq!(&echo, LINE, "echo mismatch");
}

fn churn(n: usize, tls: &SslConnector, port: u16) {
    let start = Instant::now();
    for _ in 0..n {
        let mut stream = session(tls, port);
        round_trip(&mut stream);
        let _ = stream.shutdown();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "churn: {n} connections (handshake, one 64-byte round trip, close) in {seconds:.2} s: {:.0}/s",
        n as f64 / seconds
    );
}

fn load(clients: usize, rounds: usize, tls: &SslConnector, port: u16) {
    let mut streams: Vec<_> = (0..clients).map(|_| session(tls, port)).collect();
    let start = Instant::now();
    thread::scope(|scope| {
        for stream in &mut streams {
            scope.spawn(move || (0..rounds).for_each(|_| round_trip(stream)));
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let total = clients * rounds;
    println!(
        "load: {clients} clients x {rounds} round trips of 64 bytes in {seconds:.2} s: {:.0} round trips/s",
        total as f64 / seconds
    );
    for mut stream in streams {
        let _ = stream.write_all(b"quit\n");
        let _ = stream.shutdown();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |s: &str| s.parse::<usize>().unwrap_or_else(|_| usage());
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["churn", n, ca, port] => churn(number(n), &connector(ca), number(port) as u16),
        ["load", c, rounds, ca, port] => load(number(c), number(rounds), &connector(ca), number(port) as u16),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: tls-bench churn N CAFILE PORT | tls-bench load CLIENTS ROUNDS CAFILE PORT");
    std::process::exit(2);
}
