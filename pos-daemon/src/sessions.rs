//! Operator sessions, one per client (a till, a browser tab): signing in returns a session
//! token bound to that operator; a request carrying it acts as that operator only, and the
//! session ends when it is signed out or left idle too long.
//!
//! A browser holds its token in an httpOnly cookie that its scripts cannot read; every write
//! it sends must also carry the session's CSRF token (a second random value, given to the page
//! in the sign-in answer), which another site's page cannot know.
//!
//! The configuration's bearer tokens remain for machine clients (a native front-end trusted to
//! name the operator it acts for). A session token is a random 256-bit value; only its SHA-256
//! is kept, and sessions are found by that digest, so neither a lookup's timing nor a memory
//! dump gives a usable token. Sessions live in memory: after a restart, browsers sign in again
//! (the machine clients' set of operators signed in is kept in `ops.db`, as before).

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A session token's digest: how sessions are found.
type TokenDigest = [u8; 32];

/// One client's session.
#[derive(Debug, Clone)]
struct Session {
    /// The operator it acts as.
    operator: String,
    /// When a request last used it (the journal's clock, UTC milliseconds).
    last_used: i64,
    /// The token a browser's writes must carry besides the cookie (64 hex digits).
    csrf: String,
}

/// A session just opened.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Its token (64 hex digits): the bearer token, or the browser's cookie.
    pub token: String,
    /// Its CSRF token (64 hex digits), for a browser's writes.
    pub csrf: String,
    /// The operator of the session ended to make room, if one was.
    pub evicted: Option<String>,
}

/// What a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A live session of this operator (its idle time starts again).
    Live {
        /// The operator.
        operator: String,
        /// The session's CSRF token.
        csrf: String,
    },
    /// A session that was left idle too long: it has just been ended.
    Expired {
        /// Its operator.
        operator: String,
    },
    /// No session.
    Unknown,
}

/// The sessions of every client.
#[derive(Debug)]
pub struct Sessions {
    by_digest: HashMap<TokenDigest, Session>,
    idle_ms: i64,
    max: usize,
}

/// The digest a token is kept under.
fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// 256 random bits as 64 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// No session yet; sessions end after `idle_secs` without a request; at most `max` at
    /// once (opening one more ends the one idle longest). Times are the journal's clock (UTC
    /// milliseconds), so that tests move them.
    pub fn new(idle_secs: u64, max: usize) -> Sessions {
        Sessions {
            by_digest: HashMap::new(),
            idle_ms: i64::try_from(idle_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            max: max.max(1),
        }
    }

    /// Opens a session for `operator`: its token, its CSRF token, and the operator of the
    /// session ended to make room, if one was.
    pub fn open(&mut self, operator: &str, now: i64) -> Opened {
        let mut evicted = None;
        if self.by_digest.len() >= self.max {
            let oldest = self
                .by_digest
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(d, _)| *d);
            if let Some(d) = oldest {
                evicted = self.by_digest.remove(&d).map(|s| s.operator);
            }
        }
        let token = random_hex();
        let csrf = random_hex();
        self.by_digest.insert(
            digest(&token),
            Session {
                operator: operator.to_string(),
                last_used: now,
                csrf: csrf.clone(),
            },
        );
        Opened {
            token,
            csrf,
            evicted,
        }
    }

    /// The session `token` names at `now`: a live one is used again (its idle time restarts),
    /// an expired one is ended.
    pub fn touch(&mut self, token: &str, now: i64) -> Found {
        let d = digest(token);
        let Some(s) = self.by_digest.get_mut(&d) else {
            return Found::Unknown;
        };
        if now.saturating_sub(s.last_used) > self.idle_ms {
            let operator = s.operator.clone();
            self.by_digest.remove(&d);
            return Found::Expired { operator };
        }
        s.last_used = now;
        Found::Live {
            operator: s.operator.clone(),
            csrf: s.csrf.clone(),
        }
    }

    /// Ends the session of `token`; returns its operator.
    pub fn close(&mut self, token: &str) -> Option<String> {
        self.by_digest.remove(&digest(token)).map(|s| s.operator)
    }

    /// Ends every session of `operator`; returns how many there were.
    pub fn close_operator(&mut self, operator: &str) -> usize {
        let before = self.by_digest.len();
        self.by_digest.retain(|_, s| s.operator != operator);
        before - self.by_digest.len()
    }

    /// Whether `operator` has a session still open.
    pub fn has_operator(&self, operator: &str) -> bool {
        self.by_digest.values().any(|s| s.operator == operator)
    }

    /// Ends the sessions idle too long at `now`; returns their operators.
    pub fn sweep(&mut self, now: i64) -> Vec<String> {
        let idle = self.idle_ms;
        let mut ended = Vec::new();
        self.by_digest.retain(|_, s| {
            let live = now.saturating_sub(s.last_used) <= idle;
            if !live {
                ended.push(s.operator.clone());
            }
            live
        });
        ended
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_operator_until_it_is_closed_or_idle_too_long() {
        let t0 = 1_765_000_000_000i64;
        let mut s = Sessions::new(60, 8);
        let opened = s.open("alice", t0);
        let (alice, alice_csrf) = (opened.token, opened.csrf);
        let bob = s.open("bob", t0).token;
        assert_ne!(alice, bob);
        assert_ne!(alice, alice_csrf);
        assert_eq!(alice.len(), 64);
        assert_eq!(alice_csrf.len(), 64);
        let live = |op: &str| Found::Live {
            operator: op.into(),
            csrf: alice_csrf.clone(),
        };
        assert_eq!(s.touch(&alice, t0 + 50_000), live("alice"));
        // Used at 50 s: still live at 100 s; bob, unused since 0 s, has expired.
        assert_eq!(s.touch(&alice, t0 + 100_000), live("alice"));
        assert_eq!(
            s.touch(&bob, t0 + 100_000),
            Found::Expired {
                operator: "bob".into()
            }
        );
        assert_eq!(s.touch(&bob, t0 + 100_000), Found::Unknown);
        assert_eq!(s.touch("not a token", t0), Found::Unknown);
        assert_eq!(s.close(&alice).as_deref(), Some("alice"));
        assert_eq!(s.touch(&alice, t0 + 101_000), Found::Unknown);
        assert!(s.is_empty());
    }

    #[test]
    fn the_session_idle_longest_makes_room_and_sweeps_end_idle_ones() {
        let t0 = 1_765_000_000_000i64;
        let mut s = Sessions::new(60, 2);
        let a = s.open("alice", t0).token;
        s.open("bob", t0 + 1_000);
        s.touch(&a, t0 + 2_000);
        // bob's is the one idle longest.
        let evicted = s.open("carol", t0 + 3_000).evicted;
        assert_eq!(evicted.as_deref(), Some("bob"));
        assert_eq!(s.len(), 2);
        assert!(s.has_operator("alice") && s.has_operator("carol") && !s.has_operator("bob"));
        // alice was last used at 2 s: idle 60.5 s at 62.5 s; carol, opened at 3 s, is not.
        assert_eq!(s.sweep(t0 + 62_500), vec!["alice".to_string()]);
        assert_eq!(s.close_operator("carol"), 1);
        assert!(s.is_empty());
    }
}
