//! End-to-end tests: imports.
