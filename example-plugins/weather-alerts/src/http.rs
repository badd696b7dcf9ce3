//! One HTTP GET through `wasi:http`, bounded in time and size.
//!
//! The host checks every request against the manifest's
//! `network.allowed_hosts` and bounds its timeouts by the call's deadline;
//! this module also keeps each request inside the plugin's own budget, so
//! one slow server cannot use up the whole call.

use std::time::{Duration, Instant};

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingResponse, OutgoingRequest, RequestOptions, Scheme};
use wasi::io::streams::StreamError;

use crate::settings::ApiBase;

/// The largest body read; a larger one is an error.
pub const MAX_BODY: usize = 256 << 10;
/// The longest one request may take, whatever is left of the call.
pub const PER_REQUEST: Duration = Duration::from_secs(8);
/// Below this much time left, a request is not started.
const TOO_LATE: Duration = Duration::from_millis(500);

/// A response: its status and body.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, at most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

/// `GET path` from `base`, finished by `deadline` (and within
/// [`PER_REQUEST`]).
pub fn get(base: &ApiBase, path: &str, deadline: Instant) -> Result<Response, String> {
    let deadline = deadline.min(Instant::now() + PER_REQUEST);
    let left = deadline.saturating_duration_since(Instant::now());
    if left < TOO_LATE {
        return Err("no time left in this call for another request".into());
    }
    let headers = Fields::new();
    // The header is fixed and valid; a host that refuses it still gets JSON.
    let _ = headers.append("accept", b"application/json");
    let request = OutgoingRequest::new(headers);
    let scheme = if base.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    if request.set_scheme(Some(&scheme)).is_err()
        || request.set_authority(Some(&base.authority)).is_err()
        || request.set_path_with_query(Some(path)).is_err()
    {
        return Err(format!(
            "the URL {}://{}{path} is not valid",
            if base.https { "https" } else { "http" },
            base.authority
        ));
    }
    let options = RequestOptions::new();
    let nanos = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
    // Each may be unsupported (an error); the host's own bounds then apply.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    let future = outgoing_handler::handle(request, Some(options))
        .map_err(|code| format!("request refused: {code:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(format!("request failed: {code:?}")),
        Some(Err(())) | None => return Err("request failed: no response".into()),
    };
    let status = response.status();
    let body = read_body(response, deadline)?;
    Ok(Response { status, body })
}

fn read_body(response: IncomingResponse, deadline: Instant) -> Result<Vec<u8>, String> {
    let body = response
        .consume()
        .map_err(|()| "the response has no body".to_owned())?;
    let stream = body
        .stream()
        .map_err(|()| "the response body cannot be read".to_owned())?;
    let mut bytes = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Err("the response took too long".into());
        }
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => {
                if bytes.len() + chunk.len() > MAX_BODY {
                    return Err(format!(
                        "the response is larger than {} KiB",
                        MAX_BODY >> 10
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!(
                    "reading the response failed: {}",
                    e.to_debug_string()
                ));
            }
        }
    }
    drop(stream);
    drop(body);
    Ok(bytes)
}
