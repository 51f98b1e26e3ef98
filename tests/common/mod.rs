//! The shared helpers are the crate testkit/ (a dev-dependency): a library,
//! compiled once, whose public items are not dead code in a suite that uses
//! only some of them. `mod common; use common::*;` in a test file names them
//! all; see testkit/src/lib.rs for what each module holds.

pub use testkit::*;
