//! The queues, one per job family, each with its own concurrency, so a
//! flood in one never starves another: their names and concurrency,
//! configured here, in one place. How they are kept in Redis is
//! [`crate::redis_queue`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    /// Diagnostics and small work.
    Default,
    /// Platform upkeep: retention, vacuum.
    Maintenance,
    /// Billing runs, overdue marking and reminders.
    Billing,
    /// Rendering documents: CPU-bound, so few at once.
    Documents,
    /// Outbound mail: mostly waiting on SMTP servers.
    Mail,
    /// Inbound mail: polling mailboxes, one job per mailbox at a time.
    Inbound,
    /// Tickets: SLA checks.
    Tickets,
    /// Report aggregation and the monthly management report: heavy reads,
    /// so few at once.
    Reports,
}

impl Queue {
    pub const ALL: [Queue; 8] = [
        Queue::Default,
        Queue::Maintenance,
        Queue::Billing,
        Queue::Documents,
        Queue::Mail,
        Queue::Inbound,
        Queue::Tickets,
        Queue::Reports,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Queue::Default => "default",
            Queue::Maintenance => "maintenance",
            Queue::Billing => "billing",
            Queue::Documents => "documents",
            Queue::Mail => "mail",
            Queue::Inbound => "inbound",
            Queue::Tickets => "tickets",
            Queue::Reports => "reports",
        }
    }

    pub fn parse(s: &str) -> Option<Queue> {
        Self::ALL.into_iter().find(|q| q.name() == s)
    }

    /// Jobs of this queue one worker process runs at once.
    pub fn concurrency(self) -> usize {
        match self {
            Queue::Default => 64,
            Queue::Maintenance => 2,
            Queue::Billing => 8,
            Queue::Documents => 4,
            Queue::Mail => 16,
            Queue::Inbound => 4,
            Queue::Tickets => 2,
            Queue::Reports => 2,
        }
    }
}
