//! Stripe jobs: payment links and autopay.
