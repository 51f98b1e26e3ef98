//! server_pool: TCP echo server, a fixed pool of threads fed by accept.
//!
//! The Rust twin of `c-reference/server_pool.c`. N threads (`-n`, default
//! 16) are started before any client; the main thread accepts and hands
//! each connection to the pool, and a thread of the pool runs the echo loop
//! of `server_single` (the library's `serve_client`). The pool is the one
//! of the Rust Book's final project, chapter 21 ("Final Project: Building a
//! Multithreaded Web Server", section "Turning Our Single-Threaded Server
//! into a Multithreaded Server"): `ThreadPool::new`, `execute`, and
//! `Worker`s that take jobs from an `Arc<Mutex<mpsc::Receiver>>`, with one
//! change: the channel is `mpsc::sync_channel(N)`, bounded, so that while N
//! connections wait for a thread, `execute` waits, main accepts nothing, and
//! the next clients wait in the listen backlog (the C's queue of at most N,
//! UNP ch. 30's serv08). The C calls are in `src/sys.rs`.

use std::os::fd::AsFd;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use sockets::sys::strerror;
use sockets::{
    accept_client, args, configure_client, errno_of, open_listener, parse_counted_server_options,
    print_listening, serve_client, start_signal_thread, Failure, SHUTDOWN_THREAD,
};

const PROG: &str = "server_pool";
/// -n's default: 16 threads, each serving one client at a time.
const DEFAULT_COUNT: u32 = 16;

/// What a worker runs: one connection, to its end.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The Rust Book's `ThreadPool`, its channel bounded.
struct ThreadPool {
    /// The threads; the Book joins them in `Drop`, this server never drops
    /// its pool (SIGINT and SIGTERM end the process).
    _workers: Vec<Worker>,
    sender: SyncSender<Job>,
}

impl ThreadPool {
    /// `size` threads, and a queue of at most `size` jobs (the C's `start_pool`).
    fn new(size: usize) -> Result<ThreadPool, Failure> {
        // step: pool
        let (sender, receiver) = mpsc::sync_channel(size);
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..size).map(|id| Worker::new(id, Arc::clone(&receiver))).collect::<Result<_, _>>()?;
        Ok(ThreadPool { _workers: workers, sender })
    }

    /// Queues `job` for the next free worker; waits while the queue is full
    /// (the C's `put_connection`).
    fn execute<F: FnOnce() + Send + 'static>(&self, job: F) {
        // step: queue
        // The receiver lives as long as the workers, which never end.
        self.sender.send(Box::new(job)).expect("the workers hold the receiver");
    }
}

/// One thread of the pool: job after job, each to its end.
struct Worker {
    _id: usize,
    _thread: JoinHandle<()>,
}

impl Worker {
    fn new(id: usize, receiver: Arc<Mutex<Receiver<Job>>>) -> Result<Worker, Failure> {
        // std::thread::spawn is pthread_create underneath; the C names the call.
        let thread = thread::Builder::new()
            .spawn(move || loop {
                // The lock is held only while waiting for a job (the C's
                // take_connection), not while the job runs: the guard is a
                // temporary of this statement.
                let job = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => return, // the pool is gone
                }
            })
            .map_err(|e| Failure::new("pthread_create", errno_of(&e)))?;
        Ok(Worker { _id: id, _thread: thread })
    }
}

fn main() {
    sockets::sys::restore_default_sigpipe();
    let (opt, count) = parse_counted_server_options(PROG, &args(), DEFAULT_COUNT);
    // Rust's stdout is line-buffered already, also into a pipe (the C's
    // setvbuf); the library writes each log line with one write(2).

    start_signal_thread(SHUTDOWN_THREAD).unwrap_or_else(|failure| failure.exit(PROG));

    let (listener, listen_addr) = open_listener(&opt).unwrap_or_else(|failure| failure.exit(PROG));
    let pool = ThreadPool::new(count as usize).unwrap_or_else(|failure| failure.exit(PROG));
    print_listening(&listen_addr, &format!("pool of {count} threads"), &opt);

    loop {
        let (fd, peer) = accept_client(PROG, listener.as_fd());
        // A worker logs `connected` when it takes the connection; while the
        // queue is full, main waits here and the next clients wait in the
        // backlog.
        pool.execute(move || {
            println!("[{peer}] connected");
            match configure_client(fd.as_fd(), opt.idle_timeout) {
                Err(err) => println!("[{peer}] error: {}", strerror(err)),
                Ok(()) => serve_client(fd.as_fd(), &peer, &opt),
            }
            // step: close
            // fd was moved into the job: dropping it here is close(2).
        });
    }
}
