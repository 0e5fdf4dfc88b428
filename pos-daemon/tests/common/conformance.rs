//! Every answer the in-process tests receive is checked against the API document posd serves:
//! its status must be documented for its route, and its body must match that status's schema
//! (a JSON Schema validator that is not ours, `jsonschema`). The document is generated from
//! the handlers' types; this checks that what the handlers send is what it says, over every
//! request of these tests.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// The document, as posd serves it.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(pos_daemon::api::document_json()).expect("the document is JSON")
});

/// An answer's place in the document: (method, path template, status key).
type AnswerKey = (String, String, String);

/// Validators already built, by answer.
static VALIDATORS: LazyLock<Mutex<HashMap<AnswerKey, jsonschema::Validator>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The path template of the document that `path` (query left out) matches.
fn template(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let wanted: Vec<&str> = path.split('/').collect();
    let paths = DOCUMENT["paths"].as_object()?;
    // A literal segment beats a parameter (`/v1/webhooks/woocommerce` over `{shop}`).
    let mut best: Option<(usize, &String)> = None;
    for t in paths.keys() {
        let parts: Vec<&str> = t.split('/').collect();
        if parts.len() != wanted.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&wanted).all(|(p, w)| {
            if p.starts_with('{') && p.ends_with('}') {
                !w.is_empty()
            } else {
                literal += 1;
                p == w
            }
        });
        if fits && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, t));
        }
    }
    best.map(|(_, t)| t.clone())
}

/// The schema of a response object (following a `$ref` to the shared responses).
fn response_schema(response: &Value) -> Option<Value> {
    let response = match response["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/responses/")?;
            &DOCUMENT["components"]["responses"][name]
        }
        None => response,
    };
    response["content"]["application/json"]["schema"]
        .as_object()
        .map(|s| Value::Object(s.clone()))
}

/// Checks one answer: panics, saying why, when posd sent what its document does not say.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    let Some(t) = template(path) else {
        // Not a route (the 404 of an unknown path is checked by its own test).
        return;
    };
    let method = method.to_ascii_lowercase();
    let Some(op) = DOCUMENT["paths"][&t].get(&method) else {
        // A method the route does not take: the 405 answer.
        return;
    };
    let responses = &op["responses"];
    let exact = status.to_string();
    let range = format!("{}XX", status / 100);
    let key = if responses.get(&exact).is_some() {
        exact
    } else if responses.get(&range).is_some() {
        range
    } else {
        panic!("{method} {path}: status {status} is not documented for {t}: {body}");
    };
    let Some(schema) = response_schema(&responses[&key]) else {
        // A response without a JSON body (the event stream).
        return;
    };
    let mut validators = VALIDATORS.lock().unwrap_or_else(|p| p.into_inner());
    let v = validators
        .entry((method.clone(), t.clone(), key.clone()))
        .or_insert_with(|| {
            // References point into the document's components: the schema is checked as part
            // of a root that holds them.
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": DOCUMENT["components"],
                "allOf": [schema],
            });
            jsonschema::validator_for(&root)
                .unwrap_or_else(|e| panic!("{method} {t} {key}: the schema does not build: {e}"))
        });
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} -> {status}: the answer does not match the document ({t}, {key}): {errors:?}\n{body}"
    );
}

/// The checker does check: answers that break the document are caught.
#[test]
fn answers_that_break_the_document_are_caught() {
    let good = json!({"operator": "alice"});
    check("POST", "/v1/operators/sign-out", 200, &good);
    let wrong_type = json!({"operator": 42});
    let caught =
        std::panic::catch_unwind(|| check("POST", "/v1/operators/sign-out", 200, &wrong_type));
    assert!(caught.is_err(), "a number where a string is documented");
    let missing = json!({});
    let caught =
        std::panic::catch_unwind(|| check("POST", "/v1/operators/sign-out", 200, &missing));
    assert!(caught.is_err(), "a required member missing");
    let bad_error = json!({"error": {"code": "x"}});
    let caught =
        std::panic::catch_unwind(|| check("POST", "/v1/operators/sign-out", 403, &bad_error));
    assert!(caught.is_err(), "an error without its message");
    let undocumented = std::panic::catch_unwind(|| check("GET", "/v1/health", 302, &good));
    assert!(
        undocumented.is_err(),
        "a status the route does not document"
    );
    assert_eq!(
        template("/v1/webhooks/woocommerce").as_deref(),
        Some("/v1/webhooks/woocommerce")
    );
    assert_eq!(
        template("/v1/tickets/12/reprint").as_deref(),
        Some("/v1/tickets/{seq}/reprint")
    );
}
