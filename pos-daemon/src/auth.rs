//! API tokens, operator PINs (argon2) and the wrong-PIN lock-out.
//!
//! Tokens and PINs are compared without early exit and never logged.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The longest PIN accepted (anything longer is refused before hashing).
pub const MAX_PIN_LEN: usize = 64;
/// At most this many operators are tracked by the lock-out (there are few operators).
const MAX_TRACKED: usize = 1024;

/// Hashes a PIN for the configuration (argon2id, random salt, PHC string).
pub fn hash_pin(pin: &str) -> Result<String, PinHashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PinHashError(e.to_string()))
}

/// A PIN could not be hashed (argon2 refused its parameters or input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot hash the PIN: {0}")]
pub struct PinHashError(String);

/// Checks a PIN against its stored hash. Slow on purpose (argon2): call from a blocking thread.
pub fn verify_pin(pin: &str, hash: &str) -> bool {
    if pin.is_empty() || pin.len() > MAX_PIN_LEN {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(pin.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Compares two secrets in time independent of where they differ and of their lengths: their
/// SHA-256 digests are compared whole, in constant time (`subtle`), so neither a differing
/// byte nor a differing length returns early.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    Sha256::digest(a)
        .as_slice()
        .ct_eq(Sha256::digest(b).as_slice())
        .into()
}

/// The token of a `Bearer` authorization header (the scheme is case-insensitive, RFC 7235).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Why a PIN is not even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRefusal {
    /// The operator is locked out for this many more seconds.
    LockedOut(u64),
    /// As many PINs are being checked for the operator as wrong ones may still be entered: the
    /// others wait for their outcome (a burst cannot check more PINs than the limit).
    TooManyAttempts,
}

/// The journal event a series of wrong PINs gets (at its first PIN and at its end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinReport {
    /// The first wrong PIN of a series.
    FirstWrong,
    /// The series ended in a lock-out after this many wrong PINs in a row.
    LockedOut(u32),
    /// The right PIN came after this many wrong ones in a row.
    RightAfter(u32),
}

/// One operator's PINs in a row.
#[derive(Debug, Default)]
struct Tries {
    /// Wrong PINs in a row.
    wrong: u32,
    /// PINs being checked now.
    in_flight: u32,
    /// Locked out until then.
    until: Option<Instant>,
}

/// Counts wrong PINs per operator and locks an operator out after too many in a row. An
/// attempt is counted before its PIN is checked ([`PinGuard::begin`]), so that concurrent
/// requests cannot check more PINs than the limit while argon2 runs.
#[derive(Debug)]
pub struct PinGuard {
    max_failures: u32,
    lockout: Duration,
    operators: HashMap<String, Tries>,
}

impl PinGuard {
    /// A guard locking out for `lockout` after `max_failures` wrong PINs in a row.
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        PinGuard {
            max_failures,
            lockout,
            operators: HashMap::new(),
        }
    }

    /// Takes one attempt for `operator`, or says why none is left. Every `Ok` must be followed
    /// by [`PinGuard::finish`] or [`PinGuard::abandon`].
    pub fn begin(&mut self, operator: &str) -> Result<(), PinRefusal> {
        let now = Instant::now();
        if let Some(t) = self.operators.get_mut(operator) {
            match t.until {
                Some(until) if now < until => {
                    return Err(PinRefusal::LockedOut((until - now).as_secs().max(1)))
                }
                Some(_) => {
                    // The lock-out is over: a new series starts.
                    t.until = None;
                    t.wrong = 0;
                }
                None => {}
            }
        }
        if self.operators.len() >= MAX_TRACKED && !self.operators.contains_key(operator) {
            self.operators
                .retain(|_, t| t.in_flight > 0 || t.until.is_some_and(|u| now < u));
        }
        let t = self.operators.entry(operator.to_string()).or_default();
        if t.wrong + t.in_flight >= self.max_failures {
            return Err(PinRefusal::TooManyAttempts);
        }
        t.in_flight += 1;
        Ok(())
    }

    /// The outcome of an attempt taken by [`PinGuard::begin`]; returns the journal event it
    /// calls for, if any: at most two per series of wrong PINs (its first, and its end).
    pub fn finish(&mut self, operator: &str, right: bool) -> Option<PinReport> {
        let max = self.max_failures;
        let lockout = self.lockout;
        let t = self.operators.get_mut(operator)?;
        t.in_flight = t.in_flight.saturating_sub(1);
        if right {
            let wrong = std::mem::take(&mut t.wrong);
            if t.in_flight == 0 && t.until.is_none() {
                self.operators.remove(operator);
            }
            return (wrong > 1).then_some(PinReport::RightAfter(wrong));
        }
        t.wrong += 1;
        if t.wrong >= max {
            t.until = Some(Instant::now() + lockout);
            Some(PinReport::LockedOut(t.wrong))
        } else if t.wrong == 1 {
            Some(PinReport::FirstWrong)
        } else {
            None
        }
    }

    /// Gives back an attempt whose PIN was never judged (the request went away).
    pub fn abandon(&mut self, operator: &str) {
        if let Some(t) = self.operators.get_mut(operator) {
            t.in_flight = t.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_hash_and_verify() {
        let h = hash_pin("1234").expect("hash");
        assert!(verify_pin("1234", &h));
        assert!(!verify_pin("1235", &h));
        assert!(!verify_pin("", &h));
        assert!(!verify_pin("1234", "not a hash"));
    }

    #[test]
    fn lockout_after_max_failures() {
        let mut g = PinGuard::new(3, Duration::from_secs(60));
        for expected in [Some(PinReport::FirstWrong), None] {
            assert_eq!(g.begin("a"), Ok(()));
            assert_eq!(g.finish("a", false), expected);
        }
        assert_eq!(g.begin("a"), Ok(()));
        assert_eq!(g.finish("a", false), Some(PinReport::LockedOut(3)));
        assert!(matches!(g.begin("a"), Err(PinRefusal::LockedOut(s)) if s >= 59));
        assert_eq!(g.begin("b"), Ok(()));
    }

    #[test]
    fn attempts_are_counted_before_their_pins_are_checked() {
        let mut g = PinGuard::new(3, Duration::from_secs(60));
        // A burst: three attempts in flight, the fourth is refused before any PIN is judged.
        for _ in 0..3 {
            assert_eq!(g.begin("a"), Ok(()));
        }
        assert_eq!(g.begin("a"), Err(PinRefusal::TooManyAttempts));
        // One attempt that went away gives its place back.
        g.abandon("a");
        assert_eq!(g.begin("a"), Ok(()));
        // The right PIN after two wrong ones ends the series, with its count.
        assert_eq!(g.finish("a", false), Some(PinReport::FirstWrong));
        assert_eq!(g.finish("a", false), None);
        assert_eq!(g.finish("a", true), Some(PinReport::RightAfter(2)));
        assert_eq!(g.begin("a"), Ok(()));
        assert_eq!(g.finish("a", true), None);
    }

    #[test]
    fn a_lockout_ends_and_a_new_series_starts() {
        let mut g = PinGuard::new(1, Duration::from_millis(20));
        assert_eq!(g.begin("a"), Ok(()));
        assert_eq!(g.finish("a", false), Some(PinReport::LockedOut(1)));
        assert!(g.begin("a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(g.begin("a"), Ok(()));
        assert_eq!(g.finish("a", false), Some(PinReport::LockedOut(1)));
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(!same_secret(b"", b"abc"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
