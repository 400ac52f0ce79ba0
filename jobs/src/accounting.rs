//! Accounting sync jobs.
