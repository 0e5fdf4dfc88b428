//! RFC 8785 canonical JSON, restricted to integers, for record bodies.
//!
//! A body is encoded once, at append, and its bytes are what is stored, hashed and signed. A
//! verifier never re-encodes a live struct: it checks that the stored bytes are already in
//! canonical form (parsing them and canonicalizing the parsed *JSON value*, which is independent
//! of any Rust type) and hashes the stored bytes as they are.
//!
//! Numbers must be integers of magnitude at most 2^53 - 1 (see [`crate::money::MAX_JSON_INT`]):
//! every JSON reader handles those exactly, and RFC 8785 then prints them as plain digits.

use crate::money::MAX_JSON_INT;
use serde::Serialize;
use serde_json::Value;

/// Why a body is not canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// The bytes are not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The top level is not an object.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// A number is fractional, has an exponent, or is outside +/-(2^53 - 1).
    #[error("body holds a number that is not an integer within +/-(2^53 - 1)")]
    NotAnInteger,
    /// Valid JSON, but not in RFC 8785 form (key order, spacing, escapes).
    #[error("body is not in RFC 8785 canonical form")]
    NotCanonical,
    /// A value could not be encoded.
    #[error("body cannot be encoded: {0}")]
    Encode(String),
}

/// Encodes `value` as canonical JSON bytes, checking the integer rule.
pub fn to_canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let tree = serde_json::to_value(value).map_err(|e| CanonicalError::Encode(e.to_string()))?;
    if !tree.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    check_integers(&tree)?;
    serde_json_canonicalizer::to_vec(&tree).map_err(|e| CanonicalError::Encode(e.to_string()))
}

/// Checks that `bytes` are a JSON object in canonical form with integers only, and returns the
/// parsed value.
pub fn check_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let tree: Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
    if !tree.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    check_integers(&tree)?;
    let again = serde_json_canonicalizer::to_vec(&tree)
        .map_err(|e| CanonicalError::Encode(e.to_string()))?;
    if again != bytes {
        return Err(CanonicalError::NotCanonical);
    }
    Ok(tree)
}

fn check_integers(v: &Value) -> Result<(), CanonicalError> {
    match v {
        Value::Number(n) => {
            let ok = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= MAX_JSON_INT as u64,
                (None, Some(u)) => u <= MAX_JSON_INT as u64,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(CanonicalError::NotAnInteger)
            }
        }
        Value::Array(items) => items.iter().try_for_each(check_integers),
        Value::Object(map) => map.values().try_for_each(check_integers),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_and_drops_spaces() {
        let v = serde_json::json!({"b": 1, "a": [true, null, "é\n"], "A": {"z": -3}});
        let bytes = to_canonical(&v).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"A":{"z":-3},"a":[true,null,"é\n"],"b":1}"#
        );
        check_canonical(&bytes).unwrap();
    }

    #[test]
    fn rejects_non_canonical_and_floats() {
        assert_eq!(
            check_canonical(br#"{"b":1,"a":2}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a": 2}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a":1.5}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(
            check_canonical(br#"{"a":9007199254740992}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(
            check_canonical(br#"{"a":-9223372036854775808}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(check_canonical(b"[1]"), Err(CanonicalError::NotAnObject));
        assert!(matches!(
            check_canonical(b"{"),
            Err(CanonicalError::NotJson(_))
        ));
        assert!(to_canonical(&serde_json::json!({"x": 0.5})).is_err());
    }
}
