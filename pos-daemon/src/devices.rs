//! The devices service: each scanner's state and the recent scans, as the API shows them
//! (the scanners' tasks, in `scanners.rs`, write them).

/// How many recent scans are kept for `GET /v1/scans`.
pub const RECENT_SCANS: usize = 50;

/// The devices service: each scanner's state and the recent scans, as the API shows them.
#[derive(Debug, Default)]
pub struct Devices {
    /// Each scanner's state, by device path. A mutex: the scanners' tasks write it on a
    /// change, the API reads it.
    pub scanners: std::sync::Mutex<std::collections::BTreeMap<String, serde_json::Value>>,
    /// The last scans, newest last (at most [`RECENT_SCANS`]).
    pub scans: std::sync::Mutex<std::collections::VecDeque<serde_json::Value>>,
}
