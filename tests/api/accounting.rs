//! End-to-end tests: accounting.
