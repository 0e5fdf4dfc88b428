//! The crates' layers hold: no module of a crate imports, through a chain of other modules,
//! a module that imports it back (no import loop), and no source file outside tests and data
//! tables grows past the size one holds in the head.
//!
//! The module graph is read from the sources with `syn`, as `cargo modules dependencies
//! --acyclic` reads it with rust-analyzer: a node per module (a file, or an inline `mod` that is
//! not `#[cfg(test)]`), and an edge from a module to the module that each `crate::`, `super::`
//! or `self::` path it names leads to (the longest path that is a module; items re-exported
//! from another crate lead nowhere). Declaring a child module (`mod x;`) is not an edge; a
//! `pub use x::Item` is. Test modules and `#[cfg(test)]` items are left out: tests may reach
//! anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// The crates whose module graphs must have no loop and whose source files must stay under
/// [`MAX_LINES`] (tests aside).
const CHECKED_CRATES: &[&str] = &[
    "pos-format",
    "pos-core",
    "pos-journal",
    "drivers",
    "pos-daemon",
    "shop-sync",
];
/// About the most lines a source file may have, tests aside.
const MAX_LINES: usize = 800;

type ModPath = Vec<String>;

/// A module: the file that holds it, and its items.
struct Module {
    file: PathBuf,
    items: Vec<syn::Item>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().split_whitespace().any(|t| t == "test"))
    })
}

fn parse(file: &Path) -> syn::File {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every module of the crate whose root file is `root`, by path from the crate root.
fn modules(root: &Path) -> BTreeMap<ModPath, Module> {
    let mut out = BTreeMap::new();
    let dir = root.parent().expect("the root's directory").to_path_buf();
    add_module(&mut out, Vec::new(), root, &dir, parse(root).items);
    out
}

/// Adds the module at `path` (its items from `file`; its children's files under `child_dir`).
fn add_module(
    out: &mut BTreeMap<ModPath, Module>,
    path: ModPath,
    file: &Path,
    child_dir: &Path,
    items: Vec<syn::Item>,
) {
    for item in &items {
        let syn::Item::Mod(m) = item else { continue };
        if is_cfg_test(&m.attrs) {
            continue;
        }
        let name = m.ident.to_string();
        let mut child = path.clone();
        child.push(name.clone());
        match &m.content {
            Some((_, inline)) => {
                add_module(out, child, file, &child_dir.join(&name), inline.clone());
            }
            None => {
                let flat = child_dir.join(format!("{name}.rs"));
                let nested = child_dir.join(&name).join("mod.rs");
                let child_file = if flat.is_file() { flat } else { nested };
                let items = parse(&child_file).items;
                add_module(out, child, &child_file, &child_dir.join(&name), items);
            }
        }
    }
    out.insert(
        path,
        Module {
            file: file.to_path_buf(),
            items,
        },
    );
}

/// Collects the `crate::`, `super::` and `self::` paths a module names, resolved from the root.
struct Paths<'a> {
    here: &'a ModPath,
    found: Vec<ModPath>,
}

impl Paths<'_> {
    fn resolve(&mut self, segments: Vec<String>) {
        let mut out = match segments.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") | Some("self") => self.here.clone(),
            _ => return,
        };
        let mut rest = segments.into_iter().peekable();
        if rest.peek().map(String::as_str) == Some("crate") {
            rest.next();
        }
        for s in rest {
            match s.as_str() {
                "super" => {
                    out.pop();
                }
                "self" => {}
                _ => out.push(s),
            }
        }
        self.found.push(out);
    }
}

fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut full = prefix.clone();
            if n.ident != "self" {
                full.push(n.ident.to_string());
            }
            out.push(full);
        }
        syn::UseTree::Rename(r) => {
            let mut full = prefix.clone();
            full.push(r.ident.to_string());
            out.push(full);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_paths(t, prefix, out)),
    }
}

impl<'ast> Visit<'ast> for Paths<'_> {
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.resolve(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut found = Vec::new();
        use_paths(&u.tree, &mut Vec::new(), &mut found);
        // A `use` in a module that starts from its own parent (`super::x`) or the root: its
        // first segment says so; plain names are of other crates or of this module.
        for f in found {
            self.resolve(f);
        }
    }
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(super)`, `pub(in crate::x)`: who may see an item, not a use of another module.
    }
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Child modules are nodes of their own.
    }
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs = match i {
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(x) => &x.attrs,
            syn::Item::Struct(x) => &x.attrs,
            syn::Item::Enum(x) => &x.attrs,
            syn::Item::Const(x) => &x.attrs,
            syn::Item::Use(x) => &x.attrs,
            syn::Item::Static(x) => &x.attrs,
            syn::Item::Trait(x) => &x.attrs,
            syn::Item::Type(x) => &x.attrs,
            _ => return syn::visit::visit_item(self, i),
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_item(self, i);
        }
    }
}

/// The module graph: module -> the modules it names.
fn graph(mods: &BTreeMap<ModPath, Module>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut edges = BTreeMap::new();
    for (here, m) in mods {
        let mut paths = Paths {
            here,
            found: Vec::new(),
        };
        for item in &m.items {
            paths.visit_item(item);
        }
        let mut targets = BTreeSet::new();
        for p in paths.found {
            // The longest prefix that is a module; the root only when the path names nothing
            // below it that is a module (an item of the root, or a re-export of another crate,
            // which leads nowhere).
            let target = (1..=p.len())
                .rev()
                .map(|n| p[..n].to_vec())
                .find(|prefix| mods.contains_key(prefix));
            if let Some(t) = target.filter(|t| t != here) {
                targets.insert(t);
            }
        }
        edges.insert(here.clone(), targets);
    }
    edges
}

/// The loops of a graph: each strongly connected component of more than one module.
fn loops(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iteratively small enough to write recursively for these graphs.
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(name(w));
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn name(p: &ModPath) -> String {
    if p.is_empty() {
        "crate".into()
    } else {
        p.join("::")
    }
}

fn crate_root(krate: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(krate)
        .join("src");
    let lib = dir.join("lib.rs");
    if lib.is_file() {
        lib
    } else {
        dir.join("main.rs")
    }
}

#[test]
fn the_graph_holds_the_imports_of_the_sources() {
    // A few edges every reader of pos-core can check by eye: the checker sees them.
    let edges = graph(&modules(&crate_root("pos-core")));
    let path = |p: &str| p.split("::").map(String::from).collect::<ModPath>();
    for (from, to) in [
        ("journal::writer", "store"),
        ("journal::writer", "journal::batch"),
        ("verify::pipeline", "verify::rules"),
        ("archive::verify", "verify"),
        ("reader", "store"),
    ] {
        assert!(
            edges[&path(from)].contains(&path(to)),
            "{from} -> {to} missing: {:?}",
            edges[&path(from)]
        );
    }
    assert!(!edges[&path("store")].contains(&path("journal")));
}

#[test]
fn no_crate_has_an_import_loop() {
    let mut found = Vec::new();
    for krate in CHECKED_CRATES {
        let mods = modules(&crate_root(krate));
        assert!(
            mods.len() > 1 || *krate == "pos-journal",
            "{krate}: no module found"
        );
        for component in loops(&graph(&mods)) {
            found.push(format!("{krate}: {}", component.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import loops:\n{}", found.join("\n"));
}

/// The checker finds a loop where there is one, and none where there is none.
#[test]
fn the_loop_checker_sees_loops() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct B;\nfn f() -> super::c::C { todo!() }\n",
    )
    .unwrap();
    // A visibility naming another module (`pub(in crate::a)`, `pub(super)`) is not a use of it.
    std::fs::write(src.join("c.rs"), "pub(in crate::a) struct C;\n").unwrap();
    assert!(loops(&graph(&modules(&src.join("lib.rs")))).is_empty());
    std::fs::write(
        src.join("c.rs"),
        "pub struct C;\n#[cfg(test)]\nmod tests { use crate::a::A; }\nimpl C { fn a(&self) -> crate::a::A { todo!() } }\n",
    )
    .unwrap();
    assert_eq!(
        loops(&graph(&modules(&src.join("lib.rs")))),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
}

/// Lines of a file that are not its `#[cfg(test)]` module (tests live at the end of a file).
fn lines_outside_tests(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut count = 0;
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        if l.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.starts_with("mod ") && n.ends_with('{'))
        {
            break;
        }
        count += 1;
    }
    count
}

#[test]
fn no_source_file_is_too_long() {
    let mut long = Vec::new();
    for krate in CHECKED_CRATES {
        let mods = modules(&crate_root(krate));
        let files: BTreeSet<&PathBuf> = mods.values().map(|m| &m.file).collect();
        for file in files {
            let n = lines_outside_tests(file);
            if n > MAX_LINES {
                long.push(format!("{} ({n} lines)", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}
