//! Keeps `docs/ARCHIVE-FORMAT.md` and `docs/AUDITOR.md` in step with the code: every finding,
//! every archive file and every CSV column of the code must be documented.

use pos_core::archive::{CONTENT_FILES, MANIFEST_SIGNATURE_DOMAIN, VIEWS};
use pos_core::verify::Problem;
use std::path::PathBuf;

fn doc(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How many table rows of `text` start with the cell `` `name` ``.
fn rows_naming(text: &str, name: &str) -> usize {
    let cell = format!("| `{name}` |");
    text.lines().filter(|l| l.starts_with(&cell)).count()
}

/// The part of `text` from the heading line containing `` `name` `` to the next heading.
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let title = format!("`{name}`");
    let start = text
        .match_indices("\n### ")
        .map(|(i, _)| i + 1)
        .find(|&i| text[i..].lines().next().is_some_and(|l| l.contains(&title)))
        .unwrap_or_else(|| panic!("no section titled {title}"));
    let end = text[start + 1..]
        .find("\n## ")
        .into_iter()
        .chain(text[start + 1..].find("\n### "))
        .min()
        .map_or(text.len(), |e| start + 1 + e);
    &text[start..end]
}

#[test]
fn every_finding_is_in_both_finding_tables() {
    let format = doc("ARCHIVE-FORMAT.md");
    let auditor = doc("AUDITOR.md");
    for p in Problem::ALL {
        let name = p.name();
        assert_eq!(
            rows_naming(&format, &name),
            1,
            "ARCHIVE-FORMAT.md: one finding row for {name}"
        );
        // One table in French, one in English.
        assert_eq!(
            rows_naming(&auditor, &name),
            2,
            "AUDITOR.md: a French and an English row for {name}"
        );
    }
}

#[test]
fn every_csv_column_is_documented() {
    let format = doc("ARCHIVE-FORMAT.md");
    for (file, columns) in VIEWS {
        let part = section(&format, file);
        let header = columns.join(",");
        assert!(
            part.contains(&format!("```text\n{header}\n```")),
            "{file}: header line {header} missing from its section"
        );
        for column in columns {
            assert_eq!(
                rows_naming(part, column),
                1,
                "{file}: one row for column {column}"
            );
        }
        let rows = part.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(rows, columns.len(), "{file}: a row for an unknown column");
    }
}

#[test]
fn every_archive_file_is_documented() {
    let format = doc("ARCHIVE-FORMAT.md");
    let auditor = doc("AUDITOR.md");
    let names: Vec<&str> = CONTENT_FILES
        .iter()
        .copied()
        .chain(["manifest.json", "manifest.sig"])
        .collect();
    // The container table lists every entry, in archive order.
    let mut last = 0;
    for (i, name) in names.iter().enumerate() {
        let row = format!("| {} | `{name}` |", i + 1);
        let at = format
            .find(&row)
            .unwrap_or_else(|| panic!("container row {row} missing"));
        assert!(at > last, "{name} out of order in the container table");
        last = at;
    }
    for view in VIEWS.iter().map(|(f, _)| f) {
        assert!(
            CONTENT_FILES.contains(view),
            "{view} is not an archive file"
        );
        assert!(auditor.contains(&format!("`{view}`")), "AUDITOR.md: {view}");
    }
    let domain = String::from_utf8_lossy(&MANIFEST_SIGNATURE_DOMAIN[..22]).into_owned();
    assert_eq!(MANIFEST_SIGNATURE_DOMAIN.len(), 23);
    assert!(format.contains(&format!("\"{domain}\" || 0x00")));
}
