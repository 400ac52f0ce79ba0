//! End-to-end tests: assets.
