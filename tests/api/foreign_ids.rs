//! Every id a request body carries must name something of the caller's own
//! tenant: the id-bearing fields are read from the OpenAPI document, and
//! each is sent with another tenant's id.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Fixture, TestApp};

/// (method, path, field) for every body field whose schema is a uuid, or
/// an array of them; nested objects as `parent.child`, array items as `[]`.
pub fn id_fields(doc: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let schemas = &doc["components"]["schemas"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch"] {
            let Some(op) = item.get(method) else { continue };
            let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema")
            else {
                continue;
            };
            let mut fields = Vec::new();
            walk(schemas, schema, "", &mut fields, 0);
            for f in fields {
                out.insert((method.to_uppercase(), path.clone(), f));
            }
        }
    }
    out
}

fn resolve<'a>(schemas: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
        None => s,
    }
}

fn is_uuid(schemas: &Value, s: &Value) -> bool {
    let s = resolve(schemas, s);
    if s["format"] == "uuid" {
        return true;
    }
    // Option<Id> is a oneOf/anyOf of null and the id.
    ["oneOf", "anyOf"].iter().any(|k| {
        s.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|x| is_uuid(schemas, x)))
    })
}

fn walk(schemas: &Value, s: &Value, prefix: &str, out: &mut Vec<String>, depth: usize) {
    if depth > 6 {
        return;
    }
    let s = resolve(schemas, s);
    for k in ["allOf", "oneOf", "anyOf"] {
        if let Some(v) = s.get(k).and_then(Value::as_array) {
            for x in v {
                walk(schemas, x, prefix, out, depth + 1);
            }
        }
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            let field = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if is_uuid(schemas, p) {
                out.push(field);
                continue;
            }
            let p = resolve(schemas, p);
            if let Some(items) = p.get("items") {
                if is_uuid(schemas, items) {
                    out.push(format!("{field}[]"));
                } else {
                    walk(schemas, items, &format!("{field}[]"), out, depth + 1);
                }
            } else {
                walk(schemas, p, &field, out, depth + 1);
            }
        }
    }
}

/// Sets `field` (`a`, `a.b`, `lines[].x`, `ids[]`) of `body` to `id`:
/// array fields hold the one id, fields under `lines[]` go in the first line.
fn set(body: &mut Value, field: &str, id: &str) {
    match field.split_once("[].") {
        Some((list, rest)) => set(&mut body[list][0], rest, id),
        None => match field.strip_suffix("[]") {
            Some(list) => body[list] = json!([id]),
            None => body[field] = json!(id),
        },
    }
}

async fn asset(app: &TestApp, token: &str, o: &Fixture) -> String {
    let r = app
        .post(
            "/api/v1/assets",
            token,
            json!({"client_id": o.client, "name": "PC", "type": "laptop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn contract(app: &TestApp, token: &str, o: &Fixture) -> String {
    let r = app
        .post(
            "/api/v1/contracts",
            token,
            json!({"client_id": o.billed, "name": "Care", "start_date": "2026-01-01",
                   "end_date": "2026-12-31", "recurring_invoice_id": o.template}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// A ticket template and a recurring ticket opening it for the fixture's
/// client and `asset`.
async fn recurring(app: &TestApp, token: &str, o: &Fixture, asset: &str) -> (String, String) {
    let t = app
        .post(
            "/api/v1/ticket-templates",
            token,
            json!({"name": "Probe", "subject": "Probe"}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.body);
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            token,
            json!({"template_id": t.id(), "client_id": o.client, "asset_id": asset, "cron": "0 8 * * *"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (t.id(), r.id())
}

/// The id of the first message of the fixture's ticket.
async fn first_message(app: &TestApp, token: &str, o: &Fixture) -> String {
    let r = app
        .get(&format!("/api/v1/tickets/{}/messages", o.ticket), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body[0]["id"].as_str().expect("a message").to_owned()
}

/// One tenant's things, by the kind of id a field names.
struct Ids {
    o: Fixture,
    asset: String,
    contract: String,
    ticket_template: String,
    recurring_ticket: String,
    /// The one message of the fixture's ticket.
    message: String,
}

impl Ids {
    fn of(&self, method: &str, path: &str, field: &str) -> String {
        let o = &self.o;
        let last = field.rsplit('.').next().unwrap().trim_end_matches("[]");
        match last {
            "client_id" => o.client.clone(),
            "contact_id" => o.contact.clone(),
            "location_id" => o.location.clone(),
            "asset_id" => self.asset.clone(),
            "template_id" => self.ticket_template.clone(),
            "assignee_id" | "manager_id" | "user_id" => o.user.clone(),
            "project_id" => o.project.clone(),
            "task_id" => o.task.clone(),
            "ticket_id" => o.ticket.clone(),
            "invoice_id" => o.invoice.clone(),
            "product_id" => o.product.clone(),
            "tax_rate_ids" => o.tax_rate.clone(),
            "payment_term_id" => o.payment_term.clone(),
            "recurring_invoice_id" => o.template.clone(),
            "ids" if path.starts_with("/api/v1/assets") => self.asset.clone(),
            "ids" if path.starts_with("/api/v1/tickets") => o.ticket.clone(),
            "message_ids" => self.message.clone(),
            other => panic!("{method} {path}: no id of {other} in the fixture"),
        }
    }
}

/// The path with the caller's own ids, and a valid body with the caller's
/// own ids, for an operation that takes ids.
fn request(a: &Ids, method: &str, path: &str, field: &str) -> (String, Value) {
    let o = &a.o;
    let line = json!({"description": "Probe", "quantity": "1", "unit_price": "10.00",
                      "product_id": o.product, "tax_rate_ids": [o.tax_rate]});
    let own = match path.split('/').nth(3).unwrap() {
        "assets" => &a.asset,
        "contracts" => &a.contract,
        "clients" => &o.billed,
        "projects" => &o.project,
        "tickets" => &o.ticket,
        "invoices" => &o.invoice,
        "quotes" => &o.quote,
        "products" => &o.product,
        "recurring-invoices" => &o.template,
        "ticket-templates" => &a.ticket_template,
        "recurring-tickets" => &a.recurring_ticket,
        _ => "",
    };
    assert!(
        !path.contains("{id}") || !own.is_empty(),
        "{method} {path}: no such thing in the fixture"
    );
    let concrete = path.replace("{task_id}", &o.task).replace("{id}", own);
    let body = match (method, path) {
        ("POST", "/api/v1/assets") | ("PATCH", "/api/v1/assets/{id}") => {
            json!({"client_id": o.client, "name": "Probe", "type": "laptop",
                   "contact_id": o.contact, "location_id": o.location})
        }
        ("POST", "/api/v1/assets/bulk-location") => {
            json!({"ids": [a.asset], "location_id": o.location})
        }
        ("POST", "/api/v1/assets/bulk-status") => json!({"ids": [a.asset], "status": "spare"}),
        ("POST", "/api/v1/clients/{id}/bill-time") => {
            json!({"project_id": o.project, "invoice_id": o.invoice, "tax_rate_ids": [o.tax_rate]})
        }
        ("POST", "/api/v1/contracts") => {
            json!({"client_id": o.billed, "name": "Probe", "start_date": "2026-01-01",
                   "end_date": "2026-12-31", "recurring_invoice_id": o.template})
        }
        ("PATCH", "/api/v1/contracts/{id}") => json!({"recurring_invoice_id": o.template}),
        ("POST", "/api/v1/invoices") | ("PUT", "/api/v1/invoices/{id}") => {
            json!({"client_id": o.billed, "payment_term_id": o.payment_term, "lines": [line]})
        }
        ("POST", "/api/v1/quotes") | ("PUT", "/api/v1/quotes/{id}") => {
            json!({"client_id": o.billed, "lines": [line]})
        }
        ("POST", "/api/v1/recurring-invoices") => {
            json!({"client_id": o.billed, "name": "Probe", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-01", "lines": [line]})
        }
        ("PATCH", "/api/v1/recurring-invoices/{id}") => json!({"lines": [line]}),
        ("POST", "/api/v1/products") | ("PUT", "/api/v1/products/{id}") => {
            json!({"name": format!("Probe {field}"), "unit_price": "10.00", "tax_rate_ids": [o.tax_rate]})
        }
        ("POST", "/api/v1/projects") | ("PATCH", "/api/v1/projects/{id}") => {
            json!({"client_id": o.billed, "name": "Probe", "manager_id": o.user})
        }
        ("POST", "/api/v1/projects/{id}/tasks")
        | ("PATCH", "/api/v1/projects/{id}/tasks/{task_id}") => {
            json!({"title": "Probe", "assignee_id": o.user})
        }
        ("POST", "/api/v1/tickets") | ("PATCH", "/api/v1/tickets/{id}") => {
            json!({"subject": "Probe", "client_id": o.client, "contact_id": o.contact, "asset_id": a.asset})
        }
        ("POST", "/api/v1/tickets/bulk-assign") => {
            json!({"ids": [o.ticket], "assignee_id": o.user})
        }
        ("POST", "/api/v1/tickets/bulk-status") => json!({"ids": [o.ticket], "status": "open"}),
        ("POST", "/api/v1/tickets/{id}/assign") => json!({"assignee_id": o.user}),
        ("POST", "/api/v1/tickets/{id}/split") => {
            json!({"message_ids": [a.message], "subject": "Probe"})
        }
        // A watcher is a user or a contact, one at a time.
        ("POST", "/api/v1/tickets/{id}/watchers") => match field {
            "contact_id" => json!({"contact_id": o.contact}),
            _ => json!({"user_id": o.user}),
        },
        ("POST", "/api/v1/ticket-templates/{id}/tickets") => {
            json!({"client_id": o.client, "contact_id": o.contact, "asset_id": a.asset, "assignee_id": o.user})
        }
        ("POST", "/api/v1/recurring-tickets") | ("PATCH", "/api/v1/recurring-tickets/{id}") => {
            json!({"template_id": a.ticket_template, "client_id": o.client, "asset_id": a.asset,
                   "cron": "0 8 * * *"})
        }
        // One target at a time: a time entry is logged on one thing.
        ("POST", "/api/v1/time-entries") => match field {
            "ticket_id" => json!({"ticket_id": o.ticket, "minutes": 5, "description": "Probe"}),
            "task_id" => json!({"task_id": o.task, "minutes": 5, "description": "Probe"}),
            _ => {
                json!({"project_id": o.project, "user_id": o.user, "minutes": 5, "description": "Probe"})
            }
        },
        _ => {
            panic!("{method} {path} takes ids ({field}) and this test has no body for it: add one")
        }
    };
    (concrete, body)
}

#[tokio::test]
async fn every_id_in_a_body_must_be_the_callers_tenants() {
    let app = TestApp::new().await;
    let (ta, tb) = (app.tenant("Owner A").await, app.tenant("Other B").await);
    let oa = app.fixture(&ta.admin).await;
    let ob = app.fixture(&tb.admin).await;
    let asset_a = asset(&app, &ta.admin, &oa).await;
    let (template_a, recurring_a) = recurring(&app, &ta.admin, &oa, &asset_a).await;
    let a = Ids {
        asset: asset_a,
        contract: contract(&app, &ta.admin, &oa).await,
        ticket_template: template_a,
        recurring_ticket: recurring_a,
        message: first_message(&app, &ta.admin, &oa).await,
        o: oa,
    };
    let asset_b = asset(&app, &tb.admin, &ob).await;
    let (template_b, recurring_b) = recurring(&app, &tb.admin, &ob, &asset_b).await;
    let b = Ids {
        asset: asset_b,
        contract: contract(&app, &tb.admin, &ob).await,
        ticket_template: template_b,
        recurring_ticket: recurring_b,
        message: first_message(&app, &tb.admin, &ob).await,
        o: ob,
    };
    let doc = serde_json::to_value(nestogy_api::openapi_document()).unwrap();
    let fields = id_fields(&doc);
    assert!(fields.len() >= 40, "{fields:?}");
    let mut failures = Vec::new();
    for (method, path, field) in &fields {
        let random = uuid::Uuid::now_v7().to_string();
        for (whose, foreign) in [("B's", b.of(method, path, field)), ("a random", random)] {
            let (url, mut body) = request(&a, method, path, field);
            set(&mut body, field, &foreign);
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let r = app.call(m, &url, Some(&ta.admin), Some(body.clone())).await;
            let named = r.status == StatusCode::UNPROCESSABLE_ENTITY
                && r.body
                    .to_string()
                    .contains(field.rsplit('.').next().unwrap().trim_end_matches("[]"));
            if !(r.status == StatusCode::NOT_FOUND || named) {
                failures.push(format!(
                    "{method} {path} with {whose} id in {field}: {} {}",
                    r.status, r.body
                ));
            }
        }
    }
    // Nothing of A's refers to anything of B's.
    let leaks = references(&app, ta.id, &all_ids(&b)).await;
    assert!(
        failures.is_empty(),
        "{} accepted:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(leaks.is_empty(), "A's rows refer to B's: {leaks:?}");
}

fn all_ids(b: &Ids) -> Vec<String> {
    let o = &b.o;
    vec![
        o.client.clone(),
        o.contact.clone(),
        o.location.clone(),
        o.user.clone(),
        o.project.clone(),
        o.task.clone(),
        o.ticket.clone(),
        o.invoice.clone(),
        o.product.clone(),
        o.tax_rate.clone(),
        o.payment_term.clone(),
        b.asset.clone(),
        b.ticket_template.clone(),
        b.recurring_ticket.clone(),
        o.billed.clone(),
        o.quote.clone(),
        o.template.clone(),
        b.contract.clone(),
    ]
}

/// Every (table, column) of `tenant`'s rows that holds one of `ids`, in a
/// uuid, uuid[] or jsonb column.
async fn references(
    app: &TestApp,
    tenant: nestogy_domain::TenantId,
    ids: &[String],
) -> Vec<String> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.udt_name::text FROM information_schema.columns c \
         JOIN information_schema.columns t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
              AND t.column_name = 'company_id' \
         JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name \
              AND tb.table_type = 'BASE TABLE' \
         WHERE c.table_schema = 'public' AND c.udt_name IN ('uuid', '_uuid', 'jsonb') AND c.column_name <> 'company_id'",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|i| i.parse().unwrap()).collect();
    let mut found = Vec::new();
    for (table, column, udt) in columns {
        let test = match udt.as_str() {
            "uuid" => format!("{column} = ANY($2)"),
            "_uuid" => format!("{column} && $2"),
            _ => format!(
                "EXISTS (SELECT 1 FROM unnest($2::uuid[]) x WHERE {column}::text LIKE '%' || x || '%')"
            ),
        };
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE company_id = $1 AND {test}"
        )))
        .bind(tenant)
        .bind(&uuids)
        .fetch_one(&app.owner)
        .await
        .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}: {n}"));
        }
    }
    found
}

#[tokio::test]
async fn a_tickets_asset_is_its_clients_and_leaves_with_it() {
    let app = TestApp::new().await;
    let t = app.tenant("Assets Co").await;
    let o = app.fixture(&t.admin).await;
    let own = asset(&app, &t.admin, &o).await;
    let other_client = app.client(&t.admin, "Other Client").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer", "client_id": other_client, "asset_id": own}),
        )
        .await;
    assert_eq!(
        crate::common::field_code(&r, "asset_id"),
        "other_client",
        "{}",
        r.body
    );
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer", "asset_id": own}),
        )
        .await;
    assert_eq!(crate::common::field_code(&r, "asset_id"), "requires_client");
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer", "client_id": o.client, "asset_id": own}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ticket = r.id();
    // Moving the ticket to another client drops the old client's asset.
    let r = app
        .patch(
            &format!("/api/v1/tickets/{ticket}"),
            &t.admin,
            json!({"client_id": other_client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["asset_id"], Value::Null);
    let r = app
        .patch(
            &format!("/api/v1/tickets/{ticket}"),
            &t.admin,
            json!({"client_id": o.client, "asset_id": own}),
        )
        .await;
    assert_eq!(r.body["asset_id"], json!(own), "{}", r.body);
    // The database holds it too: an asset deleted leaves no dangling id.
    sqlx::query("DELETE FROM assets WHERE id = $1::uuid")
        .bind(&own)
        .execute(&app.owner)
        .await
        .unwrap();
    let r = app
        .get(&format!("/api/v1/tickets/{ticket}"), &t.admin)
        .await;
    assert_eq!(r.body["asset_id"], Value::Null);
    let stray = sqlx::query("UPDATE tickets SET asset_id = gen_random_uuid() WHERE id = $1::uuid")
        .bind(&ticket)
        .execute(&app.owner)
        .await;
    assert!(
        stray.is_err(),
        "the foreign key refuses an id that names no asset"
    );
}
