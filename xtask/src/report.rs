//! Turns benchmark results into the Markdown tables of `BENCHMARKS.md`.
//!
//! Two sources feed it: the tables that the end-to-end benchmarks write as
//! JSON (`benches/results.rs` is their format), and criterion's own files
//! (`target/criterion/<group>/<function>/new/sample.json`), which
//! [`CRITERION`] maps to tables. Each figure shows its median and min–max
//! over the runs (a criterion sample is a run of many iterations), its
//! ratio against the baseline of the same run, and whether it meets its goal.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A bound that a figure (or its ratio) should meet.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// At least this.
    AtLeast(f64),
    /// At most this.
    AtMost(f64),
}

impl Goal {
    fn met(self, x: f64) -> bool {
        match self {
            Goal::AtLeast(g) => x >= g,
            Goal::AtMost(g) => x <= g,
        }
    }

    fn describe(self) -> String {
        match self {
            Goal::AtLeast(g) => format!("≥ {}", number(g)),
            Goal::AtMost(g) => format!("≤ {}", number(g)),
        }
    }
}

/// One figure, a sample per run.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    case: String,
    unit: String,
    samples: Vec<f64>,
    baseline: Option<String>,
    goal: Option<Goal>,
    ratio_goal: Option<Goal>,
}

/// A table, as a benchmark wrote it.
#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    id: String,
    rows: Vec<Row>,
    #[serde(default)]
    notes: Vec<String>,
}

impl Table {
    /// The table's id, as the template names it.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A criterion benchmark shown as a row of a report table.
struct CriterionRow {
    group: &'static str,
    function: &'static str,
    /// Shown as messages (or evaluations) per second instead of time per one.
    rate: bool,
    baseline: Option<&'static str>,
    goal: Option<Goal>,
    ratio_goal: Option<Goal>,
}

const fn row(group: &'static str, function: &'static str, rate: bool) -> CriterionRow {
    CriterionRow {
        group,
        function,
        rate,
        baseline: None,
        goal: None,
        ratio_goal: None,
    }
}

/// The criterion benchmarks, by report table.
const CRITERION: &[(&str, &[CriterionRow])] = &[
    (
        "hop",
        &[
            CriterionRow {
                baseline: Some("native temp-filter"),
                ..row("module-hop", "wasm temp-filter", true)
            },
            CriterionRow {
                baseline: Some("wasm temp-filter"),
                ..row("module-hop", "wasm temp-filter, no CPU deadline", true)
            },
            CriterionRow {
                baseline: Some("wasm temp-filter"),
                ..row(
                    "module-hop",
                    "wasm temp-filter, pooled as in a gateway",
                    true,
                )
            },
            CriterionRow {
                baseline: Some("wasm temp-filter"),
                ..row("module-hop", "wasm relay (no body parsing)", true)
            },
            CriterionRow {
                baseline: Some("native temp-filter"),
                ..row("module-hop", "wasm temp-filter, batches of 16", true)
            },
            CriterionRow {
                baseline: Some("native temp-filter"),
                ratio_goal: Some(Goal::AtLeast(0.3)),
                ..row("module-hop", "wasm temp-filter, batches of 64", true)
            },
            CriterionRow {
                baseline: Some("wasm relay (no body parsing)"),
                ..row("module-hop", "wasm relay, batches of 16", true)
            },
            CriterionRow {
                goal: Some(Goal::AtLeast(1_000_000.0)),
                baseline: Some("wasm relay (no body parsing)"),
                ..row("module-hop", "wasm relay, batches of 64", true)
            },
            CriterionRow {
                baseline: Some("wasm relay, batches of 16"),
                ..row(
                    "module-hop",
                    "wasm relay 0.1.0, batches of 16 (a call each)",
                    true,
                )
            },
            CriterionRow {
                baseline: Some("wasm relay, batches of 64"),
                ..row(
                    "module-hop",
                    "wasm relay 0.1.0, batches of 64 (a call each)",
                    true,
                )
            },
            row("module-hop", "native temp-filter", true),
        ],
    ),
    (
        "conditions",
        &[
            row("condition", "property = 'Alert'", false),
            row("condition", "$body.machine.temperature > 25", false),
            row(
                "condition",
                "chart point: read $body.machine.temperature, record it",
                false,
            ),
        ],
    ),
    (
        "inference",
        &[
            CriterionRow {
                baseline: Some("native fan-health code (per message)"),
                ..row(
                    "fan-health inference",
                    "wasm fan-health (per message)",
                    false,
                )
            },
            row(
                "fan-health inference",
                "native fan-health code (per message)",
                false,
            ),
            row("fan-health inference", "native models only", false),
        ],
    ),
];

#[derive(Deserialize)]
struct CriterionId {
    group_id: String,
    function_id: String,
}

#[derive(Deserialize)]
struct CriterionSamples {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// Reads criterion's latest samples under `dir` (`target/criterion`), as
/// nanoseconds per iteration, keyed by (group, function).
fn criterion_samples(dir: &Path) -> Result<BTreeMap<(String, String), Vec<f64>>> {
    let mut found = BTreeMap::new();
    if !dir.exists() {
        return Ok(found);
    }
    for group in std::fs::read_dir(dir)? {
        let group = group?.path();
        if !group.is_dir() {
            continue;
        }
        for function in std::fs::read_dir(&group)? {
            let new = function?.path().join("new");
            let (Ok(id), Ok(samples)) = (
                std::fs::read(new.join("benchmark.json")),
                std::fs::read(new.join("sample.json")),
            ) else {
                continue;
            };
            let id: CriterionId = serde_json::from_slice(&id)
                .with_context(|| format!("{}/benchmark.json", new.display()))?;
            let s: CriterionSamples = serde_json::from_slice(&samples)
                .with_context(|| format!("{}/sample.json", new.display()))?;
            let per_iter = s.times.iter().zip(&s.iters).map(|(t, n)| t / n).collect();
            found.insert((id.group_id, id.function_id), per_iter);
        }
    }
    Ok(found)
}

/// Every table: the ones the benchmarks wrote into `results`, and the
/// criterion ones from `criterion`.
pub fn collect(results: &Path, criterion: &Path) -> Result<BTreeMap<String, Table>> {
    let mut tables = BTreeMap::new();
    if results.exists() {
        for entry in std::fs::read_dir(results)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let table: Table = serde_json::from_slice(&std::fs::read(&path)?)
                    .with_context(|| format!("reading {}", path.display()))?;
                tables.insert(table.id.clone(), table);
            }
        }
    }
    let samples = criterion_samples(criterion)?;
    for (id, rows) in CRITERION {
        let mut table = Table {
            id: id.to_string(),
            rows: Vec::new(),
            notes: vec![
                "A criterion sample is one run of many iterations; ratios are of the medians."
                    .to_string(),
            ],
        };
        for spec in *rows {
            let Some(ns) = samples.get(&(spec.group.to_string(), spec.function.to_string())) else {
                continue;
            };
            let (unit, values) = if spec.rate {
                ("msg/s", ns.iter().map(|t| 1e9 / t).collect())
            } else {
                ("µs", ns.iter().map(|t| t / 1e3).collect())
            };
            table.rows.push(Row {
                case: spec.function.to_string(),
                unit: unit.to_string(),
                samples: values,
                baseline: spec.baseline.map(str::to_string),
                goal: spec.goal,
                ratio_goal: spec.ratio_goal,
            });
        }
        if !table.rows.is_empty() {
            tables.insert(id.to_string(), table);
        }
    }
    Ok(tables)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// A figure with as many digits as it needs.
pub fn number(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "–".to_string()
    } else if a >= 10_000.0 {
        let whole = format!("{:.0}", a);
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// A row against its baseline.
struct Ratio {
    /// The baseline's case.
    base: String,
    /// The ratio of the medians.
    median: f64,
    /// The range of the run-by-run ratios, when both rows have a sample per run.
    paired: Option<(f64, f64)>,
}

/// The ratio of `row` against its baseline, if it names one.
fn ratio(row: &Row, table: &Table) -> Result<Option<Ratio>> {
    let Some(base) = &row.baseline else {
        return Ok(None);
    };
    let Some(b) = table.rows.iter().find(|r| &r.case == base) else {
        bail!(
            "table {}: row `{}` names a baseline `{base}` that is not in it",
            table.id,
            row.case
        );
    };
    let r = median(&row.samples) / median(&b.samples);
    let paired = (row.samples.len() == b.samples.len() && row.samples.len() <= 20).then(|| {
        let pairs: Vec<f64> = row
            .samples
            .iter()
            .zip(&b.samples)
            .map(|(x, y)| x / y)
            .collect();
        min_max(&pairs)
    });
    Ok(Some(Ratio {
        base: base.clone(),
        median: r,
        paired,
    }))
}

/// One table as Markdown, and the goals it meets or misses.
pub fn render(table: &Table, goals: &mut Vec<String>) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "| figure | median | min – max | runs | against the baseline (same run) | goal |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for row in &table.rows {
        let med = median(&row.samples);
        let (lo, hi) = min_max(&row.samples);
        let mut goal_cells = Vec::new();
        if let Some(g) = row.goal {
            let verdict = if g.met(med) { "met" } else { "**missed**" };
            goal_cells.push(format!("{} {}: {verdict}", g.describe(), row.unit));
            goals.push(format!(
                "{} / {}: {} {} (goal {} {}): {verdict}",
                table.id,
                row.case,
                number(med),
                row.unit,
                g.describe(),
                row.unit
            ));
        }
        let ratio_cell = match ratio(row, table)? {
            None => String::new(),
            Some(Ratio {
                base,
                median: r,
                paired: range,
            }) => {
                if let Some(g) = row.ratio_goal {
                    let verdict = if g.met(r) { "met" } else { "**missed**" };
                    goal_cells.push(format!("ratio {}: {verdict}", g.describe()));
                    goals.push(format!(
                        "{} / {} against {base}: {} (goal {}): {verdict}",
                        table.id,
                        row.case,
                        number(r),
                        g.describe()
                    ));
                }
                match range {
                    Some((a, b)) => format!(
                        "**{}** of {base} ({} – {})",
                        number(r),
                        number(a),
                        number(b)
                    ),
                    None => format!("**{}** of {base}", number(r)),
                }
            }
        };
        writeln!(
            out,
            "| {} | {} {} | {} – {} | {} | {} | {} |",
            row.case,
            number(med),
            row.unit,
            number(lo),
            number(hi),
            row.samples.len(),
            ratio_cell,
            goal_cells.join("; ")
        )?;
    }
    for note in &table.notes {
        writeln!(out, "\n{note}")?;
    }
    Ok(out)
}

/// Fills `template`: `{{table:ID}}` becomes that table, and the other
/// `{{NAME}}` placeholders come from `values`. A table or value the template
/// names and the run did not produce is an error.
pub fn fill(
    template: &str,
    tables: &BTreeMap<String, Table>,
    values: &BTreeMap<&str, String>,
) -> Result<(String, Vec<String>)> {
    let mut out = String::new();
    let mut goals = Vec::new();
    let mut rest = template;
    let mut missing = Vec::new();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            bail!("the report template has an unclosed `{{{{`");
        };
        let name = &rest[start + 2..start + len];
        if let Some(id) = name.strip_prefix("table:") {
            match tables.get(id) {
                Some(t) => out.push_str(&render(t, &mut goals)?),
                None => missing.push(format!("table {id}")),
            }
        } else if name != "goals" {
            match values.get(name) {
                Some(v) => out.push_str(v),
                None => missing.push(name.to_string()),
            }
        } else {
            out.push_str("{{goals}}");
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    if !missing.is_empty() {
        bail!("this run produced no {}", missing.join(", "));
    }
    let list: String = goals.iter().map(|g| format!("- {g}\n")).collect();
    Ok((out.replace("{{goals}}", &list), goals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: Vec<Row>) -> Table {
        Table {
            id: "t".into(),
            rows,
            notes: vec!["a note".into()],
        }
    }

    fn row(case: &str, samples: &[f64]) -> Row {
        Row {
            case: case.into(),
            unit: "msg/s".into(),
            samples: samples.to_vec(),
            baseline: None,
            goal: None,
            ratio_goal: None,
        }
    }

    #[test]
    fn numbers_have_the_digits_they_need() {
        assert_eq!(number(1_234_567.8), "1,234,568");
        assert_eq!(number(12_345.0), "12,345");
        assert_eq!(number(345.4), "345");
        assert_eq!(number(34.56), "34.6");
        assert_eq!(number(3.456), "3.46");
        assert_eq!(number(0.3456), "0.346");
        assert_eq!(number(f64::NAN), "–");
    }

    #[test]
    fn a_table_shows_medians_ratios_run_by_run_and_goals() {
        let mut fast = row("fast", &[300.0, 200.0, 100.0]);
        fast.baseline = Some("base".into());
        fast.ratio_goal = Some(Goal::AtLeast(0.7));
        fast.goal = Some(Goal::AtLeast(250.0));
        let t = table(vec![fast, row("base", &[100.0, 400.0, 200.0])]);
        let mut goals = Vec::new();
        let md = render(&t, &mut goals).unwrap();
        assert!(
            md.contains("| fast | 200 msg/s | 100 – 300 | 3 | **1.00** of base (0.500 – 3.00) |"),
            "{md}"
        );
        assert!(
            md.contains("≥ 250 msg/s: **missed**; ratio ≥ 0.700: met"),
            "{md}"
        );
        assert!(md.contains("a note"));
        assert_eq!(goals.len(), 2, "{goals:?}");
    }

    #[test]
    fn a_missing_table_or_baseline_is_an_error() {
        let mut tables = BTreeMap::new();
        let values = BTreeMap::from([("machine", "m".to_string())]);
        let err = fill("{{machine}} {{table:t}}", &tables, &values).unwrap_err();
        assert!(err.to_string().contains("table t"), "{err}");
        let mut orphan = row("r", &[1.0]);
        orphan.baseline = Some("nowhere".into());
        tables.insert("t".into(), table(vec![orphan]));
        let err = fill("{{table:t}}", &tables, &values).unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
        tables.insert("t".into(), table(vec![row("r", &[1.0])]));
        let (text, _) = fill("{{machine}}\n{{table:t}}\n{{goals}}", &tables, &values).unwrap();
        assert!(text.starts_with("m\n| figure |"), "{text}");
    }
}
