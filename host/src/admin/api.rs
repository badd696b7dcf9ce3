//! The admin API's handlers. Each one that needs credentials takes a
//! [`Caller`]; reads and writes go through the running host's [`Control`]
//! (the same operations the CLI's control channel serves).
//!
//! [`Control`]: crate::supervisor::Control

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{Caller, SESSION_LIFETIME};
use super::error::{ApiError, ApiResult};
use super::upload::{self, MAX_PACKAGE_BYTES, MAX_SIGNATURE_BYTES, Upload};
use super::{AppState, OPENAPI, SESSION_COOKIE, logs, rate};
use crate::approval::Asked;
use crate::package::PluginName;
use crate::plugin_config::{self, REDACTED};
use crate::registry::Registry;
use crate::runtime::stats::StatsSnapshot;
use crate::supervisor::status::{HostStatus, Lifecycle};
use crate::supervisor::{Outcome, PluginView};
use crate::update::{self, Changes, permission_changes};

/// Run blocking work (SQLite, the file system, compiling) off the async
/// threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the request's task failed: {e}")))?
}

/// A JSON request body, with errors in the API's shape.
fn json_body<T: for<'de> Deserialize<'de>>(body: &Bytes, example: &str) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body must be JSON such as {example}: {e}")))
}

fn plugin_name(name: &str) -> ApiResult<PluginName> {
    name.parse()
        .map_err(|e| ApiError::not_found(format!("{e} (see GET /api/plugins)")))
}

fn view(state: &AppState, name: &str) -> ApiResult<PluginView> {
    let name = plugin_name(name)?;
    state.control.plugin_view(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "no plugin named \"{name}\" is installed (see GET /api/plugins)"
        ))
    })
}

// ------------------------------------------------------------- public

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

/// `POST /api/session`: log in with the token; sets the session cookie.
pub async fn login(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        token: String,
    }
    let login: Login = json_body(&body, r#"{"token": "rosey_..."}"#)?;
    let session = state.auth.login(login.token.trim())?;
    let mut cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        session.id,
        SESSION_LIFETIME.as_secs()
    );
    if state.secure {
        cookie.push_str("; Secure");
    }
    let cookie = HeaderValue::from_str(&cookie)
        .map_err(|_| ApiError::internal("could not write the session cookie"))?;
    let body = Json(serde_json::json!({
        "csrf": session.csrf,
        "expires_in_s": SESSION_LIFETIME.as_secs(),
    }));
    Ok(([(header::SET_COOKIE, cookie)], body).into_response())
}

/// `GET /api/session`: the session's CSRF token (null for a bearer caller).
pub async fn session(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let csrf = match &caller {
        Caller::Bearer => None,
        Caller::Session(id) => state.auth.session_csrf(id)?,
    };
    Ok(Json(serde_json::json!({ "csrf": csrf })))
}

/// `DELETE /api/session`: log out.
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Response {
    if let Caller::Session(id) = &caller {
        state.auth.logout(id);
    }
    let clear =
        HeaderValue::from_static("rosey_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response()
}

/// Any other path.
pub async fn no_route() -> ApiError {
    ApiError::not_found(
        "there is nothing here; the dashboard is at /, the API is described at \
         /api/openapi.json",
    )
}

/// A known path with a method it does not take.
pub async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method; see /api/openapi.json",
    )
}

// ------------------------------------------------------------- status

#[derive(Serialize)]
struct StatusView {
    #[serde(flatten)]
    host: HostStatus,
    uptime_s: i64,
    message_rate: RateView,
}

#[derive(Serialize)]
struct RateView {
    interval_ms: u64,
    points: Vec<rate::RatePoint>,
}

/// `GET /api/status`.
pub async fn status(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let host = state.control.status();
    let uptime_s = (host.updated_at - host.started_at).max(0) / 1000;
    let view = StatusView {
        host,
        uptime_s,
        message_rate: RateView {
            interval_ms: u64::try_from(rate::SAMPLE_EVERY.as_millis()).unwrap_or(u64::MAX),
            points: state.rate.points(),
        },
    };
    Json(serde_json::to_value(view).unwrap_or(Value::Null))
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>, _caller: Caller) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.control.metrics_text(),
    )
        .into_response()
}

// ------------------------------------------------------------ plugins

/// How a plugin is doing, at a glance.
fn health(state: Lifecycle) -> &'static str {
    match state {
        Lifecycle::Running => "ok",
        Lifecycle::Loading | Lifecycle::Starting | Lifecycle::Restarting | Lifecycle::Updating => {
            "busy"
        }
        Lifecycle::Crashed | Lifecycle::Failed | Lifecycle::Quarantined => "error",
        Lifecycle::Disabled | Lifecycle::Removing | Lifecycle::Stopping | Lifecycle::Stopped => {
            "off"
        }
    }
}

#[derive(Serialize)]
struct Listed {
    name: String,
    version: String,
    enabled: bool,
    state: Lifecycle,
    since: i64,
    health: &'static str,
    description: Option<String>,
    error: Option<String>,
    memory: u64,
    memory_limit: u64,
    stats: StatsSnapshot,
    pending_update: bool,
}

/// `GET /api/plugins`.
pub async fn plugins(State(state): State<AppState>, _caller: Caller) -> Json<Vec<Value>> {
    let home = state.control.home().clone();
    let listed = state
        .control
        .plugin_views()
        .into_iter()
        .map(|v| {
            let status = v.status;
            let manifest = v.installed.manifest().ok();
            let listed = Listed {
                name: status.name.clone(),
                version: status.version.clone(),
                enabled: v.installed.enabled,
                state: status.state,
                since: status.since,
                health: health(status.state),
                description: manifest.as_ref().and_then(|m| m.description.clone()),
                error: status.error.filter(|_| status.state != Lifecycle::Running),
                memory: status.memory,
                // A plugin that is not running has no live limit: its manifest's.
                memory_limit: match status.memory_limit {
                    0 => manifest.map_or(0, |m| m.limits().memory),
                    limit => limit,
                },
                pending_update: home.pending_update(&v.installed.name).is_file(),
                stats: status.stats,
            };
            serde_json::to_value(listed).unwrap_or(Value::Null)
        })
        .collect();
    Json(listed)
}

#[derive(Serialize)]
struct Usage {
    memory: Measure,
    storage: Measure,
    fuel_per_call: u64,
    timeout_ms: u64,
    publish_rate: String,
}

#[derive(Serialize)]
struct Measure {
    used: u64,
    limit: u64,
}

#[derive(Serialize)]
struct HistoryEntry {
    at: i64,
    event: String,
    detail: Option<String>,
}

#[derive(Serialize)]
struct PendingUpdate {
    version: String,
    digest: String,
    changes: Changes,
}

#[derive(Serialize)]
struct Provenance {
    /// sha256 of the installed `plugin.wasm`.
    digest: String,
    installed_at: i64,
    /// Where the installed version came from (`file ...`, `git ...`,
    /// `index ...`, `upload ...`), if recorded.
    source: Option<String>,
    /// sha256 of the file that was installed (archive or component).
    file_sha256: Option<String>,
    /// The trusted key that signed it, if one did.
    signer: Option<String>,
}

#[derive(Serialize)]
struct Detail {
    name: String,
    version: String,
    enabled: bool,
    state: Lifecycle,
    since: i64,
    health: &'static str,
    error: Option<String>,
    asked: Asked,
    usage: Usage,
    stats: StatsSnapshot,
    provenance: Provenance,
    history: Vec<HistoryEntry>,
    pending_update: Option<PendingUpdate>,
    has_config: bool,
    manifest_yaml: String,
}

/// `GET /api/plugins/{name}`.
pub async fn plugin(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = view(&state, &name)?;
    let home = state.control.home().clone();
    let detail = blocking(move || {
        let manifest = v.installed.manifest()?;
        let name = &v.installed.name;
        let paths = home.plugin(name);
        let limits = manifest.limits();
        let history = Registry::open(&home.host_db())?
            .history(name)?
            .into_iter()
            .map(|(at, event, detail)| HistoryEntry { at, event, detail })
            .collect();
        let pending_update = update::load_pending(&home, name)?.map(|(pending, _)| PendingUpdate {
            version: pending.manifest.version.to_string(),
            digest: pending.digest(),
            changes: permission_changes(&manifest, &pending.manifest),
        });
        let status = v.status;
        Ok(Detail {
            name: name.to_string(),
            version: v.installed.version.to_string(),
            enabled: v.installed.enabled,
            state: status.state,
            since: status.since,
            health: health(status.state),
            error: status.error.clone().or(status.stats.last_error.clone()),
            asked: Asked::of(&manifest),
            usage: Usage {
                memory: Measure {
                    used: status.memory,
                    limit: limits.memory,
                },
                storage: Measure {
                    used: paths.storage_used(),
                    limit: limits.storage,
                },
                fuel_per_call: limits.fuel_per_call,
                timeout_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                publish_rate: limits.publish_rate.to_string(),
            },
            stats: status.stats,
            provenance: Provenance {
                digest: v.installed.digest.clone(),
                installed_at: v.installed.installed_at,
                source: v
                    .installed
                    .provenance
                    .as_ref()
                    .map(|p| p.origin.to_string()),
                file_sha256: v.installed.provenance.as_ref().map(|p| p.sha256.clone()),
                signer: v
                    .installed
                    .provenance
                    .as_ref()
                    .and_then(|p| p.signer.as_ref())
                    .map(|s| s.to_string()),
            },
            history,
            pending_update,
            has_config: manifest.config_schema.is_some(),
            manifest_yaml: v.installed.manifest_yaml.clone(),
        })
    })
    .await?;
    Ok(Json(serde_json::to_value(detail).unwrap_or(Value::Null)))
}

fn done(outcome: Outcome) -> Json<Outcome> {
    Json(outcome)
}

/// Run `op` on the installed plugin `name` and answer with its outcome.
async fn operate<F, Fut>(state: &AppState, name: &str, op: F) -> ApiResult<Json<Outcome>>
where
    F: FnOnce(crate::supervisor::Control, String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let v = view(state, name)?;
    let outcome = op(state.control.clone(), v.installed.name.to_string()).await?;
    state.control.refresh_status();
    Ok(done(outcome))
}

/// `POST /api/plugins/{name}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Outcome>> {
    operate(&state, &name, |c, n| async move { c.enable(&n).await }).await
}

/// `POST /api/plugins/{name}/disable`.
pub async fn disable(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Outcome>> {
    operate(&state, &name, |c, n| async move { c.disable(&n).await }).await
}

/// `DELETE /api/plugins/{name}`: remove it with all its data (refused
/// while other plugins depend on it).
pub async fn remove(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Outcome>> {
    operate(
        &state,
        &name,
        |c, n| async move { c.remove(&n, false).await },
    )
    .await
}

/// `POST /api/plugins/{name}/approve`: apply the update that waits.
pub async fn approve(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Outcome>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Approve {
        digest: String,
    }
    let v = view(&state, &name)?;
    let approve: Approve = json_body(&body, r#"{"digest": "<pending_update.digest>"}"#)?;
    let outcome = state
        .control
        .approve(v.installed.name.as_str(), Some(&approve.digest), false)
        .await?;
    state.control.refresh_status();
    Ok(done(outcome))
}

// ------------------------------------------------------------ uploads

/// The fields of an upload form.
struct UploadForm {
    file_name: String,
    package: Vec<u8>,
    signature: Option<String>,
    approval: Option<String>,
}

async fn field_bytes(
    field: &mut axum::extract::multipart::Field<'_>,
    cap: usize,
    what: &str,
) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > cap {
            return Err(ApiError::too_large(format!(
                "the {what} is larger than the {cap} bytes allowed"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(format!(
            "the upload is larger than a package may be ({} MiB)",
            MAX_PACKAGE_BYTES >> 20
        ))
    } else {
        ApiError::bad_request(format!("the upload could not be read: {}", e.body_text()))
    }
}

const UPLOAD_HINT: &str = "send multipart/form-data with the package file in a `package` field \
                           (and, optionally, its .minisig text in `signature`)";

async fn read_form(multipart: Result<Multipart, MultipartRejection>) -> ApiResult<UploadForm> {
    let mut multipart = multipart
        .map_err(|e| ApiError::bad_request(format!("{}: {UPLOAD_HINT}", e.body_text())))?;
    let mut form = UploadForm {
        file_name: "upload".into(),
        package: Vec::new(),
        signature: None,
        approval: None,
    };
    let mut have_package = false;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "package" => {
                if let Some(file_name) = field.file_name() {
                    // Only for messages: never used as a path.
                    form.file_name = file_name
                        .chars()
                        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
                        .take(128)
                        .collect();
                }
                form.package = field_bytes(
                    &mut field,
                    usize::try_from(MAX_PACKAGE_BYTES).unwrap_or(usize::MAX),
                    "package",
                )
                .await?;
                have_package = true;
            }
            "signature" => {
                let bytes = field_bytes(&mut field, MAX_SIGNATURE_BYTES, "signature").await?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    ApiError::bad_request("the signature must be the text of a .minisig file")
                })?;
                form.signature = Some(text).filter(|t| !t.trim().is_empty());
            }
            "approval" => {
                let bytes = field_bytes(&mut field, 256, "approval").await?;
                form.approval = Some(String::from_utf8_lossy(&bytes).trim().to_owned());
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected field \"{}\": {UPLOAD_HINT}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    if !have_package {
        return Err(ApiError::bad_request(format!("no package: {UPLOAD_HINT}")));
    }
    Ok(form)
}

/// Read and check the uploaded package (compiling it, off the async
/// threads).
async fn admit(state: &AppState, form: &mut UploadForm) -> ApiResult<Upload> {
    let runtime = state.control.runtime().clone();
    let home = state.control.home().clone();
    let bytes = std::mem::take(&mut form.package);
    let file_name = form.file_name.clone();
    let signature = form.signature.clone();
    blocking(move || {
        upload::admit(&runtime, &home, &file_name, bytes, signature)
            .map_err(|e| ApiError::refused(format!("{e}; nothing was changed")))
    })
    .await
}

/// The approval sent must be the one shown for this very package.
fn check_approval(form: &UploadForm, admitted: &Upload) -> ApiResult<()> {
    let Some(sent) = form.approval.as_deref().filter(|a| !a.is_empty()) else {
        return Err(ApiError::bad_request(
            "no approval: send the `approval` digest that POST /api/plugins/inspect returned \
             for this package, after showing what it asks for",
        ));
    };
    if sent != admitted.approval {
        return Err(ApiError::conflict(
            "approval_mismatch",
            "this package, or what it asks for, is not what was approved (the approval digest \
             differs); nothing was changed: inspect it again and approve what it shows",
        ));
    }
    if !admitted.report.passed() {
        let errors: Vec<String> = admitted
            .report
            .findings
            .iter()
            .filter(|f| f.severity == crate::validate::Severity::Error)
            .map(|f| format!("{} {}: {}", f.code, f.location, f.message))
            .collect();
        return Err(ApiError::refused(format!(
            "the host would refuse this package: {}; nothing was changed",
            errors.join("; ")
        )));
    }
    Ok(())
}

/// `POST /api/plugins/inspect`: what an uploaded package asks for, what
/// validation finds, and the approval digest to install it with.
pub async fn inspect(
    State(state): State<AppState>,
    _caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let mut form = read_form(multipart).await?;
    let size = form.package.len() as u64;
    let admitted = admit(&state, &mut form).await?;
    let installed = state
        .control
        .plugin_view(&admitted.admitted.package.manifest.name)
        .map(|v| v.installed);
    let inspection = admitted.inspection(size, installed.as_ref());
    Ok(Json(
        serde_json::to_value(inspection).unwrap_or(Value::Null),
    ))
}

/// `POST /api/plugins`: install an uploaded package, approved as inspected.
pub async fn install(
    State(state): State<AppState>,
    _caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut form = read_form(multipart).await?;
    let admitted = admit(&state, &mut form).await?;
    check_approval(&form, &admitted)?;
    let name = admitted.admitted.package.manifest.name.clone();
    if let Some(v) = state.control.plugin_view(&name) {
        return Err(ApiError::conflict(
            "already_installed",
            format!(
                "{name} {} is already installed; to install this version keeping its data, \
                 send it to POST /api/plugins/{name}/update",
                v.installed.version
            ),
        ));
    }
    let outcome = state.control.install_admitted(admitted.admitted).await?;
    state.control.refresh_status();
    Ok((StatusCode::CREATED, Json(outcome)).into_response())
}

/// `POST /api/plugins/{name}/update`: update it from an uploaded package,
/// approved as inspected. One that asks for more waits for approve.
pub async fn update(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Outcome>> {
    let v = view(&state, &name)?;
    let mut form = read_form(multipart).await?;
    let admitted = admit(&state, &mut form).await?;
    check_approval(&form, &admitted)?;
    if admitted.admitted.package.manifest.name != v.installed.name {
        return Err(ApiError::refused(format!(
            "this package is {}, not {}; nothing was changed",
            admitted.admitted.package.manifest.name, v.installed.name
        )));
    }
    let outcome = state
        .control
        .update_admitted(admitted.admitted, false)
        .await?;
    state.control.refresh_status();
    Ok(done(outcome))
}

// ------------------------------------------------------------- config

/// `GET /api/plugins/{name}/config`: the schema, the effective values
/// (secrets shown as `<secret>`) and where each comes from.
pub async fn config(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = view(&state, &name)?;
    let home = state.control.home().clone();
    blocking(move || {
        let manifest = v.installed.manifest()?;
        let file = plugin_config::read_file(&home.plugin(&v.installed.name).config)?;
        let effective = plugin_config::effective(&manifest, &file);
        let sources: BTreeMap<&String, &str> = effective
            .keys()
            .map(|k| {
                (
                    k,
                    if file.contains_key(k) {
                        "config.yaml"
                    } else {
                        "default"
                    },
                )
            })
            .collect();
        Ok(Json(serde_json::json!({
            "schema": manifest.config_schema,
            "values": plugin_config::redacted(&manifest, &effective),
            "sources": sources,
            "secrets": plugin_config::secret_keys(&manifest),
        })))
    })
    .await
}

/// `PUT /api/plugins/{name}/config`: replace `config.yaml` with `values`
/// (checked against the schema; a running plugin gets it at once). A
/// secret sent as `<secret>` keeps its current value.
pub async fn configure(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Outcome>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Configure {
        values: Map<String, Value>,
    }
    let v = view(&state, &name)?;
    let request: Configure = json_body(&body, r#"{"values": {"key": "value"}}"#)?;
    let home = state.control.home().clone();
    let installed = v.installed.clone();
    let text = blocking(move || {
        let manifest = installed.manifest()?;
        let current = plugin_config::read_file(&home.plugin(&installed.name).config)?;
        let secrets = plugin_config::secret_keys(&manifest);
        let mut values = request.values;
        for key in &secrets {
            if values.get(key) == Some(&Value::String(REDACTED.into())) {
                match current.get(key) {
                    Some(kept) => values.insert(key.clone(), kept.clone()),
                    None => values.remove(key),
                };
            }
        }
        Ok(plugin_config::to_yaml(&values)?)
    })
    .await?;
    let outcome = state
        .control
        .configure(v.installed.name.as_str(), &text)
        .await?;
    Ok(done(outcome))
}

// --------------------------------------------------------------- logs

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// How many lines of the end.
    lines: Option<usize>,
}

fn lines_wanted(
    query: Result<Query<LogQuery>, QueryRejection>,
    default: usize,
) -> ApiResult<usize> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("{}; the only parameter is lines=N", e.body_text()))
    })?;
    Ok(query.lines.unwrap_or(default).min(logs::MAX_LINES))
}

/// `GET /api/logs/{target}`: the end of the host's (`host`), NATS's
/// (`nats`) or a plugin's log.
pub async fn log(
    State(state): State<AppState>,
    _caller: Caller,
    Path(target): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let lines = lines_wanted(query, 200)?;
    let path = logs::path(state.control.home(), &target)?;
    let (lines, _) = blocking(move || {
        logs::tail(&path, lines)
            .map_err(|e| ApiError::internal(format!("could not read the log: {e}")))
    })
    .await?;
    Ok(Json(
        serde_json::json!({ "target": target, "lines": lines }),
    ))
}

/// `GET /api/logs/{target}/stream`: the end of a log, then every line
/// written to it, as server-sent events (`event: line`).
pub async fn log_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let lines = lines_wanted(query, 100)?;
    let path = logs::path(state.control.home(), &target)?;
    let tail_path = path.clone();
    let (backlog, end) = blocking(move || {
        logs::tail(&tail_path, lines)
            .map_err(|e| ApiError::internal(format!("could not read the log: {e}")))
    })
    .await?;
    let backlog = futures::stream::iter(
        backlog
            .into_iter()
            .map(|line| Ok(Event::default().event("line").data(line))),
    );
    use futures::StreamExt;
    let stream = backlog.chain(logs::follow(state.clone(), caller, path, end));
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
