//! Receipt and report layout: pure functions from [`crate::receipt`] data to ESC/POS bytes.
//!
//! Text goes through [`crate::text::encode`] (WPC1252, one byte per column), so column widths
//! are exact. The `escpos` crate encodes the plain commands (init, justification, emphasis,
//! size, feed, cut) through [`doc::Doc`]; the commands it gets wrong come from
//! [`crate::commands`].

mod doc;
mod format;
mod receipt;
mod report;

pub use format::{format_money, format_quantity, format_rate};
pub use receipt::render_receipt;
pub use report::render_report;

use thiserror::Error;

use crate::commands::CommandError;

/// Paper width, which fixes the number of Font A columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PaperWidth {
    /// 58 mm paper: 32 columns.
    Mm58,
    /// 80 mm paper: 48 columns.
    #[default]
    Mm80,
}

impl PaperWidth {
    /// Columns of Font A.
    pub fn columns(self) -> usize {
        match self {
            PaperWidth::Mm58 => 32,
            PaperWidth::Mm80 => 48,
        }
    }

    /// From a width in millimetres (58 or 80).
    pub fn from_mm(mm: u32) -> Option<Self> {
        match mm {
            58 => Some(PaperWidth::Mm58),
            80 => Some(PaperWidth::Mm80),
            _ => None,
        }
    }
}

/// Most lines a receipt may have: past it the layout refuses (a runaway basket, not a sale).
pub const MAX_RECEIPT_LINES: usize = 2000;

/// Why a receipt cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    /// A command could not be built (QR payload too long or empty...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The `escpos` encoder refused a command.
    #[error("escpos encoder: {0}")]
    Encoder(String),
    /// More than [`MAX_RECEIPT_LINES`] lines.
    #[error("{0} lines exceed the limit of {MAX_RECEIPT_LINES}")]
    TooManyLines(usize),
}
