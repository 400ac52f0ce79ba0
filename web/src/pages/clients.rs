//! `/console/clients`: the client list (search, archive filter, cursor
//! pages), the new-client form, and one client's page: its details and
//! edit form, contacts and locations with their add forms, open tickets,
//! networks (a page at a time, with add, an edit page and delete) and the
//! first assets for those who read assets, quotes, invoices, payments,
//! credit and the statement (its PDF through [`statement_pdf`]) for those
//! the API lets read billing. Every block is one LIMITed API call, all made
//! at once; a block the role may not read (403) is left out.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::billing::payments::{CreditBalance, Payment, Statement};
use nestogy_domain::billing::quotes::Quote;
use nestogy_domain::customers::clients::Client;
use nestogy_domain::customers::contacts::Contact;
use nestogy_domain::customers::locations::Location;
use nestogy_domain::identity::company::Address;
use nestogy_domain::inventory::assets::Asset;
use nestogy_domain::inventory::networks::Network;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::service_desk::tickets::Ticket;
use nestogy_domain::{ClientId, ContactId, LocationId, NetworkId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api_client::{ApiBody, ApiFailure, query};
use crate::layout::{self, Section};
use crate::session::{Console, Form, NoFields};

/// The statuses of a ticket someone still has to work on.
const OPEN: &str = "new,open,in_progress,waiting_on_client";

/// `s` as an id of type `T`, or the 404 page (an id that does not read is
/// no one's).
pub(crate) fn parse_id<T: std::str::FromStr>(
    c: &Console,
    s: &str,
    what: &str,
) -> Result<T, ApiFailure> {
    s.parse()
        .map_err(|_| ApiFailure::not_found(what).in_frame(c.chrome.clone()))
}

/// A labelled input with the API's problem for `name` under it.
pub(crate) fn input(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    problem: Option<&ApiFailure>,
) -> Markup {
    input_with(label, name, kind, value, problem, None)
}

/// [`input`] with an `autocomplete` hint (`current-password`, ...).
pub(crate) fn input_with(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    problem: Option<&ApiFailure>,
    autocomplete: Option<&str>,
) -> Markup {
    let id = format!("f-{name}");
    let message = problem.and_then(|f| f.field(name));
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) type=(kind) value=(value) autocomplete=[autocomplete]
            aria-invalid=[message.map(|_| "true")];
        @if let Some(m) = message { p.field-problem { (m) } }
    }
}

/// A checkbox sending `true` when ticked.
pub(crate) fn checkbox(label: &str, name: &str, checked: bool) -> Markup {
    html! {
        label { input name=(name) type="checkbox" value="true" checked[checked]; " " (label) }
    }
}

/// The top of a form the API refused: its message and failing fields.
pub(crate) fn refusal(f: Option<&ApiFailure>) -> Markup {
    html! {
        @if let Some(f) = f {
            div.problem role="alert" {
                p { (f.message) }
                (layout::field_problems(&f.fields))
            }
        }
    }
}

/// A "Next page" link to `base` with `pairs` and the cursor.
pub(crate) fn next_link(base: &str, pairs: &[(&str, &str)], next: Option<&str>) -> Markup {
    html! {
        @if let Some(cursor) = next {
            @let all: Vec<_> = pairs.iter().copied().chain([("cursor", cursor)]).collect();
            p { a #next-page href={ (base) (query(&all)) } { "Next page" } }
        }
    }
}

fn some(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    let filters = [("q", p.q.as_str()), ("status", p.status.as_str())];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<Client> = c
        .api
        .get(format!("/api/v1/clients{}", query(&pairs)))
        .await?;
    let body = html! {
        h1 { "Clients" }
        p { a #new-client href="/console/clients/new" { "New client" } }
        form #client-search method="get" action="/console/clients" {
            label for="q" { "Search" } " "
            input #q name="q" type="search" value=(p.q);
            " "
            label for="status" { "Show" } " "
            select #status name="status" {
                @for (v, l) in [("", "Active"), ("archived", "Archived"), ("all", "All")] {
                    option value=(v) selected[p.status == v] { (l) }
                }
            }
            " " button type="submit" { "Search" }
        }
        p.muted #client-count { (page.total) " clients" }
        @if page.data.is_empty() {
            p.muted { "No client matches." }
        } @else {
            div.scroll { table #clients {
                thead { tr { th { "Name" } th { "E-mail" } th { "Phone" } } }
                tbody {
                    @for cl in &page.data {
                        tr id={ "client-" (cl.id) } {
                            td { a href={ "/console/clients/" (cl.id) } { (cl.name) } }
                            td { (cl.email.as_deref().unwrap_or("")) }
                            td { (cl.phone.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        }
        (next_link("/console/clients", &filters, page.next_cursor.as_deref()))
    };
    Ok(c.page(Section::Clients, "Clients", body))
}

// ---------------------------------------------------------------- create and edit

/// The fields of the new-client and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFields {
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    website: String,
    #[serde(default)]
    tax_id: String,
    #[serde(default)]
    hourly_rate: String,
    #[serde(default)]
    email_domains: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    notes: String,
}

impl ClientFields {
    fn of(cl: &Client) -> Self {
        let a = cl.billing_address.clone().unwrap_or_default();
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        ClientFields {
            name: cl.name.clone(),
            email: s(&cl.email),
            phone: s(&cl.phone),
            website: s(&cl.website),
            tax_id: s(&cl.tax_id),
            hourly_rate: cl.hourly_rate.map(|r| r.to_string()).unwrap_or_default(),
            email_domains: cl.email_domains.join(", "),
            line1: s(&a.line1),
            line2: s(&a.line2),
            city: s(&a.city),
            region: s(&a.region),
            postal_code: s(&a.postal_code),
            country: s(&a.country),
            notes: s(&cl.notes),
        }
    }

    fn address(&self) -> Option<Address> {
        let a = Address {
            line1: some(&self.line1).map(str::to_owned),
            line2: some(&self.line2).map(str::to_owned),
            city: some(&self.city).map(str::to_owned),
            region: some(&self.region).map(str::to_owned),
            postal_code: some(&self.postal_code).map(str::to_owned),
            country: some(&self.country).map(str::to_owned),
        };
        (a != Address::default()).then_some(a)
    }

    fn domains(&self) -> Vec<String> {
        self.email_domains
            .split([',', ' ', '\n'])
            .filter_map(some)
            .map(str::to_owned)
            .collect()
    }

    /// The body of `POST /clients`: empty fields left out.
    fn create_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        for (k, v) in self.optional() {
            if let Some(v) = some(v) {
                m.insert(k.into(), json!(v));
            }
        }
        if let Some(a) = self.address() {
            m.insert("billing_address".into(), json!(a));
        }
        m.insert("email_domains".into(), json!(self.domains()));
        Value::Object(m)
    }

    /// The body of `PATCH /clients/{id}`: every field, empty ones cleared.
    fn patch_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        for (k, v) in self.optional() {
            m.insert(k.into(), json!(some(v)));
        }
        m.insert("billing_address".into(), json!(self.address()));
        m.insert("email_domains".into(), json!(self.domains()));
        Value::Object(m)
    }

    fn optional(&self) -> [(&'static str, &str); 6] {
        [
            ("email", &self.email),
            ("phone", &self.phone),
            ("website", &self.website),
            ("tax_id", &self.tax_id),
            ("hourly_rate", &self.hourly_rate),
            ("notes", &self.notes),
        ]
    }
}

fn client_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &ClientFields,
    problem: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            (input("Name", "name", "text", &f.name, problem))
            (input("E-mail", "email", "email", &f.email, problem))
            (input("Phone", "phone", "tel", &f.phone, problem))
            (input("Website", "website", "text", &f.website, problem))
            (input("Tax id", "tax_id", "text", &f.tax_id, problem))
            (input(&format!("Hourly rate ({})", c.company.currency), "hourly_rate", "text", &f.hourly_rate, problem))
            (input("Mail domains (comma-separated)", "email_domains", "text", &f.email_domains, problem))
            fieldset {
                legend { "Billing address" }
                (input("Address line 1", "line1", "text", &f.line1, problem))
                (input("Address line 2", "line2", "text", &f.line2, problem))
                (input("City", "city", "text", &f.city, problem))
                (input("Region", "region", "text", &f.region, problem))
                (input("Postal code", "postal_code", "text", &f.postal_code, problem))
                (input("Country (ISO code)", "country", "text", &f.country, problem))
            }
            label for="f-notes" { "Notes" }
            textarea #f-notes name="notes" rows="3" { (f.notes) }
            button type="submit" { (submit) }
        }
    }
}

fn new_page(c: &Console, status: StatusCode, f: &ClientFields, p: Option<&ApiFailure>) -> Response {
    let body = html! {
        h1 { "New client" }
        (client_form(c, "new-client-form", "/console/clients/new", "Create client", f, p))
    };
    c.page_with(status, Some(Section::Clients), "New client", body)
}

pub async fn new_form(c: Console) -> Response {
    new_page(&c, StatusCode::OK, &ClientFields::default(), None)
}

pub async fn create(c: Console, Form(f): Form<ClientFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Client>(Method::POST, "/api/v1/clients", &f.create_body())
        .await
    {
        Ok(cl) => Ok(see_other(&format!("/console/clients/{}", cl.id))),
        Err(e) if e.is_validation() => Ok(new_page(&c, e.status, &f, Some(&e))),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- one client

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactFields {
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    title: String,
    is_primary: Option<String>,
    is_billing: Option<String>,
    portal_access: Option<String>,
    portal_admin: Option<String>,
}

impl ContactFields {
    fn of(ct: &Contact) -> Self {
        let on = |b: bool| b.then(|| "true".to_owned());
        ContactFields {
            name: ct.name.clone(),
            email: ct.email.clone().unwrap_or_default(),
            phone: ct.phone.clone().unwrap_or_default(),
            title: ct.title.clone().unwrap_or_default(),
            is_primary: on(ct.is_primary),
            is_billing: on(ct.is_billing),
            portal_access: on(ct.portal_access),
            portal_admin: on(ct.portal_role.as_str() == "admin"),
        }
    }

    /// The body of `POST` and of `PATCH` (every field; empty ones cleared).
    fn body(&self) -> Value {
        json!({
            "name": self.name,
            "email": some(&self.email),
            "phone": some(&self.phone),
            "title": some(&self.title),
            "is_primary": self.is_primary.is_some(),
            "is_billing": self.is_billing.is_some(),
            "portal_access": self.portal_access.is_some(),
            "portal_role": if self.portal_admin.is_some() { "admin" } else { "member" },
        })
    }
}

/// The contact add and edit form.
fn contact_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &ContactFields,
    problem: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            (input("Name", "name", "text", &f.name, problem))
            (input("E-mail", "email", "email", &f.email, problem))
            (input("Phone", "phone", "tel", &f.phone, problem))
            (input("Title", "title", "text", &f.title, problem))
            (checkbox("Primary contact", "is_primary", f.is_primary.is_some()))
            (checkbox("Receives invoices and statements", "is_billing", f.is_billing.is_some()))
            (checkbox("May use the client portal", "portal_access", f.portal_access.is_some()))
            (checkbox("Portal admin: sees all of the client's tickets", "portal_admin", f.portal_admin.is_some()))
            button type="submit" { (submit) }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationFields {
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    phone: String,
    is_primary: Option<String>,
}

impl LocationFields {
    fn of(l: &Location) -> Self {
        let a = &l.address;
        let t = |s: &Option<String>| s.clone().unwrap_or_default();
        LocationFields {
            name: l.name.clone(),
            line1: t(&a.line1),
            line2: t(&a.line2),
            city: t(&a.city),
            region: t(&a.region),
            postal_code: t(&a.postal_code),
            country: t(&a.country),
            phone: t(&l.phone),
            is_primary: l.is_primary.then(|| "true".to_owned()),
        }
    }

    /// The body of `POST` and of `PATCH` (every field; empty ones cleared).
    fn body(&self) -> Value {
        let address = Address {
            line1: some(&self.line1).map(str::to_owned),
            line2: some(&self.line2).map(str::to_owned),
            city: some(&self.city).map(str::to_owned),
            region: some(&self.region).map(str::to_owned),
            postal_code: some(&self.postal_code).map(str::to_owned),
            country: some(&self.country).map(str::to_owned),
        };
        json!({
            "name": self.name,
            "address": address,
            "phone": some(&self.phone),
            "is_primary": self.is_primary.is_some(),
        })
    }
}

/// The location add and edit form.
fn location_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &LocationFields,
    problem: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            (input("Name", "name", "text", &f.name, problem))
            (input("Address line 1", "line1", "text", &f.line1, problem))
            (input("Address line 2", "line2", "text", &f.line2, problem))
            (input("City", "city", "text", &f.city, problem))
            (input("Region", "region", "text", &f.region, problem))
            (input("Postal code", "postal_code", "text", &f.postal_code, problem))
            (input("Country (ISO code)", "country", "text", &f.country, problem))
            (input("Phone", "phone", "tel", &f.phone, problem))
            (checkbox("Primary location", "is_primary", f.is_primary.is_some()))
            button type="submit" { (submit) }
        }
    }
}

/// A form of the client page the API refused, with what was entered.
enum Refused {
    Edit(ClientFields, ApiFailure),
    /// A portal invitation the API refused (no e-mail, no portal access).
    Invite(ApiFailure),
    Contact(ContactFields, ApiFailure),
    Location(LocationFields, ApiFailure),
    Network(NetworkFields, ApiFailure),
}

/// The client page's own query: the page of its networks block.
#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    #[serde(default)]
    networks_cursor: String,
    /// The contact just invited to the portal, said at the contacts.
    #[serde(default)]
    invited: String,
}

pub async fn show(
    c: Console,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, ApiFailure> {
    client_page(c, &id, &p.networks_cursor, &p.invited, None).await
}

/// Rows of each block of the client page; more are a link or a next page.
const BLOCK_ROWS: &str = "20";

async fn client_page(
    c: Console,
    id: &str,
    networks_cursor: &str,
    invited: &str,
    refused: Option<Refused>,
) -> Result<Response, ApiFailure> {
    let id: ClientId = parse_id(&c, id, "client")?;
    let api = &c.api;
    let cid = id.to_string();
    let of_client = |path: &str, more: &[(&str, &str)]| {
        let mut pairs = vec![("client_id", cid.as_str()), ("limit", BLOCK_ROWS)];
        pairs.extend_from_slice(more);
        format!("{path}{}", query(&pairs))
    };
    let networks_path = format!(
        "/api/v1/clients/{id}/networks{}",
        query(&[("limit", BLOCK_ROWS), ("cursor", networks_cursor)])
    );
    // The client and every block at once: one round of calls, not two (an
    // unknown client answers its 404 first all the same).
    let (
        cl,
        contacts,
        locations,
        tickets,
        networks,
        assets,
        quotes,
        invoices,
        payments,
        credit,
        statement,
    ) = tokio::join!(
        api.get::<Client>(format!("/api/v1/clients/{id}")),
        api.get::<Page<Contact>>(format!("/api/v1/clients/{id}/contacts?limit=200")),
        api.get::<Page<Location>>(format!("/api/v1/clients/{id}/locations?limit=200")),
        api.get_optional::<Page<Ticket>>(of_client("/api/v1/tickets", &[("status", OPEN)])),
        api.get_optional::<Page<Network>>(networks_path),
        api.get_optional::<Page<Asset>>(of_client("/api/v1/assets", &[])),
        api.get_optional::<Page<Quote>>(of_client("/api/v1/quotes", &[])),
        api.get_optional::<Page<Invoice>>(of_client("/api/v1/invoices", &[])),
        api.get_optional::<Page<Payment>>(of_client("/api/v1/payments", &[])),
        api.get_optional::<Vec<CreditBalance>>(format!("/api/v1/clients/{id}/credit")),
        api.get_optional::<Statement>(format!("/api/v1/clients/{id}/statement")),
    );
    let cl = cl?;
    let (contacts, locations, tickets) = (contacts?, locations?, tickets?);
    let (networks, assets, quotes) = (networks?, assets?, quotes?);
    let (invoices, payments, credit, statement) = (invoices?, payments?, credit?, statement?);

    let (edit, edit_problem) = match &refused {
        Some(Refused::Edit(f, e)) => (None, Some((f, e))),
        _ => (Some(ClientFields::of(&cl)), None),
    };
    let (cf, cp) = match &refused {
        Some(Refused::Contact(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let invite_problem = match &refused {
        Some(Refused::Invite(e)) => Some(e),
        _ => None,
    };
    let invited = contacts
        .data
        .iter()
        .find(|ct| ct.id.to_string() == invited)
        .map(|ct| ct.name.clone());
    let (lf, lp) = match &refused {
        Some(Refused::Location(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let (nf, np) = match &refused {
        Some(Refused::Network(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let status = refused
        .as_ref()
        .map(|r| match r {
            Refused::Edit(_, e)
            | Refused::Invite(e)
            | Refused::Contact(_, e)
            | Refused::Location(_, e)
            | Refused::Network(_, e) => e.status,
        })
        .unwrap_or(StatusCode::OK);
    let base = format!("/console/clients/{id}");
    let cur = &c.company.currency;
    let body = html! {
        h1 { (cl.name) @if cl.archived_at.is_some() { " " span.muted { "(archived)" } } }
        @if cl.archived_at.is_some() {
            (layout::post_button(&format!("{base}/restore"), c.csrf(), "restore-client", "Restore the client"))
        } @else {
            (layout::post_button(&format!("{base}/archive"), c.csrf(), "archive-client", "Archive the client"))
        }
        div.grid {
            section.card #details aria-labelledby="details-title" {
                h2 #details-title { "Details" }
                dl.figures {
                    dt { "E-mail" } dd { (cl.email.as_deref().unwrap_or("–")) }
                    dt { "Phone" } dd { (cl.phone.as_deref().unwrap_or("–")) }
                    dt { "Website" } dd { (cl.website.as_deref().unwrap_or("–")) }
                    dt { "Tax id" } dd { (cl.tax_id.as_deref().unwrap_or("–")) }
                    dt { "Hourly rate" } dd {
                        @match cl.hourly_rate { Some(r) => (c.fmt.money(r, cur)), None => "–" }
                    }
                    dt { "Mail domains" } dd { (cl.email_domains.join(", ")) }
                    dt { "Billing address" } dd { (address_text(cl.billing_address.as_ref())) }
                    dt { "Notes" } dd { (cl.notes.as_deref().unwrap_or("–")) }
                }
            }
            @if let Some(t) = tickets {
                section.card #open-tickets aria-labelledby="open-tickets-title" {
                    h2 #open-tickets-title { "Open tickets " span.muted { "(" (t.total) ")" } }
                    p { a #new-ticket-link href={ "/console/tickets/new?client_id=" (id) } { "New ticket" } }
                    @if t.data.is_empty() { p.muted { "No open ticket." } } @else {
                        div.scroll { table {
                            thead { tr { th { "#" } th { "Subject" } th { "Status" } th { "Priority" } } }
                            tbody { @for t in &t.data {
                                tr id={ "ticket-" (t.id) } {
                                    td.n { a href={ "/console/tickets/" (t.id) } { (t.number) } }
                                    td { a href={ "/console/tickets/" (t.id) } { (t.subject) } }
                                    td { (crate::fmt::label(t.status.as_str())) }
                                    td { (t.priority.as_str()) }
                                }
                            } }
                        } }
                        @if t.next_cursor.is_some() {
                            p { a #all-open-tickets href={ "/console/tickets" (query(&[("client_id", &cid), ("status", OPEN)])) } { "All open tickets" } }
                        }
                    }
                }
            }
        }
        section.card #contacts aria-labelledby="contacts-title" {
            h2 #contacts-title { "Contacts " span.muted { "(" (contacts.total) ")" } }
            @if let Some(name) = &invited {
                p.notice #invited role="status" { "An invitation to the client portal is on its way to " (name) "." }
            }
            (refusal(invite_problem))
            @if contacts.data.is_empty() { p.muted { "No contact yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Name" } th { "Title" } th { "E-mail" } th { "Phone" } th { "Role" } th { "Portal" } } }
                    tbody { @for ct in &contacts.data {
                        tr id={ "contact-" (ct.id) } {
                            td { a href={ (base) "/contacts/" (ct.id) } { (ct.name) } }
                            td { (ct.title.as_deref().unwrap_or("")) }
                            td { (ct.email.as_deref().unwrap_or("")) }
                            td { (ct.phone.as_deref().unwrap_or("")) }
                            td {
                                @if ct.is_primary { "primary " }
                                @if ct.is_billing { "billing" }
                            }
                            td {
                                @if ct.portal_access {
                                    @if ct.portal_role.as_str() == "admin" { "portal admin" } @else { "member" }
                                    (layout::post_button(&format!("{base}/contacts/{}/invite", ct.id), c.csrf(), &format!("invite-{}", ct.id), "Invite to the portal"))
                                } @else { span.muted { "no access" } }
                            }
                        }
                    } }
                } }
            }
            details open[cp.is_some()] {
                summary { "Add a contact" }
                @let d = ContactFields::default();
                @let f = cf.unwrap_or(&d);
                (contact_form(&c, "add-contact", &format!("{base}/contacts"), "Add contact", f, cp))
            }
        }
        section.card #locations aria-labelledby="locations-title" {
            h2 #locations-title { "Locations " span.muted { "(" (locations.total) ")" } }
            @if locations.data.is_empty() { p.muted { "No location yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Name" } th { "Address" } th { "Phone" } th { "" } } }
                    tbody { @for l in &locations.data {
                        tr id={ "location-" (l.id) } {
                            td { a href={ (base) "/locations/" (l.id) } { (l.name) } }
                            td { (address_text(Some(&l.address))) }
                            td { (l.phone.as_deref().unwrap_or("")) }
                            td { @if l.is_primary { "primary" } }
                        }
                    } }
                } }
            }
            details open[lp.is_some()] {
                summary { "Add a location" }
                @let d = LocationFields::default();
                @let f = lf.unwrap_or(&d);
                (location_form(&c, "add-location", &format!("{base}/locations"), "Add location", f, lp))
            }
        }
        @if let Some(n) = &networks {
            (networks_block(&c, &base, n, networks_cursor, nf, np))
        }
        @if let Some(a) = &assets {
            (assets_block(&c, id, a))
        }
        @if let Some(q) = &quotes {
            (quotes_block(&c, id, q))
        }
        @if let Some(inv) = invoices {
            section.card #invoices aria-labelledby="invoices-title" {
                h2 #invoices-title { "Invoices " span.muted { "(" (inv.total) ")" } }
                p { a #new-draft-link href={ "/console/invoices/new?client_id=" (id) } { "New draft invoice" } }
                @if inv.data.is_empty() { p.muted { "No invoice yet." } } @else {
                    div.scroll { table {
                        thead { tr { th { "Number" } th { "Status" } th.n { "Total" } th { "Due" } th.n { "Balance" } } }
                        tbody { @for i in &inv.data {
                            tr id={ "invoice-" (i.id) } {
                                td { a href={ "/console/invoices/" (i.id) } { (i.number.as_deref().unwrap_or("draft")) } }
                                td { (crate::fmt::label(i.status.as_str())) }
                                td.n { (c.fmt.money(i.total, &i.currency)) }
                                td { (c.fmt.date(i.due_date)) }
                                td.n { (c.fmt.money(i.balance, &i.currency)) }
                            }
                        } }
                    } }
                    @if inv.next_cursor.is_some() {
                        p { a href={ "/console/invoices?client_id=" (id) } { "All of this client's invoices" } }
                    }
                }
            }
        }
        div.grid {
            @if let Some(p) = payments {
                section.card #payments aria-labelledby="payments-title" {
                    h2 #payments-title { "Payments " span.muted { "(" (p.total) ")" } }
                    @if p.data.is_empty() { p.muted { "No payment yet." } } @else {
                        div.scroll { table {
                            thead { tr { th { "Date" } th { "Kind" } th { "Method" } th.n { "Amount" } } }
                            tbody { @for p in &p.data {
                                tr id={ "payment-" (p.id) } {
                                    td { a href={ "/console/invoices/" (p.invoice_id) } { (c.fmt.date(p.paid_on)) } }
                                    td { (p.kind) }
                                    td { (p.method) }
                                    td.n { (c.fmt.money(p.amount, &p.currency)) }
                                }
                            } }
                        } }
                    }
                }
            }
            @if credit.is_some() || statement.is_some() {
                section.card #account aria-labelledby="account-title" {
                    h2 #account-title { "Account" }
                    dl.figures {
                        @if let Some(cr) = &credit {
                            @if cr.is_empty() { dt { "Credit" } dd #credit { (c.fmt.money(rust_decimal::Decimal::ZERO, cur)) } }
                            @for b in cr {
                                dt { "Credit (" (b.currency) ")" } dd.credit { (c.fmt.money(b.amount, &b.currency)) }
                            }
                        }
                        @if let Some(s) = &statement {
                            dt { "Statement period" } dd { (c.fmt.date(s.from)) " – " (c.fmt.date(s.to)) }
                            dt { "Opening balance" } dd #opening-balance { (c.fmt.money(s.opening_balance, &s.currency)) }
                            dt { "Closing balance" } dd #closing-balance { (c.fmt.money(s.closing_balance, &s.currency)) }
                        }
                    }
                    @if statement.is_some() {
                        p { a #statement-pdf href={ (base) "/statement.pdf" } { "Statement (PDF)" } }
                    }
                }
            }
        }
        section.card #edit aria-labelledby="edit-title" {
            h2 #edit-title { "Edit" }
            @match (&edit, edit_problem) {
                (Some(f), _) => (client_form(&c, "edit-client", &base, "Save changes", f, None)),
                (None, Some((f, e))) => (client_form(&c, "edit-client", &base, "Save changes", f, Some(e))),
                (None, None) => {}
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Clients), &cl.name, body))
}

fn address_text(a: Option<&Address>) -> String {
    let Some(a) = a else { return "–".to_owned() };
    let parts: Vec<&str> = [
        &a.line1,
        &a.line2,
        &a.postal_code,
        &a.city,
        &a.region,
        &a.country,
    ]
    .into_iter()
    .filter_map(|p| p.as_deref())
    .collect();
    if parts.is_empty() {
        "–".to_owned()
    } else {
        parts.join(", ")
    }
}

pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<ClientFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    match c
        .api
        .send::<Client>(
            Method::PATCH,
            format!("/api/v1/clients/{cid}"),
            &f.patch_body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{cid}"))),
        Err(e) if e.is_validation() => client_page(c, &id, "", "", Some(Refused::Edit(f, e))).await,
        Err(e) => Err(e),
    }
}

pub async fn add_contact(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<ContactFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    let body = f.body();
    match c
        .api
        .send::<Contact>(
            Method::POST,
            format!("/api/v1/clients/{cid}/contacts"),
            &body,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{cid}#contacts"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            client_page(c, &id, "", "", Some(Refused::Contact(f, e))).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/clients/{id}/contacts/{contact_id}/invite`: mails the
/// contact an invitation to the client portal.
pub async fn invite_contact(
    c: Console,
    Path((id, contact_id)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    let contact: ContactId = parse_id(&c, &contact_id, "contact")?;
    match c
        .api
        .send::<serde_json::Value>(
            Method::POST,
            format!("/api/v1/clients/{cid}/contacts/{contact}/portal-invitation"),
            &json!({}),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/console/clients/{cid}?invited={contact}#contacts"
        ))),
        Err(e) if e.status == StatusCode::CONFLICT => {
            client_page(c, &id, "", "", Some(Refused::Invite(e))).await
        }
        Err(e) => Err(e),
    }
}

pub async fn add_location(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<LocationFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    let body = f.body();
    match c
        .api
        .send::<Location>(
            Method::POST,
            format!("/api/v1/clients/{cid}/locations"),
            &body,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{cid}#locations"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            client_page(c, &id, "", "", Some(Refused::Location(f, e))).await
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- networks, assets, quotes

/// The fields of the network add and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFields {
    name: String,
    #[serde(default)]
    cidr: String,
    #[serde(default)]
    vlan: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    dns_servers: String,
    #[serde(default)]
    notes: String,
}

impl NetworkFields {
    fn of(n: &Network) -> Self {
        NetworkFields {
            name: n.name.clone(),
            cidr: n.cidr.clone(),
            vlan: n.vlan.map(|v| v.to_string()).unwrap_or_default(),
            gateway: n.gateway.clone().unwrap_or_default(),
            dns_servers: n.dns_servers.join(", "),
            notes: n.notes.clone().unwrap_or_default(),
        }
    }

    /// The body of `POST` and of `PATCH` (every field; empty ones
    /// cleared). A VLAN that is not a number goes as typed, for the API to
    /// refuse.
    fn body(&self) -> Value {
        let vlan = match some(&self.vlan) {
            None => Value::Null,
            Some(v) => v.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(v)),
        };
        let dns: Vec<&str> = self
            .dns_servers
            .split([',', ' ', '\n'])
            .filter_map(some)
            .collect();
        json!({
            "name": self.name,
            "cidr": self.cidr.trim(),
            "vlan": vlan,
            "gateway": some(&self.gateway),
            "dns_servers": dns,
            "notes": some(&self.notes),
        })
    }
}

fn network_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &NetworkFields,
    problem: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            (input("Name", "name", "text", &f.name, problem))
            (input("Network (CIDR, like 10.0.1.0/24)", "cidr", "text", &f.cidr, problem))
            (input("VLAN (1 to 4094)", "vlan", "text", &f.vlan, problem))
            (input("Gateway", "gateway", "text", &f.gateway, problem))
            (input("DNS servers (comma-separated)", "dns_servers", "text", &f.dns_servers, problem))
            label for="f-network-notes" { "Notes" }
            textarea #f-network-notes name="notes" rows="2" { (f.notes) }
            button type="submit" { (submit) }
        }
    }
}

/// The client's networks (a page of them, with a next page), each with
/// its edit page, and the add form.
fn networks_block(
    c: &Console,
    base: &str,
    page: &Page<Network>,
    cursor: &str,
    refused: Option<&NetworkFields>,
    problem: Option<&ApiFailure>,
) -> Markup {
    let d = NetworkFields::default();
    html! {
        section.card #networks aria-labelledby="networks-title" {
            h2 #networks-title { "Networks " span.muted { "(" (page.total) ")" } }
            @if page.data.is_empty() { p.muted { "No network yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Name" } th { "Network" } th.n { "VLAN" } th { "Gateway" } th { "DNS" } } }
                    tbody { @for n in &page.data {
                        tr id={ "network-" (n.id) } {
                            td { a href={ (base) "/networks/" (n.id) } { (n.name) } }
                            td { (n.cidr) }
                            td.n { @if let Some(v) = n.vlan { (v) } }
                            td { (n.gateway.as_deref().unwrap_or("")) }
                            td { (n.dns_servers.join(", ")) }
                        }
                    } }
                } }
                @if let Some(next) = page.next_cursor.as_deref() {
                    p { a #networks-next href={ (base) (query(&[("networks_cursor", next)])) "#networks" } { "More networks" } }
                }
                @if !cursor.is_empty() {
                    p { a href={ (base) "#networks" } { "First networks" } }
                }
            }
            details open[problem.is_some()] {
                summary { "Add a network" }
                (network_form(c, "add-network", &format!("{base}/networks"), "Add network", refused.unwrap_or(&d), problem))
            }
        }
    }
}

/// The client's first assets by name, and the assets list filtered by
/// the client for all of them.
fn assets_block(c: &Console, id: ClientId, page: &Page<Asset>) -> Markup {
    html! {
        section.card #assets aria-labelledby="assets-title" {
            h2 #assets-title { "Assets " span.muted { "(" (page.total) ")" } }
            p { a #new-asset-link href={ "/console/assets/new?client_id=" (id) } { "New asset" } }
            @if page.data.is_empty() { p.muted { "No asset yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Name" } th { "Type" } th { "Serial" } th { "Warranty ends" } } }
                    tbody { @for a in &page.data {
                        tr id={ "asset-" (a.id) } {
                            td { a href={ "/console/assets/" (a.id) } { (a.name) } }
                            td { (crate::fmt::label(a.asset_type.as_str())) }
                            td { (a.serial.as_deref().unwrap_or("")) }
                            td { @if let Some(d) = a.warranty_expires { (c.fmt.date(d)) } }
                        }
                    } }
                } }
                @if page.next_cursor.is_some() {
                    p { a #all-assets href={ "/console/assets?client_id=" (id) } { "All " (page.total) " assets" } }
                }
            }
        }
    }
}

/// The client's latest quotes, and the quote list filtered by the client
/// for all of them.
fn quotes_block(c: &Console, id: ClientId, page: &Page<Quote>) -> Markup {
    html! {
        section.card #quotes aria-labelledby="quotes-title" {
            h2 #quotes-title { "Quotes " span.muted { "(" (page.total) ")" } }
            p { a #new-quote-link href={ "/console/quotes/new?client_id=" (id) } { "New quote" } }
            @if page.data.is_empty() { p.muted { "No quote yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Number" } th { "Status" } th.n { "Total" } th { "Valid until" } } }
                    tbody { @for q in &page.data {
                        tr id={ "quote-" (q.id) } {
                            td { a href={ "/console/quotes/" (q.id) } { (q.number.as_deref().unwrap_or("draft")) } }
                            td { (crate::fmt::label(q.status.as_str())) }
                            td.n { (c.fmt.money(q.total, &q.currency)) }
                            td { (c.fmt.date(q.valid_until)) }
                        }
                    } }
                } }
                @if page.next_cursor.is_some() {
                    p { a #all-quotes href={ "/console/quotes?client_id=" (id) } { "All " (page.total) " quotes" } }
                }
            }
        }
    }
}

pub async fn add_network(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<NetworkFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    match c
        .api
        .send::<Network>(
            Method::POST,
            format!("/api/v1/clients/{cid}/networks"),
            &f.body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{cid}#networks"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            client_page(c, &id, "", "", Some(Refused::Network(f, e))).await
        }
        Err(e) => Err(e),
    }
}

fn network_page(
    c: &Console,
    status: StatusCode,
    cl: &Client,
    n: &Network,
    f: &NetworkFields,
    problem: Option<&ApiFailure>,
) -> Response {
    let base = format!("/console/clients/{}/networks/{}", cl.id, n.id);
    let body = html! {
        p { a #client-link href={ "/console/clients/" (cl.id) "#networks" } { (cl.name) } }
        h1 { "Network " (n.name) }
        (network_form(c, "edit-network", &base, "Save network", f, problem))
        section.card #delete-network aria-labelledby="delete-network-title" {
            h2 #delete-network-title { "Delete" }
            p { "Deleting the network removes it from " (cl.name) "; assets are kept." }
            (layout::post_button(&format!("{base}/delete"), c.csrf(), "delete-network-button", "Delete network"))
        }
    };
    c.page_with(
        status,
        Some(Section::Clients),
        &format!("Network {}", n.name),
        body,
    )
}

/// The client and the network of a network page's path (404 for
/// another tenant's or another client's).
async fn client_and_network(
    c: &Console,
    id: &str,
    network_id: &str,
) -> Result<(Client, Network), ApiFailure> {
    let cid: ClientId = parse_id(c, id, "client")?;
    let nid: NetworkId = parse_id(c, network_id, "network")?;
    let (cl, n) = tokio::join!(
        c.api.get::<Client>(format!("/api/v1/clients/{cid}")),
        c.api
            .get::<Network>(format!("/api/v1/clients/{cid}/networks/{nid}")),
    );
    Ok((cl?, n?))
}

pub async fn network(
    c: Console,
    Path((id, network_id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let (cl, n) = client_and_network(&c, &id, &network_id).await?;
    Ok(network_page(
        &c,
        StatusCode::OK,
        &cl,
        &n,
        &NetworkFields::of(&n),
        None,
    ))
}

pub async fn update_network(
    c: Console,
    Path((id, network_id)): Path<(String, String)>,
    Form(f): Form<NetworkFields>,
) -> Result<Response, ApiFailure> {
    let (cl, n) = client_and_network(&c, &id, &network_id).await?;
    match c
        .api
        .send::<Network>(
            Method::PATCH,
            format!("/api/v1/clients/{}/networks/{}", cl.id, n.id),
            &f.body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{}#networks", cl.id))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            Ok(network_page(&c, e.status, &cl, &n, &f, Some(&e)))
        }
        Err(e) => Err(e),
    }
}

pub async fn delete_network(
    c: Console,
    Path((id, network_id)): Path<(String, String)>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    let nid: NetworkId = parse_id(&c, &network_id, "network")?;
    c.api
        .send_empty::<()>(
            Method::DELETE,
            format!("/api/v1/clients/{cid}/networks/{nid}"),
        )
        .await?;
    Ok(see_other(&format!("/console/clients/{cid}#networks")))
}

/// A PDF (or any document) from the API, passed on with its content type;
/// while the API is still rendering it (202), a page saying so.
pub(crate) async fn document(c: &Console, path: &str, what: &str) -> Result<Response, ApiFailure> {
    match fetch_document(&c.api, path).await? {
        Some(r) => Ok(r),
        None => Ok(rendering(c.page_with(
            StatusCode::ACCEPTED,
            None,
            what,
            rendering_body(what),
        ))),
    }
}

/// The document at `path` as an answer of ours (its content type and
/// disposition, never cached), or `None` while the API is still rendering
/// it (202).
pub(crate) async fn fetch_document(
    api: &crate::Api,
    path: &str,
) -> Result<Option<Response>, ApiFailure> {
    let r = api
        .bytes(Method::GET, path, ApiBody::Empty, Some("application/pdf"))
        .await?;
    if r.status == StatusCode::ACCEPTED {
        return Ok(None);
    }
    let mut out = (r.status, r.bytes).into_response();
    for name in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
        if let Some(v) = r.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    Ok(Some(out))
}

/// The body of the page shown while a document is rendered.
pub(crate) fn rendering_body(what: &str) -> Markup {
    html! {
        h1 { (what) }
        p.notice #rendering role="status" { "The document is being prepared. Reload this page in a moment." }
    }
}

/// `page` (a 202 page saying a document is being prepared), asking the
/// browser to come back in a second.
pub(crate) fn rendering(mut page: Response) -> Response {
    page.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    page
}

pub async fn statement_pdf(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    let id: ClientId = parse_id(&c, &id, "client")?;
    document(
        &c,
        &format!("/api/v1/clients/{id}/statement/pdf"),
        "Statement",
    )
    .await
}

// ---------------------------------------------------------------- a contact, a location

/// A contact's or a location's page: its edit form and its delete button.
fn part_page(
    c: &Console,
    status: StatusCode,
    cl: &Client,
    what: &str,
    title: &str,
    form: Markup,
    delete_action: &str,
) -> Response {
    let body = html! {
        p { a #client-link href={ "/console/clients/" (cl.id) } { (cl.name) } }
        h1 { (title) }
        (form)
        section.card #delete-part aria-labelledby="delete-part-title" {
            h2 #delete-part-title { "Delete" }
            p { "Deleting the " (what) " removes it from " (cl.name) "." }
            (layout::post_button(delete_action, c.csrf(), "delete-part-button", &format!("Delete {what}")))
        }
    };
    c.page_with(status, Some(Section::Clients), title, body)
}

/// The client and the contact of a contact page's path (404 for another
/// tenant's or another client's).
async fn client_and_contact(
    c: &Console,
    id: &str,
    contact_id: &str,
) -> Result<(Client, Contact), ApiFailure> {
    let cid: ClientId = parse_id(c, id, "client")?;
    let ctid: ContactId = parse_id(c, contact_id, "contact")?;
    let (cl, ct) = tokio::join!(
        c.api.get::<Client>(format!("/api/v1/clients/{cid}")),
        c.api
            .get::<Contact>(format!("/api/v1/clients/{cid}/contacts/{ctid}")),
    );
    Ok((cl?, ct?))
}

fn contact_page(
    c: &Console,
    status: StatusCode,
    cl: &Client,
    ct: &Contact,
    f: &ContactFields,
    problem: Option<&ApiFailure>,
) -> Response {
    let base = format!("/console/clients/{}/contacts/{}", cl.id, ct.id);
    let form = contact_form(c, "edit-contact", &base, "Save contact", f, problem);
    let title = format!("Contact {}", ct.name);
    part_page(
        c,
        status,
        cl,
        "contact",
        &title,
        form,
        &format!("{base}/delete"),
    )
}

/// `GET /console/clients/{id}/contacts/{contact_id}`.
pub async fn contact(
    c: Console,
    Path((id, contact_id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let (cl, ct) = client_and_contact(&c, &id, &contact_id).await?;
    let f = ContactFields::of(&ct);
    Ok(contact_page(&c, StatusCode::OK, &cl, &ct, &f, None))
}

/// `POST /console/clients/{id}/contacts/{contact_id}`: the API's `PATCH`.
pub async fn update_contact(
    c: Console,
    Path((id, contact_id)): Path<(String, String)>,
    Form(f): Form<ContactFields>,
) -> Result<Response, ApiFailure> {
    let (cl, ct) = client_and_contact(&c, &id, &contact_id).await?;
    match c
        .api
        .send::<Contact>(
            Method::PATCH,
            format!("/api/v1/clients/{}/contacts/{}", cl.id, ct.id),
            &f.body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{}#contacts", cl.id))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            Ok(contact_page(&c, e.status, &cl, &ct, &f, Some(&e)))
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/clients/{id}/contacts/{contact_id}/delete`.
pub async fn delete_contact(
    c: Console,
    Path((id, contact_id)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    let ctid: ContactId = parse_id(&c, &contact_id, "contact")?;
    c.api
        .send_empty::<()>(
            Method::DELETE,
            format!("/api/v1/clients/{cid}/contacts/{ctid}"),
        )
        .await?;
    Ok(see_other(&format!("/console/clients/{cid}#contacts")))
}

async fn client_and_location(
    c: &Console,
    id: &str,
    location_id: &str,
) -> Result<(Client, Location), ApiFailure> {
    let cid: ClientId = parse_id(c, id, "client")?;
    let lid: LocationId = parse_id(c, location_id, "location")?;
    let (cl, l) = tokio::join!(
        c.api.get::<Client>(format!("/api/v1/clients/{cid}")),
        c.api
            .get::<Location>(format!("/api/v1/clients/{cid}/locations/{lid}")),
    );
    Ok((cl?, l?))
}

fn location_page(
    c: &Console,
    status: StatusCode,
    cl: &Client,
    l: &Location,
    f: &LocationFields,
    problem: Option<&ApiFailure>,
) -> Response {
    let base = format!("/console/clients/{}/locations/{}", cl.id, l.id);
    let form = location_form(c, "edit-location", &base, "Save location", f, problem);
    let title = format!("Location {}", l.name);
    part_page(
        c,
        status,
        cl,
        "location",
        &title,
        form,
        &format!("{base}/delete"),
    )
}

/// `GET /console/clients/{id}/locations/{location_id}`.
pub async fn location(
    c: Console,
    Path((id, location_id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let (cl, l) = client_and_location(&c, &id, &location_id).await?;
    let f = LocationFields::of(&l);
    Ok(location_page(&c, StatusCode::OK, &cl, &l, &f, None))
}

/// `POST /console/clients/{id}/locations/{location_id}`: the API's `PATCH`.
pub async fn update_location(
    c: Console,
    Path((id, location_id)): Path<(String, String)>,
    Form(f): Form<LocationFields>,
) -> Result<Response, ApiFailure> {
    let (cl, l) = client_and_location(&c, &id, &location_id).await?;
    match c
        .api
        .send::<Location>(
            Method::PATCH,
            format!("/api/v1/clients/{}/locations/{}", cl.id, l.id),
            &f.body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/clients/{}#locations", cl.id))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            Ok(location_page(&c, e.status, &cl, &l, &f, Some(&e)))
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/clients/{id}/locations/{location_id}/delete`.
pub async fn delete_location(
    c: Console,
    Path((id, location_id)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, &id, "client")?;
    let lid: LocationId = parse_id(&c, &location_id, "location")?;
    c.api
        .send_empty::<()>(
            Method::DELETE,
            format!("/api/v1/clients/{cid}/locations/{lid}"),
        )
        .await?;
    Ok(see_other(&format!("/console/clients/{cid}#locations")))
}

/// `POST /console/clients/{id}/archive` and `/restore`: the API's.
async fn archive_or_restore(c: Console, id: &str, action: &str) -> Result<Response, ApiFailure> {
    let cid: ClientId = parse_id(&c, id, "client")?;
    c.api
        .send::<Client>(
            Method::POST,
            format!("/api/v1/clients/{cid}/{action}"),
            &json!({}),
        )
        .await?;
    Ok(see_other(&format!("/console/clients/{cid}")))
}

pub async fn archive(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    archive_or_restore(c, &id, "archive").await
}

pub async fn restore(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    archive_or_restore(c, &id, "restore").await
}
