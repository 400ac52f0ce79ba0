//! Money owed and paid: catalogue and taxes, invoices, quotes, payments,
//! recurring templates and their periods, numbering and printed documents.

pub mod billing_periods;
pub mod catalogue;
pub mod documents;
pub mod invoices;
pub mod locale;
pub mod numbering;
pub mod payments;
pub mod quotes;
pub mod recurring;
