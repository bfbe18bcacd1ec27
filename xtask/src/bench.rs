//! `cargo xtask bench [NAME ...]`: builds the modules, the `ganglion` binary
//! and the benchmarks once (release profile), runs every benchmark in
//! `benches/` (criterion micro-benchmarks, and end-to-end ones that start
//! mosquitto and `ganglion run` as real processes), and rewrites
//! `BENCHMARKS.md` from `benches/report.md` with the figures of this run and
//! the machine they ran on. Naming benchmarks runs only those and prints
//! their tables without touching `BENCHMARKS.md`; `--report` writes the
//! report again from the last full run (after an edit of the template).

use crate::report;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The benchmarks, in the order they run (`[[bench]]` names in
/// `benches/Cargo.toml`).
const BENCHES: &[&str] = &[
    "hop",
    "conditions",
    "pipeline",
    "mqtt",
    "footprint",
    "durability",
    "lifecycle",
    "inference",
];

/// Runs the benchmarks and writes the report; `--report` only writes the
/// report again from the last full run's results (after an edit of the
/// template).
pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let target = root.join("target");
    let results = target.join("bench-results");
    let criterion = target.join("criterion");
    if args.iter().any(|a| a == "--report") {
        let run: BTreeMap<String, String> = serde_json::from_slice(
            &std::fs::read(target.join(RUN_FILE))
                .context("no full run to report on: run `cargo xtask bench` first")?,
        )?;
        return write_report(root, &results, &criterion, &run);
    }
    let chosen: Vec<&str> = if args.is_empty() {
        BENCHES.to_vec()
    } else {
        for a in args {
            if !BENCHES.contains(&a.as_str()) {
                bail!("no benchmark `{a}`; there are: {}", BENCHES.join(", "));
            }
        }
        args.iter().map(String::as_str).collect()
    };
    let started = Instant::now();
    let load_before = load_average();
    crate::ensure_wasm_target()?;
    crate::ensure_mosquitto()?;
    build(root)?;
    let built = started.elapsed();
    for dir in [&results, &criterion] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    let mut timings = Vec::new();
    for name in &chosen {
        let t = Instant::now();
        crate::run(
            crate::cargo()
                .current_dir(root)
                .arg("bench")
                .args(PACKAGES)
                .args(["--bench", name])
                .env("GANGLION_BENCH_RESULTS", &results)
                .env("GANGLION_BIN", target.join("release").join("ganglion")),
        )?;
        timings.push((name.to_string(), t.elapsed().as_secs_f64()));
    }
    if chosen.len() < BENCHES.len() {
        let tables = report::collect(&results, &criterion)?;
        let mut goals = Vec::new();
        for table in tables.values() {
            println!(
                "\n### {}\n\n{}",
                table.id(),
                report::render(table, &mut goals)?
            );
        }
        return Ok(());
    }
    let mut run = BTreeMap::new();
    run.insert("machine".to_string(), machine(root, &load_before)?);
    run.insert("binary".to_string(), binary_sizes(&target)?);
    run.insert(
        "timings".to_string(),
        timing_lines(built.as_secs_f64(), &timings, started),
    );
    std::fs::write(target.join(RUN_FILE), serde_json::to_vec_pretty(&run)?)?;
    write_report(root, &results, &criterion, &run)
}

/// Builds the guest modules beside `ganglion` and the benchmarks: the two
/// builds share nothing, and each ends in a long single-threaded step
/// (fan-health's link-time optimisation, the host crate and its links), so
/// side by side they keep both cores busy. `ganglion` and the benchmarks are
/// one cargo invocation, so that cargo resolves one feature set and builds
/// the host library once for both; `cargo bench` then finds them built (its
/// `bench` profile is `release`). `--bench '*'`, not `--benches`: the latter
/// also builds the host library as a benchmark.
fn build(root: &Path) -> Result<()> {
    let guests = {
        let root = root.to_path_buf();
        std::thread::spawn(move || crate::build_modules(&root))
    };
    let host = crate::run(
        crate::cargo()
            .current_dir(root)
            .args(["build", "--release"])
            .args(PACKAGES)
            .args(["--bin", "ganglion", "--bench", "*"]),
    );
    let guests = guests
        .join()
        .map_err(|_| anyhow::anyhow!("the guest build's thread panicked"))?;
    guests.and(host)
}

/// The packages every build and run of this command selects. Cargo resolves features over the selected packages, and when it
/// builds a benchmark it adds the dev-dependencies of every selected package:
/// the build of `ganglion` (from `ganglion-host`) and the runs must select
/// the same two, or each run resolves other features and builds everything
/// again.
const PACKAGES: [&str; 4] = ["-p", "ganglion-host", "-p", "ganglion-benches"];

/// Where a full run keeps the machine, the binary's size and the timings
/// (under `target/`, beside the results folder).
const RUN_FILE: &str = "bench-run.json";

/// Fills `benches/report.md` into `BENCHMARKS.md`, and lists the goals.
fn write_report(
    root: &Path,
    results: &Path,
    criterion: &Path,
    run: &BTreeMap<String, String>,
) -> Result<()> {
    let tables = report::collect(results, criterion)?;
    let mut values: BTreeMap<&str, String> =
        run.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    values.insert("sizes", sizes(root));
    let template = std::fs::read_to_string(root.join("benches").join("report.md"))
        .context("reading benches/report.md")?;
    let (text, goals) = report::fill(&template, &tables, &values)?;
    std::fs::write(root.join("BENCHMARKS.md"), text).context("writing BENCHMARKS.md")?;
    println!("\nBENCHMARKS.md rewritten. Goals:");
    for g in goals {
        println!("  {g}");
    }
    Ok(())
}

/// The table `cargo xtask sizes` wrote last, or what to run for it (it
/// builds three more release binaries, so a benchmark run does not).
fn sizes(root: &Path) -> String {
    let path = root.join("target").join(crate::cross::SIZES_FILE);
    std::fs::read_to_string(path).unwrap_or_else(|_| {
        "_Not measured here: `cargo xtask sizes` builds the four binaries and measures them._\n"
            .to_string()
    })
}

fn timing_lines(built: f64, timings: &[(String, f64)], started: Instant) -> String {
    let mut out = format!("- building the modules, `ganglion` and the benchmarks: {built:.0} s\n");
    for (name, secs) in timings {
        out.push_str(&format!("- `{name}`: {secs:.0} s\n"));
    }
    out.push_str(&format!(
        "- in all: {:.1} min\n",
        started.elapsed().as_secs_f64() / 60.0
    ));
    out
}

/// The `ganglion` binary's size as built and stripped.
fn binary_sizes(target: &Path) -> Result<String> {
    let built = target.join("release").join("ganglion");
    let stripped = target.join("bench-results").join("ganglion.stripped");
    crate::run(
        std::process::Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&built),
    )?;
    let mb = |p: &Path| -> Result<f64> {
        Ok(std::fs::metadata(p)
            .with_context(|| p.display().to_string())?
            .len() as f64
            / 1e6)
    };
    Ok(format!(
        "| `ganglion` ({}, release, with cranelift) | as built | stripped |\n|---|---|---|\n| size | {:.1} MB | {:.1} MB |\n",
        std::env::consts::ARCH,
        mb(&built)?,
        mb(&stripped)?
    ))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The machine and the build, as the report's header lists them.
fn machine(root: &Path, load_before: &str) -> Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(f64::NAN);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = output(std::process::Command::new("rustc").arg("--version"))
        .unwrap_or_else(|_| "rustc (unknown)".to_string());
    let commit = output(
        std::process::Command::new("git")
            .current_dir(root)
            .args(["describe", "--always", "--dirty"]),
    )
    .unwrap_or_else(|_| "unknown".to_string());
    let date = output(std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .unwrap_or_else(|_| "unknown".to_string());
    Ok(format!(
        "- {cores} cores, {model}, {mem_gib:.1} GiB of memory, {arch}\n\
         - {rustc}, release profile, commit {commit}\n\
         - run on {date}; load average {load_before} at the start, {} at the end\n",
        load_average(),
        arch = std::env::consts::ARCH,
    ))
}

/// What `cmd` printed, trimmed; an error unless it succeeded.
pub(crate) fn output(cmd: &mut std::process::Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
