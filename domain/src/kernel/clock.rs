//! The one source of "now". Production uses the system clock; tests inject a
//! [`ManualClock`] and move time themselves.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The system clock shifted by a number of seconds read from a file, so
/// that several processes share one moved clock in end-to-end tests. The
/// file is re-read at most every 20 ms; a missing or unreadable file means
/// no shift.
#[derive(Debug)]
pub struct OffsetFileClock {
    path: std::path::PathBuf,
    cached: Mutex<(std::time::Instant, i64)>,
}

impl OffsetFileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Arc<Self> {
        let c = Self {
            path: path.into(),
            cached: Mutex::new((std::time::Instant::now(), 0)),
        };
        let offset = c.read();
        *c.cached.lock().unwrap_or_else(|e| e.into_inner()) = (std::time::Instant::now(), offset);
        Arc::new(c)
    }

    fn read(&self) -> i64 {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Clock for OffsetFileClock {
    fn now(&self) -> DateTime<Utc> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0.elapsed() > std::time::Duration::from_millis(20) {
            *cached = (std::time::Instant::now(), self.read());
        }
        Utc::now() + Duration::seconds(cached.1)
    }
}
