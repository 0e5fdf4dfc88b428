//! The staff service: the operators of the configuration, who is signed in at the till (for
//! machine clients), the sessions of each client, and the wrong-PIN lock-out.

use crate::auth::PinGuard;
use crate::config::OperatorConfig;
use crate::sessions::Sessions;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

/// Who may act at the till.
#[derive(Debug)]
pub struct Staff {
    /// Operators by id (from the configuration; fixed for the run).
    pub operators: HashMap<String, OperatorConfig>,
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
            operators: operators
                .iter()
                .map(|o| (o.id.clone(), o.clone()))
                .collect(),
            signed_in: RwLock::new(HashSet::new()),
            sessions: Mutex::new(sessions),
            pins: Mutex::new(pins),
        }
    }
}
