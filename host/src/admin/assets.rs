//! The dashboard's files, embedded in the binary: no CDN, no build step,
//! nothing fetched at run time.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/app.css");

fn file(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Served with the binary, so it changes only with it; revalidate.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub async fn index() -> Response {
    file(INDEX, "text/html; charset=utf-8")
}

/// `GET /assets/app.js`.
pub async fn script() -> Response {
    file(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /assets/app.css`.
pub async fn style() -> Response {
    file(STYLE, "text/css; charset=utf-8")
}

/// The dashboard's files and their sizes in bytes (for the page-weight
/// report and its test).
pub fn weights() -> [(&'static str, usize); 3] {
    [
        ("index.html", INDEX.len()),
        ("app.js", SCRIPT.len()),
        ("app.css", STYLE.len()),
    ]
}
