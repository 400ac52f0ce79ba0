//! Authentication: JWT access tokens and API tokens resolve to a
//! [`Principal`]; [`Principal::require`] checks a permission against the
//! role (and, for API tokens, the scopes).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use nestogy_domain::identity::tokens::{self, API_TOKEN_PREFIX, Scopes};
use nestogy_domain::kernel::audit::Actor;
use nestogy_domain::kernel::roles::{Permission, Role};
use nestogy_domain::portal::{self, PortalContact};
use nestogy_domain::{ApiTokenId, ContactId, TenantId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Signs and checks access tokens (HS256).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    /// The admin pages' CSRF key, derived from the same secret (so every
    /// API process that shares `NESTOGY_JWT_SECRET` checks the same tokens).
    csrf: [u8; 32],
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: uuid::Uuid,
    cid: uuid::Uuid,
    /// The role when issued: informational; each request reads the current one.
    role: Role,
    /// The user's token version when issued; a newer version ends the token.
    #[serde(default)]
    ver: i32,
    iat: i64,
    exp: i64,
    /// Staff tokens have none; a contact's token says `contact` (and has
    /// no role, so it never reads as a staff token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
}

/// The claims of a client contact's access token (the portal's).
#[derive(Debug, Serialize, Deserialize)]
struct ContactClaims {
    /// The contact.
    sub: uuid::Uuid,
    cid: uuid::Uuid,
    /// Always `contact`.
    kind: String,
    ver: i32,
    iat: i64,
    exp: i64,
}

const CONTACT_KIND: &str = "contact";

impl JwtKeys {
    pub fn new(secret: &[u8], access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the injectable clock, not the system's.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            csrf: mac(secret, b"nestogy admin pages csrf v1"),
        }
    }

    /// The CSRF token of a form bound to `session` (a cookie's value) for
    /// `purpose`: HMAC-SHA256 under the CSRF key, hex.
    pub fn csrf_token(&self, purpose: &str, session: &str) -> String {
        let mut msg = Vec::with_capacity(purpose.len() + 1 + session.len());
        msg.extend_from_slice(purpose.as_bytes());
        msg.push(0);
        msg.extend_from_slice(session.as_bytes());
        hex::encode(mac(&self.csrf, &msg))
    }

    /// Whether `token` is the CSRF token of `session` for `purpose`
    /// (compared in constant time).
    pub fn csrf_ok(&self, purpose: &str, session: &str, token: &str) -> bool {
        use hmac::Mac;
        let Ok(given) = hex::decode(token.trim()) else {
            return false;
        };
        let Ok(mut m) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.csrf) else {
            return false;
        };
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(session.as_bytes());
        m.verify_slice(&given).is_ok()
    }

    pub fn issue(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
        version: i32,
        now: DateTime<Utc>,
    ) -> ApiResult<String> {
        let claims = Claims {
            sub: user.as_uuid(),
            cid: tenant.as_uuid(),
            role,
            ver: version,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            kind: None,
        };
        self.sign(&claims)
    }

    /// A client contact's access token, for the portal's routes only.
    pub fn issue_contact(
        &self,
        tenant: TenantId,
        contact: ContactId,
        version: i32,
        now: DateTime<Utc>,
    ) -> ApiResult<String> {
        self.sign(&ContactClaims {
            sub: contact.as_uuid(),
            cid: tenant.as_uuid(),
            kind: CONTACT_KIND.to_owned(),
            ver: version,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
        })
    }

    fn sign<T: Serialize>(&self, claims: &T) -> ApiResult<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).map_err(|e| {
            ApiError::Domain(nestogy_domain::DomainError::Internal(format!(
                "signing token: {e}"
            )))
        })
    }

    /// A valid, unexpired contact token's tenant, contact and version.
    pub fn verify_contact(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<(TenantId, ContactId, i32)> {
        let data =
            jsonwebtoken::decode::<ContactClaims>(token, &self.decoding, &self.validation).ok()?;
        let c = data.claims;
        (c.kind == CONTACT_KIND && c.exp > now.timestamp()).then_some((
            TenantId(c.cid),
            ContactId(c.sub),
            c.ver,
        ))
    }

    /// What a valid, unexpired access token of ours says (signature and
    /// expiry checked at `now`; not whether the user still accepts it: that
    /// is [`Principal::authenticate`]'s). The console reads its sign-in's
    /// token with it.
    pub fn access_claims(&self, token: &str, now: DateTime<Utc>) -> Option<AccessClaims> {
        self.verify(token, now).map(|c| AccessClaims {
            tenant: TenantId(c.cid),
            user_id: UserId(c.sub),
            role: c.role,
            token_version: c.ver,
        })
    }

    /// A staff token's claims: never a contact's.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        (data.claims.kind.is_none() && data.claims.exp > now.timestamp()).then_some(data.claims)
    }
}

/// The claims of an access token, as [`JwtKeys::access_claims`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub tenant: TenantId,
    pub user_id: UserId,
    /// The role when issued (informational).
    pub role: Role,
    /// The user's token version when issued.
    pub token_version: i32,
}

/// HMAC-SHA256 of `msg` under `key`.
fn mac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes a key of any length: this cannot fail.
    let mut m = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: TenantId,
    pub user_id: UserId,
    pub role: Role,
    /// Set when the caller used an API token: its id and scopes.
    pub api_token: Option<(ApiTokenId, Scopes)>,
    pub request_id: Option<String>,
}

impl Principal {
    /// 403 unless the role, and the token's scopes if any, allow `p`.
    pub fn require(&self, p: Permission) -> ApiResult<()> {
        let scoped = self
            .api_token
            .as_ref()
            .is_none_or(|(_, s)| s.0.contains(&p));
        if self.role.allows(p) && scoped {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} permission",
                p.as_str()
            )))
        }
    }

    /// 403 for API tokens: some things only a signed-in person may do.
    pub fn require_session(&self) -> ApiResult<()> {
        match self.api_token {
            None => Ok(()),
            Some(_) => Err(ApiError::forbidden("an API token cannot do this; sign in")),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            token_id: self.api_token.as_ref().map(|(id, _)| *id),
            contact_id: None,
            request_id: self.request_id.clone(),
        }
    }
}

pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        Principal::authenticate(state, token, request_id(parts)).await
    }
}

/// The bearer token of a request.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("send a bearer token in the Authorization header")
    })?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
        })
}

/// A client's contact signed in to the portal: the caller of the portal's
/// routes. Staff tokens and API tokens are refused (401), as contact
/// tokens are on every staff route. The contact is checked against the
/// database on every request: portal access still granted, the client not
/// archived, the token's version current.
#[derive(Debug, Clone)]
pub struct ContactPrincipal {
    pub tenant: TenantId,
    pub contact: PortalContact,
    pub request_id: Option<String>,
}

impl ContactPrincipal {
    pub fn actor(&self) -> Actor {
        Actor::contact(self.contact.id, self.request_id.clone())
    }

    /// A transaction in the contact's tenant.
    pub async fn tx(&self, state: &AppState) -> ApiResult<nestogy_domain::TenantTx> {
        Ok(state.db.tenant(self.tenant).await?)
    }
}

impl FromRequestParts<AppState> for ContactPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        let (tenant, id, version) = state
            .jwt
            .verify_contact(token, state.db.clock.now())
            .ok_or_else(|| {
                ApiError::unauthenticated("the portal access token is invalid or expired")
            })?;
        let mut tx = state.db.tenant(tenant).await?;
        let contact = portal::contact(&mut tx, id).await?;
        tx.end_read();
        let contact = contact
            .filter(|c| c.may_sign_in)
            .ok_or_else(|| ApiError::unauthenticated("the contact has no portal access"))?;
        if contact.token_version != version {
            return Err(ApiError::unauthenticated(
                "the portal access token was revoked (a new password, or signed out everywhere); sign in again",
            ));
        }
        Ok(ContactPrincipal {
            tenant,
            contact,
            request_id: request_id(parts),
        })
    }
}

impl Principal {
    /// The caller an access token or API token names, checked against the
    /// user as it is now (active, role, token version): the one check of
    /// the bearer header and of the admin pages' cookie.
    pub async fn authenticate(
        state: &AppState,
        token: &str,
        request_id: Option<String>,
    ) -> Result<Self, ApiError> {
        if token.starts_with(API_TOKEN_PREFIX) {
            let p = tokens::authenticate_api_token(&state.db, token)
                .await?
                .ok_or_else(|| {
                    ApiError::unauthenticated("the API token is invalid, expired or revoked")
                })?;
            return Ok(Principal {
                tenant: p.tenant,
                user_id: p.user_id,
                role: p.role,
                api_token: Some((p.token_id, p.scopes)),
                request_id,
            });
        }
        let claims = state
            .jwt
            .verify(token, state.db.clock.now())
            .ok_or_else(|| ApiError::unauthenticated("the access token is invalid or expired"))?;
        let (tenant, user_id) = (TenantId(claims.cid), UserId(claims.sub));
        // The user as it is now, not as the token remembers it.
        let current = nestogy_domain::kernel::user_state::current(
            &state.db.pool,
            &state.db.users,
            tenant,
            user_id,
        )
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::unauthenticated("the account is deactivated"))?;
        if current.token_version != claims.ver {
            return Err(ApiError::unauthenticated(
                "the access token was revoked (a new password, or signed out everywhere); sign in again",
            ));
        }
        Ok(Principal {
            tenant,
            user_id,
            role: current.role,
            api_token: None,
            request_id,
        })
    }
}
