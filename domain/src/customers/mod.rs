//! An MSP's clients: the client itself, its contacts and its locations.
//! Billing, tickets and assets all hang off a client.

pub mod clients;
pub mod contacts;
pub mod locations;
