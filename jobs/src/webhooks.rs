//! Webhook delivery jobs.
