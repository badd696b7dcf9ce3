//! A small HTTP/1.1 client for the admin API tests (hyper's), with
//! multipart bodies built by hand.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, BodyStream, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The API error's code, insisting the body has the API's error shape.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let message = json["error"]["message"].as_str().unwrap_or("");
        assert!(
            !message.is_empty(),
            "an error without a message: {} {json}",
            self.status
        );
        json["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {json}"))
            .to_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// One part of a multipart body.
pub enum Part<'a> {
    /// A file field: name, file name, bytes.
    File(&'a str, &'a str, &'a [u8]),
    /// A text field.
    Text(&'a str, &'a str),
}

/// A client for the API at `base` (`http://127.0.0.1:PORT`).
#[derive(Clone)]
pub struct Api {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
}

const BOUNDARY: &str = "rosey-test-boundary-7b1f2c";

impl Api {
    /// A client for `base` with no credentials.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            headers: Vec::new(),
        }
    }

    /// The same client with `Authorization: Bearer <token>`.
    pub fn bearer(&self, token: &str) -> Self {
        let mut api = self.clone();
        api.headers = vec![("authorization".into(), format!("Bearer {token}"))];
        api
    }

    /// The same client with `headers` added.
    pub fn with(&self, headers: &[(&str, &str)]) -> Self {
        let mut api = self.clone();
        api.headers
            .extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        api
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder.body(Full::new(Bytes::from(body))).unwrap()
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let response = tokio::time::timeout(Duration::from_secs(120), self.client.request(request))
            .await
            .expect("the admin API did not answer within 120 s")
            .expect("could not reach the admin API");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// A request without a body.
    pub async fn call(&self, method: Method, path: &str) -> Answer {
        self.send(self.request(method, path, None, Vec::new()))
            .await
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path).await
    }

    /// A request with a JSON body.
    pub async fn json(&self, method: Method, path: &str, body: &serde_json::Value) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        self.send(self.request(method, path, Some("application/json"), bytes))
            .await
    }

    /// POST a multipart form.
    pub async fn multipart(&self, path: &str, parts: &[Part<'_>]) -> Answer {
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match part {
                Part::File(name, file, bytes) => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                             Content-Type: application/octet-stream\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(bytes);
                }
                Part::Text(name, text) => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{text}")
                            .as_bytes(),
                    );
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        self.send(self.request(Method::POST, path, Some(&ct), body))
            .await
    }

    /// Open a server-sent event stream and read it until a `data:` line
    /// contains `wanted` (true) or `within` passes (false). `meanwhile`
    /// runs once the stream is open.
    pub async fn stream_until<F: std::future::Future<Output = ()>>(
        &self,
        path: &str,
        wanted: &str,
        within: Duration,
        meanwhile: F,
    ) -> (StatusCode, bool) {
        let request = self.request(Method::GET, path, None, Vec::new());
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        if !status.is_success() {
            return (status, false);
        }
        let mut stream = BodyStream::new(response.into_body());
        meanwhile.await;
        let mut seen = String::new();
        let found = tokio::time::timeout(within, async {
            while let Some(Ok(frame)) = stream.next().await {
                if let Ok(data) = frame.into_data() {
                    seen.push_str(&String::from_utf8_lossy(&data));
                    if seen
                        .lines()
                        .any(|l| l.starts_with("data:") && l.contains(wanted))
                    {
                        return true;
                    }
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        (status, found)
    }
}
