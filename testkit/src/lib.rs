//! The tests' shared helpers: they start and stop the real binaries (C and
//! Rust), built by `make` into `build/c/` and `build/rust/`, and look at
//! what they print, send and hold.
//!
//! Servers always run with `-p 0` (on `-b 127.0.0.1` unless a test binds
//! `::1` or `::`): the kernel picks a free port and the `listening` line says
//! which, so tests never collide on a fixed port. Every process is ended by
//! its PID, and every wait is bounded.
//!
//! The test files say `mod common; use common::*;` and tests/common/mod.rs
//! re-exports this crate whole, so a suite names a helper without its module.
//!
//! - [`process`]: the languages, the binaries, running a command to its end;
//! - [`server`] and [`client`]: a server or client running, and which
//!   servers and pairings a suite runs (programs.txt decides);
//! - [`relay`]: a recording relay between a client and a server;
//! - [`procfs`]: what a process holds, from `/proc`;
//! - [`skips`]: a check that cannot run here, recorded (and failed under CI);
//! - [`escaping`]: the SPEC's escaping, written from its text;
//! - [`wait`]: deadlines, polling, the lock heavy tests take;
//! - [`text`]: ports replaced, diffs, long lines wrapped.

pub mod client;
pub mod escaping;
pub mod process;
pub mod procfs;
pub mod relay;
pub mod server;
pub mod skips;
pub mod text;
pub mod wait;

pub use client::*;
pub use escaping::*;
pub use process::*;
pub use procfs::*;
pub use relay::*;
pub use server::*;
pub use skips::*;
pub use text::*;
pub use wait::*;
