//! A plugin's outside world made repeatable, for `rosey plugin test`: a
//! clock that moves only when a scenario says so, random numbers from a
//! seed, and canned answers to HTTP requests.
//!
//! A context with a [`Simulation`] gets these instead of the real clock,
//! the system's random numbers and the network. Everything else (grants,
//! limits, the database, `/data`) is the real thing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng as _;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// A canned HTTP answer.
#[derive(Debug, Clone)]
pub struct CannedResponse {
    /// The method it answers (`None`: any).
    pub method: Option<String>,
    /// The URL it answers: exact, or a prefix when it ends in `*`.
    pub url: String,
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl CannedResponse {
    fn answers(&self, method: &str, url: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let url_ok = match self.url.strip_suffix('*') {
            Some(prefix) => url.starts_with(prefix),
            None => url == self.url,
        };
        method_ok && url_ok
    }
}

/// The simulated world of one plugin under test.
#[derive(Debug)]
pub struct Simulation {
    /// Nanoseconds since the Unix epoch.
    wall: Arc<AtomicU64>,
    /// Nanoseconds since the simulation began.
    monotonic: Arc<AtomicU64>,
    seed: u64,
    /// Instances made so far: each gets its own stream of numbers.
    instances: AtomicU64,
    http: Vec<CannedResponse>,
}

impl Simulation {
    /// A world whose clock reads `start` (since the Unix epoch), whose
    /// random numbers come from `seed`, and whose HTTP requests get the
    /// first of `http` that matches.
    pub fn new(start: Duration, seed: u64, http: Vec<CannedResponse>) -> Self {
        Self {
            wall: Arc::new(AtomicU64::new(nanos(start))),
            monotonic: Arc::new(AtomicU64::new(0)),
            seed,
            instances: AtomicU64::new(0),
            http,
        }
    }

    /// Move the clocks forward.
    pub fn advance(&self, by: Duration) {
        self.wall.fetch_add(nanos(by), Ordering::Relaxed);
        self.monotonic.fetch_add(nanos(by), Ordering::Relaxed);
    }

    /// What the wall clock reads, since the Unix epoch.
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.wall.load(Ordering::Relaxed))
    }

    /// Give a new instance's WASI context the simulated clocks and numbers.
    pub(crate) fn configure(&self, wasi: &mut WasiCtxBuilder) {
        let instance = self.instances.fetch_add(1, Ordering::Relaxed);
        let seed = self
            .seed
            .wrapping_add(instance.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        wasi.wall_clock(WallClock(Arc::clone(&self.wall)))
            .monotonic_clock(MonotonicClock(Arc::clone(&self.monotonic)))
            .secure_random(rand::rngs::StdRng::seed_from_u64(seed))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(seed ^ 1))
            .insecure_random_seed(u128::from(seed));
    }

    /// The canned answer for `method url`, if there is one.
    pub(crate) fn answer(&self, method: &str, url: &str) -> Option<&CannedResponse> {
        self.http.iter().find(|r| r.answers(method, url))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct WallClock(Arc<AtomicU64>);

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

struct MonotonicClock(Arc<AtomicU64>);

impl HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canned(method: Option<&str>, url: &str) -> CannedResponse {
        CannedResponse {
            method: method.map(str::to_owned),
            url: url.into(),
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn urls_match_exactly_or_by_prefix_and_method() {
        let sim = Simulation::new(
            Duration::ZERO,
            0,
            vec![
                canned(Some("POST"), "https://a.example/x"),
                canned(None, "https://a.example/api/*"),
            ],
        );
        assert!(sim.answer("post", "https://a.example/x").is_some());
        assert!(sim.answer("GET", "https://a.example/x").is_none());
        assert!(sim.answer("GET", "https://a.example/api/v1?q=1").is_some());
        assert!(sim.answer("GET", "https://a.example/ap").is_none());
    }

    #[test]
    fn the_clock_moves_only_when_told() {
        let sim = Simulation::new(Duration::from_secs(1_000), 0, Vec::new());
        let wall = WallClock(Arc::clone(&sim.wall));
        let mono = MonotonicClock(Arc::clone(&sim.monotonic));
        assert_eq!(wall.now(), Duration::from_secs(1_000));
        assert_eq!(mono.now(), 0);
        sim.advance(Duration::from_secs(90));
        assert_eq!(wall.now(), Duration::from_secs(1_090));
        assert_eq!(mono.now(), 90_000_000_000);
        assert_eq!(sim.now(), Duration::from_secs(1_090));
    }
}
