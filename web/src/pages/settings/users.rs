//! `/console/settings/users`: the company's users (search, role and
//! active filters, cursor pages), a new user with a role and a first
//! password (the API creates users with a password; it sends no
//! invitation), and per user: change the role, deactivate, reactivate.
//! The API keeps the last active admin (409, shown on the page).
//! - `/console/settings/users/{id}`: one user's edit form (name, e-mail,
//!   role, hourly rate, a new password: empty keeps it),
//!   `PATCH /api/v1/users/{id}`,
//!   with the API's 409 (the last admin, an address in use) and 422 on the
//!   form. A new password ends the user's sessions and tokens.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::UserId;
use nestogy_domain::identity::users::User;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Role;
use serde::Deserialize;
use serde_json::json;

use super::back;
use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{input, input_with, next_link, parse_id, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/users";

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    active: String,
    #[serde(default)]
    cursor: String,
}

/// The new-user form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserFields {
    name: String,
    email: String,
    role: String,
    password: String,
}

/// The change-role form of one user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleFields {
    role: String,
}

/// What the API refused of the page's forms.
enum Refused {
    New(NewUserFields, ApiFailure),
    /// A row's action (the last admin, say).
    Action(ApiFailure),
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Admin => "Admin",
        Role::Tech => "Tech",
        Role::Accountant => "Accountant",
    }
}

fn role_select(id: &str, name: &str, current: &str, any: bool, aria: Option<&str>) -> Markup {
    html! {
        select id=(id) name=(name) aria-label=[aria] {
            @if any { option value="" selected[current.is_empty()] { "Any role" } }
            @for r in Role::ALL {
                option value=(r.as_str()) selected[r.as_str() == current] { (role_label(*r)) }
            }
        }
    }
}

async fn page(
    c: &Console,
    p: &ListParams,
    refused: Option<Refused>,
) -> Result<Response, ApiFailure> {
    let filters = [
        ("q", p.q.as_str()),
        ("role", p.role.as_str()),
        ("active", p.active.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let users: Page<User> = c.api.get(format!("/api/v1/users{}", query(&pairs))).await?;
    let status = match &refused {
        Some(Refused::New(_, e)) | Some(Refused::Action(e)) => e.status,
        None => StatusCode::OK,
    };
    let (nf, np) = match &refused {
        Some(Refused::New(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let action_problem = match &refused {
        Some(Refused::Action(e)) => Some(e),
        _ => None,
    };
    let d = NewUserFields {
        role: Role::Tech.as_str().to_owned(),
        ..Default::default()
    };
    let f = nf.unwrap_or(&d);
    let body = html! {
        (back())
        h1 { "Users" }
        @if let Some(e) = action_problem {
            p.problem #problem role="alert" { (e.message) }
        }
        form #user-search method="get" action=(BASE) {
            label for="q" { "Search" } " "
            input #q name="q" type="search" value=(p.q);
            " " label for="role" { "Role" } " "
            (role_select("role", "role", &p.role, true, None))
            " " label for="active" { "Show" } " "
            select #active name="active" {
                @for (v, l) in [("", "All"), ("true", "Active"), ("false", "Deactivated")] {
                    option value=(v) selected[p.active == v] { (l) }
                }
            }
            " " button type="submit" { "Search" }
        }
        p.muted #user-count { (users.total) " users" }
        div.scroll { table #users {
            thead { tr {
                th { "Name" } th { "E-mail" } th { "Role" } th { "Status" }
                th { "Two-factor" } th { "Last sign-in" } th { "Actions" }
            } }
            tbody { @for u in &users.data {
                tr id={ "user-" (u.id) } {
                    td { a id={ "edit-" (u.id) } href={ (BASE) "/" (u.id) } { (u.name) } }
                    td { (u.email) }
                    td {
                        form.inline method="post" action={ (BASE) "/" (u.id) "/role" } {
                            (layout::csrf_field(c.csrf()))
                            (role_select(&format!("role-{}", u.id), "role", u.role.as_str(), false, Some(&format!("Role of {}", u.name))))
                            button type="submit" id={ "set-role-" (u.id) } { "Change" }
                        }
                    }
                    td { @if u.active { span.ok { "active" } } @else { span.muted { "deactivated" } } }
                    td { @if u.totp_enabled { "on" } @else { span.muted { "off" } } }
                    td { @match u.last_login_at { Some(t) => (c.fmt.datetime(t)), None => span.muted { "never" } } }
                    td {
                        @if u.active {
                            (layout::post_button(&format!("{BASE}/{}/deactivate", u.id), c.csrf(), &format!("deactivate-{}", u.id), "Deactivate"))
                        } @else {
                            (layout::post_button(&format!("{BASE}/{}/reactivate", u.id), c.csrf(), &format!("reactivate-{}", u.id), "Reactivate"))
                        }
                    }
                }
            } }
        } }
        (next_link(BASE, &filters, users.next_cursor.as_deref()))
        section.card #new-user aria-labelledby="new-user-title" {
            h2 #new-user-title { "New user" }
            p.muted { "The user signs in with this e-mail and password; give them the password yourself. A deactivated user's sessions and API tokens end." }
            form.stack #new-user-form method="post" action=(BASE) {
                (layout::csrf_field(c.csrf()))
                (refusal(np))
                (input("Name", "name", "text", &f.name, np))
                (input("E-mail", "email", "email", &f.email, np))
                label for="f-role" { "Role" }
                (role_select("f-role", "role", &f.role, false, None))
                @if let Some(m) = np.and_then(|e| e.field("role")) { p.field-problem { (m) } }
                (input("First password (at least 12 characters)", "password", "password", "", np))
                button type="submit" #create-user { "Create user" }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Settings), "Users", body))
}

/// `GET /console/settings/users`.
pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    page(&c, &p, None).await
}

/// `POST /console/settings/users`: a new user.
pub async fn create(c: Console, Form(f): Form<NewUserFields>) -> Result<Response, ApiFailure> {
    let body =
        json!({"name": f.name, "email": f.email.trim(), "role": f.role, "password": f.password});
    match c
        .api
        .send::<User>(Method::POST, "/api/v1/users", &body)
        .await
    {
        Ok(u) => Ok(see_other(&format!("{BASE}#user-{}", u.id))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &ListParams::default(), Some(Refused::New(f, e))).await
        }
        Err(e) => Err(e),
    }
}

/// A row action's answer: back to the list, or the list with the API's
/// refusal (409: the last admin; 422).
async fn after_action(
    c: Console,
    id: UserId,
    r: Result<User, ApiFailure>,
) -> Result<Response, ApiFailure> {
    match r {
        Ok(_) => Ok(see_other(&format!("{BASE}#user-{id}"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &ListParams::default(), Some(Refused::Action(e))).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/users/{id}/role`.
pub async fn set_role(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<RoleFields>,
) -> Result<Response, ApiFailure> {
    let id: UserId = parse_id(&c, &id, "user")?;
    let r = c
        .api
        .send(
            Method::PATCH,
            format!("/api/v1/users/{id}"),
            &json!({"role": f.role}),
        )
        .await;
    after_action(c, id, r).await
}

/// `POST /console/settings/users/{id}/deactivate`.
pub async fn deactivate(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: UserId = parse_id(&c, &id, "user")?;
    let r = c
        .api
        .send_empty(Method::DELETE, format!("/api/v1/users/{id}"))
        .await;
    after_action(c, id, r).await
}

/// `POST /console/settings/users/{id}/reactivate`.
pub async fn reactivate(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: UserId = parse_id(&c, &id, "user")?;
    let r = c
        .api
        .send(
            Method::PATCH,
            format!("/api/v1/users/{id}"),
            &json!({"active": true}),
        )
        .await;
    after_action(c, id, r).await
}

// ---------------------------------------------------------------- one user

/// The edit form of one user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFields {
    name: String,
    email: String,
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    hourly_rate: String,
}

impl EditFields {
    fn of(u: &User) -> Self {
        EditFields {
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role.as_str().to_owned(),
            password: String::new(),
            hourly_rate: u.hourly_rate.map(|r| r.to_string()).unwrap_or_default(),
        }
    }
}

async fn edit_page(
    c: &Console,
    id: UserId,
    refused: Option<(EditFields, ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let u: User = c.api.get(format!("/api/v1/users/{id}")).await?;
    let status = refused
        .as_ref()
        .map(|(_, e)| e.status)
        .unwrap_or(StatusCode::OK);
    let (f, e) = match refused {
        Some((f, e)) => (f, Some(e)),
        None => (EditFields::of(&u), None),
    };
    let e = e.as_ref();
    let body = html! {
        p { a href=(BASE) { "← Users" } }
        h1 { (u.name) " " span.muted { "<" (u.email) ">" } }
        p.muted #user-state {
            @if u.active { "Active" } @else { "Deactivated" }
            " · two-factor sign-in " @if u.totp_enabled { "on" } @else { "off" }
            " · last sign-in " @match u.last_login_at { Some(t) => (c.fmt.datetime(t)), None => "never" }
        }
        form.stack #edit-user-form method="post" action={ (BASE) "/" (u.id) } {
            (layout::csrf_field(c.csrf()))
            (refusal(e))
            (input("Name", "name", "text", &f.name, e))
            (input("E-mail", "email", "email", &f.email, e))
            label for="f-role" { "Role" }
            (role_select("f-role", "role", &f.role, false, None))
            @if let Some(m) = e.and_then(|e| e.field("role")) { p.field-problem { (m) } }
            (input(&format!("Hourly rate ({}; empty: the client's or the company's)", c.company.currency), "hourly_rate", "text", &f.hourly_rate, e))
            (input_with("New password (empty: keep it; a new one signs the user out everywhere)", "password", "password", "", e, Some("new-password")))
            button type="submit" #save-user { "Save user" }
        }
    };
    Ok(c.page_with(status, Some(Section::Settings), &u.name, body))
}

/// `GET /console/settings/users/{id}`.
pub async fn show(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    let id: UserId = parse_id(&c, &id, "user")?;
    edit_page(&c, id, None).await
}

/// `POST /console/settings/users/{id}`: the edit form.
pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<EditFields>,
) -> Result<Response, ApiFailure> {
    let id: UserId = parse_id(&c, &id, "user")?;
    let rate = f.hourly_rate.trim();
    let mut body = json!({
        "name": f.name, "email": f.email.trim(), "role": f.role,
        "hourly_rate": (!rate.is_empty()).then_some(rate),
    });
    if !f.password.is_empty() {
        body["password"] = json!(f.password);
    }
    match c
        .api
        .send::<User>(Method::PATCH, format!("/api/v1/users/{id}"), &body)
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}#user-{id}"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            edit_page(&c, id, Some((f, e))).await
        }
        Err(e) => Err(e),
    }
}
