//! Xero: OAuth 2 (authorisation code with PKCE, rotating refresh tokens)
//! at its identity server, and the Accounting API (`/api.xro/2.0`) for
//! contacts, invoices and payments. Every call goes through the one
//! reqwest client of [`crate::http`].

use std::time::Duration;

use nestogy_domain::integrations::accounting::{ClientData, InvoiceData, PaymentData};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};

use super::{AccountingAdapter, AdapterError};
use crate::XeroConfig;

pub const SCOPES: [&str; 3] = [
    "offline_access",
    "accounting.transactions",
    "accounting.contacts",
];

/// The redirect URI registered with the Xero app.
pub fn redirect_uri(public_url: &str) -> String {
    format!(
        "{}/api/v1/accounting/xero/callback",
        public_url.trim_end_matches('/')
    )
}

fn oauth_client(
    cfg: &XeroConfig,
    redirect: &str,
) -> Result<
    BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    String,
> {
    let id = cfg
        .client_id
        .clone()
        .ok_or("no Xero app is configured (client id)")?;
    let mut c = BasicClient::new(ClientId::new(id))
        .set_auth_uri(
            AuthUrl::new(format!(
                "{}/identity/connect/authorize",
                cfg.login_base.trim_end_matches('/')
            ))
            .map_err(|e| e.to_string())?,
        )
        .set_token_uri(
            TokenUrl::new(format!(
                "{}/connect/token",
                cfg.identity_base.trim_end_matches('/')
            ))
            .map_err(|e| e.to_string())?,
        )
        .set_redirect_uri(RedirectUrl::new(redirect.to_owned()).map_err(|e| e.to_string())?);
    if let Some(secret) = &cfg.client_secret {
        c = c.set_client_secret(ClientSecret::new(secret.clone()));
    }
    Ok(c)
}

/// A started authorisation: where to send the user, and what to keep.
pub struct Authorisation {
    pub url: String,
    pub state: String,
    pub pkce_verifier: String,
}

/// Builds Xero's authorisation URL locally (no outside call).
pub fn authorize(cfg: &XeroConfig, public_url: &str) -> Result<Authorisation, String> {
    let client = oauth_client(cfg, &redirect_uri(public_url))?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Authorisation {
        url: url.to_string(),
        state: state.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Tokens from the token endpoint.
pub struct Granted {
    pub access: String,
    /// Xero rotates it on every refresh; `None` if the answer had none.
    pub refresh: Option<String>,
    pub expires_in: Duration,
}

/// Why the token endpoint said no.
#[derive(Debug)]
pub enum TokenError {
    /// `invalid_grant`: the code or refresh token is no good; connect again.
    InvalidGrant(String),
    /// Anything else (network, 5xx, a malformed answer): worth a retry.
    Other(String),
}

/// The oauth2 crate's HTTP, over our reqwest client.
async fn send(
    http: reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, std::io::Error> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let mut b = oauth2::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        b = b.header(k, v);
    }
    let bytes = resp.bytes().await.map_err(std::io::Error::other)?;
    b.body(bytes.to_vec()).map_err(std::io::Error::other)
}

fn granted(t: BasicTokenResponse) -> Granted {
    Granted {
        access: t.access_token().secret().clone(),
        refresh: t.refresh_token().map(|r| r.secret().clone()),
        expires_in: t.expires_in().unwrap_or(Duration::from_secs(1800)),
    }
}

fn token_error<E: std::error::Error>(
    e: RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let msg = format!(
                "{}{}",
                r.error(),
                r.error_description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
            if *r.error() == BasicErrorResponseType::InvalidGrant {
                TokenError::InvalidGrant(msg)
            } else {
                TokenError::Other(msg)
            }
        }
        other => TokenError::Other(format!("token endpoint: {other}")),
    }
}

/// Exchanges an authorisation code (with its PKCE verifier).
pub async fn exchange_code(
    http: &reqwest::Client,
    cfg: &XeroConfig,
    public_url: &str,
    code: &str,
    verifier: &str,
) -> Result<Granted, TokenError> {
    let client = oauth_client(cfg, &redirect_uri(public_url)).map_err(TokenError::InvalidGrant)?;
    let h = http.clone();
    let call = move |req| send(h.clone(), req);
    client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
        .request_async(&call)
        .await
        .map(granted)
        .map_err(token_error)
}

/// Refreshes the access token; the answer carries the next refresh token.
pub async fn refresh(
    http: &reqwest::Client,
    cfg: &XeroConfig,
    public_url: &str,
    refresh_token: &str,
) -> Result<Granted, TokenError> {
    let client = oauth_client(cfg, &redirect_uri(public_url)).map_err(TokenError::InvalidGrant)?;
    let h = http.clone();
    let call = move |req| send(h.clone(), req);
    client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
        .request_async(&call)
        .await
        .map(granted)
        .map_err(token_error)
}

/// The organisation an access token reaches: `GET /connections`.
pub async fn organisation(
    http: &reqwest::Client,
    cfg: &XeroConfig,
    access: &str,
) -> Result<(String, Option<String>), AdapterError> {
    let resp = http
        .get(format!(
            "{}/connections",
            cfg.api_base.trim_end_matches('/')
        ))
        .bearer_auth(access)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| AdapterError::Unavailable(format!("Xero connections: {e}")))?;
    let v = read(resp).await?;
    let first = v
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|c| c["tenantType"] == "ORGANISATION")
                .or(a.first())
        })
        .ok_or_else(|| AdapterError::Rejected("Xero reports no connected organisation".into()))?;
    let id = first["tenantId"]
        .as_str()
        .ok_or_else(|| AdapterError::Rejected("Xero connection without tenantId".into()))?;
    Ok((
        id.to_owned(),
        first["tenantName"].as_str().map(str::to_owned),
    ))
}

/// Reads an API answer: JSON on success; 429 with its `Retry-After`.
async fn read(resp: reqwest::Response) -> Result<Value, AdapterError> {
    let status = resp.status();
    if status.as_u16() == 429 {
        let secs = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(60);
        return Err(AdapterError::RateLimited(Duration::from_secs(secs)));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| AdapterError::Unavailable(format!("reading Xero's answer: {e}")))?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|e| AdapterError::Unavailable(format!("Xero answered non-JSON: {e}")));
    }
    let short: String = text.chars().take(500).collect();
    match status.as_u16() {
        401 | 403 => Err(AdapterError::Unauthorized(format!(
            "Xero {status}: {short}"
        ))),
        400 | 404 | 409 | 422 => Err(AdapterError::Rejected(format!("Xero {status}: {short}"))),
        _ => Err(AdapterError::Unavailable(format!("Xero {status}: {short}"))),
    }
}

/// A decimal as a JSON number, written from its decimal digits (Xero's
/// amounts are numbers; ours have at most 4 places, which a JSON reader
/// gets back exactly). Nothing is computed with it.
fn number(d: rust_decimal::Decimal) -> Value {
    let s = d.normalize().to_string();
    serde_json::from_str(&s).unwrap_or(Value::String(s))
}

/// The Accounting API for one organisation with one access token.
pub struct XeroAdapter {
    pub http: reqwest::Client,
    pub api_base: String,
    pub access_token: String,
    pub xero_tenant: String,
    pub sales_account: String,
    pub payment_account: String,
}

impl XeroAdapter {
    async fn call(
        &self,
        method: reqwest::Method,
        resource: &str,
        body: Value,
    ) -> Result<Value, AdapterError> {
        let resp = self
            .http
            .request(
                method,
                format!(
                    "{}/api.xro/2.0/{resource}",
                    self.api_base.trim_end_matches('/')
                ),
            )
            .bearer_auth(&self.access_token)
            .header("xero-tenant-id", &self.xero_tenant)
            .header("Accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| AdapterError::Unavailable(format!("Xero {resource}: {e}")))?;
        read(resp).await
    }

    /// The id field of the first element of `{resource: [...]}`.
    fn id_of(v: &Value, resource: &str, field: &str) -> Result<String, AdapterError> {
        v[resource][0][field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| AdapterError::Rejected(format!("Xero answered without {field}")))
    }

    pub fn contact_json(c: &ClientData, external: Option<&str>) -> Value {
        let mut contact = json!({ "Name": c.name });
        if let Some(id) = external {
            contact["ContactID"] = json!(id);
        }
        if let Some(e) = &c.email {
            contact["EmailAddress"] = json!(e);
        }
        if let Some(t) = &c.tax_id {
            contact["TaxNumber"] = json!(t);
        }
        json!({ "Contacts": [contact] })
    }

    pub fn invoice_json(&self, i: &InvoiceData, contact: &str, external: Option<&str>) -> Value {
        let lines: Vec<Value> = i
            .lines
            .iter()
            .map(|l| {
                json!({
                    "Description": l.description,
                    "Quantity": number(l.quantity),
                    "UnitAmount": number(l.unit_price),
                    "AccountCode": self.sales_account,
                })
            })
            .collect();
        let mut inv = json!({
            "Type": "ACCREC",
            "Contact": { "ContactID": contact },
            "InvoiceNumber": i.number,
            "Date": i.issue_date.to_string(),
            "DueDate": i.due_date.to_string(),
            "CurrencyCode": i.currency.trim(),
            "LineItems": lines,
            "Status": if i.is_void() { "VOIDED" } else { "AUTHORISED" },
        });
        if let Some(id) = external {
            inv["InvoiceID"] = json!(id);
        }
        json!({ "Invoices": [inv] })
    }

    pub fn payment_json(&self, p: &PaymentData, invoice: &str) -> Value {
        let mut pay = json!({
            "Invoice": { "InvoiceID": invoice },
            "Account": { "Code": self.payment_account },
            "Amount": number(p.amount),
            "Date": p.paid_on.to_string(),
        });
        if let Some(r) = &p.reference {
            pay["Reference"] = json!(r);
        }
        json!({ "Payments": [pay] })
    }
}

impl AccountingAdapter for XeroAdapter {
    async fn upsert_contact(
        &self,
        c: &ClientData,
        external: Option<&str>,
    ) -> Result<String, AdapterError> {
        // POST creates, or updates the contact named by ContactID.
        let v = self
            .call(
                reqwest::Method::POST,
                "Contacts",
                Self::contact_json(c, external),
            )
            .await?;
        Self::id_of(&v, "Contacts", "ContactID")
    }

    async fn upsert_invoice(
        &self,
        i: &InvoiceData,
        contact: &str,
        external: Option<&str>,
    ) -> Result<String, AdapterError> {
        let v = self
            .call(
                reqwest::Method::POST,
                "Invoices",
                self.invoice_json(i, contact, external),
            )
            .await?;
        Self::id_of(&v, "Invoices", "InvoiceID")
    }

    async fn create_payment(&self, p: &PaymentData, invoice: &str) -> Result<String, AdapterError> {
        let v = self
            .call(
                reqwest::Method::PUT,
                "Payments",
                self.payment_json(p, invoice),
            )
            .await?;
        Self::id_of(&v, "Payments", "PaymentID")
    }
}
