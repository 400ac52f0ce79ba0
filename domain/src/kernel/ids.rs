//! Typed ids: a `ClientId` can never be passed where a `ContactId` is meant.
//! All ids are UUID v7, so they sort by creation time.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(u: uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A company: the tenant. Every tenant-owned row carries one.
    TenantId
);
id_type!(UserId);
id_type!(ClientId);
id_type!(ContactId);
id_type!(LocationId);
id_type!(AuditId);
id_type!(ApiTokenId);
id_type!(RefreshTokenId);
id_type!(
    /// A job: returned by every enqueue, the key of its state in PostgreSQL.
    JobId
);
id_type!(ScheduleId);
id_type!(TaxRateId);
id_type!(ProductId);
id_type!(PaymentTermId);
id_type!(InvoiceId);
id_type!(PaymentId);
id_type!(RecurringId);
id_type!(BillingRunId);
id_type!(QuoteId);
id_type!(MailId);
id_type!(TicketId);
id_type!(TicketMessageId);
id_type!(
    /// A saved view of the ticket queue.
    TicketViewId
);
id_type!(
    /// What a ticket starts with: subject, text, priority, tags, checklist.
    TicketTemplateId
);
id_type!(
    /// One item of a ticket's checklist.
    ChecklistItemId
);
id_type!(
    /// A template opened as a ticket for a client on a schedule.
    RecurringTicketId
);
id_type!(AttachmentId);
id_type!(
    /// A canned reply: a text with placeholders for replies.
    CannedReplyId
);
id_type!(
    /// A watcher of a ticket: a user or a contact.
    TicketWatcherId
);
id_type!(MailboxId);
id_type!(
    /// A message a mailbox delivered, with what became of it.
    InboundId
);
id_type!(SlaPolicyId);
id_type!(AssetId);
id_type!(NetworkId);
id_type!(ProjectId);
id_type!(TaskId);
id_type!(TimeEntryId);
id_type!(
    /// An event of a tenant (`invoice.paid`, ...): the id webhooks carry.
    EventId
);
id_type!(WebhookEndpointId);
id_type!(WebhookDeliveryId);
id_type!(AutopayAttemptId);
id_type!(AccountingConnectionId);
id_type!(SyncRunId);
id_type!(ImportId);
id_type!(ContractId);
