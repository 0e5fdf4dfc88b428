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
pub fn hash_pin(pin: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

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

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts wrong PINs per operator and locks an operator out after too many in a row.
#[derive(Debug)]
pub struct PinGuard {
    max_failures: u32,
    lockout: Duration,
    failures: HashMap<String, (u32, Option<Instant>)>,
}

impl PinGuard {
    /// A guard locking out for `lockout` after `max_failures` wrong PINs in a row.
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        PinGuard {
            max_failures,
            lockout,
            failures: HashMap::new(),
        }
    }

    /// `Err(seconds left)` while the operator is locked out.
    pub fn check(&mut self, operator: &str) -> Result<(), u64> {
        if let Some((_, Some(until))) = self.failures.get(operator) {
            let now = Instant::now();
            if now < *until {
                return Err((*until - now).as_secs().max(1));
            }
            self.failures.remove(operator);
        }
        Ok(())
    }

    /// Records a wrong PIN; returns whether the operator is now locked out.
    pub fn failed(&mut self, operator: &str) -> bool {
        if self.failures.len() >= MAX_TRACKED && !self.failures.contains_key(operator) {
            self.failures.retain(|_, (_, until)| until.is_some());
        }
        let entry = self
            .failures
            .entry(operator.to_string())
            .or_insert((0, None));
        entry.0 += 1;
        if entry.0 >= self.max_failures {
            entry.1 = Some(Instant::now() + self.lockout);
            true
        } else {
            false
        }
    }

    /// Forgets the failures of an operator after a right PIN.
    pub fn succeeded(&mut self, operator: &str) {
        self.failures.remove(operator);
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
        assert!(!g.failed("a"));
        assert!(!g.failed("a"));
        assert!(g.check("a").is_ok());
        assert!(g.failed("a"));
        assert!(g.check("a").is_err());
        assert!(g.check("b").is_ok());
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
