//! Why a body is not canonical, or cannot be encoded.

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

impl serde::ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonicalError::Encode(msg.to_string())
    }
}
