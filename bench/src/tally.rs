//! What went wrong in a run: the counts every report carries, and the first
//! problem in words; and what every report tells the suite.

use serde::{Deserialize, Serialize};

/// Errors (a connection that failed: refused, reset, timed out, closed
/// early), mismatches (an echo that differs from what was sent) and, over
/// UDP, datagrams lost (no echo in time: the protocol allows it, so it is
/// counted, not a failure).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// Fields left out of a JSON file read back are zero or empty.
#[serde(default)]
pub struct Tally {
    pub errors: u64,
    pub mismatches: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost: u64,
    pub first_problem: Option<String>,
}

/// One thing that went wrong, and which kind it is.
#[derive(Debug)]
pub enum Problem {
    Error(String),
    Mismatch(String),
    /// A datagram whose echo did not come back in time.
    Lost(String),
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Tally {
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.mismatches == 0
    }

    pub fn count(&mut self, problem: Problem) {
        let text = match problem {
            Problem::Error(text) => {
                self.errors += 1;
                text
            }
            Problem::Mismatch(text) => {
                self.mismatches += 1;
                text
            }
            Problem::Lost(text) => {
                self.lost += 1;
                text
            }
        };
        self.first_problem.get_or_insert(text);
    }

    pub fn add(&mut self, other: Tally) {
        self.errors += other.errors;
        self.mismatches += other.mismatches;
        self.lost += other.lost;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }

    /// The closing lines of a text report.
    pub fn text(&self) -> String {
        let lost = if self.lost > 0 { format!(", datagrams lost {}", self.lost) } else { String::new() };
        let mut out = format!("errors {}, mismatches {}{lost}\n", self.errors, self.mismatches);
        if let Some(problem) = &self.first_problem {
            out += &format!("first problem: {problem}\n");
        }
        out
    }
}

/// What every run's report tells the suite.
pub trait RunReport {
    fn tally(&self) -> &Tally;

    /// One line for the suite's progress on stderr.
    fn summary(&self) -> String;

    /// The report in words, as `echo-bench` prints it.
    fn text(&self) -> String;

    fn ok(&self) -> bool {
        self.tally().ok()
    }

    /// The first problem of a failed run.
    fn problem(&self) -> Option<&str> {
        self.tally().first_problem.as_deref()
    }
}
