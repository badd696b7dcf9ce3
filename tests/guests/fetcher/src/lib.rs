//! `!fetch <url>`: one HTTP request through `wasi:http`, for the host's HTTP
//! sandbox tests. Replies `status <code>: <body>` or `error: <code>`.

use rosey_sdk::prelude::*;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingResponse, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

struct Fetcher;

impl Plugin for Fetcher {
    fn on_command(cmd: Command) -> Result<Option<String>> {
        Ok(Some(match cmd.arg(0) {
            Some(url) => fetch(url),
            None => "Usage: !fetch <url>".to_owned(),
        }))
    }
}

fn fetch(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "error: not a URL".to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    if request.set_scheme(Some(&scheme)).is_err()
        || request.set_authority(Some(authority)).is_err()
        || request.set_path_with_query(Some(path)).is_err()
    {
        return "error: the request was refused by the client".to_owned();
    }
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return format!("error: {code:?}"),
    };
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => {
            let status = response.status();
            match read_body(response) {
                Ok(body) => format!("status {status}: {body}"),
                Err(e) => format!("status {status}, body error: {e}"),
            }
        }
        Some(Ok(Err(code))) => format!("error: {code:?}"),
        Some(Err(())) | None => "error: the response was already taken".to_owned(),
    }
}

fn read_body(response: IncomingResponse) -> std::result::Result<String, String> {
    let body = response.consume().map_err(|()| "no body".to_owned())?;
    let stream = body.stream().map_err(|()| "no stream".to_owned())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

export_plugin!(Fetcher);
