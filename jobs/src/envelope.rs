//! What travels through Redis for one job.

use nestogy_domain::{JobId, TenantId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: JobId,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    pub payload: serde_json::Value,
    /// When it was put on the queue (or became due), ms since the epoch:
    /// the start of its enqueue-to-start latency.
    pub queued_ms: i64,
}

impl Envelope {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(s: &[u8]) -> Option<Envelope> {
        serde_json::from_slice(s).ok()
    }
}
