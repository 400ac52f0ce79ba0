//! A small W3C WebDriver client over HTTP (reqwest) for Debian's chromium
//! and chromedriver: start chromedriver on a free port, open a headless
//! session, navigate, find, type, click, read and take screenshots. When
//! the [`Browser`] drops, its session ends (closing chromium) and the
//! driver is killed by its process id.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Installs chromium and chromium-driver when absent (`scripts/browser.sh`,
/// which `scripts/services.sh` also runs).
fn ensure_installed() {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser.sh");
    let ok = std::process::Command::new("bash")
        .arg(&script)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok && Path::new(CHROMEDRIVER).exists(),
        "chromium and chromedriver are needed: run `bash scripts/browser.sh` as root"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// chromedriver with one browser session.
pub struct Browser {
    driver: std::process::Child,
    http: reqwest::Client,
    base: String,
    session: String,
    profile: std::path::PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless chromium (1280×1000) with the
    /// flags this machine needs, on a fresh profile.
    pub async fn start() -> Browser {
        ensure_installed();
        let port = free_port();
        let log = std::env::temp_dir().join(format!("chromedriver-{port}.log"));
        let driver = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let base = format!("http://127.0.0.1:{port}");
        let profile = std::env::temp_dir().join(format!(
            "chromium-profile-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let mut browser = Browser {
            driver,
            http,
            base,
            session: String::new(),
            profile,
        };
        // Ready when /status says so, within 20 s.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = async {
                let r = browser
                    .http
                    .get(format!("{}/status", browser.base))
                    .send()
                    .await
                    .ok()?;
                let v: Value = r.json().await.ok()?;
                v["value"]["ready"].as_bool()
            }
            .await;
            if ready == Some(true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", browser.profile.display()),
                ]
            }
        }}});
        let v = browser
            .send(reqwest::Method::POST, "/session", Some(caps))
            .await;
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; its `value`, or a panic with the error.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.expect("a JSON answer");
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.send(
            reqwest::Method::POST,
            &self.at("/url"),
            Some(json!({"url": url})),
        )
        .await;
    }

    pub async fn current_url(&self) -> String {
        self.send(reqwest::Method::GET, &self.at("/url"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// One WebDriver command's `value`; `None` when it failed (no such
    /// element, a stale one while a page loads).
    async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let v: Value = resp.json().await.ok()?;
        Some(v["value"].clone())
    }

    /// The element `css` selects now, if any.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let body = json!({"using": "css selector", "value": css});
        let v = self
            .try_send(reqwest::Method::POST, &self.at("/element"), Some(body))
            .await?;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// The element `css` selects, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.current_url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.send(
            reqwest::Method::POST,
            &self.at(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The attribute `name` of the first element matching `css`.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css).await;
        self.send(
            reqwest::Method::GET,
            &self.at(&format!("/element/{e}/attribute/{name}")),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.send(
            reqwest::Method::POST,
            &self.at(&format!("/element/{e}/click")),
            Some(json!({})),
        )
        .await;
    }

    /// Presses and releases `key` (a character, or a WebDriver key code
    /// such as `"\u{E007}"` for Enter) where the focus is.
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        self.send(reqwest::Method::POST, &self.at("/actions"), Some(actions))
            .await;
    }

    /// The rendered text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.send(
            reqwest::Method::GET,
            &self.at(&format!("/element/{e}/text")),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The rendered text of the element `css` selects now, if any: `None`
    /// also when the page changed between finding it and reading it (a
    /// stale element, as while a form's answer loads).
    pub async fn try_text(&self, css: &str) -> Option<String> {
        let e = self.try_find(css).await?;
        let path = self.at(&format!("/element/{e}/text"));
        let v = self.try_send(reqwest::Method::GET, &path, None).await?;
        v.as_str().map(str::to_owned)
    }

    /// Waits up to 10 s until the text of `css` contains `want`; returns it.
    pub async fn wait_for_text(&self, css: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.try_text(css).await.unwrap_or_default();
            if text.contains(want) {
                return text;
            }
            if Instant::now() >= deadline {
                let page = self.try_text("body").await.unwrap_or_default();
                panic!(
                    "{css} never contained {want:?}; last: {text:?} on {}; the page says:\n{page}",
                    self.current_url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the viewport, written to `path` (folders made as needed).
    pub async fn screenshot(&self, path: &Path) -> Vec<u8> {
        let b64 = self
            .send(reqwest::Method::GET, &self.at("/screenshot"), None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artifact folder");
        }
        std::fs::write(path, &png).expect("write screenshot");
        png
    }

    /// A screenshot kept as the test artifact `target/test-artifacts/<name>`,
    /// checked to be a PNG of some substance (not a blank page).
    pub async fn keep_screenshot(&self, name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/test-artifacts")
            .join(name);
        let png = self.screenshot(&path).await;
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            png.len() > 10_000,
            "a blank screenshot? {} bytes",
            png.len()
        );
        png
    }

    /// Ends the session (closing the browser).
    pub async fn quit(mut self) {
        let at = self.at("");
        self.send(reqwest::Method::DELETE, &at, None).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A session still open (the test failed): end it, which closes the
        // browser, with a blocking request (Drop cannot await); then stop
        // the driver, by its own process id.
        if !self.session.is_empty() {
            delete_session_blocking(&self.base, &self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE /session/{id}` over a plain socket, waiting at most 10 s.
fn delete_session_blocking(base: &str, session: &str) {
    use std::io::{Read, Write};
    let Some(addr) = base.strip_prefix("http://") else {
        return;
    };
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}
