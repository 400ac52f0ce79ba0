//! Secrets at rest (SMTP and, later, IMAP passwords; provider keys):
//! AES-256-GCM under one key from the environment. A stored value is
//! `nonce (12 bytes) || ciphertext`; the tenant id is bound as associated
//! data, so a value copied to another tenant's row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::TenantId;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the secret key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("a stored secret does not decrypt under this key")]
    Decrypt,
}

/// The key secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey(Aes256Gcm);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// From 32 bytes in standard base64 (`openssl rand -base64 32`).
    pub fn from_base64(s: &str) -> Result<SecretKey, CryptoError> {
        let raw = STANDARD.decode(s.trim()).map_err(|_| CryptoError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&raw).map_err(|_| CryptoError::BadKey)?;
        Ok(SecretKey(cipher))
    }

    pub fn seal(&self, tenant: TenantId, plain: &str) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = tenant.as_uuid();
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        out
    }

    pub fn open(&self, tenant: TenantId, sealed: &[u8]) -> Result<String, CryptoError> {
        if sealed.len() < 12 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        let aad = tenant.as_uuid();
        let plain = self
            .0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

/// How a value sealed into text starts; one without it is plain text
/// (stored without a key, or from before secrets were sealed).
const SEALED: &str = "sealed:";

/// `plain` as text to store: `sealed:` and the base64 of its sealing under
/// `key` for `tenant`, or as it is when there is no key.
pub fn seal_text(key: Option<&SecretKey>, tenant: TenantId, plain: &str) -> String {
    match key {
        Some(k) => format!("{SEALED}{}", STANDARD.encode(k.seal(tenant, plain))),
        None => plain.to_owned(),
    }
}

/// What [`seal_text`] stored, opened; `what` names it in errors.
pub fn open_text(
    key: Option<&SecretKey>,
    tenant: TenantId,
    stored: &str,
    what: &str,
) -> crate::DomainResult<String> {
    let Some(sealed) = stored.strip_prefix(SEALED) else {
        return Ok(stored.to_owned());
    };
    let key = key.ok_or_else(|| {
        crate::DomainError::Internal(format!(
            "a {what} is sealed but NESTOGY_SECRET_KEY is not set"
        ))
    })?;
    let bytes = STANDARD
        .decode(sealed)
        .map_err(|e| crate::DomainError::Internal(format!("sealed {what}: {e}")))?;
    key.open(tenant, &bytes)
        .map_err(|e| crate::DomainError::Internal(format!("sealed {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn seals_and_opens_for_the_same_tenant_only() {
        let key = SecretKey::from_base64(KEY).expect("key");
        let (a, b) = (TenantId::new(), TenantId::new());
        let sealed = key.seal(a, "hunter2");
        assert_ne!(&sealed[12..], b"hunter2");
        assert_eq!(key.open(a, &sealed).expect("open"), "hunter2");
        assert!(key.open(b, &sealed).is_err(), "bound to its tenant");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open(a, &tampered).is_err());
        assert_ne!(key.seal(a, "hunter2"), sealed, "fresh nonce each time");
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    }
}
