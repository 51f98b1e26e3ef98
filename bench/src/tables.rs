//! The report's tables, in markdown: what `report.rs` and `transports.rs`
//! both print their figures into (a module of its own, so that neither
//! imports the other back).

use crate::results::{Cell, RowResults, Sample};
use crate::stats::median;

/// A markdown table: the first column left-aligned, the others right.
pub fn table(header: &[String], rows: &[Vec<String>]) {
    println!();
    println!("| {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len() - 1));
    for row in rows {
        println!("| {} |", row.join(" | "));
    }
}

/// A table with a row for each target of the rows of one kind.
pub fn per_target(row: &RowResults, header: &[&str], figures: impl Fn(&Cell) -> Vec<String>) {
    let rows: Vec<Vec<String>> = row
        .cells
        .iter()
        .map(|cell| {
            let mut line = vec![cell.target.to_string()];
            match (cell.missing, cell.lesson()) {
                (true, _) => line.extend(header[1..].iter().map(|_| "missing".to_string())),
                // A bounded design's probe: its lesson, then nothing to measure.
                (false, Some(lesson)) => {
                    line.push(lesson);
                    line.extend(header[2..].iter().map(|_| "-".to_string()));
                }
                (false, None) => line.extend(figures(cell)),
            }
            line
        })
        .collect();
    table(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>(), &rows);
}

/// The median of a figure of a cell's runs, with `decimals`, or `-`.
pub fn figure(cell: &Cell, f: impl Fn(&Sample) -> Option<f64>, decimals: usize) -> String {
    median(cell.values(f)).map_or("-".into(), |v| format!("{v:.decimals$}"))
}
