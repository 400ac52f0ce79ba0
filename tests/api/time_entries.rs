//! End-to-end tests: time_entries.
