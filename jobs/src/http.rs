//! The one way jobs call other systems over HTTP: a reqwest client (rustls
//! on ring, the system's roots) with a timeout, our user agent and no
//! redirects followed.

use std::time::Duration;

/// Builds a client whose requests time out after `timeout`.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("Nestogy/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
