//! The HTTP server over real sockets: every request on a keep-alive
//! connection gets its answer, and idle or half-sent connections end.

use std::time::{Duration, Instant};

use nestogy_api::server::{Limits, serve};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestApp;

/// Serves the test app on a port of its own until the returned sender drops.
async fn start(
    app: &TestApp,
    limits: Limits,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = app.router.clone();
    tokio::spawn(serve(listener, router, limits, async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

/// Reads from `s` until `done` holds for what was read, the peer closes,
/// or 10 s pass; returns what was read and whether the peer closed.
async fn read_until(s: &mut TcpStream, done: impl Fn(&str) -> bool) -> (String, bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if done(&text) {
            return (text, false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "nothing more within 10 s; read so far:\n{text}"
        );
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (text, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
}

fn answers(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count()
}

#[tokio::test]
async fn requests_after_unread_bodies_on_one_connection_all_get_answers() {
    let app = TestApp::new().await;
    let t = app.tenant("Keep Alive").await;
    let o = app.fixture(&t.admin).await;
    let (addr, _stop) = start(&app, Limits::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // Finalize, void and duplicate read no body; each is followed at once,
    // in the same write, by a request that must still be answered.
    let body = json!({"note": "x".repeat(3000)}).to_string();
    let mut wire = String::new();
    for path in [
        format!("/api/v1/invoices/{}/duplicate", o.invoice),
        format!("/api/v1/invoices/{}/finalize", o.invoice),
        format!("/api/v1/invoices/{}/void", o.open_invoice),
    ] {
        for (method, p, b) in [
            ("POST", path.as_str(), body.as_str()),
            ("GET", "/api/v1/auth/me", ""),
        ] {
            wire.push_str(&format!(
                "{method} {p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                t.admin,
                b.len()
            ));
        }
    }
    s.write_all(wire.as_bytes()).await.unwrap();
    let (text, closed) = read_until(&mut s, |t| answers(t) == 6 && t.ends_with('}')).await;
    assert!(!closed, "the server closed the connection:\n{text}");
    assert_eq!(answers(&text), 6, "{text}");
    assert_eq!(
        text.matches("\"email\":\"admin@keep-alive.example\"")
            .count(),
        3,
        "{text}"
    );
}

#[tokio::test]
async fn half_sent_headers_and_idle_keep_alive_connections_are_closed() {
    let app = TestApp::new().await;
    let limits = Limits {
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (addr, _stop) = start(&app, limits).await;

    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, closed) = read_until(&mut half, |_| false).await;
    assert!(closed, "half-sent headers end the connection");

    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until(&mut idle, |t| t.contains("\r\n\r\n") && answers(t) == 1).await;
    assert!(!closed && text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, closed) = read_until(&mut idle, |_| false).await;
    assert!(
        closed,
        "an idle keep-alive connection ends after the header timeout"
    );

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_until(&mut silent, |_| false).await;
    assert!(closed, "a connection that never sends ends too");
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_ends() {
    let app = TestApp::new().await;
    let limits = Limits {
        header_timeout: Duration::from_secs(30),
        max_connections: 2,
    };
    let (addr, _stop) = start(&app, limits).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let (text, _) = read_until(&mut s, |t| t.contains("\r\n\r\n") && answers(t) == 1).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        held.push(s);
    }
    // The third is accepted by the kernel but not served while two are open.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(waited.is_err(), "the third connection is not served yet");
    drop(held.pop());
    let (text, _) = read_until(&mut third, |t| t.contains("\r\n\r\n") && answers(t) == 1).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn an_answer_before_the_body_arrived_keeps_the_connection_for_the_next_request() {
    let app = TestApp::new().await;
    let (addr, _stop) = start(&app, Limits::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // Refused before any handler reads the body: the body is still coming.
    let body = json!({"note": "y".repeat(20_000)}).to_string();
    let (first, rest) = body.split_at(1000);
    let head = format!(
        "POST /api/v1/invoices/01900000-0000-7000-8000-000000000000/finalize HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(first.as_bytes()).await.unwrap();
    let mut early = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_millis(300), s.peek(&mut early)).await;
    s.write_all(rest.as_bytes()).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until(&mut s, |t| answers(t) == 2 && t.ends_with('}')).await;
    assert!(
        !closed,
        "the connection was closed under the next request:\n{text}"
    );
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert_eq!(answers(&text), 2, "{text}");
}
