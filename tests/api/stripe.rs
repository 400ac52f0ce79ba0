//! End-to-end tests: stripe.
