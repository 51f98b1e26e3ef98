//! The client, run to its end or kept running.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{bin, run_program_within, wait_bounded, Collector, Lang, Output};
use crate::wait::DEADLINE;

/// The client against `port` on 127.0.0.1, with extra options before HOST.
pub fn run_client(lang: Lang, options: &[&str], port: u16, stdin: &[u8]) -> Output {
    run_client_at(lang, options, "127.0.0.1", port, stdin)
}

/// The client against `host` (`::1`, `localhost`...) and `port`.
pub fn run_client_at(lang: Lang, options: &[&str], host: &str, port: u16, stdin: &[u8]) -> Output {
    run_client_at_within(lang, options, host, port, stdin, DEADLINE)
}

/// [`run_client`] with a deadline of its own for the whole run, for one
/// that is long by design (16 MiB through a ThreadSanitizer build, on a
/// loaded machine, takes past the usual [`DEADLINE`]).
pub fn run_client_within(lang: Lang, options: &[&str], port: u16, stdin: &[u8], within: Duration) -> Output {
    run_client_at_within(lang, options, "127.0.0.1", port, stdin, within)
}

fn run_client_at_within(
    lang: Lang,
    options: &[&str],
    host: &str,
    port: u16,
    stdin: &[u8],
    within: Duration,
) -> Output {
    let port = port.to_string();
    let mut args = options.to_vec();
    args.extend([host, &port]);
    run_program_within(lang, "client", &args, stdin, within)
}

/// A client process still running, for tests that need it alive.
pub struct RunningClient {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    stdout: Option<Collector>,
    stderr: Option<Collector>,
}

impl RunningClient {
    pub fn start(lang: Lang, options: &[&str], port: u16) -> RunningClient {
        RunningClient::start_at(lang, options, "127.0.0.1", port)
    }

    /// As `start`, against `host`.
    pub fn start_at(lang: Lang, options: &[&str], host: &str, port: u16) -> RunningClient {
        let mut child = Command::new(bin(lang, "client"))
            .args(options)
            .args([host, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client");
        let stdout = Some(Collector::new(child.stdout.take().unwrap()));
        let stderr = Some(Collector::new(child.stderr.take().unwrap()));
        let stdin = child.stdin.take();
        RunningClient { child, stdin, stdout, stderr }
    }

    pub fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(data).expect("write to client stdin");
        stdin.flush().unwrap();
    }

    /// Waits until the client's stdout contains `needle`.
    pub fn wait_for_stdout(&self, needle: &str) {
        let start = Instant::now();
        while !self.stdout_text().contains(needle) {
            assert!(
                start.elapsed() < DEADLINE,
                "client never printed {needle:?}; stdout: {}",
                self.stdout_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stdout_text(&self) -> String {
        self.stdout.as_ref().map(Collector::text).unwrap_or_default()
    }

    /// Closes stdin (EOF) if still open and waits for the client to end.
    pub fn finish(mut self) -> Output {
        drop(self.stdin.take());
        self.wait_exit()
    }

    /// Waits for the client to end by itself, stdin left as it is.
    pub fn wait_exit(mut self) -> Output {
        let status = wait_bounded(&mut self.child, DEADLINE);
        let stdout = self.stdout.take().map(Collector::finish).unwrap_or_default();
        let stderr = self.stderr.take().map(Collector::finish).unwrap_or_default();
        Output { status, stdout, stderr }
    }
}

impl Drop for RunningClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
