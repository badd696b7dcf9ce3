//! Outgoing HTTP (`wasi:http`), linked only for plugins granted
//! `http_requests`, and only to the hosts and ports the manifest lists in
//! `network.allowed_hosts`.
//!
//! Every request is checked before a byte leaves the host: the scheme must be
//! `http` or `https`; the host and port must be allowed; the name is resolved
//! and **every** address must be public (no loopback, private, link-local,
//! unique-local, multicast, or IPv4-mapped/translated forms of those), unless
//! the host is configured to allow private addresses (for tests and labs).
//! Plain-http requests are then sent to the address that was checked, so a
//! DNS answer that changes between check and connect cannot redirect them;
//! https requests connect by name, and the certificate must match that name.
//! Timeouts are bounded by the plugin's per-call deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::runtime::state::PluginContext;
use crate::simulation::Simulation;

/// The longest any single phase of a request (connect, first byte, between
/// bytes) may take, whatever the plugin asks.
pub const MAX_HTTP_PHASE: Duration = Duration::from_secs(30);
/// The longest a name lookup may take.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// Which hosts a plugin may reach.
#[derive(Debug, Clone, Default)]
pub struct HttpPolicy {
    allowed: Vec<(String, u16)>,
    allow_private: bool,
}

impl HttpPolicy {
    /// The policy for `allowed_hosts` (each `host:port`, as validated by the
    /// manifest); `allow_private` lets requests reach private and loopback
    /// addresses (never set it in production).
    pub fn new(allowed_hosts: &[String], allow_private: bool) -> Self {
        let allowed = allowed_hosts
            .iter()
            .filter_map(|entry| {
                let (host, port) = entry.rsplit_once(':')?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some((host.to_ascii_lowercase(), port.parse().ok()?))
            })
            .collect();
        Self {
            allowed,
            allow_private,
        }
    }

    /// Whether `host:port` is listed.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed.iter().any(|(h, p)| *h == host && *p == port)
    }

    /// Whether `ip` may be contacted.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// Whether `ip` is a public unicast address (not loopback, private,
/// link-local, shared, documentation, multicast, reserved, or a mapped or
/// translated form of one of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// The `wasi:http` hooks of one plugin: every outgoing request passes here.
pub struct HttpHooks {
    ctx: Arc<PluginContext>,
}

impl HttpHooks {
    /// Hooks enforcing `ctx`'s policy.
    pub fn new(ctx: Arc<PluginContext>) -> Self {
        Self { ctx }
    }
}

/// A response, and the future that drives its body.
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

type ResponseFuture = Box<dyn Future<Output = Result<Sent, Error>> + Send>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        let ctx = Arc::clone(&self.ctx);
        Box::new(async move {
            if let Some(simulation) = ctx.simulation.clone() {
                return simulated(&ctx, &simulation, &request);
            }
            let request = match check(&ctx, request).await {
                Ok(request) => request,
                Err((error, why)) => {
                    ctx.stats.bump_denied();
                    ctx.log.warn(&format!("http request refused: {why}"));
                    return Err(error);
                }
            };
            let phase = ctx.deadline.remaining().min(MAX_HTTP_PHASE);
            let bound = |asked: Option<Duration>| Some(asked.map_or(phase, |a| a.min(phase)));
            let options = RequestOptions {
                connect_timeout: bound(options.and_then(|o| o.connect_timeout)),
                first_byte_timeout: bound(options.and_then(|o| o.first_byte_timeout)),
                between_bytes_timeout: bound(options.and_then(|o| o.between_bytes_timeout)),
            };
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

/// Under `rosey plugin test`: the same checks of scheme, host and port, then
/// the scenario's canned answer instead of the network.
fn simulated(
    ctx: &PluginContext,
    simulation: &Simulation,
    request: &http::Request<WasiBody>,
) -> Result<Sent, Error> {
    let refuse = |error: Error, why: String| {
        ctx.stats.bump_denied();
        ctx.log.warn(&format!("http request refused: {why}"));
        Err(error)
    };
    if let Err((error, why)) = check_destination(ctx, request.uri()) {
        return refuse(error, why);
    }
    let method = request.method().as_str();
    let url = request.uri().to_string();
    let Some(canned) = simulation.answer(method, &url) else {
        return refuse(
            Error::DestinationNotFound,
            format!("the scenario has no answer for {method} {url} (add one under given.http)"),
        );
    };
    let mut response = http::Response::builder().status(canned.status);
    for (name, value) in &canned.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(canned.body.clone()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let response = response
        .body(body)
        .map_err(|e| Error::InternalError(Some(format!("a canned response is invalid: {e}"))))?;
    let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
    Ok((response, io))
}

/// The scheme, host and port of `uri`, if the plugin may contact them.
fn check_destination(
    ctx: &PluginContext,
    uri: &http::Uri,
) -> Result<(bool, String, u16), (Error, String)> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => {
            return Err((
                Error::HttpRequestDenied,
                format!("scheme {other:?} is not http or https"),
            ));
        }
    };
    let Some(host) = uri.host() else {
        return Err((Error::HttpRequestUriInvalid, "the URI has no host".into()));
    };
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    if !ctx.http.allows(host, port) {
        return Err((
            Error::HttpRequestDenied,
            format!("{host}:{port} is not in the manifest's network.allowed_hosts"),
        ));
    }
    Ok((https, host.to_owned(), port))
}

/// Check `request` against the plugin's policy; on success, return it ready
/// to send (plain http pinned to the checked address).
async fn check(
    ctx: &PluginContext,
    mut request: http::Request<WasiBody>,
) -> Result<http::Request<WasiBody>, (Error, String)> {
    let uri = request.uri().clone();
    let (https, host, port) = check_destination(ctx, &uri)?;
    let host = host.as_str();
    let policy = &ctx.http;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            match tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((bare, port))).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(e)) => {
                    return Err((
                        Error::DnsError {
                            rcode: None,
                            info_code: None,
                        },
                        format!("{host} does not resolve: {e}"),
                    ));
                }
                Err(_) => return Err((Error::DnsTimeout, format!("resolving {host} timed out"))),
            }
        }
    };
    let Some(first) = addresses.first().copied() else {
        return Err((Error::DestinationNotFound, format!("{host} has no address")));
    };
    if let Some(bad) = addresses.iter().find(|a| !policy.allows_ip(a.ip())) {
        return Err((
            Error::DestinationIpProhibited,
            format!(
                "{host} resolves to {}, which is not a public address",
                bad.ip()
            ),
        ));
    }
    if !https {
        // Connect to the address we checked; the Host header keeps the name.
        let mut parts = uri.into_parts();
        parts.authority = Some(
            first
                .to_string()
                .parse()
                .map_err(|_| (Error::HttpRequestUriInvalid, "bad address".to_string()))?,
        );
        *request.uri_mut() = http::Uri::from_parts(parts)
            .map_err(|_| (Error::HttpRequestUriInvalid, "bad URI".to_string()))?;
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(
                !is_public(ip.parse().unwrap()),
                "{ip} must not count as public"
            );
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn hosts_and_ports_must_match_exactly() {
        let policy = HttpPolicy::new(&["api.weather.gov:443".into(), "[::1]:8080".into()], false);
        assert!(policy.allows("api.weather.gov", 443));
        assert!(policy.allows("API.Weather.gov", 443));
        assert!(!policy.allows("api.weather.gov", 80));
        assert!(!policy.allows("evil.weather.gov", 443));
        assert!(policy.allows("[::1]", 8080));
        assert!(!policy.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(HttpPolicy::new(&[], true).allows_ip("127.0.0.1".parse().unwrap()));
    }
}
