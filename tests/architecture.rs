//! The layout rules of docs/architecture.md, checked on the source so they stay true: no
//! import cycles between files of src/, no verb imports another verb, plan/ never reaches the
//! filesystem, the environment or the clock, and core modules never print.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::repo_root;

/// A source file as a module path (`plan::context::lnd`; `src/a/mod.rs` is module `a`), with
/// its code before any `#[cfg(test)]` (tests may import what they like), comments removed.
struct SourceFile {
    module: Vec<String>,
    code: String,
}

fn source_files() -> BTreeMap<PathBuf, SourceFile> {
    let src = repo_root().join("src");
    let mut files = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().to_path_buf();
            if path.extension().is_none_or(|e| e != "rs") || relative == Path::new("main.rs") {
                continue;
            }
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            let code = code
                .lines()
                .map(|line| match line.find("//") {
                    Some(at) => &line[..at],
                    None => line,
                })
                .collect::<Vec<_>>()
                .join("\n");
            files.insert(relative, SourceFile { module, code });
        }
    }
    files
}

/// Every path the code names through `crate::`, `super::` or `self::`, in `use` statements
/// (groups expanded) and inline (`super::apply::confirm(...)`), except `pub use` re-exports.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut inline = String::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let (public, statement) = if let Some(rest) = trimmed.strip_prefix("use ") {
            (false, rest)
        } else if let Some(rest) = trimmed
            .strip_prefix("pub use ")
            .or_else(|| trimmed.strip_prefix("pub(crate) use "))
            .or_else(|| trimmed.strip_prefix("pub(super) use "))
        {
            (true, rest)
        } else {
            inline.push_str(line);
            inline.push('\n');
            continue;
        };
        // A statement may span lines, up to its `;`.
        let mut statement = statement.to_owned();
        while !statement.contains(';') {
            match lines.next() {
                Some(more) => statement.push_str(more),
                None => break,
            }
        }
        if !public {
            let body = statement.split(';').next().unwrap_or_default();
            expand("", body, &mut paths);
        }
    }
    for prefix in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = inline[from..].find(prefix) {
            let start = from + at;
            let tail: String = inline[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(tail.trim_end_matches(':').to_owned());
            // Past the whole path, so `super::super::x` counts once.
            from = start + tail.len().max(prefix.len());
        }
    }
    paths
        .into_iter()
        .filter(|p| p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::"))
        .collect()
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => {
            let path = tree.split(" as ").next().unwrap_or(tree).trim();
            out.push(format!("{prefix}{path}"));
        }
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            for (index, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&format!("{prefix}{head}"), &inner[start..index], out);
                        start = index + 1;
                    }
                    _ => {}
                }
            }
            if !inner[start..].trim().is_empty() {
                expand(&format!("{prefix}{head}"), &inner[start..], out);
            }
        }
    }
}

/// The file a path resolves to: the deepest module of it that is a file of src/.
fn resolve(
    from: &SourceFile,
    path: &str,
    modules: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<PathBuf> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"self") => {
            segments.remove(0);
            from.module.clone()
        }
        Some(&"super") => {
            // From a/b.rs (module a::b) and from a/mod.rs (module a) alike, super is one up.
            let mut base = from.module.clone();
            while segments.first() == Some(&"super") {
                segments.remove(0);
                base.pop();
            }
            base
        }
        _ => return None,
    };
    let mut best = modules.get(&base).cloned();
    for segment in segments {
        if segment == "*" || segment == "self" {
            break;
        }
        base.push(segment.to_owned());
        match modules.get(&base) {
            Some(file) => best = Some(file.clone()),
            None => break,
        }
    }
    best
}

/// Which file imports which, from every file of src/ but main.rs.
fn import_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files = source_files();
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|(path, file)| (file.module.clone(), path.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for (path, file) in &files {
        let mut edges = BTreeSet::new();
        for named in named_paths(&file.code) {
            if let Some(target) = resolve(file, &named, &modules)
                && &target != path
                && !target.ends_with("lib.rs")
            {
                edges.insert(target);
            }
        }
        graph.insert(path.clone(), edges);
    }
    graph
}

/// One import cycle, if there is any.
fn find_cycle(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        path: &mut Vec<PathBuf>,
        done: &mut BTreeSet<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// A file's parent module may name its children (it declares them), and a child its parent
/// (`super::Thing` defined in mod.rs): that is one module, not a cycle between files.
fn without_parent_child_edges(
    graph: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let parent_of = |file: &Path| -> Option<PathBuf> {
        let dir = if file.ends_with("mod.rs") {
            file.parent()?.parent()?
        } else {
            file.parent()?
        };
        Some(dir.join("mod.rs"))
    };
    graph
        .into_iter()
        .map(|(file, edges)| {
            let edges = edges
                .into_iter()
                .filter(|target| {
                    parent_of(&file).as_deref() != Some(target.as_path())
                        && parent_of(target).as_deref() != Some(file.as_path())
                })
                .collect();
            (file, edges)
        })
        .collect()
}

#[test]
fn no_file_of_src_imports_a_file_that_imports_it() {
    let graph = without_parent_child_edges(import_graph());
    if let Some(cycle) = find_cycle(&graph) {
        let names: Vec<String> = cycle.iter().map(|p| p.display().to_string()).collect();
        panic!("import cycle: {}", names.join(" → "));
    }
}

#[test]
fn no_verb_imports_another_verb() {
    let graph = import_graph();
    let verb = |file: &Path| -> Option<String> {
        let mut parts = file.components().map(|c| c.as_os_str().to_string_lossy());
        (parts.next()? == "commands").then_some(())?;
        let name = parts.next()?.trim_end_matches(".rs").to_owned();
        (name != "mod").then_some(name)
    };
    let mut crossings = Vec::new();
    for (file, edges) in &graph {
        let Some(from) = verb(file) else { continue };
        for target in edges {
            if let Some(to) = verb(target)
                && to != from
            {
                crossings.push(format!("{} → {}", file.display(), target.display()));
            }
        }
    }
    assert!(
        crossings.is_empty(),
        "verbs importing verbs: {crossings:#?}"
    );
}

#[test]
fn plan_never_reaches_the_filesystem_the_environment_or_the_clock() {
    let mut found = Vec::new();
    for (path, file) in source_files() {
        if !path.starts_with("plan") {
            continue;
        }
        for needle in [
            "std::fs",
            "std::env",
            "SystemTime",
            "Instant::now",
            "OffsetDateTime::now",
        ] {
            if file.code.contains(needle) {
                found.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "plan/ is not pure: {found:#?}");
}

#[test]
fn core_modules_never_print() {
    let mut found = Vec::new();
    for (path, file) in source_files() {
        let edge = path.starts_with("commands")
            || path == Path::new("ui.rs")
            || path == Path::new("lib.rs");
        if edge {
            continue;
        }
        for needle in ["println!", "eprintln!", "print!(", "eprint!("] {
            if file.code.contains(needle) {
                found.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "core modules that print: {found:#?}");
}

/// The checker itself: a sibling cycle and a verb crossing are found; a parent and its child
/// are one module.
#[test]
fn the_checker_finds_what_it_looks_for() {
    let mut paths = Vec::new();
    expand("", "crate::a::{b, c::{d, e as f}}", &mut paths);
    assert_eq!(paths, ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]);
    let named = named_paths("use super::x::Y;\npub use super::z::W;\nfn f() { crate::q::r(); }");
    assert!(named.contains(&"super::x::Y".to_owned()), "{named:?}");
    assert!(
        !named.contains(&"super::z::W".to_owned()),
        "re-exports do not count: {named:?}"
    );
    assert!(named.contains(&"crate::q::r".to_owned()), "{named:?}");
    let graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = [
        ("plan/a.rs", vec!["plan/b.rs"]),
        ("plan/b.rs", vec!["plan/a.rs"]),
        ("plan/mod.rs", vec!["plan/a.rs"]),
    ]
    .into_iter()
    .map(|(from, to)| {
        (
            PathBuf::from(from),
            to.into_iter().map(PathBuf::from).collect(),
        )
    })
    .collect();
    assert!(find_cycle(&without_parent_child_edges(graph)).is_some());
}
