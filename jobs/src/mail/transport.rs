//! Getting a message to a server: a tenant's SMTP server, the platform's
//! default, or (with neither) `.eml` files in the outbox folder.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use nestogy_domain::platform::mail::{SmtpServer, TlsMode};

use crate::services::MailConfig;

const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message was not handed over.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendFailure {
    /// Worth another try: a 4xx answer, a refused or broken connection.
    pub temporary: bool,
    pub message: String,
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

/// A transport and who mail comes from.
pub struct Sender {
    pub transport: Transport,
    pub from: Mailbox,
}

fn config_error(e: impl std::fmt::Display) -> SendFailure {
    SendFailure {
        temporary: false,
        message: format!("mail configuration: {e}"),
    }
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, SendFailure> {
    let email = address.parse().map_err(config_error)?;
    Ok(Mailbox::new(name.map(str::to_owned), email))
}

impl Sender {
    /// The tenant's own server.
    pub fn for_server(server: &SmtpServer, fallback_name: &str) -> Result<Sender, SendFailure> {
        let mut b = match server.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host),
            TlsMode::Starttls | TlsMode::Tls => {
                let params = TlsParameters::new(server.host.clone()).map_err(config_error)?;
                let tls = if server.tls == TlsMode::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                };
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&server.host).tls(tls)
            }
        }
        .port(server.port)
        .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(pass)) = (&server.username, &server.password) {
            b = b.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Sender {
            transport: Transport::Smtp(b.build()),
            from: mailbox(
                Some(server.from_name.as_deref().unwrap_or(fallback_name)),
                &server.from_address,
            )?,
        })
    }

    /// The platform's default server, or the outbox.
    pub fn default(cfg: &MailConfig, from_name: &str) -> Result<Sender, SendFailure> {
        let from = mailbox(Some(from_name), &cfg.from_address)?;
        let transport = match &cfg.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(config_error)?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&cfg.outbox).map_err(|e| SendFailure {
                    temporary: true,
                    message: format!("creating the outbox {}: {e}", cfg.outbox.display()),
                })?;
                Transport::Outbox(AsyncFileTransport::<Tokio1Executor>::new(&cfg.outbox))
            }
        };
        Ok(Sender { transport, from })
    }

    /// Hands `message` over; returns the server's answer.
    pub async fn send(&self, message: Message) -> Result<String, SendFailure> {
        match &self.transport {
            Transport::Smtp(t) => match t.send(message).await {
                Ok(resp) => Ok(format!(
                    "{} {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                )),
                Err(e) => Err(SendFailure {
                    // 5xx is final; anything else (4xx, refused, timed out,
                    // a dropped connection) may work later.
                    temporary: !e.is_permanent(),
                    message: e.to_string(),
                }),
            },
            Transport::Outbox(t) => match t.send(message).await {
                Ok(id) => Ok(format!("written to the outbox as {id}.eml")),
                Err(e) => Err(SendFailure {
                    temporary: true,
                    message: format!("writing to the outbox: {e}"),
                }),
            },
        }
    }
}
