//! The architecture as a test (issue 12): which of the app's modules import which, read from
//! the source text, and whether any of them import each other in a circle.
//!
//! A module's imports are every `crate::…` and `super::…` path in its file outside its
//! `#[cfg(test)]` module, resolved to the longest known module path (so `crate::db::jobs::claim`
//! is an import of `db/jobs.rs`). `cargo test --test layout -- --nocapture` prints the circles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`, `src/lib.rs` → `` (the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its test module and its comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path after `crate::` or `super::`, brace groups expanded one level deep
/// (`crate::{a::b, c}` → `a::b`, `c`). `super::` paths are made absolute from `module`.
fn imported_paths(code: &str, module: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let join = |p: &str| {
                let p = p.trim().trim_end_matches("::");
                if base.is_empty() {
                    p.to_string()
                } else {
                    format!("{base}::{p}")
                }
            };
            let path: String = rest.chars().take_while(|c| ident(*c)).collect();
            match rest[path.len()..].strip_prefix('{') {
                Some(group) => {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let item: String = item.trim().chars().take_while(|c| ident(*c)).collect();
                        if !item.is_empty() {
                            out.push(join(&format!("{path}{item}")));
                        }
                    }
                }
                None if !path.is_empty() => out.push(join(&path)),
                None => {}
            }
        }
    }
    out
}

fn parent(module: &str) -> String {
    match module.rfind("::") {
        Some(i) => module[..i].to_string(),
        None => String::new(),
    }
}

/// The module graph of `src/`: module → the modules it imports (itself and the root left out).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let mut deps = BTreeSet::new();
        for path in imported_paths(&code(&text), module) {
            // The longest prefix that is a module.
            let mut candidate = path.as_str();
            loop {
                if modules.contains_key(candidate) {
                    if candidate != module && !candidate.is_empty() {
                        deps.insert(candidate.to_string());
                    }
                    break;
                }
                match candidate.rfind("::") {
                    Some(i) => candidate = &candidate[..i],
                    None => break,
                }
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn the_reader_finds_imports_of_every_form() {
    let code = "use crate::db::{self, jobs::claim};\nuse super::respond::finish;\nlet x = crate::domain::Money::ZERO;";
    let paths = imported_paths(code, "web::checkout");
    assert_eq!(
        paths,
        vec![
            "db::self",
            "db::jobs::claim",
            "domain::Money::ZERO",
            "web::respond::finish"
        ]
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circles(&g), vec![vec!["a", "b", "c"]]);
}

/// No two modules depend on each other, however indirectly: the layers only point down. A
/// failure prints each circle with the imports that close it.
#[test]
fn no_modules_import_each_other_in_a_circle() {
    let found = circles(&graph());
    let g = graph();
    for c in &found {
        println!("circle of {}: {}", c.len(), c.join(", "));
        for m in c {
            let inside: Vec<_> = g[m].iter().filter(|d| c.contains(d)).collect();
            println!("  {m} → {inside:?}");
        }
    }
    assert!(found.is_empty(), "{} circle(s)", found.len());
}

/// The stand-ins (crate `sequra-bc-sandbox`) share nothing with the app they check: a stand-in
/// that borrows the client's code can agree with it and not with the real service.
#[test]
fn the_stand_ins_import_nothing_of_the_app() {
    let sandbox = Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox");
    let manifest = std::fs::read_to_string(sandbox.join("Cargo.toml")).unwrap();
    assert!(
        !manifest
            .lines()
            .any(|l| l.trim_start().starts_with("sequra-bc ") || l.contains("path = \"..")),
        "sandbox/Cargo.toml depends on the app"
    );
    let mut files = Vec::new();
    rust_files(&sandbox, &mut files);
    assert!(
        files.len() > 10,
        "the stand-ins' sources are read: {}",
        files.len()
    );
    let borrowing: Vec<_> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("sequra_bc::"))
        .collect();
    assert!(borrowing.is_empty(), "{borrowing:?} name the app");
}
