//! End-to-end tests: webhooks.
