//! The layering of `src/`, written once, as data, and checked: every path a file names
//! (`use crate::…`, `use super::…`, an inline `crate::a::b::f(…)`, the binary's `balmix::…`) is
//! resolved to the file that defines the item — following `pub use` re-exports through a
//! `mod.rs` to the file behind them — and
//!
//! - a file may import only files of its own layer or of a layer below (`LAYERS`, low to high);
//! - no two files may import each other, directly or around a longer loop (a file cycle).
//!
//! How to read the order, low to high:
//!
//! - **leaves** — small shared facts every layer may use: atomic writes, digests, the interrupt
//!   flag, terminal lines, the named random streams, the dataset manifest and the media
//!   vocabulary it names (`media/vocabulary.rs`).
//! - **media** — decoders and front-ends of raw audio and frames; knows no dataset.
//! - **data** — datasets, splits, corruptions and the loaders built on media.
//! - **mixup** — arithmetic on rows: pairing, λ, mixing, contributions. No tensors, no model.
//! - **model** — encoders, fusion, heads and their parameters; uses mixup's row maths.
//! - **optim** — the optimiser's settings, update rules and learning-rate schedule, over the
//!   model's parameters (below the methods, so a method may own optimisers of its own).
//! - **method** — the balancing methods and mixers behind the step seam, over the model.
//! - **recipe** — composes the concerns' settings, layers the sources, validates.
//! - **record** — a run's folder: identity, lock, metrics, summaries, checkpoints' files.
//! - **train** — the runtime: the loop, checkpoints, evaluation; writes through record.
//! - **report** — tables and plots read back from records.
//! - **table** — runs a table file's recipes over seeds and reports them.
//! - **cli** — the commands.
//!
//! Each concern owns its settings (`data/config.rs`, `mixup/config.rs`, `model/config.rs`,
//! `optim/config.rs`, `method/config.rs`); `recipe/` composes them, so no concern imports `recipe/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, low to high: a file belongs to the layer of the longest prefix (a path under
/// `src/`) that matches it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "atomic_file.rs",
            "build_info.rs",
            "digest.rs",
            "epoch_window.rs",
            "interrupt.rs",
            "kind_keys.rs",
            "kind_name.rs",
            "kmeans.rs",
            "term.rs",
            "rng.rs",
            "config_problem.rs",
            "manifest.rs",
            "media/vocabulary.rs",
        ],
    ),
    ("media", &["media/"]),
    ("data", &["data/"]),
    ("mixup", &["mixup/"]),
    ("model", &["model/"]),
    ("optim", &["optim/"]),
    ("method", &["method/"]),
    ("recipe", &["recipe/"]),
    ("record", &["record/"]),
    ("train", &["train/"]),
    ("report", &["report/"]),
    ("table", &["table/"]),
    ("cli", &["cli/", "lib.rs", "main.rs"]),
];

/// One source file: its path under `src/`, its module path and its text without comments.
struct Source {
    path: String,
    module: Vec<String>,
    text: String,
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_string = !in_string;
            }
            if !in_string && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn sources() -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .iter()
        .map(|p| {
            let path = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = path
                .trim_end_matches(".rs")
                .split('/')
                .map(String::from)
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            // The binary's command modules live under `crate::balmix_cli` (main.rs); they name
            // the library as `balmix::`. Keep them apart from the library's module tree.
            if module.first().is_some_and(|m| m == "cli") || path == "main.rs" {
                module.insert(0, "<bin>".into());
            }
            let text = strip_comments(&std::fs::read_to_string(p).unwrap());
            Source { path, module, text }
        })
        .collect()
}

/// The paths a use tree names, flattened: `a::{b, c::{d as e}}` gives `a::b`, `a::c::d`.
/// Returns `(path, name it is visible under)`; a glob gives the name `*`.
fn flatten_use(tree: &str) -> Vec<(Vec<String>, String)> {
    fn split_top(s: &str) -> Vec<&str> {
        let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&s[start..]);
        parts
    }
    fn go(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(open) = tree.find('{') {
            let head: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap()];
            let mut p = prefix.to_vec();
            p.extend(head);
            for part in split_top(inner) {
                go(&p, part, out);
            }
            return;
        }
        let (path, alias) = match tree.split_once(" as ") {
            Some((p, a)) => (p.trim(), Some(a.trim().to_string())),
            None => (tree, None),
        };
        let mut p = prefix.to_vec();
        p.extend(path.split("::").map(|s| s.trim().to_string()));
        if p.last().is_some_and(|s| s == "self") {
            p.pop();
        }
        let name = alias.unwrap_or_else(|| p.last().cloned().unwrap_or_default());
        out.push((p, name));
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

/// Every `use` declaration of a file: `(is pub, path, visible name, byte offset)`.
fn uses(text: &str) -> Vec<(bool, Vec<String>, String, usize)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let offset = text.len() - rest.len() + at;
        let before = &rest[..at];
        let boundary = before
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let lead = before[line_start..].trim();
        let visibility =
            lead.is_empty() || lead == "pub" || (lead.starts_with("pub(") && lead.ends_with(')'));
        let tail = &rest[at + 4..];
        let Some(end) = tail.find(';') else { break };
        let tree = &tail[..end];
        let path_like = tree
            .chars()
            .all(|c| c.is_alphanumeric() || "_:{}, *\n\t".contains(c));
        if boundary && visibility && path_like {
            for (path, name) in flatten_use(tree) {
                out.push((lead.starts_with("pub"), path, name, offset));
            }
        }
        rest = &tail[end..];
    }
    out
}

/// Inline paths such as `crate::record::Identity::new(…)` outside `use` declarations, with
/// their byte offsets.
fn inline_paths(text: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    for root in ["crate::", "super::", "balmix::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(root) {
            let at = from + i;
            from = at + root.len();
            let prev = text[..at].chars().last();
            if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let raw = text[at..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap();
            // `super::plot::{a, b}` is a use tree, read by `uses`.
            if raw.ends_with("::") {
                continue;
            }
            let path: Vec<String> = raw
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push((path, at));
        }
    }
    out
}

/// The inline modules of a file (`mod tests { … }`): `(name, first byte, last byte)`, found by
/// matching braces outside string literals.
fn inline_modules(text: &str) -> Vec<(String, usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("mod ") {
        let at = from + i;
        from = at + 4;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let rest = &text[at + 4..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = rest[name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = at + 4 + name.len() + (rest.len() - name.len() - after.len());
        let (mut depth, mut in_string, mut prev) = (0usize, false, b' ');
        for (j, &b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'"' if prev != b'\\' => in_string = !in_string,
                b'{' if !in_string => depth += 1,
                b'}' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((name.clone(), open, j));
                        break;
                    }
                }
                _ => {}
            }
            prev = b;
        }
    }
    out
}

struct Crate {
    by_module: BTreeMap<Vec<String>, usize>,
    files: Vec<Source>,
    /// Per file: re-exported name → absolute path.
    reexports: Vec<BTreeMap<String, Vec<String>>>,
    /// Per file: modules whose items it re-exports with `pub use m::*`.
    globs: Vec<Vec<Vec<String>>>,
    /// Per file: its inline modules.
    inline: Vec<Vec<(String, usize, usize)>>,
}

impl Crate {
    fn new() -> Crate {
        let files = sources();
        let by_module = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        let inline = files.iter().map(|f| inline_modules(&f.text)).collect();
        let mut c = Crate {
            by_module,
            files,
            reexports: Vec::new(),
            globs: Vec::new(),
            inline,
        };
        for i in 0..c.files.len() {
            let mut map = BTreeMap::new();
            let mut globs = Vec::new();
            for (public, path, name, at) in uses(&c.files[i].text) {
                if !public {
                    continue;
                }
                let Some(abs) = c.absolute(i, &path, at) else {
                    continue;
                };
                if name == "*" {
                    globs.push(abs[..abs.len() - 1].to_vec());
                } else {
                    map.insert(name, abs);
                }
            }
            c.reexports.push(map);
            c.globs.push(globs);
        }
        c
    }

    /// A path as named at byte `at` of file `i`, made absolute; `None` for paths outside the
    /// crate.
    fn absolute(&self, i: usize, path: &[String], at: usize) -> Option<Vec<String>> {
        let f = &self.files[i];
        let is_bin = f.module.first().is_some_and(|m| m == "<bin>");
        // The module a `super::`/`self::` at `at` starts from: the file's, and the inline
        // modules around `at` (a `mod tests { use super::*; }` names the file itself).
        let mut here: Vec<String> = f.module.clone();
        let mut inline: Vec<&(String, usize, usize)> = self.inline[i]
            .iter()
            .filter(|(_, a, b)| *a < at && at < *b)
            .collect();
        inline.sort_by_key(|(_, a, _)| *a);
        here.extend(inline.iter().map(|(n, _, _)| n.clone()));
        let file_module = f.module.clone();
        let first = path.first()?.as_str();
        let mut abs = match first {
            "crate" if is_bin => {
                let mut p = vec!["<bin>".to_string()];
                let rest = &path[1..];
                if rest.first().is_some_and(|s| s == "balmix_cli") {
                    p.push("cli".into());
                    p.extend_from_slice(&rest[1..]);
                } else {
                    p.extend_from_slice(rest);
                }
                return Some(p);
            }
            "crate" | "balmix" => path[1..].to_vec(),
            "super" | "self" => {
                let mut base = here.clone();
                let mut rest = path;
                while let Some(s) = rest.first() {
                    match s.as_str() {
                        "super" => {
                            base.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                base.extend_from_slice(rest);
                base
            }
            // A child module of this file, named without a prefix (`pub use cache::Cache;`).
            name if self
                .by_module
                .contains_key(&[file_module.clone(), vec![name.to_string()]].concat()) =>
            {
                let mut p = file_module.clone();
                p.extend_from_slice(path);
                p
            }
            _ => return None,
        };
        if abs.is_empty() {
            abs.push(String::new());
        }
        Some(abs)
    }

    /// The file that defines what an absolute path names.
    fn resolve(&self, abs: &[String], depth: usize) -> Option<usize> {
        let mut n = abs.len();
        while n > 0 && !self.by_module.contains_key(&abs[..n]) {
            n -= 1;
        }
        let file = *self.by_module.get(&abs[..n])?;
        if depth < 8 {
            if let Some(item) = abs.get(n) {
                if let Some(target) = self.reexports[file].get(item) {
                    let mut t = target.clone();
                    t.extend_from_slice(&abs[n + 1..]);
                    return self.resolve(&t, depth + 1).or(Some(file));
                }
                for g in &self.globs[file] {
                    let defines = |src: &Source| {
                        [
                            "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ",
                            "mod ",
                        ]
                        .iter()
                        .any(|k| src.text.contains(&format!("{k}{item}")))
                    };
                    if let Some(&m) = self.by_module.get(g) {
                        if defines(&self.files[m]) {
                            let mut t = g.clone();
                            t.extend_from_slice(&abs[n..]);
                            return self.resolve(&t, depth + 1).or(Some(m));
                        }
                    }
                }
            }
        }
        Some(file)
    }

    /// Per file, the files it imports (resolved; itself excluded).
    fn edges(&self) -> Vec<BTreeSet<usize>> {
        (0..self.files.len())
            .map(|i| {
                let text = &self.files[i].text;
                let mut paths: Vec<(Vec<String>, usize)> = uses(text)
                    .into_iter()
                    .map(|(_, p, _, at)| (p, at))
                    .collect();
                paths.extend(inline_paths(text));
                paths
                    .iter()
                    .filter_map(|(p, at)| self.absolute(i, p, *at))
                    .filter_map(|abs| self.resolve(&abs, 0))
                    .filter(|&j| j != i)
                    .collect()
            })
            .collect()
    }
}

fn layer_of(path: &str) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for (i, (_, prefixes)) in LAYERS.iter().enumerate() {
        for p in *prefixes {
            let hit = if p.ends_with('/') {
                path.starts_with(p)
            } else {
                path == *p
            };
            if hit && best.is_none_or(|(len, _)| p.len() > len) {
                best = Some((p.len(), i));
            }
        }
    }
    best.unwrap_or_else(|| {
        panic!("src/{path} is in no layer: add it to LAYERS in tests/architecture.rs")
    })
    .1
}

/// Strongly connected components with more than one file (Tarjan's algorithm).
fn file_cycles(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct T<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in t.edges[v].iter() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut c = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on[w] = false;
                c.push(w);
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                c.sort();
                t.out.push(c);
            }
        }
    }
    let n = edges.len();
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on: vec![false; n],
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_file_imports_a_higher_layer() {
    let c = Crate::new();
    let edges = c.edges();
    let mut against = BTreeSet::new();
    for (i, out) in edges.iter().enumerate() {
        for &j in out {
            let (a, b) = (&c.files[i].path, &c.files[j].path);
            if layer_of(b) > layer_of(a) {
                against.insert((a.clone(), b.clone()));
            }
        }
    }
    let new: Vec<String> = against
        .iter()
        .map(|(a, b)| {
            format!(
                "src/{a} ({}) imports src/{b} ({})",
                LAYERS[layer_of(a)].0,
                LAYERS[layer_of(b)].0
            )
        })
        .collect();
    assert!(
        new.is_empty(),
        "imports against the layer order (low to high: {}):\n  {}",
        LAYERS.iter().map(|l| l.0).collect::<Vec<_>>().join(" → "),
        new.join("\n  ")
    );
}

#[test]
fn no_file_cycles() {
    let c = Crate::new();
    let edges = c.edges();
    let c = &c;
    let cycles: Vec<String> = file_cycles(&edges)
        .iter()
        .map(|cycle| {
            let arrows: Vec<String> = cycle
                .iter()
                .flat_map(|&i| {
                    edges[i]
                        .iter()
                        .filter(|j| cycle.contains(j))
                        .map(move |&j| format!("{} → {}", c.files[i].path, c.files[j].path))
                })
                .collect();
            format!(
                "{} ({})",
                cycle
                    .iter()
                    .map(|&i| format!("src/{}", c.files[i].path))
                    .collect::<Vec<_>>()
                    .join(" ⇄ "),
                arrows.join(", ")
            )
        })
        .collect();
    assert!(cycles.is_empty(), "file cycles:\n  {}", cycles.join("\n  "));
}

#[test]
fn every_source_file_is_in_a_layer() {
    for f in sources() {
        layer_of(&f.path);
    }
}

/// The checker itself: a planted cycle and a planted upward import are found, and re-exports
/// are followed to the file that defines the item.
#[test]
fn the_checker_finds_what_it_looks_for() {
    let edges = vec![
        BTreeSet::from([1]),
        BTreeSet::from([2]),
        BTreeSet::from([0]),
        BTreeSet::new(),
    ];
    assert_eq!(file_cycles(&edges), vec![vec![0, 1, 2]]);
    assert_eq!(
        flatten_use("crate::a::{b, c::{d as e, self}, f::*}"),
        vec![
            (
                vec!["crate".into(), "a".into(), "b".into()],
                "b".to_string()
            ),
            (
                vec!["crate".into(), "a".into(), "c".into(), "d".into()],
                "e".to_string()
            ),
            (
                vec!["crate".into(), "a".into(), "c".into()],
                "c".to_string()
            ),
            (
                vec!["crate".into(), "a".into(), "f".into(), "*".into()],
                "*".to_string()
            ),
        ]
    );
    assert_eq!(
        strip_comments("use a; // crate::x\nlet s = \"//\"; // y"),
        "use a; \nlet s = \"//\"; \n"
    );
    let c = Crate::new();
    let file = |p: &str| c.files.iter().position(|f| f.path == p).unwrap();
    let target = |from: &str, path: &str| {
        let p: Vec<String> = path.split("::").map(String::from).collect();
        c.files[c
            .resolve(&c.absolute(file(from), &p, 0).unwrap(), 0)
            .unwrap()]
        .path
        .clone()
    };
    // `data::Cache` is re-exported by data/mod.rs from data/cache.rs.
    assert_eq!(
        target("train/run.rs", "crate::data::Cache"),
        "data/cache.rs"
    );
    assert_eq!(target("data/clips.rs", "super::DataError"), "data/error.rs");
    assert_eq!(layer_of("media/vocabulary.rs"), 0);
    let text = "fn f() {}\nmod tests {\n    use super::*;\n    mod inner { }\n}\n";
    let found: Vec<String> = inline_modules(text)
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert_eq!(found, ["tests", "inner"]);
    assert!(layer_of("train/run.rs") > layer_of("record/files.rs"));
}
