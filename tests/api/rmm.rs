//! End-to-end tests: rmm.
