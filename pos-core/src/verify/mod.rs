//! The verifier: streams records in sequence order, in constant memory, and reports every
//! finding to a [`FindingSink`] (it never stops at the first).
//!
//! Work per chunk of records ([`CHUNK_RECORDS`]):
//! 1. in parallel: recompute each hash; check and decode each body (canonical form, integers,
//!    the kind's fields, a sale's totals recomputed from its lines and payments);
//! 2. in order: decide which key must have signed each record (the opening's key, then each
//!    `key_change`'s new key from the record after it);
//! 3. in parallel: batch-verify the signatures (falling back to one by one to name culprits);
//! 4. in order: sequence numbers, links, per-kind numbers and links, timestamps, refunds against
//!    what remains of their original, and the findings of steps 1 and 3.
//!
//! While the verifier works on one chunk, a reader thread fetches the next (two chunks in
//! flight at most), so memory does not grow with the journal. The only state that grows is the
//! refundable remainder of tickets that were partly refunded.

mod findings;
mod pipeline;
mod prepare;
mod records;
mod rules;

pub use findings::{
    CollectFindings, Finding, FindingSink, Item, Lookup, Problem, Summary, VerifyOptions,
};
pub(crate) use pipeline::Overlapped;
pub use pipeline::{verify_journal, CHUNK_RECORDS};
pub use prepare::SIGNATURE_BATCH;
pub use rules::{Snapshot, Verifier};
