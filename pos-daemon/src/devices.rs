//! The devices service: each scanner's state and the recent scans, as the API shows them
//! (the scanners' tasks, in `scanners.rs`, write them).

use crate::catalog::Product;
use crate::config::ScannerKind;
use serde::Serialize;
use utoipa::ToSchema;

/// How many recent scans are kept for `GET /v1/scans`.
pub const RECENT_SCANS: usize = 50;

/// The devices service: each scanner's state and the recent scans, as the API shows them.
#[derive(Debug, Default)]
pub struct Devices {
    /// Each scanner's state, by device path. A mutex: the scanners' tasks write it on a
    /// change, the API reads it.
    pub scanners: std::sync::Mutex<std::collections::BTreeMap<String, ScannerState>>,
    /// The last scans, newest last (at most [`RECENT_SCANS`]).
    pub scans: std::sync::Mutex<std::collections::VecDeque<Scan>>,
}

/// A scanner's state (`GET /v1/devices`, the `scanner` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScannerState {
    /// Its device (`/dev/ttyUSB0`, `/dev/input/by-id/...`).
    pub path: String,
    /// Serial or keyboard wedge.
    pub kind: ScannerKind,
    /// `connected`, `disconnected`, or `unknown` (not tried yet).
    pub state: String,
    /// Why it is disconnected.
    pub error: Option<String>,
}

/// A scan, decoded and looked up (`GET /v1/scans`, the `scan` event).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scan {
    /// The code as scanned.
    pub code: String,
    /// Whether a product has it.
    pub found: bool,
    /// The product, when found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// Weight in grams read from a variable-measure code.
    pub weight_grams: Option<i64>,
    /// Price in cents read from a variable-measure code.
    pub price_cents: Option<i64>,
    /// Why it was not found (an unknown code, a bad check digit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
