//! Every route × every role, asserting the status.

use axum::http::StatusCode;
use nestogy_domain::kernel::roles::Role;
use serde_json::{Value, json};

use crate::common::{Fixture, PASSWORD, TestApp};

struct Case {
    method: &'static str,
    path: fn(&Fixture) -> String,
    body: Option<fn(&Fixture) -> Value>,
    /// Status for each allowed role; every other role gets 403.
    ok: StatusCode,
    allowed: &'static [Role],
}

const ALL: &[Role] = &[Role::Admin, Role::Tech, Role::Accountant];
const STAFF: &[Role] = &[Role::Admin, Role::Tech];
const ADMIN: &[Role] = &[Role::Admin];
const BILLING: &[Role] = &[Role::Admin, Role::Accountant];

fn cases() -> Vec<Case> {
    use StatusCode as S;
    vec![
        Case {
            method: "GET",
            path: |_| "/api/v1/clients".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/clients".into(),
            body: Some(|_| json!({"name": "New"})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}", f.client),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/clients/{}", f.client),
            body: Some(|_| json!({"name": "Renamed"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/clients/{}", f.client),
            body: None,
            ok: S::NO_CONTENT,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/clients/{}/archive", f.client),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/clients/{}/restore", f.client),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/contacts", f.client),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/clients/{}/contacts", f.client),
            body: Some(|_| json!({"name": "Bo"})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/contacts/{}", f.client, f.contact),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/clients/{}/contacts/{}", f.client, f.contact),
            body: Some(|_| json!({"title": "CTO"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/clients/{}/contacts/{}", f.client, f.contact),
            body: None,
            ok: S::NO_CONTENT,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/locations", f.client),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/clients/{}/locations", f.client),
            body: Some(|_| json!({"name": "Depot"})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/locations/{}", f.client, f.location),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/clients/{}/locations/{}", f.client, f.location),
            body: Some(|_| json!({"phone": "+49 30 1234"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/clients/{}/locations/{}", f.client, f.location),
            body: None,
            ok: S::NO_CONTENT,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/company".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PATCH",
            path: |_| "/api/v1/company".into(),
            body: Some(|_| json!({"locale": "de-DE"})),
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/users".into(),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/users".into(),
            body: Some(
                |_| json!({"email": format!("n{}@x.example", uuid::Uuid::now_v7().simple()), "name": "N", "role": "accountant", "password": PASSWORD}),
            ),
            ok: S::CREATED,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/users/{}", f.user),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/users/{}", f.user),
            body: Some(|_| json!({"name": "Renamed"})),
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/users/{}", f.user),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/api-tokens".into(),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/api-tokens".into(),
            body: Some(|_| json!({"name": "n", "scopes": ["clients:read"]})),
            ok: S::CREATED,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/api-tokens/{}", f.token),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/audit".into(),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/invoices".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/invoices".into(),
            body: Some(
                |f| json!({"client_id": f.billed, "lines": [{"description": "Work", "quantity": "1", "unit_price": "10"}]}),
            ),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/invoices/{}", f.invoice),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "PUT",
            path: |f| format!("/api/v1/invoices/{}", f.invoice),
            body: Some(
                |f| json!({"client_id": f.billed, "lines": [{"description": "Work", "quantity": "3", "unit_price": "10"}]}),
            ),
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/invoices/{}", f.invoice),
            body: None,
            ok: S::NO_CONTENT,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/invoices/{}/finalize", f.invoice),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        // Allowed, but a draft cannot be voided.
        Case {
            method: "POST",
            path: |f| format!("/api/v1/invoices/{}/void", f.invoice),
            body: None,
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/invoices/{}/duplicate", f.invoice),
            body: None,
            ok: S::CREATED,
            allowed: BILLING,
        },
        // Allowed, but the fixture invoice is a draft.
        Case {
            method: "POST",
            path: |f| format!("/api/v1/invoices/{}/payments", f.invoice),
            body: Some(|_| json!({"amount": "1", "method": "cash"})),
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/invoices/{}/apply-credit", f.invoice),
            body: Some(|_| json!({})),
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/payments".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/payments/{}/refund", f.payment),
            body: Some(|_| json!({"amount": "10"})),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/credit", f.billed),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/statement", f.billed),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/recurring-invoices".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/recurring-invoices".into(),
            body: Some(
                |f| json!({"client_id": f.billed, "name": "Weekly", "frequency": {"unit": "weeks", "every": 1}, "start_date": "2026-01-05", "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}),
            ),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/recurring-invoices/{}", f.template),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/recurring-invoices/{}/pause", f.template),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        // Allowed, but the template is not paused.
        Case {
            method: "POST",
            path: |f| format!("/api/v1/recurring-invoices/{}/resume", f.template),
            body: None,
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/billing-runs".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/billing-runs".into(),
            body: Some(|_| json!({"dry_run": true})),
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/billing-runs/{}", f.run),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/quotes".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/quotes".into(),
            body: Some(
                |f| json!({"client_id": f.billed, "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}),
            ),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/quotes/{}", f.quote),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "PUT",
            path: |f| format!("/api/v1/quotes/{}", f.quote),
            body: Some(
                |f| json!({"client_id": f.billed, "lines": [{"description": "y", "quantity": "1", "unit_price": "2"}]}),
            ),
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/quotes/{}", f.quote),
            body: None,
            ok: S::NO_CONTENT,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/quotes/{}/send", f.quote),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        // Documents and mail.
        Case {
            method: "GET",
            path: |f| format!("/api/v1/invoices/{}/pdf", f.invoice),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/invoices/{}/send", f.open_invoice),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/quotes/{}/pdf", f.quote),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/clients/{}/statement/pdf", f.billed),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/clients/{}/statement/send", f.billed),
            body: Some(|_| json!({})),
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/payments/{}/receipt", f.payment),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/mail".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/company/smtp".into(),
            body: None,
            ok: S::NOT_FOUND,
            allowed: ADMIN,
        },
        Case {
            method: "PUT",
            path: |_| "/api/v1/company/smtp".into(),
            body: Some(
                |_| json!({"host": "smtp.example.com", "tls": "starttls", "from_address": "billing@example.com"}),
            ),
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |_| "/api/v1/company/smtp".into(),
            body: None,
            ok: S::NO_CONTENT,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/company/logo".into(),
            body: None,
            ok: S::NOT_FOUND,
            allowed: ALL,
        },
        // Allowed, but a JSON body is no image.
        Case {
            method: "PUT",
            path: |_| "/api/v1/company/logo".into(),
            body: Some(|_| json!({})),
            ok: S::UNPROCESSABLE_ENTITY,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |_| "/api/v1/company/logo".into(),
            body: None,
            ok: S::NOT_FOUND,
            allowed: ADMIN,
        },
        // Allowed, but the fixture quote is a draft.
        Case {
            method: "POST",
            path: |f| format!("/api/v1/quotes/{}/accept", f.quote),
            body: None,
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/quotes/{}/decline", f.quote),
            body: None,
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/quotes/{}/convert", f.quote),
            body: None,
            ok: S::CONFLICT,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/tax-rates".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/tax-rates".into(),
            body: Some(|_| json!({"name": format!("T {}", uuid::Uuid::now_v7()), "percent": "7"})),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/tax-rates/{}", f.tax_rate),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "PUT",
            path: |f| format!("/api/v1/tax-rates/{}", f.tax_rate),
            body: Some(|_| json!({"name": format!("T {}", uuid::Uuid::now_v7()), "percent": "8"})),
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/tax-rates/{}/archive", f.tax_rate),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/tax-rates/{}/restore", f.tax_rate),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/products".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/products".into(),
            body: Some(
                |_| json!({"name": format!("P {}", uuid::Uuid::now_v7()), "unit_price": "1"}),
            ),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/products/{}", f.product),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "PUT",
            path: |f| format!("/api/v1/products/{}", f.product),
            body: Some(
                |_| json!({"name": format!("P {}", uuid::Uuid::now_v7()), "unit_price": "2"}),
            ),
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/products/{}/archive", f.product),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/products/{}/restore", f.product),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/payment-terms".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/payment-terms".into(),
            body: Some(|_| json!({"name": format!("N {}", uuid::Uuid::now_v7()), "days": 30})),
            ok: S::CREATED,
            allowed: BILLING,
        },
        Case {
            method: "PUT",
            path: |f| format!("/api/v1/payment-terms/{}", f.payment_term),
            body: Some(|_| json!({"name": format!("N {}", uuid::Uuid::now_v7()), "days": 45})),
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/payment-terms/{}", f.payment_term),
            body: None,
            ok: S::NO_CONTENT,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/jobs".into(),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/jobs/{}", f.job),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/jobs/{}/cancel", f.job),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        // Allowed, but the job is queued, not dead.
        Case {
            method: "POST",
            path: |f| format!("/api/v1/jobs/{}/retry", f.job),
            body: None,
            ok: S::CONFLICT,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/schedules".into(),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/schedules".into(),
            body: Some(
                |_| json!({"name": format!("n {}", uuid::Uuid::now_v7()), "kind": "diag.noop", "cron": "0 4 * * *"}),
            ),
            ok: S::CREATED,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/schedules/{}", f.schedule),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/schedules/{}", f.schedule),
            body: Some(|_| json!({"enabled": false})),
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/schedules/{}", f.schedule),
            body: None,
            ok: S::NO_CONTENT,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/schedules/{}/run", f.schedule),
            body: None,
            ok: S::ACCEPTED,
            allowed: ADMIN,
        },
        // Tickets: techs and admins.
        Case {
            method: "GET",
            path: |_| "/api/v1/tickets".into(),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/tickets".into(),
            body: Some(|_| json!({"subject": "New"})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/tickets/{}", f.ticket),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/tickets/{}", f.ticket),
            body: Some(|_| json!({"subject": "Renamed", "priority": "high"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/tickets/{}", f.ticket),
            body: None,
            ok: S::NO_CONTENT,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/tickets/{}/assign", f.ticket),
            body: Some(|f| json!({"assignee_id": f.user})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/tickets/{}/status", f.ticket),
            body: Some(|_| json!({"status": "in_progress"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/tickets/bulk-assign".into(),
            body: Some(|f| json!({"ids": [f.ticket], "assignee_id": f.user})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/tickets/bulk-status".into(),
            body: Some(|f| json!({"ids": [f.ticket], "status": "resolved"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/tickets/{}/messages", f.ticket),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/tickets/{}/messages", f.ticket),
            body: Some(|_| json!({"kind": "note", "body": "Looked into it."})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        // Allowed, but the fixture ticket has no one to mail a reply to.
        Case {
            method: "POST",
            path: |f| format!("/api/v1/tickets/{}/messages", f.ticket),
            body: Some(|_| json!({"kind": "reply", "body": "Hello"})),
            ok: S::CONFLICT,
            allowed: STAFF,
        },
        // Allowed, but there is no such attachment.
        Case {
            method: "GET",
            path: |f| {
                format!(
                    "/api/v1/tickets/{}/attachments/{}",
                    f.ticket,
                    uuid::Uuid::now_v7()
                )
            },
            body: None,
            ok: S::NOT_FOUND,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/tickets/{}/history", f.ticket),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        // SLA: techs read, admins change.
        Case {
            method: "GET",
            path: |_| "/api/v1/sla/policies".into(),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "PUT",
            path: |_| "/api/v1/sla/policies/high".into(),
            body: Some(|_| json!({"first_response_minutes": 60, "resolution_minutes": 480})),
            ok: S::OK,
            allowed: ADMIN,
        },
        // Allowed, but low has no policy.
        Case {
            method: "DELETE",
            path: |_| "/api/v1/sla/policies/low".into(),
            body: None,
            ok: S::NOT_FOUND,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/sla/holidays".into(),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "PUT",
            path: |_| "/api/v1/sla/holidays/2026-12-25".into(),
            body: Some(|_| json!({"name": "Christmas Day"})),
            ok: S::OK,
            allowed: ADMIN,
        },
        // Allowed, but that day is no holiday.
        Case {
            method: "DELETE",
            path: |_| "/api/v1/sla/holidays/2026-12-24".into(),
            body: None,
            ok: S::NOT_FOUND,
            allowed: ADMIN,
        },
        // Mailboxes: admins; their quarantine: techs and admins.
        Case {
            method: "GET",
            path: |_| "/api/v1/mailboxes".into(),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/mailboxes".into(),
            body: Some(|_| {
                json!({"name": "Help", "address": "help@msp.example", "host": "127.0.0.1", "port": 1143, "tls": "none",
                           "username": format!("help-{}", uuid::Uuid::now_v7().simple()), "password": "pw"})
            }),
            ok: S::CREATED,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/mailboxes/{}", f.mailbox),
            body: None,
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/mailboxes/{}", f.mailbox),
            body: Some(|_| json!({"name": "Renamed", "enabled": false})),
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/mailboxes/{}", f.mailbox),
            body: None,
            ok: S::NO_CONTENT,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/mailboxes/{}/test", f.mailbox),
            body: None,
            ok: S::ACCEPTED,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/mailboxes/{}/poll", f.mailbox),
            body: None,
            ok: S::ACCEPTED,
            allowed: ADMIN,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/mailboxes/{}/quarantine", f.mailbox),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        // Allowed, but there is no such message.
        Case {
            method: "POST",
            path: |f| {
                format!(
                    "/api/v1/mailboxes/{}/quarantine/{}/reprocess",
                    f.mailbox,
                    uuid::Uuid::now_v7()
                )
            },
            body: None,
            ok: S::NOT_FOUND,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/auth/me".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/auth/totp/enroll".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        // Projects and their tasks: techs and admins manage, accountants read.
        Case {
            method: "GET",
            path: |_| "/api/v1/projects".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/projects".into(),
            body: Some(|f| json!({"client_id": f.billed, "name": "Migration"})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/projects/{}", f.project),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/projects/{}", f.project),
            body: Some(|_| json!({"status": "active"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/projects/{}", f.project),
            body: None,
            // Allowed, but the fixture project has logged time.
            ok: S::CONFLICT,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/projects/{}/tasks", f.project),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/projects/{}/tasks", f.project),
            body: Some(|_| json!({"title": "Order switches"})),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/projects/{}/tasks/{}", f.project, f.task),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/projects/{}/tasks/{}", f.project, f.task),
            body: Some(|_| json!({"status": "done"})),
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/projects/{}/tasks/{}", f.project, f.task),
            body: None,
            ok: S::NO_CONTENT,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/projects/{}/tickets", f.project),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "PUT",
            path: |f| format!("/api/v1/projects/{}/tickets/{}", f.project, f.ticket),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/projects/{}/tickets/{}", f.project, f.ticket),
            body: None,
            // Allowed, but the fixture ticket is not linked.
            ok: S::NOT_FOUND,
            allowed: STAFF,
        },
        // Time: techs and admins log it, accountants read it and bill it.
        Case {
            method: "GET",
            path: |_| "/api/v1/time-entries".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/time-entries".into(),
            body: Some(
                |f| json!({"project_id": f.project, "minutes": 15, "description": "Call", "rate": "90"}),
            ),
            ok: S::CREATED,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/time-entries/{}", f.time_entry),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        // The fixture entry is another tech's: only admins change others'
        // time (a tech's own is tested in time_entries.rs).
        Case {
            method: "PATCH",
            path: |f| format!("/api/v1/time-entries/{}", f.time_entry),
            body: Some(|_| json!({"minutes": 45})),
            ok: S::OK,
            allowed: ADMIN,
        },
        Case {
            method: "DELETE",
            path: |f| format!("/api/v1/time-entries/{}", f.time_entry),
            body: None,
            ok: S::NO_CONTENT,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/time-entries/{}/stop", f.time_entry),
            body: None,
            // Allowed, but the fixture entry is no running timer.
            ok: S::CONFLICT,
            allowed: ADMIN,
        },
        Case {
            method: "POST",
            path: |f| format!("/api/v1/clients/{}/bill-time", f.billed),
            body: Some(|_| json!({})),
            ok: S::CREATED,
            allowed: BILLING,
        },
        // Reports: finance ones for accountants, service ones for techs;
        // each role lists what it may read.
        Case {
            method: "GET",
            path: |_| "/api/v1/reports".into(),
            body: None,
            ok: S::OK,
            allowed: ALL,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/reports/finance_summary".into(),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |f| format!("/api/v1/reports/ar_ageing?client_id={}", f.billed),
            body: None,
            ok: S::OK,
            allowed: BILLING,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/reports/ticket_volume_daily".into(),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "GET",
            path: |_| "/api/v1/reports/warranties_expiring".into(),
            body: None,
            ok: S::OK,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/reports/mrr/refresh".into(),
            body: None,
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/reports/sla_compliance/refresh".into(),
            body: None,
            ok: S::ACCEPTED,
            allowed: STAFF,
        },
        Case {
            method: "POST",
            path: |_| "/api/v1/management-reports".into(),
            body: Some(|_| json!({})),
            ok: S::ACCEPTED,
            allowed: BILLING,
        },
    ]
}

#[tokio::test]
async fn every_route_for_every_role() {
    let app = TestApp::new().await;
    let t = app.tenant("Matrix").await;
    let tokens = [
        (Role::Admin, t.admin.clone()),
        (Role::Tech, app.user(&t, Role::Tech).await),
        (Role::Accountant, app.user(&t, Role::Accountant).await),
    ];
    let mut failures = Vec::new();
    for case in cases() {
        for (role, token) in &tokens {
            let f = app.fixture(&t.admin).await;
            let path = (case.path)(&f);
            let r = app
                .call(
                    case.method.parse().unwrap(),
                    &path,
                    Some(token),
                    case.body.map(|b| b(&f)),
                )
                .await;
            let want = if case.allowed.contains(role) {
                case.ok
            } else {
                StatusCode::FORBIDDEN
            };
            if r.status != want {
                failures.push(format!(
                    "{:?} {} {path}: want {want}, got {} {}",
                    role, case.method, r.status, r.body
                ));
            } else if want == StatusCode::FORBIDDEN {
                assert_eq!(r.error_code(), "forbidden");
            }
        }
        // And without any token: 401 everywhere.
        let f = app.fixture(&t.admin).await;
        let r = app
            .call(
                case.method.parse().unwrap(),
                &(case.path)(&f),
                None,
                case.body.map(|b| b(&f)),
            )
            .await;
        if r.status != StatusCode::UNAUTHORIZED {
            failures.push(format!(
                "anonymous {} {}: got {}",
                case.method,
                (case.path)(&f),
                r.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "role matrix failures:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn api_tokens_are_limited_to_their_scopes() {
    let app = TestApp::new().await;
    let t = app.tenant("Scoped").await;
    let client = app.client(&t.admin, "Acme").await;
    let created = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "rmm", "scopes": ["clients:read"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("nst_"));

    assert_eq!(
        app.get(&format!("/api/v1/clients/{client}"), &secret)
            .await
            .status,
        StatusCode::OK
    );
    let write = app
        .post("/api/v1/clients", &secret, json!({"name": "Nope"}))
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/company", &secret).await.status,
        StatusCode::FORBIDDEN
    );
    // An API token cannot mint further tokens, whatever its scopes.
    let full = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "full", "scopes": ["users:write", "users:read"]}),
        )
        .await;
    let full_secret = full.body["secret"].as_str().unwrap().to_owned();
    let minted = app
        .post(
            "/api/v1/api-tokens",
            &full_secret,
            json!({"name": "child", "scopes": ["users:read"]}),
        )
        .await;
    assert_eq!(minted.status, StatusCode::FORBIDDEN);

    // Unknown scopes and empty scope lists are refused.
    let bad = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let empty = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "x", "scopes": []}),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.error_code(), "validation_failed");
}
