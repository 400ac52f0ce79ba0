//! End-to-end tests: projects.
