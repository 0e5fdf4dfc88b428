//! The technical event journal's codes (the JET). A code is stored as text in an `event` body;
//! the verifier reports codes that are not in this table.

/// A known event code and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCode {
    /// The stored code.
    pub code: &'static str,
    /// What it records.
    pub meaning: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:literal : $meaning:literal;)*) => {
        $(
            #[doc = $meaning]
            pub const $name: &str = $code;
        )*
        /// Every known code, in documentation order.
        pub const ALL: &[EventCode] = &[$(EventCode { code: $code, meaning: $meaning }),*];
    };
}

codes! {
    JOURNAL_OPENED = "journal_opened": "The journal was created (follows the opening record).";
    SOFTWARE_STARTED = "software_started": "The software started; details carry its version.";
    SOFTWARE_STOPPED = "software_stopped": "The software stopped cleanly.";
    SOFTWARE_VERSION_CHANGED = "software_version_changed": "The software version differs from the previous start; details carry old and new.";
    OPERATOR_SIGNED_IN = "operator_signed_in": "An operator signed in.";
    OPERATOR_SIGNED_OUT = "operator_signed_out": "An operator signed out.";
    OPERATOR_PIN_REJECTED = "operator_pin_rejected": "A wrong PIN was entered.";
    MANAGER_OVERRIDE = "manager_override": "A manager authorised an operation a cashier may not do.";
    CLOSURE_WRITTEN = "closure_written": "A closure was written.";
    ARCHIVE_WRITTEN = "archive_written": "An archive was written.";
    EXPORT = "export": "Data was exported.";
    KEY_ROTATED = "key_rotated": "The signing key was changed (follows the key_change record).";
    INTEGRITY_CHECK_PASSED = "integrity_check_passed": "A verification found the journal intact.";
    INTEGRITY_CHECK_FAILED = "integrity_check_failed": "A verification found problems; details say which.";
    CLOCK_ANOMALY = "clock_anomaly": "The system clock went backwards; records kept non-decreasing timestamps.";
    CLOCK_CONFIRMED = "clock_confirmed": "An operator confirmed a clock reading further ahead of the last record than the journal accepts unconfirmed (after a long closure); details carry both readings.";
    JOURNAL_WRITE_FAILED = "journal_write_failed": "The storage refused commits (a full or failing disk); written before the next records appended (at once after a failed flush), details say when, how many records and the error.";
    SIGNING_FAILED = "signing_failed": "The signing key or device could not sign: commits were refused; written before the next records appended once it signs again, details say when, how many records and the error.";
    TRAINING_STARTED = "training_started": "Training mode started.";
    TRAINING_STOPPED = "training_stopped": "Training mode stopped.";
    PRINTER_FAILURE = "printer_failure": "The printer reported a fault or could not be reached.";
    DEGRADED_STARTED = "degraded_started": "Degraded mode started.";
    DEGRADED_ENDED = "degraded_ended": "Degraded mode ended.";
    CONFIGURATION_CHANGED = "configuration_changed": "A setting changed; details carry the old and new values.";
    DUPLICATE_PRINTED = "duplicate_printed": "A receipt copy was printed.";
    BACKUP_WRITTEN = "backup_written": "A snapshot of the stores was written to the backup medium and checked; details carry its name, the journal head it holds and the check's result.";
    RESTORED = "restored": "The stores were restored from a snapshot: the first record written after the restore, following the snapshot's head; details name the snapshot, its head and the records lost since it, if any.";
}

/// Whether `code` is in the table.
pub fn is_known(code: &str) -> bool {
    ALL.iter().any(|c| c.code == code)
}
