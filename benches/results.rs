//! Results for `BENCHMARKS.md`: each benchmark that is not a criterion one
//! (the end-to-end runs, which start real processes and brokers) describes
//! its figures as [`Table`]s of [`Row`]s, one sample per run. `cargo xtask
//! bench` sets `GANGLION_BENCH_RESULTS` to a folder, each table is written
//! there as `<id>.json`, and the xtask turns them into the Markdown tables
//! (median, min–max, ratio against the baseline of the same run, goal).
//! Run by hand, a benchmark prints its tables and writes nothing.

use serde::Serialize;
use std::path::PathBuf;

/// The environment variable that names the results folder.
pub const RESULTS_ENV: &str = "GANGLION_BENCH_RESULTS";

/// A bound that a figure (or its ratio) should meet.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// The figure should be at least this.
    AtLeast(f64),
    /// The figure should be at most this.
    AtMost(f64),
}

/// One figure: a sample per run, in `unit`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured, as the table shows it.
    pub case: String,
    /// The unit of the samples (`msg/s`, `µs`, `MB`, `ms`, …).
    pub unit: String,
    /// One value per run; run `i` of every row in a table is the same run.
    pub samples: Vec<f64>,
    /// The `case` of the row this one is compared with, run by run.
    pub baseline: Option<String>,
    /// The goal for the figure itself.
    pub goal: Option<Goal>,
    /// The goal for the ratio against the baseline.
    pub ratio_goal: Option<Goal>,
}

impl Row {
    /// A row with no baseline and no goal.
    pub fn new(case: impl Into<String>, unit: impl Into<String>, samples: Vec<f64>) -> Row {
        Row {
            case: case.into(),
            unit: unit.into(),
            samples,
            baseline: None,
            goal: None,
            ratio_goal: None,
        }
    }

    /// Compares this row with `case`, run by run, against an optional goal for
    /// the ratio.
    pub fn against(mut self, case: impl Into<String>, ratio_goal: Option<Goal>) -> Row {
        self.baseline = Some(case.into());
        self.ratio_goal = ratio_goal;
        self
    }

    /// Sets the goal for the figure itself.
    pub fn goal(mut self, goal: Goal) -> Row {
        self.goal = Some(goal);
        self
    }
}

/// A table of `BENCHMARKS.md`.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// The table's id: the file name, and its place in the report.
    pub id: String,
    /// The rows, in order.
    pub rows: Vec<Row>,
    /// Facts about the run that the table's reader needs (message counts,
    /// rates, sizes), one line each.
    pub notes: Vec<String>,
}

impl Table {
    /// Prints the table, and writes it into the results folder when
    /// `cargo xtask bench` named one.
    pub fn publish(&self) -> std::io::Result<()> {
        println!("\n{}:", self.id);
        for row in &self.rows {
            let samples: Vec<String> = row.samples.iter().map(|s| format!("{s:.3}")).collect();
            println!("  {} [{}]: {}", row.case, row.unit, samples.join(", "));
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
        if let Some(dir) = std::env::var_os(RESULTS_ENV).map(PathBuf::from) {
            std::fs::create_dir_all(&dir)?;
            let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
            std::fs::write(dir.join(format!("{}.json", self.id)), json)?;
        }
        Ok(())
    }
}
