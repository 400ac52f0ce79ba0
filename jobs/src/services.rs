//! What handlers reach besides the database and the queue: the object
//! store, outbound mail's configuration and the key secrets are sealed with.

use std::path::PathBuf;
use std::sync::Arc;

use nestogy_domain::kernel::crypto::SecretKey;
use nestogy_domain::kernel::files::Files;

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

/// Where the other systems we talk to are, and what our own address is.
#[derive(Debug, Clone)]
pub struct IntegrationsConfig {
    /// This API's public base URL (`https://msp.example.com`), for OAuth
    /// redirects and payment pages' return links.
    pub public_url: String,
    /// Lets webhook endpoints target loopback, link-local and private
    /// addresses and plain http (tests and development only).
    pub allow_private_targets: bool,
    /// Stripe's API (`https://api.stripe.com`).
    pub stripe_api_base: String,
    pub xero: XeroConfig,
    /// How long one outbound HTTP request may take (webhooks, Stripe, Xero).
    pub http_timeout: std::time::Duration,
}

/// The platform's Xero app (one app for every tenant; each tenant connects
/// its own organisation with OAuth 2).
#[derive(Debug, Clone)]
pub struct XeroConfig {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// `https://api.xero.com`
    pub api_base: String,
    /// `https://identity.xero.com` (token endpoint)
    pub identity_base: String,
    /// `https://login.xero.com` (authorisation page)
    pub login_base: String,
}

impl Default for IntegrationsConfig {
    fn default() -> Self {
        IntegrationsConfig {
            public_url: "http://127.0.0.1:8080".into(),
            allow_private_targets: false,
            stripe_api_base: "https://api.stripe.com".into(),
            xero: XeroConfig {
                client_id: None,
                client_secret: None,
                api_base: "https://api.xero.com".into(),
                identity_base: "https://identity.xero.com".into(),
                login_base: "https://login.xero.com".into(),
            },
            http_timeout: std::time::Duration::from_secs(15),
        }
    }
}

#[derive(Debug)]
pub struct Services {
    pub files: Files,
    pub mail: MailConfig,
    /// Seals tenants' SMTP passwords; without it none can be stored.
    pub secrets: Option<SecretKey>,
    pub integrations: IntegrationsConfig,
    /// Wake-ups of the mailbox polls running in this process.
    pub mailbox_wakes: crate::mailboxes::wakes::WakeHub,
}

impl Services {
    pub fn new(
        files: Files,
        mail: MailConfig,
        secrets: Option<SecretKey>,
        integrations: IntegrationsConfig,
    ) -> Arc<Services> {
        Arc::new(Services {
            files,
            mail,
            secrets,
            integrations,
            mailbox_wakes: Default::default(),
        })
    }
}
