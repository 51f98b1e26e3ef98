//! SPEC "Client behaviour" on a real terminal: the client shows its prompt
//! `> ` only when stdin is a terminal, and a message that arrives while the
//! prompt is showing starts on a line of its own: the screen reads
//! `> ` and then, below it, `server closed the connection`, never
//! `> server closed the connection`.
//!
//! The test is the terminal: it opens a pseudo-terminal (openpty), runs the
//! client with the pty's slave side as stdin, stdout and stderr, types on
//! the master side, and reads what the screen would show (with the
//! terminal's usual settings: the typed characters echoed, `\n` written as
//! `\r\n`).

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::pty::openpty;

/// A client running on a pseudo-terminal of its own.
struct Terminal {
    child: Child,
    keyboard: File,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Terminal {
    fn start(lang: Lang, port: u16) -> Terminal {
        let pty = openpty(None, None).expect("openpty");
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup the pty's slave"));
        let child = Command::new(bin(lang, "client"))
            .args(["127.0.0.1", &port.to_string()])
            .stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave))
            .spawn()
            .expect("start the client on the pty");
        // Only the client holds the slave now: when it exits, reading the
        // master ends (EIO).
        drop(pty.slave);
        let master = File::from(pty.master);
        let keyboard = master.try_clone().expect("dup the pty's master");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen);
        let reader = thread::spawn(move || {
            let mut master = master;
            let mut chunk = [0u8; 1024];
            while let Ok(n) = master.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Terminal { child, keyboard, screen, reader: Some(reader) }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen ends with `tail`.
    fn wait_for_screen_end(&self, tail: &str) {
        let start = Instant::now();
        while !self.screen().ends_with(tail) {
            assert!(start.elapsed() < DEADLINE, "the screen never ended in {tail:?}: {:?}", self.screen());
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.keyboard.write_all(keys).expect("type on the pty");
    }

    /// Waits for the client to exit; its exit code and the whole screen.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = wait_bounded(&mut self.child, DEADLINE);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the screen reader");
        }
        (status.code(), self.screen())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SPEC "Client behaviour": the prompt is showing when the server closes
/// the idle connection (`-t 1`): the message starts on a new line.
#[test]
fn terminal_server_closed_message_on_a_line_of_its_own() {
    every_pairing(|client, server, program| {
        let server = Server::start(server, program, &["-t", "1"]);
        let terminal = Terminal::start(client, server.port);
        terminal.wait_for_screen_end("> ");
        let (code, screen) = terminal.finish();
        let who = format!("{client:?} client -> {:?} {program}", server.lang);
        let port = server.port;
        assert_eq!(
            screen,
            format!("connected to 127.0.0.1:{port}\r\n> \r\nserver closed the connection\r\n"),
            "{who}"
        );
        assert_eq!(code, Some(1), "{who}");
    });
}

/// SPEC "Client behaviour": after a line typed and echoed, the prompt shows
/// again, and the server's close still starts a line of its own.
///
/// Timing: the line must be typed and echoed before the idle timeout ends
/// the session; with every pairing at once on a loaded 2-core machine, `-t 3`
/// gives that three times the second it needs at most.
#[test]
fn terminal_prompt_after_an_echo_and_then_the_close() {
    every_pairing(|client, server, program| {
        let server = Server::start(server, program, &["-t", "3"]);
        let mut terminal = Terminal::start(client, server.port);
        terminal.wait_for_screen_end("> ");
        terminal.type_keys("café 👋\n".as_bytes());
        terminal.wait_for_screen_end("echo: café 👋\r\n> ");
        let (code, screen) = terminal.finish();
        let who = format!("{client:?} client -> {:?} {program}", server.lang);
        let port = server.port;
        assert_eq!(
            screen,
            format!(
                "connected to 127.0.0.1:{port}\r\n> café 👋\r\necho: café 👋\r\n> \r\nserver closed the connection\r\n"
            ),
            "{who}"
        );
        assert_eq!(code, Some(1), "{who}");
    });
}

/// SPEC "Client behaviour": `quit` typed at the prompt ends the session
/// with `closing connection` on the line after the typed `quit`, and exit 0;
/// Ctrl-D (end of input) at the prompt does the same, on a new line.
#[test]
fn terminal_quit_and_ctrl_d_at_the_prompt() {
    for (keys, typed) in [(&b"quit\n"[..], "quit\r\n"), (&b"\x04"[..], "\r\n")] {
        every_pairing(|client, server, program| {
            let server = Server::start(server, program, &[]);
            let mut terminal = Terminal::start(client, server.port);
            terminal.wait_for_screen_end("> ");
            terminal.type_keys(keys);
            let (code, screen) = terminal.finish();
            let who = format!("{client:?} client -> {:?} {program}, typing {keys:?}", server.lang);
            let port = server.port;
            assert_eq!(
                screen,
                format!("connected to 127.0.0.1:{port}\r\n> {typed}closing connection\r\n"),
                "{who}"
            );
            assert_eq!(code, Some(0), "{who}");
        });
    }
}

/// SPEC "Client behaviour": Ctrl-D after a partial line (`abc`, Ctrl-D,
/// Ctrl-D) sends `abc` as the last line; the cursor is still on the
/// prompt's line (`> abc`), so its `echo:` starts a line of its own, and
/// `closing connection` follows on the next line, with no blank line.
#[test]
fn terminal_ctrl_d_after_a_partial_line() {
    every_pairing(|client, server, program| {
        let server = Server::start(server, program, &[]);
        let mut terminal = Terminal::start(client, server.port);
        terminal.wait_for_screen_end("> ");
        terminal.type_keys(b"abc\x04");
        terminal.wait_for_screen_end("> abc");
        terminal.type_keys(b"\x04");
        let (code, screen) = terminal.finish();
        let who = format!("{client:?} client -> {:?} {program}, typing abc Ctrl-D Ctrl-D", server.lang);
        let port = server.port;
        assert_eq!(
            screen,
            format!("connected to 127.0.0.1:{port}\r\n> abc\r\necho: abc\r\nclosing connection\r\n"),
            "{who}"
        );
        assert_eq!(code, Some(0), "{who}");
    });
}
