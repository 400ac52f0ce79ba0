//! CSV import jobs.
