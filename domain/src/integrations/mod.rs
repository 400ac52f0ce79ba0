//! Data in and out of other systems: CSV imports and exports, Stripe,
//! accounting providers, outgoing webhooks and where they may call.

pub mod accounting;
pub mod exports;
pub mod imports;
pub mod outbound;
pub mod stripe;
pub mod webhooks;
