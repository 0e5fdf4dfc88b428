//! Record bodies ([`pos_format::body`], re-exported) and the checks of an opening's identity.

pub use pos_format::body::*;

/// Checks what an opening must carry under the fiscal rules it names (the French rules when
/// it names none), among the rules this build knows by default; returns what is wrong.
pub fn validate_opening(opening: &OpeningBody) -> Result<(), String> {
    crate::rules::RuleBook::default()
        .for_opening(opening)?
        .validate_opening(opening)
}
