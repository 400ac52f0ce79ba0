//! What handlers reach besides the database and the queue: the object
//! store, outbound mail's configuration and the key secrets are sealed with.

use std::path::PathBuf;
use std::sync::Arc;

use nestogy_domain::crypto::SecretKey;
use nestogy_domain::files::Files;

/// Outbound mail's platform-wide settings.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// The default SMTP server as a URL (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://…:465`, `smtp://host:25` for plain text); tenants with their
    /// own server use theirs. `None`: mail goes to [`MailConfig::outbox`].
    pub smtp_url: Option<String>,
    /// Where `.eml` files go when no SMTP server is configured.
    pub outbox: PathBuf,
    /// The sender when a tenant has no server of its own; its display name
    /// is the tenant's name.
    pub from_address: String,
}

impl MailConfig {
    /// The domain our Message-IDs are under: the sender's.
    pub fn domain_of(address: &str) -> &str {
        address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .filter(|d| !d.is_empty())
            .unwrap_or("nestogy.local")
    }
}

#[derive(Debug)]
pub struct Services {
    pub files: Files,
    pub mail: MailConfig,
    /// Seals tenants' SMTP passwords; without it none can be stored.
    pub secrets: Option<SecretKey>,
}

impl Services {
    pub fn new(files: Files, mail: MailConfig, secrets: Option<SecretKey>) -> Arc<Services> {
        Arc::new(Services {
            files,
            mail,
            secrets,
        })
    }
}
