//! The web dashboard, JSON API, badges, `/metrics`, `/healthz` and `/readyz` of `uptimer
//! serve`; [`health`] serves the last three alone on `METRICS_LISTEN` in every mode.
//!
//! Pages are rendered on the server (askama templates, compiled into the binary, escaping on
//! by default), charts are SVG drawn here, and every asset is embedded: the dashboard fetches
//! nothing from the internet. [`app`] returns the router; handler tests call it with
//! `tower::ServiceExt::oneshot`, no socket needed.

pub mod acks;
mod api;
mod apidoc;
pub(crate) mod badges;
mod charts;
mod csrf;
mod format;
pub mod health;
mod pages;
mod prom;
mod push;
mod silences;
pub mod status;
mod status_incidents;
pub(crate) mod targets_api;
mod window;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::{WebAuth, WebSettings};
use crate::metrics::{Metrics, Sections};
use crate::store::{Store, StoreError};

pub use charts::esc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Option<WebAuth>,
    /// `/metrics`, `/healthz` and `/readyz` need no credentials.
    pub open_metrics: bool,
    /// The process's metrics and readiness. By default only `uptimer_build_info`: a process
    /// that serves a store it does not write (`serve --store`) has nothing else to count.
    pub metrics: Arc<Metrics>,
    /// The push targets' board when the process has push targets (`serve` writing its store).
    pub push: Option<Arc<crate::readers::push::PushBoard>>,
    /// Changes the live set of targets (`serve` writing its store); `None` when read-only
    /// (`serve --store`), where the API's writes answer 405.
    pub editor: Option<Arc<crate::registry::edit::Editor>>,
    /// The web server listens on a loopback address only. Without `auth`, the API's writes
    /// are refused unless it does (403).
    pub listen_loopback: bool,
    /// Acknowledging incidents (`serve` writing its store).
    pub acks: Option<acks::Acks>,
    /// The public status pages (`status_pages:`).
    pub status_pages: Arc<status::Pages>,
    /// Their documents, rendered once per change.
    pub status_cache: Arc<status::StatusCache>,
    /// The incidents people write on them (`serve`).
    pub status_book: Option<Arc<dyn crate::store::status::StatusBook>>,
    /// `WEB_PUBLIC_URL` without its trailing `/` (empty when unset): the feeds' links.
    pub public_url: String,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, web: &WebSettings) -> Self {
        AppState {
            store,
            auth: web.auth.clone(),
            open_metrics: web.open_metrics,
            metrics: Arc::new(Metrics::new(Sections::default())),
            push: None,
            editor: None,
            listen_loopback: web.listen.ip().is_loopback(),
            acks: None,
            status_pages: status::Pages::fixed(Vec::new()),
            status_cache: Arc::default(),
            status_book: None,
            public_url: web
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
        }
    }

    /// Whether a write through the API would come unauthenticated from other machines: no
    /// credentials configured and a listener beyond loopback (such writes are refused, 403).
    pub fn writes_unguarded(&self) -> bool {
        self.auth.is_none() && !self.listen_loopback
    }
}

/// A handler's failure: the store failed (logged, a 500 without details), or what was asked
/// for is not there or not understood.
#[derive(Debug)]
pub enum AppError {
    Store(StoreError),
    NotFound(String),
    BadRequest(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

impl AppError {
    /// The status and the words a user is shown (a store's error is logged, not shown).
    fn status_and_message(self) -> (StatusCode, String) {
        match self {
            AppError::Store(e) => {
                tracing::error!(error = %e, "web: store query failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the store could not answer; see the server log".to_owned(),
                )
            }
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, msg) = self.status_and_message();
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    }
}

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const FAVICON: &str = include_str!("assets/favicon.svg");
const OPENAPI: &str = include_str!("openapi.json");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The router: pages, API, badges, metrics, health, assets.
pub fn app(state: AppState) -> Router {
    // The push route is never behind the dashboard's credentials: its token is one.
    let pushes = Router::new().route("/api/v1/push/{token}", get(push::push).post(push::push));
    // Nor are the public status pages.
    let status = status::routes();
    // Nor are acknowledgement links: their signature is one.
    let links = Router::new().route(
        "/ack/{id}/{signature}",
        get(acks::link_page).post(acks::link_ack),
    );
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prom::metrics));
    let protected = Router::new()
        .route("/", get(pages::overview))
        .route("/targets/new", get(pages::new_target))
        .route("/targets", post(pages::create_target))
        .route("/targets/{id}", get(pages::target))
        .route(
            "/targets/{id}/edit",
            get(pages::edit_target).post(pages::update_target),
        )
        .route("/targets/{id}/pause", post(pages::pause_target))
        .route("/targets/{id}/resume", post(pages::resume_target))
        .route(
            "/targets/{id}/delete",
            get(pages::confirm_delete).post(pages::delete_target),
        )
        .route("/incidents", get(pages::incidents))
        .route("/silences", get(pages::silences).post(pages::add_silence))
        .route("/silences/{id}/expire", post(pages::expire_silence))
        .route(
            "/status-incidents",
            get(pages::status_incidents).post(pages::open_status_incident),
        )
        .route(
            "/status-incidents/{id}/updates",
            post(pages::update_status_incident),
        )
        .route("/api", get(apidoc::page))
        .route("/api/", get(apidoc::page))
        .route("/api/v1", get(apidoc::page))
        .route("/badges/{id}/status.svg", get(badges::status))
        .route("/badges/{id}/uptime.svg", get(badges::uptime))
        .route("/badges/{id}/response.svg", get(badges::response))
        .route(
            "/api/v1/openapi.json",
            get(|| async { asset("application/json", OPENAPI) }),
        )
        .route(
            "/api/v1/targets",
            get(api::targets).post(targets_api::create),
        )
        .route(
            "/api/v1/targets/{id}",
            get(api::target)
                .put(targets_api::replace)
                .patch(targets_api::patch)
                .delete(targets_api::delete),
        )
        .route("/api/v1/targets/{id}/pause", post(targets_api::pause))
        .route("/api/v1/targets/{id}/resume", post(targets_api::resume))
        .route("/api/v1/targets/{id}/events", get(api::events))
        .route("/api/v1/targets/{id}/series", get(api::series))
        .route("/api/v1/targets/{id}/uptime", get(api::uptime))
        .route("/api/v1/incidents", get(api::incidents))
        .route(
            "/api/v1/status-pages",
            get(status::manage::list).post(status::manage::create),
        )
        .route(
            "/api/v1/status-pages/{slug}",
            get(status::manage::one)
                .put(status::manage::replace)
                .delete(status::manage::delete),
        )
        .route("/api/v1/incidents/{id}/ack", post(acks::api_ack))
        .route(
            "/api/v1/silences",
            get(silences::list_silences).post(silences::create_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(silences::expire_silence),
        )
        .route(
            "/api/v1/maintenance",
            get(silences::list_maintenance).post(silences::create_maintenance),
        )
        .route(
            "/api/v1/maintenance/{id}",
            axum::routing::delete(silences::end_maintenance),
        )
        .route(
            "/api/v1/status-incidents",
            get(status_incidents::list).post(status_incidents::create),
        )
        .route(
            "/api/v1/status-incidents/{id}",
            get(status_incidents::get_one),
        )
        .route(
            "/api/v1/status-incidents/{id}/updates",
            post(status_incidents::create_update),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/favicon.svg",
            get(|| async { asset("image/svg+xml", FAVICON) }),
        );
    let (open, protected) = if state.open_metrics {
        (open, protected)
    } else {
        (Router::new(), protected.merge(open))
    };
    let protected =
        protected.route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    pushes
        .merge(status)
        .merge(links)
        .merge(open)
        .merge(protected)
        .fallback(|| async { AppError::NotFound("no such page".into()) })
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Alive unless the pipeline has stopped.
async fn healthz(State(s): State<AppState>) -> Response {
    health::alive(&s.metrics)
}

/// Ready when the store answers and every writer (and consumer) is.
async fn readyz(State(s): State<AppState>) -> Response {
    if let Err(e) = s.store.ping().await {
        tracing::warn!(error = %e, "readyz: store unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response();
    }
    health::ready(&s.metrics)
}

/// Pages can show hostile strings from targets; they are escaped, and the policy below makes
/// sure nothing but our own script and styles would run even if one slipped through.
/// A response that set its own policy (a status page) keeps it, and may be framed where it
/// says.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let framed = h
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.contains("frame-ancestors 'none'"));
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !framed {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries the configured credentials.
pub fn authorized(auth: &WebAuth, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    let basic = || -> Option<(String, String)> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    };
    match auth {
        WebAuth::Token(t) => {
            if scheme.eq_ignore_ascii_case("bearer") {
                same(rest.as_bytes(), t.expose().as_bytes())
            } else if scheme.eq_ignore_ascii_case("basic") {
                basic().is_some_and(|(_, p)| same(p.as_bytes(), t.expose().as_bytes()))
            } else {
                false
            }
        }
        WebAuth::Basic { user, password } => {
            scheme.eq_ignore_ascii_case("basic")
                && basic().is_some_and(|(u, p)| {
                    same(u.as_bytes(), user.as_bytes())
                        & same(p.as_bytes(), password.expose().as_bytes())
                })
        }
    }
}

/// The answer to a request without the credentials.
fn challenge(_: &WebAuth) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"uptimer\", charset=\"UTF-8\"",
        )],
        "authentication required\n",
    )
        .into_response()
}

async fn require_auth(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match &s.auth {
        Some(auth) if !authorized(auth, req.headers()) => challenge(auth),
        _ => next.run(req).await,
    }
}

/// Serves `app` on `listen` until `stop` is cancelled.
pub async fn serve(
    state: AppState,
    listen: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    tracing::info!(
        url = %format!("http://{}/", listener.local_addr()?),
        "dashboard listening"
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// Serves the status pages alone (`STATUS_LISTEN`) on `listen` until `stop` is cancelled.
pub async fn serve_status(
    state: AppState,
    listen: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {listen} (STATUS_LISTEN): {e}"),
        )
    })?;
    tracing::info!(
        url = %format!("http://{}/", listener.local_addr()?),
        "status pages listening"
    );
    axum::serve(listener, status::public_app(state))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

#[cfg(test)]
mod tests;
