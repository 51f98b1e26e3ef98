//! tokio-echo: the echo server a Rust programmer writes with tokio, the peer
//! `make bench` measures the twins against. A task per connection, epoll
//! underneath: read into a buffer, write all of it back, until EOF. On
//! tokio's default runtime (multi-threaded: one worker per CPU), or with
//! `--current-thread` on its current_thread runtime (every task on the one
//! thread that waits in epoll_wait: one loop, as `server_epoll` is).
//!
//! ```text
//! tokio-echo [--current-thread] [ADDRESS]      (default 127.0.0.1:0: the kernel picks the port)
//! ```
//!
//! It prints `listening on ADDRESS:PORT` like the servers. It echoes bytes,
//! not lines: no `quit`, no idle timeout, no log; for a load of whole lines
//! the wire bytes are the same.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;

fn main() -> std::io::Result<()> {
    let mut current_thread = false;
    let mut address = "127.0.0.1:0".to_string();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--current-thread" => current_thread = true,
            _ => address = arg,
        }
    }
    let runtime = match current_thread {
        true => Builder::new_current_thread().enable_io().build()?,
        false => Builder::new_multi_thread().enable_io().build()?,
    };
    runtime.block_on(serve(&address))
}

async fn serve(address: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(address).await?;
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
