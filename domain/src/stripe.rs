//! Stripe: per-tenant keys, payment links, autopay and the events Stripe sends.
