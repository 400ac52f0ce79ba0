//! Money owed and paid: catalogue and taxes, invoices, quotes, payments,
//! recurring templates and their periods, numbering and printed documents.

use crate::kernel::text::text_enum;

pub mod billing_periods;
pub mod catalogue;
pub mod documents;
pub mod invoices;
pub mod locale;
pub mod numbering;
pub mod payments;
pub mod quotes;
pub mod recurring;

text_enum!(
    /// What kind of document billing prints.
    DocKind {
        Invoice = "invoice",
        Quote = "quote",
        Statement = "statement",
    }
);
