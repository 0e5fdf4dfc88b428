//! The fiscal-rules seam: what a country's rules decide for a register, chosen in its opening
//! and kept for the life of its journal.

use super::calendar::Calendar;
use crate::closure::ClosureError;
use crate::keys::Signer;
use crate::receipt::{ReceiptError, ReceiptFields};
use pos_format::body::OpeningBody;
use std::sync::Arc;

/// A country's (or a test's) fiscal rules. The journal's writer and the verifier ask the same
/// rules, so what is written and what is checked follow one definition.
pub trait FiscalRules: Send + Sync + std::fmt::Debug {
    /// The id an opening names in `fiscal_rules` (`fr` when it names none).
    fn id(&self) -> &str;
    /// What an opening must carry: returns what is wrong with it.
    fn validate_opening(&self, opening: &OpeningBody) -> Result<(), String>;
    /// Whether `code` is a technical event code of these rules (others are refused by the
    /// journal and reported by the verifier).
    fn is_known_event(&self, code: &str) -> bool;
    /// The periods the register's closures close, and when each is due.
    fn calendar(&self, opening: &OpeningBody) -> Result<Arc<dyn Calendar>, ClosureError>;
    /// The verification string a ticket's receipt carries (its QR code), signed by `signer`.
    /// The French string (`POSR1`, [`crate::receipt`]) unless the rules define their own.
    fn receipt_code(
        &self,
        fields: &ReceiptFields,
        signer: &dyn Signer,
    ) -> Result<String, ReceiptError> {
        fields.sign(signer)
    }
}
