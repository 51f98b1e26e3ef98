//! A recording relay: it takes the server's place at the address the client
//! uses, passes every byte on (an EOF as a half-close, so it is invisible),
//! and keeps what each side sent and how each direction ended.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::wait::DEADLINE;

/// How one direction of the relayed connection went.
pub struct Direction {
    pub bytes: Vec<u8>,
    /// `EOF`, or `error: KIND`.
    pub end: String,
}

/// A relay listening on `host`, port 0, for one connection to `server`.
pub struct Relay {
    pub port: u16,
    recorder: thread::JoinHandle<(Direction, Direction)>,
}

impl Relay {
    /// Listens on `host` and, once a client connects, connects to `server`
    /// and pumps both ways until both directions ended.
    pub fn start(host: &str, server: (&str, u16)) -> Relay {
        let listener = TcpListener::bind((host, 0)).expect("relay bind");
        let port = listener.local_addr().unwrap().port();
        let server_at = (server.0.to_string(), server.1);
        let recorder = thread::spawn(move || {
            let client_side = accept_within(&listener);
            let server_side = TcpStream::connect(server_at).expect("relay connects to server");
            for stream in [&client_side, &server_side] {
                stream.set_read_timeout(Some(DEADLINE)).unwrap();
                stream.set_nodelay(true).unwrap();
            }
            let (c, s) = (client_side.try_clone().unwrap(), server_side.try_clone().unwrap());
            let upstream = thread::spawn(move || pump(c, s));
            let downstream = pump(server_side, client_side);
            (upstream.join().expect("upstream pump"), downstream)
        });
        Relay { port, recorder }
    }

    /// What went client -> server and server -> client.
    pub fn finish(self) -> (Direction, Direction) {
        self.recorder.join().expect("relay")
    }
}

/// Copies `from` to `to` until EOF or an error, recording the bytes; EOF is
/// passed on as a half-close, as the relay must be invisible.
fn pump(mut from: TcpStream, to: TcpStream) -> Direction {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        match from.read(&mut chunk) {
            Ok(0) => break "EOF".to_string(),
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                // The far side may be gone already (it quit): keep recording.
                let _ = (&to).write_all(&chunk[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break format!("error: {:?}", e.kind()),
        }
    };
    let _ = to.shutdown(Shutdown::Write);
    Direction { bytes, end }
}

/// Accepts one connection on `listener` within the deadline.
fn accept_within(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(start.elapsed() < DEADLINE, "the client never connected to the relay");
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("relay accept: {e}"),
        }
    }
}
