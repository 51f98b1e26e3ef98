//! The TLS client of the bench (SPEC "TLS"), over the `openssl` crate: a TCP
//! connection as every client of the bench makes it, then a full handshake
//! (no session is resumed: each connection pays for a new one), the
//! server's certificate verified against the demonstration CA of
//! `make tls` (build/tls/ca.pem) and its address checked as `client_tls`
//! checks it. Without the `tls` feature (no libssl-dev), the connector
//! cannot be made and the TLS rows are `missing`.

use std::path::{Path, PathBuf};

/// The demonstration CA and the server's certificate and key, in the build
/// directory, as `make tls` makes them.
pub fn files(build: &Path) -> [PathBuf; 3] {
    ["ca.pem", "server.pem", "server.key"].map(|name| build.join("tls").join(name))
}

#[cfg(feature = "tls")]
mod client {
    use std::io;
    use std::net::{SocketAddr, TcpStream};
    use std::path::Path;
    use std::time::Duration;

    use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVersion};

    use crate::line;

    /// What every TLS connection of a run is made with: the trusted CA.
    #[derive(Clone)]
    pub struct Connector(SslConnector);

    pub type Stream = SslStream<TcpStream>;

    /// A handshake waits this long for the server, whatever the connect's
    /// timeout: a TLS server thread may wait for a core behind hundreds.
    const HANDSHAKE: Duration = Duration::from_secs(10);

    impl Connector {
        /// Trusts the certificates of `ca` (PEM) and nothing else; TLS 1.2
        /// at least, as the SPEC's client.
        pub fn new(ca: &Path) -> Result<Connector, String> {
            let fail = |e: openssl::error::ErrorStack| format!("TLS client, {}: {e}", ca.display());
            let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(fail)?;
            builder.set_min_proto_version(Some(SslVersion::TLS1_2)).map_err(fail)?;
            builder.set_ca_file(ca).map_err(fail)?;
            Ok(Connector(builder.build()))
        }

        /// Connects and completes a handshake with the server at `addr`,
        /// whose certificate must name that IP address. Returns the stream
        /// and the time both took, in µs.
        pub fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<(Stream, u64)> {
            let started = std::time::Instant::now();
            let (tcp, _) = line::connect(addr, timeout)?;
            tcp.set_read_timeout(Some(HANDSHAKE.max(timeout)))?;
            tcp.set_write_timeout(Some(HANDSHAKE.max(timeout)))?;
            let stream = self
                .0
                .connect(&addr.ip().to_string(), tcp)
                .map_err(|e| io::Error::other(format!("TLS handshake: {e}")))?;
            stream.get_ref().set_read_timeout(Some(timeout))?;
            stream.get_ref().set_write_timeout(Some(timeout))?;
            Ok((stream, started.elapsed().as_micros() as u64))
        }
    }

    /// close_notify, as a client that ends its session says goodbye (the
    /// server's answer is not waited for).
    pub fn close(stream: &mut Stream) {
        let _ = stream.shutdown();
    }
}

#[cfg(not(feature = "tls"))]
mod client {
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::path::Path;
    use std::time::Duration;

    /// Never made: echo-bench was built without TLS.
    #[derive(Clone)]
    pub enum Connector {}

    /// Never made either.
    pub enum Stream {}

    impl Stream {
        pub fn get_ref(&self) -> &TcpStream {
            match *self {}
        }
    }

    impl Read for Stream {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            match *self {}
        }
    }

    impl Write for Stream {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            match *self {}
        }
        fn flush(&mut self) -> io::Result<()> {
            match *self {}
        }
    }

    impl Connector {
        pub fn new(_ca: &Path) -> Result<Connector, String> {
            Err("echo-bench was built without TLS (the tls feature needs libssl-dev)".into())
        }

        pub fn connect(&self, _addr: SocketAddr, _timeout: Duration) -> io::Result<(Stream, u64)> {
            match *self {}
        }
    }

    pub fn close(stream: &mut Stream) {
        match *stream {}
    }
}

pub use client::{close, Connector, Stream};

/// Whether this echo-bench can speak TLS.
pub const AVAILABLE: bool = cfg!(feature = "tls");
