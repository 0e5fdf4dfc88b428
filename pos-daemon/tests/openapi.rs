//! The API document posd serves at `/v1/openapi.json` is valid OpenAPI 3, as checked by a
//! validator that is not ours (`openapi-spec-validator`, installed by
//! `scripts/install-openapi-validator.sh`), and the copy in the repository (`openapi.json`,
//! for readers and client generators) is that document. It is generated from the handlers
//! the router is built from; `tests/flows` checks that the router serves each of its routes,
//! and every answer of those tests against it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The validator: `$OPENAPI_VALIDATOR`, else `<workspace>/.venv/openapi/bin/...`. Missing is a
/// failure, not a skip: the test command installs it.
fn validator() -> PathBuf {
    let path = std::env::var_os("OPENAPI_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.venv/openapi/bin/openapi-spec-validator")
        });
    assert!(
        path.exists(),
        "openapi-spec-validator not found at {} (set OPENAPI_VALIDATOR, or run scripts/install-openapi-validator.sh)",
        path.display()
    );
    path
}

/// Runs the validator on `document`; returns whether it passed and what it said.
fn validate(document: &Path) -> (bool, String) {
    let out = Command::new(validator())
        .arg(document)
        .output()
        .expect("run the validator");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_served_document_is_valid_openapi_3() {
    let dir = tempfile::tempdir().expect("dir");
    let served = dir.path().join("openapi.json");
    std::fs::write(&served, pos_daemon::api::document_json()).expect("write");
    let (ok, said) = validate(&served);
    assert!(ok, "{said}");

    // The validator does check: the same document with a path parameter left undeclared fails.
    let mut doc: serde_json::Value =
        serde_json::from_str(pos_daemon::api::document_json()).expect("JSON");
    let ticket = doc["paths"]["/v1/tickets/{seq}"]["get"]
        .as_object_mut()
        .expect("GET /v1/tickets/{seq}");
    ticket.remove("parameters");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, doc.to_string()).expect("write");
    let (ok, said) = validate(&broken);
    assert!(!ok, "an undeclared path parameter passed: {said}");
}

/// The repository's `openapi.json` is the document posd serves: regenerate it with
/// `cargo run -p pos-daemon -- openapi > pos-daemon/openapi.json` when the API changes.
#[test]
fn the_committed_copy_is_the_served_document() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let committed = std::fs::read_to_string(&path).expect("pos-daemon/openapi.json");
    assert!(
        committed.trim_end() == pos_daemon::api::document_json().trim_end(),
        "{} differs from the document posd serves: run `cargo run -p pos-daemon -- openapi > pos-daemon/openapi.json`",
        path.display()
    );
}

/// Every operation documents its success answer with a schema of its own (not a bare
/// object), a summary, and the shared error answers.
#[test]
fn every_operation_documents_its_answers() {
    let doc: serde_json::Value =
        serde_json::from_str(pos_daemon::api::document_json()).expect("JSON");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            operations += 1;
            let what = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{what}: no summary"
            );
            let ok = &op["responses"]["200"]["content"];
            let schema = ok
                .as_object()
                .and_then(|c| c.values().next())
                .map(|m| &m["schema"])
                .unwrap_or_else(|| panic!("{what}: no 200 answer"));
            // The document itself and the event stream are the two answers that are not a
            // JSON object of posd's.
            if path != "/v1/openapi.json" && path != "/v1/events" {
                let described = schema.get("$ref").is_some() || schema.get("properties").is_some();
                assert!(described, "{what}: the answer has no schema: {schema}");
            }
            for status in ["4XX", "503"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{what}: no {status} answer"
                );
            }
        }
    }
    assert!(operations >= 38, "{operations} operations");
}
