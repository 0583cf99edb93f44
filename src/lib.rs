//! gif-chat's server wiring: open the database, build the router, serve until asked to stop.
//! Pages, server functions and the live channel live in the `app` crate; this crate only assembles them.
// Leptos views are deeply nested types; release builds (no type erasure) need more than the default 128.
#![recursion_limit = "256"]

mod assets;
pub mod backup;
pub mod config;
mod connections;
mod database;
pub mod health;
mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::server::address::{TrustedProxies, client_address_layer, hold_refusals, limit_writes};
use app::server::bodies::read_forms_in_time;
use app::server::identity::{Identities, visitor_layer};
use app::server::origin::{OriginPolicy, refuse_cross_origin};
use app::server::{AppState, context::server_fn_error_status, forms::plain_forms, upload, whole, ws};
use app::{App, shell};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Router, middleware};
use chat::Chat;
use chat::limits::Limits;
use chat::uploads::UploadStore;
use http::{HeaderValue, header};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::{
    CachingSessionStore, ExpiredDeletion, Expiry, SessionManagerLayer, cookie::SameSite, cookie::time,
};
use tower_sessions_moka_store::MokaStore;
use tracing::Level;

pub use config::Config;
use database::adopt_sessions_from_chat_database;
pub use database::{Sessions, connect_database, connect_sessions};

/// How many sessions each process keeps in memory (a few hundred bytes each); beyond it the least used are read
/// from the database again when they come back.
const SESSIONS_CACHED: u64 = 100_000;

/// Every minute, the rate limits forget the people and addresses whose buckets are full again, until the shutdown.
fn forget_idle_limits(limits: &Arc<Limits>, chat: &Chat) {
    let (limits, stopping) = (limits.clone(), chat.stopping());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        every.tick().await;
        loop {
            tokio::select! {
                () = stopping.cancelled() => break,
                _ = every.tick() => limits.forget_idle(),
            }
        }
    });
}

/// Deletes expired sessions now and then, until the server shuts down (nothing else ever would).
fn delete_expired_sessions(store: &Sessions, chat: &Chat, every_secs: f64) {
    let (store, stopping) = (store.clone(), chat.stopping());
    let period = Duration::from_secs_f64(if every_secs.is_finite() { every_secs.clamp(0.05, 86_400.0) } else { 60.0 });
    tokio::spawn(async move {
        tokio::select! {
            () = stopping.cancelled() => {}
            result = store.continuously_delete_expired(period) => {
                if let Err(error) = result {
                    tracing::error!(%error, "deleting expired sessions stopped");
                }
            }
        }
    });
}

/// The app's routes, found once per process. Finding them renders the app with resource loading switched off by a
/// process-wide flag, so a page rendered meanwhile by another server in the same process (tests start many) could
/// wait forever for its data (leptos-rs/leptos#4773).
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Everything a running server holds besides its listener.
pub struct Server {
    pub router: Router,
    pub state: AppState,
    /// What a connection must do to be kept open.
    door: connections::Door,
    /// How long the server stays up, not ready, after it is asked to stop.
    drain: Duration,
    /// The metrics' own listener (`--metrics-addr`).
    metrics: Option<TcpListener>,
}

impl Server {
    /// Connects to the database, prepares the directories and builds the router.
    pub async fn build(config: &Config) -> anyhow::Result<Server> {
        let db = connect_database(config).await?;
        let uploads = UploadStore::open(config.uploads_dir.clone(), config.uploads_at()?, config.storage_limits())
            .with_context(|| format!("opening uploads directory {}", config.uploads_dir.display()))?;
        tracing::info!("GIFs are kept in {}", uploads.describe());

        let sessions = connect_sessions(config).await?;
        adopt_sessions_from_chat_database(&db, &sessions).await.context("moving the sessions to their database")?;
        let session_store = Sessions::new(sessions.clone());
        let identities = Identities::load(&db, config.behind_tls())
            .await
            .context("loading the cookie key")?
            .renewing_sessions_every(Duration::from_secs_f64(config.session_renew_secs.clamp(0.0, 30.0 * 86_400.0)));

        let hash_file = assets::hash_file(&config.site_root);
        let leptos_options = LeptosOptions::builder()
            .output_name("gif-chat")
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(config.addr)
            // Leptos looks for the hash file beside the executable unless given an absolute path.
            .hash_files(hash_file.is_some())
            .hash_file(hash_file.as_ref().map_or("hash.txt".into(), |path| path.to_string_lossy().into()))
            .build();
        if config.clock_offset_ms != 0 {
            chat::service::shift_clock(config.clock_offset_ms);
        }
        let chat = Chat::new(db, config.settings(), uploads);
        let limits = Arc::new(Limits::new(&config.limit_settings(), chat.metrics().clone()));
        forget_idle_limits(&limits, &chat);
        if let Some(url) = &config.broker_url {
            chat.connect_broker(url, &config.broker_tls()).await.context("joining the other gif-chat processes")?;
        }
        chat.start().await.context("scheduling the stored rooms")?;
        delete_expired_sessions(&session_store, &chat, config.session_cleanup_secs);
        if config.allowed_origins().is_empty() && !config.addr.ip().is_loopback() {
            tracing::warn!(
                addr = %config.addr,
                "neither --public-url nor --allowed-origin is set on an address others can reach: a page of any \
                 host name that reaches this server may act for its visitors; set --public-url to the address \
                 people use"
            );
        }
        let origins = OriginPolicy::new(config.allowed_origins());
        let state = AppState { leptos_options, chat, limits, edge: config.edge(), origins, identities };
        let proxies = TrustedProxies::new(config.trusted_proxies.iter().copied());

        // Behind TLS the cookie is `Secure` and `__Host-` prefixed (the browser then refuses it from plain HTTP
        // or for another path or subdomain); plain-HTTP development must keep working without.
        let tls = config.behind_tls();
        // A session holds one thing: the visitor's id (and when a visit last renewed it, at most daily, which is
        // what extends its 30 days). So every instance may keep the sessions it has seen in memory (until they
        // expire) and a request needs no database read to know its visitor; new and renewed sessions are written
        // through to the database, where every other instance finds them. Another instance's copy of a renewed
        // session only has an older expiry: it drops the copy then, and reads the renewed one. This holds only
        // while the id never changes and sessions are deleted only when expired (as the cache drops them then
        // too): a logout or a revocation would need the cache gone, or a short time-to-live.
        let cached_sessions = CachingSessionStore::new(MokaStore::new(Some(SESSIONS_CACHED)), session_store.clone());
        let session_layer = SessionManagerLayer::new(cached_sessions)
            .with_name(if tls { "__Host-gif_chat_session" } else { "gif_chat_session" })
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(tls)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(time::Duration::days(30)));

        let routes = route_list();
        // Routes that know the visitor: pages, server functions, the live channel, uploads.
        let app_routes = Router::new()
            .leptos_routes_with_context(
                &state,
                routes,
                {
                    let state = state.clone();
                    move || provide_context(state.clone())
                },
                {
                    let options = state.leptos_options.clone();
                    move || shell(options.clone())
                },
            )
            // Each page renders to its end whether or not its reader stays (app::server::whole).
            .route_layer(middleware::from_fn(whole::render_whole))
            .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
                {
                    let state = state.clone();
                    move || provide_context(state.clone())
                },
                shell,
            ))
            // Pages and server functions' answers are not compressed: they can carry a whisper to the visitor
            // next to text anyone in the room writes, and compressing such a response lets an eavesdropper who
            // can make the browser reload it guess the secret from the sizes (BREACH).
            .route("/ws", get(ws::ws_handler))
            .route(
                "/room/{id}/gif",
                post(upload::upload_gif)
                    // The handler enforces the exact limit while streaming; this only stops runaway bodies.
                    .layer(DefaultBodyLimit::max((config.max_upload_bytes + upload::MULTIPART_OVERHEAD) as usize)),
            )
            // Added after the routes so that it wraps them (and the fallback); the session layer goes outside
            // the visitor layer, which reads the session.
            .layer(middleware::from_fn(server_fn_error_status))
            .layer(middleware::from_fn_with_state(state.clone(), read_forms_in_time))
            .layer(middleware::from_fn_with_state(state.clone(), visitor_layer))
            .layer(session_layer)
            // A flood from one address is turned away before its session is loaded.
            .layer(middleware::from_fn_with_state(state.clone(), limit_writes))
            // Every refusal by a rate limit is answered slowly (within the limits on how many are held).
            .layer(middleware::from_fn_with_state(state.clone(), hold_refusals))
            .layer(middleware::from_fn_with_state(proxies.clone(), client_address_layer))
            // A browser's own form post (no WASM) is answered with a page to go to, its error carried there.
            .layer(middleware::from_fn_with_state(state.clone(), plain_forms))
            // Outermost: a forged request is refused before it can act or be given a session.
            .layer(middleware::from_fn_with_state(state.origins.clone(), refuse_cross_origin))
            .with_state(state.clone());

        // The compiled client and stored GIFs need no session: serving them never touches the session store.
        let pkg = assets::pkg_service(config.site_root.join("pkg"), hash_file.is_some());
        let router = Router::new()
            .nest("/pkg", pkg)
            .route("/gif/{name}", get(upload::serve_gif))
            .with_state(state.clone())
            .merge(app_routes)
            // Pages set a Content-Security-Policy with their own nonce (see `app::shell`); anything else gets one
            // that allows nothing.
            .layer(default_header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'; sandbox",
            ))
            .layer(default_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(default_header(header::X_FRAME_OPTIONS, "DENY"))
            .layer(default_header(header::REFERRER_POLICY, "same-origin"))
            .layer(middleware::from_fn(connections::close_if_body_unread))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            // Every request gets an id of ours (a client's own `x-request-id` is not trusted into the logs),
            // on each of its log lines and in the response's `x-request-id`.
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(middleware::map_request(forget_client_request_id));
        let router = if tls {
            router.layer(default_header(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"))
        } else {
            router
        };
        // The health probes, added after the layers so that none wraps them: no session, no rate limit, no
        // access log line for every probe.
        let router = router.merge(health::router(state.chat.clone(), sessions));

        let door = connections::Door {
            header_timeout: Duration::from_secs_f64(config.header_read_secs.clamp(0.05, 3600.0)),
            idle_timeout: Duration::from_secs_f64(config.idle_secs.clamp(0.05, 86_400.0)),
            per_address: Some((state.limits.clone(), proxies)),
        };
        let drain = Duration::from_secs_f64(config.drain_secs.clamp(0.0, 600.0));
        state.chat.metrics().set_build(health::VERSION, health::COMMIT);
        let metrics = match config.metrics_addr {
            Some(addr) => {
                Some(TcpListener::bind(addr).await.with_context(|| format!("listening for metrics on {addr}"))?)
            }
            None => None,
        };
        Ok(Server { router, state, door, drain, metrics })
    }

    /// Where metrics are served, if anywhere.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    /// Serves on `listener` until `shutdown` completes; then live connections are told to reconnect (to this
    /// server's successor), timers stop, and in-flight requests and background work (sends, uploads being
    /// stored) finish before this returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let chat = self.state.chat.clone();
        if let Some(listener) = self.metrics {
            let (router, stopping) = (metrics::router(chat.clone()), chat.stopping());
            tracing::info!("metrics at http://{}/metrics", listener.local_addr()?);
            // Served like the public port (a client must send its headers in time, and may not idle), with no limit
            // per address (the scraper is one), until the shutdown begins.
            let door = connections::Door { per_address: None, ..self.door.clone() };
            tokio::spawn(connections::serve(listener, router, door, stopping.cancelled_owned()));
        }
        let (stopping, drain) = (chat.clone(), self.drain);
        let shutdown = async move {
            shutdown.await;
            if !drain.is_zero() {
                // Not ready from now on, still serving: a balancer's next probe sends new people elsewhere.
                stopping.begin_drain();
                tracing::info!("draining for {drain:?} before shutting down");
                tokio::time::sleep(drain).await;
            }
            stopping.begin_shutdown();
        };
        connections::serve(listener, self.router, self.door, shutdown).await;
        chat.finish().await;
        Ok(())
    }
}

/// A request's span, on every log line written while it is served (a live connection's lines too): its id,
/// method and path; never its query or headers (cookies), nor its body.
fn request_span(request: &http::Request<axum::body::Body>) -> tracing::Span {
    let id = request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

async fn forget_client_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    request.headers_mut().remove("x-request-id");
    request
}

/// A header every response carries unless it set its own.
fn default_header(name: http::HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.expect("installing the Ctrl-C handler");
    };
    #[cfg(unix)]
    let terminate = async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler")
            .recv()
            .await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested, finishing in-flight requests");
}
