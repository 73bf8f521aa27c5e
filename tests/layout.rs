//! The architecture as a test (issue 12): which of the app's modules import which, read from
//! the source text, and whether any of them import each other in a circle.
//!
//! A module's imports are every `crate::…`, `super::…` and `self::…` path in its file (use-trees
//! read whole, groups nested at any depth) outside comments, strings and `#[cfg(test)]`
//! modules, resolved to the longest known module path (so `crate::db::jobs::claim` is an
//! import of `db/jobs.rs`). A `mod.rs` naming its own children is not counted: a parent
//! re-exporting its children is how a folder shows its face. `cargo test --test layout -- --nocapture` prints the circles.

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

/// The code of a file without its comments, string literals and `#[cfg(test)]` modules
/// (wherever they are in the file).
fn code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            // A string literal (raw strings here hold no quote followed by a path).
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A char literal such as '"' or '{'.
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    // Cut every test module: `#[cfg(test)]` then `mod name {` to its matching brace.
    let mut code = out;
    while let Some(at) = code.find("#[cfg(test)]") {
        let rest = &code[at..];
        let Some(open) = rest.find('{') else { break };
        let is_mod = rest[..open].contains("mod ");
        let mut end = at + "#[cfg(test)]".len();
        if is_mod {
            let mut depth = 0;
            for (k, ch) in rest.char_indices().skip(open) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = at + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        code.replace_range(at..end, "");
    }
    code
}

/// Every path a use-tree names after `crate::`, `super::` (any number) or `self::`, made
/// absolute from `module`: `crate::{a::{b, c}, d}` → `a::b`, `a::c`, `d`.
fn imported_paths(code: &str, module: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let word_at = |i: usize, w: &str| {
        w.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_'))
    };
    let mut i = 0;
    while i < chars.len() {
        let base = if word_at(i, "crate::") {
            i += "crate::".len();
            Some(String::new())
        } else if word_at(i, "super::") {
            let mut base = module.to_string();
            while word_at(i, "super::") {
                i += "super::".len();
                base = parent(&base);
            }
            Some(base)
        } else if word_at(i, "self::") && (i < 5 || !chars[..i].ends_with(&[':', ':'])) {
            i += "self::".len();
            Some(module.to_string())
        } else {
            None
        };
        match base {
            Some(base) => i = tree(&chars, i, &base, &mut out),
            None => i += 1,
        }
    }
    out
}

/// Reads one use-tree at `i` under `prefix`, pushing each full path; returns where it ended.
fn tree(chars: &[char], mut i: usize, prefix: &str, out: &mut Vec<String>) -> usize {
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else if b.is_empty() {
            a.to_string()
        } else {
            format!("{a}::{b}")
        }
    };
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let mut path = prefix.to_string();
    loop {
        skip_space(&mut i);
        if chars.get(i) == Some(&'{') {
            i += 1;
            loop {
                skip_space(&mut i);
                if chars.get(i) == Some(&'}') {
                    return i + 1;
                }
                i = tree(chars, i, &path, out);
                skip_space(&mut i);
                match chars.get(i) {
                    Some(',') => i += 1,
                    Some('}') => return i + 1,
                    _ => return i,
                }
            }
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if !word.is_empty() && word != "self" {
            path = join(&path, &word);
        }
        skip_space(&mut i);
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            continue;
        }
        if !path.is_empty() {
            out.push(path);
        }
        return i;
    }
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
    let text = "use crate::db::{self, jobs::claim};\nuse super::respond::finish;\nlet x = crate::domain::Money::ZERO;";
    let paths = imported_paths(text, "web::checkout");
    assert_eq!(
        paths,
        vec![
            "db",
            "db::jobs::claim",
            "web::respond::finish",
            "domain::Money::ZERO"
        ]
    );
    // Nested groups, chains of `super`, `self::`, and a use that follows a test module.
    let stripped = code(
        "use crate::{stores::{lifecycle, webhooks::receive}, orders::sync};\n\
         #[cfg(test)]\nmod tests { use crate::web; fn f() { let s = \"}\"; } }\n\
         fn g() { super::super::db::x(); self::inner::y(); let u = \"https://crate::z\"; }",
    );
    assert_eq!(
        imported_paths(&stripped, "orders::sync::inner"),
        vec![
            "stores::lifecycle",
            "stores::webhooks::receive",
            "orders::sync",
            "orders::db::x",
            "orders::sync::inner::inner::y"
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
    let g = graph();
    let found = circles(&g);
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
