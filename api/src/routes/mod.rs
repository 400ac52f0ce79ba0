//! One module per resource: its routes, each with its OpenAPI description,
//! and the types only HTTP needs (query strings, request shapes a handler
//! takes apart, answers that wrap what the domain returns). The request
//! bodies that are the domain's own input (`NewContact`, `InvoiceRequest`,
//! `TicketPatch`, ...) and what the routes answer with (`Contact`,
//! `Invoice`, ...) live in `nestogy_domain`, beside the code that checks
//! and stores them.
//!
//! Path parameters, one convention:
//! - `{id}` is the id of the resource the path starts from, right after its
//!   collection: `/invoices/{id}`, `/invoices/{id}/finalize`, and also
//!   `/clients/{id}/contacts` (the client's contacts);
//! - every other id is `{<thing>_id}`, named after what it identifies:
//!   `/clients/{id}/contacts/{contact_id}`,
//!   `/tickets/{id}/attachments/{attachment_id}`,
//!   `/mailboxes/{id}/quarantine/{message_id}/reprocess`, and
//!   `/webhooks/stripe/{company_id}` (a company, though the path names no
//!   collection of them);
//! - a key that is not an id says what it is: `/reports/{name}`,
//!   `/sla/policies/{priority}`, `/sla/holidays/{day}`, `/exports/{kind}`.
//!
//! The route string and the OpenAPI document are one: `utoipa`'s `path`
//! is the route axum serves, and its `params` name each parameter in the
//! path's order, as the handler's `Path` extractor reads them.

pub mod accounting;
pub mod api_tokens;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod canned_replies;
pub mod catalogue;
pub mod clients;
pub mod company;
pub mod contacts;
pub mod contracts;
pub mod documents;
pub mod health;
pub mod imports;
pub mod invoices;
pub mod jobs;
pub mod locations;
pub mod mail;
pub mod mail_texts;
pub mod mailboxes;
pub mod networks;
pub mod payments;
pub mod portal;
pub mod portal_account;
pub mod portal_billing;
pub mod portal_tickets;
pub mod projects;
pub mod quotes;
pub mod recurring;
pub mod recurring_tickets;
pub mod reports;
pub mod rmm;
pub mod schedules;
pub mod sla;
pub mod stripe;
pub mod ticket_templates;
pub mod tickets;
pub mod time_entries;
pub mod users;
pub mod webhooks;

use nestogy_domain::TenantTx;
use nestogy_domain::kernel::pagination::PageRequest;
use nestogy_domain::kernel::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::auth::{ContactPrincipal, Principal};
use crate::error::ApiResult;
use crate::state::AppState;

impl Principal {
    /// A transaction in the caller's tenant.
    pub async fn tx(&self, state: &AppState) -> ApiResult<TenantTx> {
        Ok(state.db.tenant(self.tenant).await?)
    }

    /// Writes the audit row for a change the caller made, with the entity as
    /// it is after the change.
    pub async fn audit<T: Serialize>(
        &self,
        tx: &mut TenantTx,
        action: &str,
        entity_type: &str,
        entity_id: uuid::Uuid,
        after: &T,
    ) -> ApiResult<()> {
        let details = serde_json::to_value(after).unwrap_or_default();
        nestogy_domain::kernel::audit::record(
            tx,
            &self.actor(),
            action,
            entity_type,
            Some(entity_id),
            details,
        )
        .await?;
        Ok(())
    }

    /// [`Principal::audit`] for a change to the caller's company itself.
    pub async fn audit_company<T: Serialize>(
        &self,
        tx: &mut TenantTx,
        action: &str,
        after: &T,
    ) -> ApiResult<()> {
        self.audit(tx, action, "company", self.tenant.as_uuid(), after)
            .await
    }
}

impl ContactPrincipal {
    /// Writes the audit row for a change a client's contact made in the
    /// portal, with the entity as it is after the change.
    pub async fn audit<T: Serialize>(
        &self,
        tx: &mut TenantTx,
        action: &str,
        entity_type: &str,
        entity_id: uuid::Uuid,
        after: &T,
    ) -> ApiResult<()> {
        let details = serde_json::to_value(after).unwrap_or_default();
        nestogy_domain::kernel::audit::record(
            tx,
            &self.actor(),
            action,
            entity_type,
            Some(entity_id),
            details,
        )
        .await?;
        Ok(())
    }
}

/// Paging alone, for lists without search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated page request (422 on a bad limit or cursor).
    pub fn page(&self) -> ApiResult<PageRequest> {
        let mut v = ValidationErrors::new();
        let page = PageRequest::parse(&mut v, self.limit, self.cursor.as_deref());
        v.finish()?;
        Ok(page)
    }
}

/// Paging and search for list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive search in names (and e-mail addresses where there are any).
    pub q: Option<String>,
}

impl ListQuery {
    /// The page asked for; a bad limit or cursor is a 422.
    pub fn page(&self) -> Result<PageRequest, nestogy_domain::DomainError> {
        PageRequest::from_query(self.limit, self.cursor.as_deref())
    }

    pub fn search(&self) -> Option<&str> {
        self.q.as_deref().map(str::trim).filter(|q| !q.is_empty())
    }
}
