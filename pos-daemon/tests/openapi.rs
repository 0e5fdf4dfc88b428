//! The API document posd serves at `/v1/openapi.json` is valid OpenAPI 3, as checked by a
//! validator that is not ours (`openapi-spec-validator`, installed by
//! `scripts/install-openapi-validator.sh`). That it covers every route the router serves, and
//! no other, is checked beside the route table (`api::tests`, `tests/flows`).

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
    std::fs::write(&served, pos_daemon::api::OPENAPI).expect("write");
    let (ok, said) = validate(&served);
    assert!(ok, "{said}");

    // The validator does check: the same document with a path parameter left undeclared fails.
    let mut doc: serde_json::Value = serde_json::from_str(pos_daemon::api::OPENAPI).expect("JSON");
    let ticket = doc["paths"]["/v1/tickets/{seq}"]["get"]
        .as_object_mut()
        .expect("GET /v1/tickets/{seq}");
    ticket.remove("parameters");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, doc.to_string()).expect("write");
    let (ok, said) = validate(&broken);
    assert!(!ok, "an undeclared path parameter passed: {said}");
}
