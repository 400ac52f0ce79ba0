//! What every context stands on: ids, errors, tenancy and the database,
//! the clock, money, dates, validation, pagination, roles, audit and events.

pub mod audit;
pub mod clock;
pub mod crypto;
pub mod dates;
pub mod db;
pub mod error;
pub mod events;
pub mod files;
pub mod ids;
pub mod money;
pub mod number_pattern;
pub mod pagination;
pub mod patch;
pub mod placeholders;
pub mod priority;
pub mod roles;
pub mod secrets;
pub mod tenancy;
pub mod text;
pub mod user_state;
pub mod validation;
