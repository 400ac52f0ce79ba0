//! An MSP's clients: the client itself, its contacts, its locations and
//! its contracts.
//! Billing, tickets and assets all hang off a client.

pub mod clients;
pub mod contacts;
pub mod contracts;
pub mod locations;
