//! The admin API and the web dashboard, served by the host process on the
//! listener `admin.listen` in `rosey.yaml` names (loopback by default).
//!
//! - `/api/...`: JSON over HTTP, described by the OpenAPI document at
//!   `/api/openapi.json` (`openapi.json` beside this file); errors are
//!   `{"error": {"code", "message"}}`.
//! - `/metrics`: the Prometheus text the metrics listener serves.
//! - `/`: the dashboard, plain HTML, CSS and JavaScript embedded in the
//!   binary (`dashboard/`), which uses the same API.
//!
//! Who may call it is [`auth`]'s business. No CORS headers are ever sent,
//! so no other site's page can read an answer.

mod api;
mod assets;
pub use assets::weights as dashboard_weights;
pub mod auth;
mod error;
pub mod logs;
pub mod rate;
pub mod token;
pub mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::MethodRouter;
use tokio::task::JoinHandle;

pub use error::ApiError;

use crate::supervisor::Control;

/// The name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "rosey_session";
/// The OpenAPI document, as served.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Where the admin API listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminListener {
    /// The address.
    pub addr: SocketAddr,
    /// Whether the operator chose it (then failing to listen stops the
    /// host); the built-in default only warns, so that a second host on the
    /// machine still starts.
    pub explicit: bool,
}

/// What every handler shares.
pub struct Admin {
    control: Control,
    auth: auth::Auth,
    rate: rate::RateHistory,
    /// Whether the listener is TLS (then cookies are `Secure`).
    secure: bool,
}

/// The state handlers get.
pub type AppState = Arc<Admin>;

/// The routes a router was built with, so the OpenAPI document can be
/// checked against exactly what is served.
#[derive(Default)]
struct Routes {
    router: Router<AppState>,
    served: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        route: MethodRouter<AppState>,
    ) -> Self {
        self.served.extend(methods.iter().map(|m| (*m, path)));
        self.router = self.router.route(path, route);
        self
    }
}

/// Every route: its method and path, as served.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    build().served
}

fn build() -> Routes {
    use axum::routing::{get, post};
    let upload_limit = DefaultBodyLimit::max((upload::MAX_PACKAGE_BYTES as usize) + (1 << 20));
    Routes::default()
        .add("/", &["get"], get(assets::index))
        .add("/assets/app.js", &["get"], get(assets::script))
        .add("/assets/app.css", &["get"], get(assets::style))
        .add("/api/openapi.json", &["get"], get(api::openapi))
        .add(
            "/api/session",
            &["get", "post", "delete"],
            get(api::session).post(api::login).delete(api::logout),
        )
        .add("/api/status", &["get"], get(api::status))
        .add(
            "/api/plugins",
            &["get", "post"],
            get(api::plugins).post(api::install).layer(upload_limit),
        )
        .add(
            "/api/plugins/inspect",
            &["post"],
            post(api::inspect).layer(upload_limit),
        )
        .add(
            "/api/plugins/{name}",
            &["get", "delete"],
            get(api::plugin).delete(api::remove),
        )
        .add("/api/plugins/{name}/enable", &["post"], post(api::enable))
        .add("/api/plugins/{name}/disable", &["post"], post(api::disable))
        .add(
            "/api/plugins/{name}/update",
            &["post"],
            post(api::update).layer(upload_limit),
        )
        .add("/api/plugins/{name}/approve", &["post"], post(api::approve))
        .add(
            "/api/plugins/{name}/config",
            &["get", "put"],
            get(api::config).put(api::configure),
        )
        .add("/api/logs/{target}", &["get"], get(api::log))
        .add("/api/logs/{target}/stream", &["get"], get(api::log_stream))
        .add("/metrics", &["get"], get(api::metrics))
}

fn router(state: AppState) -> Router {
    build()
        .router
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::no_method)
        .layer(axum::middleware::map_response(protect))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(state)
}

/// Headers on every answer: nothing may frame the dashboard, run or load
/// anything but its own files, sniff types or cache API answers.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// Start serving the admin API for `control` on `listener`: the token is
/// made if there is none, and the message-rate sampler starts. `None` if
/// the default address is taken (logged; an address the operator chose
/// that cannot be listened on is an error).
pub async fn start(
    control: Control,
    listener: AdminListener,
) -> Result<Option<(SocketAddr, JoinHandle<()>)>> {
    let home = control.home().clone();
    token::load_or_create(&home).context("could not make the admin token")?;
    let tcp = match tokio::net::TcpListener::bind(listener.addr).await {
        Ok(tcp) => tcp,
        Err(e) if !listener.explicit => {
            tracing::warn!(
                addr = %listener.addr,
                "the admin API and dashboard are off: could not listen on the default \
                 address ({e}); choose another with admin.listen in rosey.yaml, \
                 ROSEY_ADMIN_LISTEN or --admin-listen"
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "could not listen for the admin API on {}; choose another address (or \
                     off) with admin.listen in rosey.yaml, ROSEY_ADMIN_LISTEN or \
                     --admin-listen",
                    listener.addr
                )
            });
        }
    };
    let bound = tcp.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(
            addr = %bound,
            "serving the admin API beyond loopback, as configured: it is plain HTTP, so the \
             token and session cookie cross the network unencrypted; put a TLS proxy in front"
        );
    }
    let admin = Arc::new(Admin {
        control,
        auth: auth::Auth::new(home),
        rate: rate::RateHistory::default(),
        secure: false,
    });
    let sampler = tokio::spawn(sample_rates(Arc::clone(&admin)));
    let app = router(Arc::clone(&admin));
    tracing::info!(addr = %bound, "serving the admin API and dashboard on http://{bound}/");
    let task = tokio::spawn(async move {
        let _sampler = AbortOnDrop(sampler);
        if let Err(e) = axum::serve(tcp, app).await {
            tracing::error!("the admin API stopped: {e}");
        }
    });
    Ok(Some((bound, task)))
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn sample_rates(admin: AppState) {
    let mut tick = tokio::time::interval(rate::SAMPLE_EVERY);
    loop {
        tick.tick().await;
        let status = admin.control.status();
        let (messages, commands) = status.plugins.iter().fold((0, 0), |(m, c), p| {
            (m + p.stats.messages, c + p.stats.commands)
        });
        admin
            .rate
            .record(crate::protocol::now_ms(), messages, commands);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_served() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| methods.contains(&k.as_str()))
                    .map(|m| (m.clone(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let served: BTreeSet<(String, String)> = routes()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(
            served.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "served but not documented"
        );
        assert_eq!(
            documented.difference(&served).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented but not served"
        );
        // Every reference resolves.
        let text = OPENAPI;
        for reference in text.split("\"$ref\": \"#/components/").skip(1) {
            let path: Vec<&str> = reference.split('"').next().unwrap().split('/').collect();
            let mut node = &doc["components"];
            for part in path {
                node = &node[part];
            }
            assert!(!node.is_null(), "unresolved $ref {reference:.60}");
        }
    }

    #[test]
    fn the_dashboard_loads_nothing_from_elsewhere() {
        for (name, size) in dashboard_weights() {
            assert!(size > 0, "{name} is empty");
        }
        for text in [
            include_str!("dashboard/index.html"),
            include_str!("dashboard/app.js"),
            include_str!("dashboard/app.css"),
        ] {
            for scheme in ["http://", "https://", "//cdn", "@import"] {
                assert!(!text.contains(scheme), "the dashboard refers to {scheme}");
            }
        }
    }
}
