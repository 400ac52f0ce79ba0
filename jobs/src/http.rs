//! The one way jobs call other systems over HTTP: a reqwest client (rustls
//! on ring, the system's roots) with a timeout, our user agent and no
//! redirects followed.
//!
//! Calls a tenant can aim (webhook endpoints) go through [`public_client`]:
//! its resolver resolves each host name once, keeps only the addresses
//! [`outbound::is_public`] accepts and hands those to the connector, so the
//! address checked is the address connected to (no second resolution a DNS
//! rebinding could answer differently). Hosts written as IP literals are not
//! resolved; [`check_target`] checks them before each request. Accounting and
//! payment bases are platform settings and use [`client`].

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use nestogy_domain::integrations::outbound;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Builds a client whose requests time out after `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    builder(timeout).build()
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("Nestogy/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
}

/// A client for URLs a tenant chose: it connects only to public addresses
/// and ignores proxy settings (a proxy would resolve the name itself).
pub fn public_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    builder(timeout)
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnly))
        .build()
}

/// Why a connection was refused: the host has no public address.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Refused {}

/// The refusal in an error's chain, if the request failed for one.
pub fn refusal<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a Refused> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

/// Resolves with the system's resolver (within five seconds) and keeps
/// the public addresses only.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The public addresses `host` resolves to, or why there are none.
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
    let lookup = tokio::net::lookup_host((host, port));
    let all: Vec<SocketAddr> = match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(Refused(format!("resolving {host}: {e}"))),
        Err(_) => return Err(Refused(format!("resolving {host}: timed out"))),
    };
    let public: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| outbound::is_public(a.ip()))
        .collect();
    match (public.is_empty(), all.first()) {
        (false, _) => Ok(public),
        (true, None) => Err(Refused(format!("{host} does not resolve"))),
        (true, Some(a)) => Err(Refused(format!(
            "refused: {host} resolves to the non-public address {}",
            a.ip()
        ))),
    }
}

/// Checks a URL a tenant chose right before it is requested: https, and a
/// literal address must be public (names are checked by the resolver).
pub fn check_target(url: &reqwest::Url) -> Result<(), Refused> {
    if url.scheme() != "https" {
        return Err(Refused("refused: url is not https".into()));
    }
    // The URL parser has normalised the host: `127.1` reads `127.0.0.1`,
    // an IPv6 literal comes in brackets.
    let Some(host) = url.host_str() else {
        return Err(Refused("refused: url has no host".into()));
    };
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(());
    };
    if outbound::is_public(ip) {
        Ok(())
    } else {
        Err(Refused(format!("refused: {ip} is not a public address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_inside_are_refused_by_the_resolver() {
        let e = resolve_public("localhost", 443).await.unwrap_err();
        assert!(
            e.0.starts_with("refused: localhost resolves to the non-public address"),
            "{e}"
        );
    }

    #[test]
    fn literal_addresses_are_checked_as_the_url_parser_reads_them() {
        for u in [
            "https://[::127.0.0.1]/",
            "https://[2002:7f00:1::1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://127.1/",
            "https://0x7f000001/",
            "https://[fd00:ec2::254]/",
            "http://93.184.216.34/",
        ] {
            let url = reqwest::Url::parse(u).unwrap();
            assert!(check_target(&url).is_err(), "{u}");
        }
        for u in ["https://93.184.216.34/x", "https://hooks.example.com/x"] {
            let url = reqwest::Url::parse(u).unwrap();
            assert!(check_target(&url).is_ok(), "{u}");
        }
    }

    #[tokio::test]
    async fn the_public_client_does_not_connect_to_a_name_that_resolves_inside() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = public_client(Duration::from_secs(5)).unwrap();
        let e = c
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        let r = refusal(&e).expect("refused by the resolver");
        assert!(r.0.contains("non-public address"), "{r}");
        assert!(listener.accept().is_err(), "nothing may reach the listener");
    }
}
