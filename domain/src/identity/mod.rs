//! The company (the tenant) and its users: settings, roles, passwords,
//! sessions and API tokens.

pub mod company;
pub mod passwords;
pub mod tokens;
pub mod users;
pub mod web_sessions;
