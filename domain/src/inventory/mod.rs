//! What an MSP manages for its clients: assets with warranties, networks,
//! and the monitoring alerts (RMM) that open tickets about them.

pub mod assets;
pub mod networks;
pub mod rmm;
