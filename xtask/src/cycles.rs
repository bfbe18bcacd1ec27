//! `cargo xtask cycles`: the import graph between the host library's
//! top-level modules (`host/src/<module>.rs` or `host/src/<module>/`), read
//! from the `crate::<module>` paths in their code (test code left out), and
//! the cycles in it. A cycle means two modules cannot be read, changed or
//! tested apart; the README's layering (`protocol`, `message` and the domain
//! types at the bottom, `gateway` at the top) has none.
//!
//! The cycles that remain are listed in [`KNOWN`], each with why it is still
//! there: `cargo xtask test` fails on any other, and on a known one that is
//! gone (so that the list only shrinks).

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The cycles still in the code, each as the sorted set of its modules.
/// There are none; a cycle that cannot be undone at once goes here, with why.
const KNOWN: &[&[&str]] = &[];

/// A module's imports: each imported module, with one place that imports it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// Prints the cycles; fails on one that [`KNOWN`] does not list, or on a
/// known one that is gone.
pub fn cycles(root: &Path) -> Result<()> {
    let src = root.join("host").join("src");
    let graph = graph(&src)?;
    let found = strongly_connected(&graph);
    let known: BTreeSet<Vec<String>> = KNOWN
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let mut new = Vec::new();
    for cycle in &found {
        let edges: Vec<String> = cycle
            .iter()
            .flat_map(|from| {
                graph[from]
                    .iter()
                    .filter(|(to, _)| cycle.contains(*to))
                    .map(move |(to, at)| format!("  {from} -> {to} ({at})"))
            })
            .collect();
        let listed = known.contains(cycle);
        println!(
            "cycle{}: {}\n{}",
            if listed { " (known)" } else { "" },
            cycle.join(", "),
            edges.join("\n")
        );
        if !listed {
            new.push(cycle.join(", "));
        }
    }
    let gone: Vec<String> = known
        .iter()
        .filter(|c| !found.contains(*c))
        .map(|c| c.join(", "))
        .collect();
    if !new.is_empty() {
        bail!(
            "import cycles between the host's modules: {}",
            new.join("; ")
        );
    }
    if !gone.is_empty() {
        bail!(
            "known cycles no longer there (take them out of xtask/src/cycles.rs KNOWN): {}",
            gone.join("; ")
        );
    }
    println!(
        "{} modules in host/src, {} known cycles, no new one",
        graph.len(),
        found.len()
    );
    Ok(())
}

/// The import graph of the top-level modules under `src`.
fn graph(src: &Path) -> Result<Graph> {
    let mut graph = Graph::new();
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let path = entry?.path();
        let name = match path.file_stem().and_then(|s| s.to_str()) {
            Some(name) if path.is_dir() && name != "bin" => name.to_string(),
            Some(name) if path.extension().is_some_and(|e| e == "rs") && name != "lib" => {
                name.to_string()
            }
            _ => continue,
        };
        let imports = graph.entry(name.clone()).or_default();
        for file in rust_files(&path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let shown = file
                .strip_prefix(src)
                .unwrap_or(&file)
                .display()
                .to_string();
            for (line, target) in imported(&text) {
                if target != name {
                    imports
                        .entry(target)
                        .or_insert_with(|| format!("{shown}:{line}"));
                }
            }
        }
    }
    Ok(graph)
}

/// `path` if it is a file, else every `.rs` file below it, less test files
/// (`tests.rs`, and files under a `tests/` folder).
fn rust_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let p = entry?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.is_dir() && name != "tests" {
            files.extend(rust_files(&p)?);
        } else if p.extension().is_some_and(|e| e == "rs") && name != "tests.rs" {
            files.push(p);
        }
    }
    Ok(files)
}

/// The top-level modules `text` names through `crate::`, with their line;
/// comments and test code left out (a `#[cfg(test)] mod x;` line is skipped,
/// and reading stops at a `#[cfg(test)]` module written out in the file). A
/// `use crate::{...}` group may run over several lines.
fn imported(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let code = lines[i].trim_start();
        if code.starts_with("#[cfg(test)]") {
            match lines.get(i + 1).map(|l| l.trim()) {
                Some(next) if next.starts_with("mod ") && next.ends_with(';') => {
                    i += 2;
                    continue;
                }
                _ => break,
            }
        }
        let line = i + 1;
        let mut code = code.to_string();
        // A group opened on this line: take the lines up to its end.
        while code.contains("crate::{") && code.matches('{').count() > code.matches('}').count() {
            i += 1;
            match lines.get(i) {
                Some(more) => code.push_str(more.trim()),
                None => break,
            }
        }
        i += 1;
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                found.extend(group_heads(group).into_iter().map(|m| (line, m)));
            } else {
                let head: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    found.push((line, head));
                }
            }
        }
    }
    found
}

/// The first path segment of each item in a `{a, b::c, d::{e}}` group (the
/// text after its `{`), as far as it goes on the line.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    let mut head = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if !head.is_empty() {
                    heads.push(std::mem::take(&mut head));
                }
                item_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 0 && item_start {
            if c.is_alphanumeric() || c == '_' {
                head.push(c);
                continue;
            }
            if !head.is_empty() {
                heads.push(std::mem::take(&mut head));
                item_start = false;
            }
        }
    }
    if !head.is_empty() {
        heads.push(head);
    }
    heads
}

/// The groups of two or more modules that import each other, directly or
/// not, each sorted.
fn strongly_connected(graph: &Graph) -> BTreeSet<Vec<String>> {
    let reach: BTreeMap<&str, BTreeSet<&str>> = graph
        .keys()
        .map(|start| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start.as_str()];
            while let Some(m) = todo.pop() {
                for next in graph.get(m).into_iter().flat_map(|e| e.keys()) {
                    if seen.insert(next.as_str()) {
                        todo.push(next.as_str());
                    }
                }
            }
            (start.as_str(), seen)
        })
        .collect();
    graph
        .keys()
        .map(|a| {
            let mut group: Vec<String> = graph
                .keys()
                .filter(|b| {
                    a == *b
                        || (reach[a.as_str()].contains(b.as_str())
                            && reach[b.as_str()].contains(a.as_str()))
                })
                .cloned()
                .collect();
            group.sort();
            group
        })
        .filter(|g| g.len() > 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_read_from_paths_and_groups() {
        let text = "#[cfg(test)]\nmod tests;\n\
                    use crate::router::{Envelope, Producer};\n\
                    use crate::{message, runtime::Limits};\n\
                    use crate::{\n    store::Store,\n    uplink,\n};\n\
                    // use crate::agent;\n\
                    fn f() { crate::metrics::bump(); }\n\
                    #[cfg(test)]\nmod more_tests { use crate::gateway; }\n";
        let heads: Vec<String> = imported(text).into_iter().map(|(_, m)| m).collect();
        assert_eq!(
            heads,
            ["router", "message", "runtime", "store", "uplink", "metrics"]
        );
    }

    #[test]
    fn cycles_are_found_through_other_modules() {
        let mut graph = Graph::new();
        for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "a")] {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string(), String::new());
            graph.entry(to.to_string()).or_default();
        }
        let found = strongly_connected(&graph);
        assert_eq!(found.into_iter().collect::<Vec<_>>(), [vec!["a", "b", "c"]]);
    }
}
