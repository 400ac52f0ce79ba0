//! `/console/assets`: the asset list with the API's filters (client,
//! status, type, search; cursor pages) and a bulk status change of the
//! ticked rows, the warranties expiring soon, one asset with its history
//! and edit form, and the new-asset form. Techs and admins (the API's rule:
//! an accountant gets its 403 as a page).

use std::collections::HashMap;

use axum::extract::{Path, Query, RawQuery};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::customers::clients::Client;
use nestogy_domain::customers::contacts::Contact;
use nestogy_domain::customers::locations::Location;
use nestogy_domain::identity::users::StaffMember;
use nestogy_domain::inventory::assets::{Asset, AssetEvent, AssetStatus, AssetType};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{AssetId, ClientId, UserId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api_client::{ApiFailure, query};
use crate::fmt::label;
use crate::layout::{self, Section};
use crate::names::client_names;
use crate::pages::clients::{input, next_link, parse_id, refusal};
use crate::picker::{self, ClientPicker, Spec};
use crate::session::{Console, Form};

/// A labelled `select` named `name` of `(value, label)` options, `current`
/// selected, with the API's problem for `name` under it.
pub(crate) fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    current: &str,
    problem: Option<&ApiFailure>,
) -> Markup {
    let id = format!("f-{name}");
    let message = problem.and_then(|f| f.field(name));
    html! {
        label for=(id) { (label) }
        select id=(id) name=(name) aria-invalid=[message.map(|_| "true")] {
            @for (v, l) in options {
                option value=(v) selected[v == current] { (l) }
            }
        }
        @if let Some(m) = message { p.field-problem { (m) } }
    }
}

/// `s` trimmed, or `None` when empty.
pub(crate) fn some(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// The names of the company's active staff (the staff directory every
/// role may read), and the user's own.
pub(crate) async fn user_names(c: &Console) -> Result<HashMap<UserId, String>, ApiFailure> {
    let staff: Page<StaffMember> = c.api.get("/api/v1/staff?limit=200").await?;
    let mut names: HashMap<UserId, String> =
        staff.data.into_iter().map(|u| (u.id, u.name)).collect();
    names.insert(c.user.id, c.user.name.clone());
    Ok(names)
}

fn status_options() -> Vec<(String, String)> {
    AssetStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), label(s.as_str())))
        .collect()
}

fn type_options() -> Vec<(String, String)> {
    AssetType::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), label(s.as_str())))
        .collect()
}

fn with_any(mut o: Vec<(String, String)>) -> Vec<(String, String)> {
    o.insert(0, (String::new(), "Any".to_owned()));
    o
}

fn status_class(s: AssetStatus) -> &'static str {
    match s {
        AssetStatus::InRepair => "warn",
        AssetStatus::Retired => "muted",
        _ => "",
    }
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    status: String,
    #[serde(default, rename = "type")]
    asset_type: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
    /// How many assets the last bulk change changed.
    #[serde(default)]
    changed: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    list_page(c, p, None).await
}

async fn list_page(
    c: Console,
    p: ListParams,
    refused: Option<ApiFailure>,
) -> Result<Response, ApiFailure> {
    let filters = [
        ("client_id", p.client_id.as_str()),
        ("status", p.status.as_str()),
        ("type", p.asset_type.as_str()),
        ("q", p.q.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<Asset> = c
        .api
        .get(format!("/api/v1/assets{}", query(&pairs)))
        .await?;
    let clients = ClientPicker::load(&c, &p.client_q, &p.client_id).await?;
    let names = client_names(&c, page.data.iter().map(|a| a.client_id)).await?;
    let back = query(&pairs);
    let status = refused.as_ref().map(|f| f.status).unwrap_or(StatusCode::OK);
    let body = html! {
        h1 { "Assets" }
        p {
            a #new-asset href="/console/assets/new" { "New asset" } " · "
            a #warranties-link href="/console/assets/warranties" { "Warranties expiring soon" }
        }
        @if !p.changed.is_empty() {
            p.notice #done role="status" { (p.changed) " assets changed." }
        }
        form #asset-filter .inline method="get" action="/console/assets" {
            (clients.render(Spec::new("client_id", "Any", "/console/assets")))
            label for="status" { "Status" }
            select #status name="status" {
                @for (v, l) in with_any(status_options()) { option value=(v) selected[v == p.status] { (l) } }
            }
            label for="type" { "Type" }
            select #type name="type" {
                @for (v, l) in with_any(type_options()) { option value=(v) selected[v == p.asset_type] { (l) } }
            }
            label for="q" { "Search" }
            input #q name="q" type="search" value=(p.q);
            button type="submit" { "Filter" }
        }
        p.muted #asset-count { (page.total) " assets" }
        (refusal(refused.as_ref()))
        @if page.data.is_empty() {
            p.muted { "No asset matches." }
        } @else {
            form #bulk-status method="post" action="/console/assets/bulk-status" {
                (layout::csrf_field(c.csrf()))
                input type="hidden" name="back" value=(back);
                div.scroll { table #assets {
                    thead { tr {
                        th { "Select" }
                        th { "Name" } th { "Type" } th { "Client" } th { "Status" }
                        th { "Serial" } th { "Hostname" } th { "Warranty" }
                    } }
                    tbody { @for a in &page.data {
                        tr id={ "asset-" (a.id) } {
                            td { input type="checkbox" name="ids" value=(a.id) id={ "pick-" (a.id) } aria-label={ "Select " (a.name) }; }
                            td { a href={ "/console/assets/" (a.id) } { (a.name) } }
                            td { (label(a.asset_type.as_str())) }
                            td { a href={ "/console/clients/" (a.client_id) } { (names.get(&a.client_id).map(String::as_str).unwrap_or("")) } }
                            td class=(status_class(a.status)) { (label(a.status.as_str())) }
                            td { (a.serial.as_deref().unwrap_or("")) }
                            td { (a.hostname.as_deref().unwrap_or("")) }
                            td { @if let Some(d) = a.warranty_expires { (c.fmt.date(d)) } }
                        }
                    } }
                } }
                p.inline {
                    label for="bulk-status-value" { "Set the ticked assets' status to" }
                    select #bulk-status-value name="status" {
                        @for (v, l) in status_options() { option value=(v) { (l) } }
                    }
                    button #bulk-status-submit type="submit" { "Change status" }
                }
            }
        }
        (next_link("/console/assets", &filters, page.next_cursor.as_deref()))
    };
    Ok(c.page_with(status, Some(Section::Assets), "Assets", body))
}

fn value_of<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// `POST /console/assets/bulk-status`: the ticked assets' status set.
pub async fn bulk_status(
    c: Console,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let ids: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.as_str())
        .collect();
    let status = value_of(&fields, "status");
    let back = value_of(&fields, "back").trim_start_matches('?');
    let params: ListParams = serde_urlencoded::from_str(back).unwrap_or_default();
    match c
        .api
        .send::<Value>(
            Method::POST,
            "/api/v1/assets/bulk-status",
            &json!({ "ids": ids, "status": status }),
        )
        .await
    {
        Ok(v) => {
            let n = v["changed"].as_array().map(Vec::len).unwrap_or(0);
            let filters = [
                ("client_id", params.client_id.as_str()),
                ("status", params.status.as_str()),
                ("type", params.asset_type.as_str()),
                ("q", params.q.as_str()),
                ("changed", &n.to_string()),
            ];
            Ok(see_other(&format!("/console/assets{}", query(&filters))))
        }
        Err(f) if f.is_validation() => list_page(c, params, Some(f)).await,
        Err(f) => Err(f),
    }
}

// ---------------------------------------------------------------- warranties

#[derive(Debug, Default, Deserialize)]
pub struct WarrantyParams {
    #[serde(default)]
    days: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    cursor: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

pub async fn warranties(
    c: Console,
    Query(p): Query<WarrantyParams>,
) -> Result<Response, ApiFailure> {
    let days = if p.days.is_empty() { "30" } else { &p.days };
    let filters = [("days", days), ("client_id", p.client_id.as_str())];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<Asset> = c
        .api
        .get(format!(
            "/api/v1/assets/warranties/expiring{}",
            query(&pairs)
        ))
        .await?;
    let clients = ClientPicker::load(&c, &p.client_q, &p.client_id).await?;
    let names = client_names(&c, page.data.iter().map(|a| a.client_id)).await?;
    let today = c.fmt.today(c.now);
    let body = html! {
        h1 { "Warranties expiring soon" }
        form #warranty-filter .inline method="get" action="/console/assets/warranties" {
            label for="days" { "Within (days)" }
            input #days name="days" type="number" min="1" max="365" value=(days);
            (clients.render(Spec::new("client_id", "Any", "/console/assets/warranties")))
            button type="submit" { "Show" }
        }
        p.muted #warranty-count { (page.total) " assets in service whose warranty expires within " (days) " days" }
        @if page.data.is_empty() {
            p.muted { "No warranty expires in this window." }
        } @else {
            div.scroll { table #warranties {
                thead { tr { th { "Expires" } th.n { "Days left" } th { "Asset" } th { "Client" } th { "Serial" } } }
                tbody { @for a in &page.data {
                    tr id={ "asset-" (a.id) } {
                        @let d = a.warranty_expires.unwrap_or(today);
                        @let left = (d - today).num_days();
                        td { (c.fmt.date(d)) }
                        td.n class=[(left <= 7).then_some("bad")] { (left) }
                        td { a href={ "/console/assets/" (a.id) } { (a.name) } }
                        td { (names.get(&a.client_id).map(String::as_str).unwrap_or("")) }
                        td { (a.serial.as_deref().unwrap_or("")) }
                    }
                } }
            } }
        }
        (next_link("/console/assets/warranties", &filters, page.next_cursor.as_deref()))
        p { a href="/console/assets" { "All assets" } }
    };
    Ok(c.page(Section::Assets, "Warranties expiring soon", body))
}

// ---------------------------------------------------------------- create and edit

/// The fields of the new-asset and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFields {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    asset_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    make: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    ip_address: String,
    #[serde(default)]
    mac_address: String,
    #[serde(default)]
    operating_system: String,
    #[serde(default)]
    location_id: String,
    #[serde(default)]
    contact_id: String,
    #[serde(default)]
    purchase_date: String,
    #[serde(default)]
    purchase_cost: String,
    #[serde(default)]
    warranty_expires: String,
    #[serde(default)]
    notes: String,
    /// The client picker's search (new assets).
    #[serde(default)]
    client_q: String,
}

impl AssetFields {
    fn of(a: &Asset) -> Self {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        AssetFields {
            client_id: a.client_id.to_string(),
            name: a.name.clone(),
            asset_type: a.asset_type.as_str().to_owned(),
            status: a.status.as_str().to_owned(),
            make: s(&a.make),
            model: s(&a.model),
            serial: s(&a.serial),
            hostname: s(&a.hostname),
            ip_address: s(&a.ip_address),
            mac_address: s(&a.mac_address),
            operating_system: s(&a.operating_system),
            location_id: a.location_id.map(|i| i.to_string()).unwrap_or_default(),
            contact_id: a.contact_id.map(|i| i.to_string()).unwrap_or_default(),
            purchase_date: a.purchase_date.map(|d| d.to_string()).unwrap_or_default(),
            purchase_cost: a.purchase_cost.map(|d| d.to_string()).unwrap_or_default(),
            warranty_expires: a
                .warranty_expires
                .map(|d| d.to_string())
                .unwrap_or_default(),
            notes: s(&a.notes),
            client_q: String::new(),
        }
    }

    fn optional(&self) -> [(&'static str, &str); 12] {
        [
            ("make", &self.make),
            ("model", &self.model),
            ("serial", &self.serial),
            ("hostname", &self.hostname),
            ("ip_address", &self.ip_address),
            ("mac_address", &self.mac_address),
            ("operating_system", &self.operating_system),
            ("location_id", &self.location_id),
            ("contact_id", &self.contact_id),
            ("purchase_date", &self.purchase_date),
            ("purchase_cost", &self.purchase_cost),
            ("warranty_expires", &self.warranty_expires),
        ]
    }

    /// The body of `POST /assets`: empty fields left out.
    fn create_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("client_id".into(), json!(self.client_id.trim()));
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.asset_type));
        if let Some(s) = some(&self.status) {
            m.insert("status".into(), json!(s));
        }
        for (k, v) in self.optional() {
            if let Some(v) = some(v) {
                m.insert(k.into(), json!(v));
            }
        }
        if let Some(n) = some(&self.notes) {
            m.insert("notes".into(), json!(n));
        }
        Value::Object(m)
    }

    /// The body of `PATCH /assets/{id}`: every field, empty ones cleared.
    fn patch_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.asset_type));
        m.insert("status".into(), json!(self.status));
        for (k, v) in self.optional() {
            m.insert(k.into(), json!(some(v)));
        }
        m.insert("notes".into(), json!(some(&self.notes)));
        Value::Object(m)
    }
}

/// The client's locations and contacts, for the edit form's pickers.
struct Places {
    locations: Vec<(String, String)>,
    contacts: Vec<(String, String)>,
}

async fn places_of(c: &Console, client: ClientId) -> Result<Places, ApiFailure> {
    let (l, ct) = tokio::join!(
        c.api
            .get::<Page<Location>>(format!("/api/v1/clients/{client}/locations?limit=200")),
        c.api
            .get::<Page<Contact>>(format!("/api/v1/clients/{client}/contacts?limit=200")),
    );
    let none = || (String::new(), "None".to_owned());
    Ok(Places {
        locations: std::iter::once(none())
            .chain(l?.data.into_iter().map(|l| (l.id.to_string(), l.name)))
            .collect(),
        contacts: std::iter::once(none())
            .chain(ct?.data.into_iter().map(|c| (c.id.to_string(), c.name)))
            .collect(),
    })
}

/// The pickers of the asset form: the clients for a new asset, the
/// client's locations and contacts when editing.
enum Pickers<'a> {
    New(&'a ClientPicker),
    Edit(&'a Places),
}

fn asset_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &AssetFields,
    pickers: Pickers<'_>,
    problem: Option<&ApiFailure>,
) -> Markup {
    let (clients, places) = match pickers {
        Pickers::New(cl) => (Some(cl), None),
        Pickers::Edit(p) => (None, Some(p)),
    };
    let cur = &c.company.currency;
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            @if let Some(cl) = clients {
                (cl.render(Spec::new("f-client_id", "Choose a client", "/console/assets/new").problem(problem)))
            }
            (input("Name", "name", "text", &f.name, problem))
            (select("Type", "type", &type_options(), &f.asset_type, problem))
            (select("Status", "status", &status_options(), &f.status, problem))
            (input("Make", "make", "text", &f.make, problem))
            (input("Model", "model", "text", &f.model, problem))
            (input("Serial number", "serial", "text", &f.serial, problem))
            (input("Hostname", "hostname", "text", &f.hostname, problem))
            (input("IP address", "ip_address", "text", &f.ip_address, problem))
            (input("MAC address", "mac_address", "text", &f.mac_address, problem))
            (input("Operating system", "operating_system", "text", &f.operating_system, problem))
            @if let Some(p) = places {
                (select("Location", "location_id", &p.locations, &f.location_id, problem))
                (select("Used by", "contact_id", &p.contacts, &f.contact_id, problem))
            }
            (input("Purchase date", "purchase_date", "date", &f.purchase_date, problem))
            (input(&format!("Purchase cost ({cur})"), "purchase_cost", "text", &f.purchase_cost, problem))
            (input("Warranty expires", "warranty_expires", "date", &f.warranty_expires, problem))
            label for="f-notes" { "Notes" }
            textarea #f-notes name="notes" rows="3" { (f.notes) }
            button type="submit" { (submit) }
        }
    }
}

async fn new_page(
    c: &Console,
    status: StatusCode,
    f: &AssetFields,
    problem: Option<&ApiFailure>,
) -> Result<Response, ApiFailure> {
    let clients = ClientPicker::load(c, &f.client_q, &f.client_id).await?;
    let body = html! {
        h1 { "New asset" }
        (asset_form(c, "new-asset-form", "/console/assets/new", "Create asset", f, Pickers::New(&clients), problem))
    };
    Ok(c.page_with(status, Some(Section::Assets), "New asset", body))
}

/// `GET /console/assets/new` (`?client_id=` for one client's), and again
/// with the form's fields after the client picker's "Find".
pub async fn new_form(c: Console, raw: RawQuery) -> Result<Response, ApiFailure> {
    let mut f: AssetFields = picker::refill(&c, &raw)?.unwrap_or_default();
    if f.asset_type.is_empty() {
        f.asset_type = AssetType::Workstation.as_str().to_owned();
    }
    if f.status.is_empty() {
        f.status = AssetStatus::InUse.as_str().to_owned();
    }
    new_page(&c, StatusCode::OK, &f, None).await
}

pub async fn create(c: Console, Form(f): Form<AssetFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Asset>(Method::POST, "/api/v1/assets", &f.create_body())
        .await
    {
        Ok(a) => Ok(see_other(&format!("/console/assets/{}", a.id))),
        Err(e) if e.is_validation() => new_page(&c, e.status, &f, Some(&e)).await,
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- one asset

pub async fn show(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    asset_page(c, &id, None).await
}

/// A history entry's value as text.
fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "–".to_owned(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

async fn asset_page(
    c: Console,
    id: &str,
    refused: Option<(AssetFields, ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let id: AssetId = parse_id(&c, id, "asset")?;
    let a: Asset = c.api.get(format!("/api/v1/assets/{id}")).await?;
    let (client, history, places, users) = tokio::join!(
        c.api
            .get::<Client>(format!("/api/v1/clients/{}", a.client_id)),
        c.api
            .get::<Page<AssetEvent>>(format!("/api/v1/assets/{id}/history?limit=200")),
        places_of(&c, a.client_id),
        user_names(&c),
    );
    let (client, history, places, users) = (client?, history?, places?, users?);
    let label_of = |opts: &[(String, String)], v: Option<String>| -> String {
        v.and_then(|v| opts.iter().find(|(i, _)| *i == v).map(|(_, l)| l.clone()))
            .unwrap_or_else(|| "–".to_owned())
    };
    let location = label_of(&places.locations, a.location_id.map(|i| i.to_string()));
    let contact = label_of(&places.contacts, a.contact_id.map(|i| i.to_string()));
    let (fields, problem) = match &refused {
        Some((f, e)) => (None, Some((f, e))),
        None => (Some(AssetFields::of(&a)), None),
    };
    let status = problem.map(|(_, e)| e.status).unwrap_or(StatusCode::OK);
    let base = format!("/console/assets/{id}");
    let text = |o: &Option<String>| o.clone().unwrap_or_else(|| "–".to_owned());
    let body = html! {
        h1 { (a.name) " " span #asset-status class=(status_class(a.status)) { "(" (label(a.status.as_str())) ")" } }
        div.grid {
            section.card #details aria-labelledby="details-title" {
                h2 #details-title { "Details" }
                dl.figures {
                    dt { "Client" } dd { a #client-link href={ "/console/clients/" (client.id) } { (client.name) } }
                    dt { "Type" } dd { (label(a.asset_type.as_str())) }
                    dt { "Make" } dd { (text(&a.make)) }
                    dt { "Model" } dd { (text(&a.model)) }
                    dt { "Serial" } dd #serial { (text(&a.serial)) }
                    dt { "Hostname" } dd { (text(&a.hostname)) }
                    dt { "IP address" } dd { (text(&a.ip_address)) }
                    dt { "MAC address" } dd { (text(&a.mac_address)) }
                    dt { "Operating system" } dd { (text(&a.operating_system)) }
                    dt { "Location" } dd { (location) }
                    dt { "Used by" } dd { (contact) }
                    dt { "Purchased" } dd { @match a.purchase_date { Some(d) => (c.fmt.date(d)), None => "–" } }
                    dt { "Purchase cost" } dd { @match a.purchase_cost { Some(v) => (c.fmt.money(v, &a.currency)), None => "–" } }
                    dt { "Warranty expires" } dd #warranty { @match a.warranty_expires { Some(d) => (c.fmt.date(d)), None => "–" } }
                    dt { "Notes" } dd { (text(&a.notes)) }
                }
            }
            section.card #history aria-labelledby="history-title" {
                h2 #history-title { "History " span.muted { "(" (history.total) ")" } }
                @if history.data.is_empty() { p.muted { "No change recorded." } } @else {
                    div.scroll { table {
                        thead { tr { th { "When" } th { "Who" } th { "Change" } } }
                        tbody { @for e in &history.data {
                            tr id={ "event-" (e.id) } {
                                td { (c.fmt.datetime(e.created_at)) }
                                td { (e.user_id.and_then(|u| users.get(&u)).map(String::as_str).unwrap_or("–")) }
                                td {
                                    (label(&e.kind))
                                    @if let Some(m) = e.changes.as_object() {
                                        ul { @for (field, ch) in m {
                                            li { (label(field)) ": " (value_text(&ch["from"])) " → " (value_text(&ch["to"])) }
                                        } }
                                    }
                                }
                            }
                        } }
                    } }
                }
            }
        }
        section.card #edit aria-labelledby="edit-title" {
            h2 #edit-title { "Edit" }
            @match (&fields, problem) {
                (Some(f), _) => (asset_form(&c, "edit-asset", &base, "Save changes", f, Pickers::Edit(&places), None)),
                (None, Some((f, e))) => (asset_form(&c, "edit-asset", &base, "Save changes", f, Pickers::Edit(&places), Some(e))),
                (None, None) => {}
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Assets), &a.name, body))
}

pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<AssetFields>,
) -> Result<Response, ApiFailure> {
    let aid: AssetId = parse_id(&c, &id, "asset")?;
    match c
        .api
        .send::<Asset>(
            Method::PATCH,
            format!("/api/v1/assets/{aid}"),
            &f.patch_body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/assets/{aid}"))),
        Err(e) if e.is_validation() => asset_page(c, &id, Some((f, e))).await,
        Err(e) => Err(e),
    }
}
