//! tokio-echo: the echo server a Rust programmer writes with tokio, the peer
//! `make bench` measures the twins against. A task per connection on
//! tokio's multi-threaded runtime (one worker per CPU, epoll underneath):
//! read into a buffer, write all of it back, until EOF.
//!
//! ```text
//! tokio-echo [ADDRESS]      (default 127.0.0.1:0: the kernel picks the port)
//! ```
//!
//! It prints `listening on ADDRESS:PORT` like the servers. It echoes bytes,
//! not lines: no `quit`, no idle timeout, no log; for a load of whole lines
//! the wire bytes are the same.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listener = TcpListener::bind(&address).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(echo(stream));
    }
}

/// The same 1024-byte buffer as the servers' BUF_SIZE.
async fn echo(mut stream: TcpStream) {
    let mut buf = vec![0u8; 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
