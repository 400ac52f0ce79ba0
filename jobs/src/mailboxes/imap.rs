//! An IMAP session over plain TCP, STARTTLS or TLS, and the few commands
//! ingestion needs. Messages are read with `BODY.PEEK[]`, so the \Seen flag
//! is never touched and never relied on.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use nestogy_domain::platform::mail::TlsMode;
use nestogy_domain::service_desk::mailboxes::Connection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

/// Longest a connect, login or command may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    #[error("the server refused the login: {0}")]
    Login(String),
    #[error("the folder {0:?} cannot be opened: {1}")]
    Folder(String, String),
    #[error("the server does not report a UIDVALIDITY for {0:?}")]
    NoUidValidity(String),
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error("the IMAP server did not answer within {0:?}")]
    Timeout(Duration),
}

impl ImapError {
    /// Whether trying again later may help (the server or the network),
    /// rather than the settings being wrong.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ImapError::Connect(..) | ImapError::Protocol(_) | ImapError::Timeout(_)
        )
    }
}

/// A plain or TLS stream, so one session type serves every mode.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type ImapSession = Session<Stream>;

async fn within<T, E: ToString>(
    f: impl std::future::Future<Output = Result<T, E>>,
    wrap: impl FnOnce(String) -> ImapError,
) -> Result<T, ImapError> {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(wrap(e.to_string())),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

fn tls_connector() -> Result<TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Tls("configuration".into(), e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn wrap_tls(host: &str, tcp: TcpStream) -> Result<Stream, ImapError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| ImapError::Tls(host.into(), e.to_string()))?;
    let tls = within(tls_connector()?.connect(name, tcp), |e| {
        ImapError::Tls(host.into(), e)
    })
    .await?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// Connects and logs in.
pub async fn connect(c: &Connection) -> Result<ImapSession, ImapError> {
    let addr = format!("{}:{}", c.host, c.port);
    let tcp = within(TcpStream::connect(&addr), |e| {
        ImapError::Connect(addr.clone(), e)
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    let client = match c.tls {
        TlsMode::None => greeted(Client::new(Stream::Plain(tcp))).await?,
        TlsMode::Tls => greeted(Client::new(wrap_tls(&c.host, tcp).await?)).await?,
        TlsMode::Starttls => {
            let mut plain = greeted(Client::new(Stream::Plain(tcp))).await?;
            within(plain.run_command_and_check_ok("STARTTLS", None), |e| {
                ImapError::Tls(c.host.clone(), format!("STARTTLS refused: {e}"))
            })
            .await?;
            let Stream::Plain(tcp) = plain.into_inner() else {
                return Err(ImapError::Protocol("unexpected stream".into()));
            };
            // No second greeting after STARTTLS.
            Client::new(wrap_tls(&c.host, tcp).await?)
        }
    };
    match tokio::time::timeout(IO_TIMEOUT, client.login(&c.username, &c.password)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err((e, _))) => Err(ImapError::Login(e.to_string())),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

async fn greeted(mut client: Client<Stream>) -> Result<Client<Stream>, ImapError> {
    match tokio::time::timeout(IO_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(client),
        Ok(Ok(None)) => Err(ImapError::Protocol(
            "the server closed the connection".into(),
        )),
        Ok(Err(e)) => Err(ImapError::Protocol(e.to_string())),
        Err(_) => Err(ImapError::Timeout(IO_TIMEOUT)),
    }
}

/// Opens `folder` read-only; returns its UIDVALIDITY and message count.
pub async fn examine(s: &mut ImapSession, folder: &str) -> Result<(u32, u32), ImapError> {
    let m = within(s.examine(folder), |e| ImapError::Folder(folder.into(), e)).await?;
    let v = m
        .uid_validity
        .ok_or_else(|| ImapError::NoUidValidity(folder.into()))?;
    Ok((v, m.exists))
}

/// UIDs above `after`, ascending.
pub async fn uids_after(s: &mut ImapSession, after: u32) -> Result<Vec<u32>, ImapError> {
    let query = format!("UID {}:*", after.saturating_add(1));
    let set = within(s.uid_search(query), ImapError::Protocol).await?;
    // `n:*` always matches the highest UID, even when it is below n.
    let mut uids: Vec<u32> = set.into_iter().filter(|u| *u > after).collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The raw bytes of `uids`, without setting \Seen; (uid, bytes) in UID order.
/// A UID expunged meanwhile is simply absent.
pub async fn fetch(s: &mut ImapSession, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let collect = async {
        let stream = s.uid_fetch(set, "(UID BODY.PEEK[])").await?;
        let fetched: Vec<_> = stream.try_collect().await?;
        Ok::<_, async_imap::error::Error>(fetched)
    };
    let fetched = within(collect, ImapError::Protocol).await?;
    let mut out: Vec<(u32, Vec<u8>)> = fetched
        .iter()
        .filter_map(|f| Some((f.uid?, f.body().unwrap_or_default().to_vec())))
        .collect();
    out.sort_by_key(|(u, _)| *u);
    out.dedup_by_key(|(u, _)| *u);
    Ok(out)
}

/// `1:3,7,9:10` for the given ascending UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Whether the server offers IDLE.
pub async fn has_idle(s: &mut ImapSession) -> Result<bool, ImapError> {
    let caps = within(s.capabilities(), ImapError::Protocol).await?;
    Ok(caps.has_str("IDLE"))
}

/// Why an IDLE wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server announced something (new mail, flags).
    News,
    /// Someone asked for a poll now.
    Asked,
    /// Another poll takes over the mailbox.
    Handover,
    /// The wait's deadline passed.
    Deadline,
    /// The process is stopping.
    Stop,
}

/// How long ending an IDLE (DONE and its answer) may take.
const DONE_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits in IDLE until the server announces something, `until` passes, or
/// `wake` resolves (a poll asked for, a handover, the process stopping),
/// whichever comes first; the deadline is kept to the moment, whatever
/// the server sends meanwhile. Returns the session, ready for commands,
/// unless the wait ended with [`Woken::Stop`] (the connection is dropped at
/// once) or the server did not end the IDLE in time after the deadline or
/// a handover (nothing is lost: the checkpoint is in the database).
pub async fn idle(
    s: ImapSession,
    until: tokio::time::Instant,
    wake: impl std::future::Future<Output = Woken>,
) -> Result<(Option<ImapSession>, Woken), ImapError> {
    use async_imap::extensions::idle::IdleResponse;
    let mut handle = s.idle();
    within(handle.init(), ImapError::Protocol).await?;
    let woken = {
        let span = until
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(1));
        let (wait, _interrupt) = handle.wait_with_timeout(span);
        tokio::select! {
            r = wait => match r {
                Ok(IdleResponse::NewData(_)) => Woken::News,
                Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt) => Woken::Deadline,
                Err(e) => return Err(ImapError::Protocol(e.to_string())),
            },
            _ = tokio::time::sleep_until(until) => Woken::Deadline,
            w = wake => w,
        }
    };
    if woken == Woken::Stop {
        return Ok((None, woken));
    }
    match tokio::time::timeout(DONE_TIMEOUT, handle.done()).await {
        Ok(Ok(s)) => Ok((Some(s), woken)),
        _ if matches!(woken, Woken::Deadline | Woken::Handover) => Ok((None, woken)),
        Ok(Err(e)) => Err(ImapError::Protocol(e.to_string())),
        Err(_) => Err(ImapError::Timeout(DONE_TIMEOUT)),
    }
}

pub async fn logout(mut s: ImapSession) {
    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
