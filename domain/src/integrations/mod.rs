//! Data in and out of other systems: CSV imports and exports, Stripe,
//! accounting providers, outgoing webhooks and where they may call, and the
//! words of the mail the platform sends (in the company's language, from
//! its locale and company: so above billing and identity).

pub mod accounting;
pub mod exports;
pub mod imports;
pub mod mail_texts;
pub mod outbound;
pub mod stripe;
pub mod webhooks;
