//! Who may use the admin API, and how.
//!
//! - A program sends the admin token as `Authorization: Bearer <token>`.
//! - The dashboard logs in once with the token (`POST /api/session`) and
//!   gets a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when
//!   served over TLS) and a CSRF token. Every request that changes
//!   something with that cookie must carry the CSRF token in `X-Rosey-CSRF`
//!   and, if the browser says where it comes from (`Origin`,
//!   `Sec-Fetch-Site`), come from the dashboard's own origin.
//! - Wrong tokens are counted: from the third in a row, every token check
//!   (login or bearer) is refused for a pause that doubles up to five
//!   minutes, without looking at the token.
//! - The token is never accepted in a URL, and no part of a request but its
//!   method and path is logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::error::{ApiError, ApiResult};
use super::token;
use super::{AppState, SESSION_COOKIE};
use crate::home::RoseyHome;

/// How long a dashboard session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most sessions kept; logging in past it ends the oldest.
const MAX_SESSIONS: usize = 32;
/// Wrong tokens allowed in a row before the pauses start.
const FREE_FAILURES: u32 = 2;
/// The first pause, doubled at each further wrong token.
const FIRST_PAUSE: Duration = Duration::from_secs(2);
/// The longest pause.
const MAX_PAUSE: Duration = Duration::from_secs(300);
/// The header that carries a session's CSRF token.
pub const CSRF_HEADER: &str = "x-rosey-csrf";

/// Counts wrong tokens and says when the next check may be made.
#[derive(Debug, Default)]
pub struct LoginGuard {
    failures: u32,
    locked_until: Option<Instant>,
}

impl LoginGuard {
    /// `Err(seconds to wait)` while checks are paused.
    pub fn check(&self, now: Instant) -> Result<(), u64> {
        match self.locked_until {
            Some(until) if until > now => Err((until - now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// A wrong token: from the third in a row, pause further checks.
    pub fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.failures > FREE_FAILURES {
            let doublings = (self.failures - FREE_FAILURES - 1).min(16);
            let pause = FIRST_PAUSE.saturating_mul(1 << doublings).min(MAX_PAUSE);
            self.locked_until = Some(now + pause);
        }
    }

    /// A right token: the count starts again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.locked_until = None;
    }
}

#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    /// The token it was opened with: a rotated token ends it.
    token: [u8; 32],
    expires: Instant,
}

/// A session just opened.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie's value.
    pub id: String,
    /// The CSRF token the dashboard sends back with every change.
    pub csrf: String,
}

/// Sessions and the login guard.
#[derive(Debug)]
pub struct Auth {
    home: RoseyHome,
    sessions: Mutex<HashMap<String, Session>>,
    guard: Mutex<LoginGuard>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A program with the bearer token.
    Bearer,
    /// The dashboard, with this session id.
    Session(String),
}

impl Auth {
    /// Sessions for the host on `home`, whose token is in `home`'s
    /// `admin.token`.
    pub fn new(home: RoseyHome) -> Self {
        Self {
            home,
            sessions: Mutex::default(),
            guard: Mutex::default(),
        }
    }

    fn current_token(&self) -> ApiResult<String> {
        token::read(&self.home)
            .map_err(|e| ApiError::internal(format!("{e:#}")))?
            .ok_or_else(|| {
                ApiError::internal(
                    "the admin token file is gone; run `rosey admin token --rotate` to make a \
                     new one",
                )
            })
    }

    /// Check `given` against the token, under the login guard.
    fn check_token(&self, given: &str) -> ApiResult<String> {
        let now = Instant::now();
        let mut guard = self
            .guard
            .lock()
            .map_err(|_| ApiError::internal("the login guard is poisoned"))?;
        guard.check(now).map_err(ApiError::locked_out)?;
        let expected = self.current_token()?;
        if token::matches(&expected, given) {
            guard.succeeded();
            Ok(expected)
        } else {
            guard.failed(now);
            tracing::warn!("admin API: a wrong token was presented");
            Err(ApiError::unauthorized(
                "that is not the admin token; it is in ROSEY_HOME/admin.token (`rosey admin \
                 token` prints it)",
            ))
        }
    }

    /// Open a session for the holder of `given`.
    pub fn login(&self, given: &str) -> ApiResult<NewSession> {
        let token = self.check_token(given)?;
        let id = token::random_hex(32).map_err(|e| ApiError::internal(format!("{e:#}")))?;
        let csrf = token::random_hex(32).map_err(|e| ApiError::internal(format!("{e:#}")))?;
        let now = Instant::now();
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| ApiError::internal("the session table is poisoned"))?;
        sessions.retain(|_, s| s.expires > now);
        while sessions.len() >= MAX_SESSIONS {
            let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                token: token::fingerprint(&token),
                expires: now + SESSION_LIFETIME,
            },
        );
        Ok(NewSession { id, csrf })
    }

    /// End a session.
    pub fn logout(&self, id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(id);
        }
    }

    /// A live session's CSRF token (`None`: no such session, it expired, or
    /// the token was rotated since it was opened).
    pub fn session_csrf(&self, id: &str) -> ApiResult<Option<String>> {
        let token = token::fingerprint(&self.current_token()?);
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| ApiError::internal("the session table is poisoned"))?;
        match sessions.get(id) {
            Some(s) if s.expires > Instant::now() && s.token == token => Ok(Some(s.csrf.clone())),
            Some(_) => {
                sessions.remove(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Whether `caller` may still use the API (a session can end while a
    /// log stream is open).
    pub fn still_valid(&self, caller: &Caller) -> bool {
        match caller {
            Caller::Bearer => true,
            Caller::Session(id) => matches!(self.session_csrf(id), Ok(Some(_))),
        }
    }

    /// Who sent the request with `headers`, and whether they may make it.
    pub fn authorize(&self, method: &Method, headers: &HeaderMap) -> ApiResult<Caller> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let given = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        "the Authorization header must be `Bearer <admin token>`",
                    )
                })?;
            self.check_token(given.trim())?;
            return Ok(Caller::Bearer);
        }
        let Some(id) = session_cookie(headers) else {
            return Err(ApiError::unauthorized(
                "log in first: send the admin token as `Authorization: Bearer <token>`, or \
                 log in to the dashboard (`rosey admin token` prints the token)",
            ));
        };
        let csrf = self.session_csrf(&id)?.ok_or_else(|| {
            ApiError::unauthorized(
                "the session has ended (it expired, or the admin token was rotated); log in \
                 again",
            )
        })?;
        if !is_safe(method) {
            check_same_origin(headers)?;
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|sent| token::matches(&csrf, sent)) {
                return Err(ApiError::csrf(format!(
                    "a change made with the session cookie must carry the session's CSRF token \
                     in the {CSRF_HEADER} header (GET /api/session returns it); reload the \
                     dashboard"
                )));
            }
        }
        Ok(Caller::Session(id))
    }
}

/// GET and HEAD change nothing.
fn is_safe(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// A browser's `Sec-Fetch-Site` and `Origin`, when it sends them, must say
/// the request comes from the dashboard's own origin.
fn check_same_origin(headers: &HeaderMap) -> ApiResult<()> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return Err(ApiError::csrf(format!(
            "a change from another site ({site}) is refused; use the dashboard itself"
        )));
    }
    if let (Some(origin), Some(host)) = (text("origin"), text("host")) {
        let own = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if own != Some(host) {
            return Err(ApiError::csrf(format!(
                "a change from {origin} is refused; use the dashboard at its own address"
            )));
        }
    }
    Ok(())
}

/// The session id in the request's cookies.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        state.auth.authorize(&parts.method, &parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_tokens_pause_checks_doubling_up_to_a_cap() {
        let start = Instant::now();
        let mut guard = LoginGuard::default();
        guard.failed(start);
        guard.failed(start);
        assert_eq!(guard.check(start), Ok(()), "two wrong tokens are free");
        guard.failed(start);
        assert_eq!(guard.check(start), Err(2));
        assert_eq!(guard.check(start + Duration::from_secs(2)), Ok(()));
        guard.failed(start);
        assert_eq!(guard.check(start), Err(4));
        for _ in 0..30 {
            guard.failed(start);
        }
        assert_eq!(guard.check(start), Err(300), "capped at five minutes");
        guard.succeeded();
        assert_eq!(guard.check(start), Ok(()));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn sessions_need_their_csrf_token_for_changes_and_end_with_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let home = RoseyHome::new(dir.path().join("home"));
        let token = token::load_or_create(&home).unwrap();
        let auth = Auth::new(home.clone());
        let session = auth.login(&token).unwrap();
        let cookie = format!("other=1; {SESSION_COOKIE}={}", session.id);
        let with_cookie = headers(&[("cookie", &cookie)]);
        assert_eq!(
            auth.authorize(&Method::GET, &with_cookie).unwrap(),
            Caller::Session(session.id.clone())
        );
        let refused = auth.authorize(&Method::POST, &with_cookie).unwrap_err();
        assert_eq!(refused.code, "csrf");
        let with_csrf = headers(&[("cookie", &cookie), (CSRF_HEADER, &session.csrf)]);
        auth.authorize(&Method::POST, &with_csrf).unwrap();
        let cross_site = headers(&[
            ("cookie", &cookie),
            (CSRF_HEADER, &session.csrf),
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:7780"),
        ]);
        assert_eq!(
            auth.authorize(&Method::POST, &cross_site).unwrap_err().code,
            "csrf"
        );
        let same_site = headers(&[
            ("cookie", &cookie),
            (CSRF_HEADER, &session.csrf),
            ("origin", "http://127.0.0.1:7780"),
            ("host", "127.0.0.1:7780"),
            ("sec-fetch-site", "same-origin"),
        ]);
        auth.authorize(&Method::DELETE, &same_site).unwrap();

        token::rotate(&home).unwrap();
        let ended = auth.authorize(&Method::GET, &with_cookie).unwrap_err();
        assert_eq!(ended.code, "unauthorized");
        assert!(ended.message.contains("rotated"), "{}", ended.message);
    }

    #[test]
    fn the_bearer_token_is_checked_under_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let home = RoseyHome::new(dir.path().join("home"));
        let token = token::load_or_create(&home).unwrap();
        let auth = Auth::new(home);
        let good = headers(&[("authorization", &format!("Bearer {token}"))]);
        assert_eq!(
            auth.authorize(&Method::POST, &good).unwrap(),
            Caller::Bearer
        );
        let bad = headers(&[("authorization", "Bearer rosey_nope")]);
        for _ in 0..3 {
            assert_eq!(
                auth.authorize(&Method::GET, &bad).unwrap_err().code,
                "unauthorized"
            );
        }
        let locked = auth.authorize(&Method::GET, &good).unwrap_err();
        assert_eq!(locked.code, "too_many_attempts");
        assert!(locked.retry_after.is_some());
    }
}
