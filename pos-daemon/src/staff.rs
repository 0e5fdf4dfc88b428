//! The staff service: the operators (the configuration's, as the back office changed them),
//! who is signed in at the till (for machine clients), the sessions of each client, and the
//! wrong-PIN lock-out.

use crate::auth::PinGuard;
use crate::config::OperatorConfig;
use crate::sessions::Sessions;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

/// Who may act at the till.
#[derive(Debug)]
pub struct Staff {
    /// Operators by id: the configuration's, as the back office changed them (`ops.db`). A
    /// read-write lock: every request naming an operator reads it; the back office writes it.
    operators: RwLock<HashMap<String, OperatorConfig>>,
    /// Operators signed in at the till, for machine clients (the configuration's bearer
    /// tokens). A read-write lock: every ticket reads it, sign-ins and sign-outs write it.
    pub signed_in: RwLock<HashSet<String>>,
    /// The operators' sessions, one per client (browsers, tablets): a session acts as its own
    /// operator only. A mutex: every request carrying a session token updates its idle time.
    pub sessions: Mutex<Sessions>,
    /// PIN attempts and lock-outs. A mutex: an attempt is counted before its PIN is checked,
    /// so that a burst checks no more PINs than the lock-out allows.
    pub pins: Mutex<PinGuard>,
}

impl Staff {
    /// The staff of `operators`, nobody signed in.
    pub fn new(operators: &[OperatorConfig], sessions: Sessions, pins: PinGuard) -> Staff {
        Staff {
            operators: RwLock::new(
                operators
                    .iter()
                    .map(|o| (o.id.clone(), o.clone()))
                    .collect(),
            ),
            signed_in: RwLock::new(HashSet::new()),
            sessions: Mutex::new(sessions),
            pins: Mutex::new(pins),
        }
    }

    /// The operator `id`, if there is one.
    pub fn operator(&self, id: &str) -> Option<OperatorConfig> {
        self.operators.read().ok()?.get(id).cloned()
    }

    /// Every operator.
    pub fn operators(&self) -> Vec<OperatorConfig> {
        self.operators
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds or replaces an operator.
    pub fn put_operator(&self, op: OperatorConfig) {
        if let Ok(mut m) = self.operators.write() {
            m.insert(op.id.clone(), op);
        }
    }

    /// Removes an operator.
    pub fn remove_operator(&self, id: &str) {
        if let Ok(mut m) = self.operators.write() {
            m.remove(id);
        }
    }
}
