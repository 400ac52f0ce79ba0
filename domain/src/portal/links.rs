//! One-time links: invitations (7 days) and sign-in links (15 minutes,
//! bound to the browser that asked). Only a token's SHA-256 is stored; a
//! link is used by one atomic `UPDATE ... WHERE used_at IS NULL`, so however
//! many processes present it at once, one wins.

use chrono::{DateTime, Duration, Utc};

use crate::kernel::secrets::{hash_token, random_token};
use crate::{ContactId, DomainError, DomainResult, TenantTx};

crate::kernel::text::text_enum!(
    /// What a link does.
    LinkKind {
        /// Staff invited the contact: the link may set a password.
        Invitation = "invitation",
        /// The contact asked to sign in by e-mail.
        SignIn = "sign_in",
    }
);

impl LinkKind {
    /// How long a link works.
    pub fn ttl(self) -> Duration {
        match self {
            LinkKind::Invitation => Duration::days(7),
            LinkKind::SignIn => Duration::minutes(15),
        }
    }
}

/// A link just made: its token (mailed, never stored) and expiry.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Whether `s` looks like a token of ours (base64url, 43 characters);
/// anything else is refused without a query.
fn token_shaped(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Makes a link for `contact`. A new invitation voids the contact's
/// unused older ones. `browser_key` binds a sign-in link to a browser.
pub async fn create(
    tx: &mut TenantTx,
    contact: ContactId,
    kind: LinkKind,
    browser_key: Option<&str>,
) -> DomainResult<NewLink> {
    let (tenant, now) = (tx.tenant(), tx.now());
    if kind == LinkKind::Invitation {
        sqlx::query(
            "DELETE FROM portal_links WHERE company_id = $1 AND contact_id = $2 \
             AND kind = 'invitation' AND used_at IS NULL",
        )
        .bind(tenant)
        .bind(contact)
        .execute(tx.conn())
        .await?;
    }
    let token = random_token(32);
    let expires_at = now + kind.ttl();
    sqlx::query(
        "INSERT INTO portal_links (id, company_id, contact_id, kind, token_hash, \
         browser_key_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(tenant)
    .bind(contact)
    .bind(kind.as_str())
    .bind(hash_token(&token))
    .bind(browser_key.map(hash_token))
    .bind(expires_at)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(NewLink { token, expires_at })
}

/// Uses a link: the contact it signs in, or 401 saying why not
/// (`link_invalid`, `link_expired`, `link_used`, `link_other_browser`). A
/// link presented with the wrong browser key stays unused. The contact
/// must still have portal access and their client must not be archived.
pub async fn consume(
    tx: &mut TenantTx,
    kind: LinkKind,
    token: &str,
    browser_key: Option<&str>,
) -> DomainResult<ContactId> {
    if !token_shaped(token) {
        return Err(refused("link_invalid"));
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let hash = hash_token(token);
    let browser = browser_key.map(hash_token);
    let used: Option<ContactId> = sqlx::query_scalar(
        "UPDATE portal_links l SET used_at = $4 FROM contacts c \
         JOIN clients k ON k.company_id = c.company_id AND k.id = c.client_id \
         WHERE l.company_id = $1 AND l.token_hash = $2 AND l.kind = $3 \
         AND l.used_at IS NULL AND l.expires_at > $4 \
         AND l.browser_key_hash IS NOT DISTINCT FROM $5 \
         AND c.company_id = l.company_id AND c.id = l.contact_id \
         AND c.portal_access AND k.archived_at IS NULL \
         RETURNING l.contact_id",
    )
    .bind(tenant)
    .bind(&hash)
    .bind(kind.as_str())
    .bind(now)
    .bind(&browser)
    .fetch_optional(tx.conn())
    .await?;
    if let Some(contact) = used {
        return Ok(contact);
    }
    // Why not: read only to answer.
    type Seen = (Option<DateTime<Utc>>, DateTime<Utc>, Option<Vec<u8>>);
    let row: Option<Seen> = sqlx::query_as(
        "SELECT used_at, expires_at, browser_key_hash FROM portal_links \
         WHERE company_id = $1 AND token_hash = $2 AND kind = $3",
    )
    .bind(tenant)
    .bind(&hash)
    .bind(kind.as_str())
    .fetch_optional(tx.conn())
    .await?;
    Err(refused(match row {
        None => "link_invalid",
        Some((Some(_), _, _)) => "link_used",
        Some((None, expires, _)) if expires <= now => "link_expired",
        Some((None, _, b)) if b != browser => "link_other_browser",
        Some(_) => "link_invalid",
    }))
}

fn refused(code: &'static str) -> DomainError {
    let message = match code {
        "link_used" => "this link was used already; ask for a new one",
        "link_expired" => "this link has expired; ask for a new one",
        "link_other_browser" => {
            "this sign-in link works only in the browser that asked for it; open it there"
        }
        _ => "this link is not valid",
    };
    DomainError::unauthenticated(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_tokens_are_looked_up() {
        assert!(token_shaped(&random_token(32)));
        assert!(!token_shaped("short"));
        assert!(!token_shaped(&"a".repeat(44)));
        assert!(!token_shaped(&format!("{}/", "a".repeat(42))));
    }
}
