//! Accounting sync: connections, the external-id map and the sync log.
