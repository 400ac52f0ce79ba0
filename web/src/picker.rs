//! The one client picker of every form that chooses a client.
//!
//! A company with at most [`PLAIN_MAX`] clients gets a plain `<select>` of
//! them all. A bigger one gets a search input (`client_q`, labelled
//! "Client") with a "Find" button and a `<select>` of the clients that
//! match (the API's `GET /api/v1/clients?q=&limit=50`): "Find" submits the
//! whole form by GET to the form's own page, which re-renders it with the
//! matches and everything else as typed ([`refill`] reads such a query).
//! With the console's script, typing in the search input fetches
//! [`options`] (`/console/clients/options?q=`, a fragment of `<option>`s)
//! and replaces the select's options as one types.
//!
//! The chosen client is always an option, found by its id, so it survives
//! a refused form re-rendered and a search that no longer matches it.
//!
//! Usage: load with [`ClientPicker::load`] (the typed `client_q` and the
//! chosen `client_id`), render with [`ClientPicker::render`] inside the
//! form; a POST form's fields type takes `client_q` (default empty) and its
//! GET handler reads a Find's query with [`refill`].

use axum::extract::{Query, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use nestogy_domain::ClientId;
use nestogy_domain::customers::clients::Client;
use nestogy_domain::kernel::pagination::Page;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api_client::{ApiFailure, query};
use crate::layout::{self, CSRF_FIELD};
use crate::pages::tickets::SCRIPT_PATH;
use crate::session::Console;

/// Up to this many clients, the picker is a plain `<select>` of them all.
pub const PLAIN_MAX: i64 = 200;

/// Matches of a search shown as options.
const MATCHES: &str = "50";

/// The search input's field name.
pub const SEARCH_FIELD: &str = "client_q";

/// The "Find" button's field name (sent only by that button).
pub const FIND_FIELD: &str = "client_find";

/// The clients a form offers, loaded for one rendering.
#[derive(Debug, Clone)]
pub struct ClientPicker {
    /// Every client (plain) or the matches of `q` (search), by name; the
    /// chosen client first when it is neither.
    options: Vec<(ClientId, String)>,
    /// More than [`PLAIN_MAX`] clients: a search input beside the select.
    searchable: bool,
    q: String,
    selected: String,
}

/// Where and how a picker is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// The select's element id (the search input's is `<id>-q`).
    pub id: &'a str,
    /// The select's field name, usually `client_id`.
    pub name: &'a str,
    /// The label of the empty choice: "any", "none", "Choose a client".
    pub empty: &'a str,
    /// The form's own page, where "Find" sends the form by GET.
    pub page: &'a str,
    /// A refused form's failure, for the field's message.
    pub problem: Option<&'a ApiFailure>,
}

impl<'a> Spec<'a> {
    /// A `client_id` select with element id `id`, the empty choice
    /// `empty`, on the form page `page`.
    pub fn new(id: &'a str, empty: &'a str, page: &'a str) -> Self {
        Spec {
            id,
            name: "client_id",
            empty,
            page,
            problem: None,
        }
    }

    /// The same, showing `problem`'s message for the field.
    pub fn problem(self, problem: Option<&'a ApiFailure>) -> Self {
        Spec { problem, ..self }
    }
}

impl ClientPicker {
    /// The company's active clients (all, when at most [`PLAIN_MAX`]; else
    /// those matching `q`), and the client `selected` (an id, or empty).
    pub async fn load(c: &Console, q: &str, selected: &str) -> Result<Self, ApiFailure> {
        let q = q.trim();
        let first = format!("/api/v1/clients?limit={PLAIN_MAX}");
        let found = format!("/api/v1/clients{}", query(&[("q", q), ("limit", MATCHES)]));
        let (all, matches) = tokio::join!(c.api.get::<Page<Client>>(first), async {
            if q.is_empty() {
                Ok(None)
            } else {
                c.api.get::<Page<Client>>(&found).await.map(Some)
            }
        });
        let all = all?;
        let searchable = all.total > PLAIN_MAX;
        let shown = match (searchable, matches?) {
            (false, _) => all.data,
            (true, Some(m)) => m.data,
            (true, None) => Vec::new(),
        };
        let mut options: Vec<(ClientId, String)> =
            shown.into_iter().map(|cl| (cl.id, cl.name)).collect();
        if let Ok(id) = selected.trim().parse::<ClientId>()
            && !options.iter().any(|(o, _)| *o == id)
            && let Some(cl) = chosen(c, id).await?
        {
            options.insert(0, (cl.id, cl.name));
        }
        Ok(ClientPicker {
            options,
            searchable,
            q: q.to_owned(),
            selected: selected.trim().to_owned(),
        })
    }

    /// The clients it offers, by id and name (for a page's name cells).
    pub fn known(&self) -> &[(ClientId, String)] {
        &self.options
    }

    /// Whether the company has too many clients for one select.
    pub fn searchable(&self) -> bool {
        self.searchable
    }

    /// The picker's label, inputs and the field's problem, inside a form.
    pub fn render(&self, spec: Spec<'_>) -> Markup {
        let message = spec.problem.and_then(|f| f.field(spec.name));
        let select = html! {
            select id=(spec.id) name=(spec.name) aria-invalid=[message.map(|_| "true")] {
                option value="" { (spec.empty) }
                @for (id, name) in &self.options {
                    @let v = id.to_string();
                    option value=(v) selected[v == self.selected] { (name) }
                }
            }
        };
        let search_id = format!("{}-q", spec.id);
        html! {
            @if self.searchable {
                span.picker {
                    label for=(search_id) { "Client" }
                    " "
                    input id=(search_id) type="search" name=(SEARCH_FIELD) value=(self.q)
                        autocomplete="off" data-client-select=(spec.id)
                        placeholder="Part of the name";
                    " "
                    button type="submit" name=(FIND_FIELD) value="1" formmethod="get"
                        formaction=(spec.page) formnovalidate { "Find" }
                    " "
                    label for=(spec.id) { "Matching clients" }
                    " "
                    (select)
                    @if !self.q.is_empty() && self.options.is_empty() {
                        " " span.muted role="status" { "No client matches." }
                    }
                }
                script src=(SCRIPT_PATH) defer {}
            } @else {
                label for=(spec.id) { "Client" }
                " "
                (select)
            }
            @if let Some(m) = message { p.field-problem { (m) } }
        }
    }
}

/// The first step of a form for one client (a new invoice, quote or
/// recurring invoice): the picker in a GET form to `base` whose
/// "Continue" opens `base?client_id=`; `q` is the picker's search.
pub async fn client_step(
    c: &Console,
    base: &str,
    heading: &str,
    q: &str,
) -> Result<Markup, ApiFailure> {
    let clients = ClientPicker::load(c, q, "").await?;
    Ok(html! {
        h1 { (heading) }
        form.stack #client-picker method="get" action=(base) {
            (clients.render(Spec::new("f-client_id", "Choose a client", base)))
            button #client-continue type="submit" { "Continue" }
        }
    })
}

/// The client `id`, or `None` when there is none of that id (another
/// tenant's, or deleted).
async fn chosen(c: &Console, id: ClientId) -> Result<Option<Client>, ApiFailure> {
    match c.api.get::<Client>(format!("/api/v1/clients/{id}")).await {
        Ok(cl) => Ok(Some(cl)),
        Err(f) if f.status == StatusCode::NOT_FOUND => Ok(None),
        Err(f) => Err(f),
    }
}

/// A form's fields from the query of its "Find" button (a GET of the whole
/// form): the CSRF token and the button itself left out. `None` when there
/// is no query (the form's first showing); a query that does not read as
/// `T` is a 400 page.
pub fn refill<T: DeserializeOwned>(c: &Console, raw: &RawQuery) -> Result<Option<T>, ApiFailure> {
    let Some(raw) = raw.0.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k != CSRF_FIELD && k != FIND_FIELD {
            kept.append_pair(&k, &v);
        }
    }
    serde_urlencoded::from_str(&kept.finish())
        .map(Some)
        .map_err(|_| {
            ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the form's fields do not read",
            )
            .in_frame(c.chrome.clone())
        })
}

#[derive(Debug, Default, Deserialize)]
pub struct OptionsParams {
    #[serde(default)]
    q: String,
}

/// `GET /console/clients/options?q=`: the `<option>`s of the active
/// clients matching `q` (the first 50 by name), for the script to put in a
/// picker's select.
pub async fn options(c: Console, Query(p): Query<OptionsParams>) -> Result<Response, ApiFailure> {
    let found: Page<Client> = c
        .api
        .get(format!(
            "/api/v1/clients{}",
            query(&[("q", p.q.trim()), ("limit", MATCHES)])
        ))
        .await?;
    let body = html! {
        @for cl in &found.data { option value=(cl.id) { (cl.name) } }
    };
    Ok(layout::respond(StatusCode::OK, body))
}
