//! `doppel serve`: the axum application (Leptos pages and server functions, plus the streaming
//! routes), sessions, and the job runner.

use crate::cli::ServeConfig;
use crate::events::EventHub;
use crate::jobs::{EngineConfig, JobRunner};
use crate::{routes, security};
use app::api::ssr::ServerContext;
use app::{shell, App};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use axum::Router;
use doppel_store::Store;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::net::SocketAddr;
use std::sync::Arc;
use tower_sessions::cookie::SameSite;
use tower_sessions::{session_store::ExpiredDeletion, Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

/// State shared by all routes.
#[derive(Clone)]
pub struct AppState {
    pub leptos: LeptosOptions,
    pub ctx: ServerContext,
    pub hub: EventHub,
    pub runner: Arc<JobRunner>,
    pub config: Arc<ServeConfig>,
    pub previews: Arc<crate::previews::PreviewCache>,
    /// The session records, for event streams to see whether their session still exists.
    pub sessions: SqliteStore,
    /// `DOPPEL_CRASH_AT`, read once at start: a test hook, inert unless set.
    pub crash: crate::recovery::CrashPoint,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

/// Opens the store, starts the job runner, and builds the application. The face networks
/// come from `DOPPEL_MODELS_DIR` (default `models/`, relative to the working directory).
pub async fn build(config: ServeConfig) -> anyhow::Result<(Router, AppState)> {
    build_with(config, EngineConfig::from_env()).await
}

/// [`build`] with the engine's settings (network weights, device) given.
pub async fn build_with(config: ServeConfig, engine: EngineConfig) -> anyhow::Result<(Router, AppState)> {
    let store = Store::open(&config.data_dir).await?;
    crate::recovery::sweep(&store).await?;
    let sessions = SqliteStore::new(store.pool().clone());
    sessions.migrate().await?;
    tokio::spawn(
        sessions
            .clone()
            .continuously_delete_expired(tokio::time::Duration::from_secs(3600)),
    );
    let hub = EventHub::new();
    if !engine.models.face_api_manifest("ssd_mobilenetv1_model").is_file() {
        tracing::warn!(
            "no face networks in {}: extraction jobs will fail until scripts/fetch-models.sh puts them there (or set DOPPEL_MODELS_DIR)",
            engine.models.root().display()
        );
    }
    let devices: Arc<[app::api::DeviceDto]> = engine.device_dtos().into();
    let set_locks = crate::curation::SetLocks::default();
    let curation = Arc::new(crate::curation::EngineCuration::new(hub.clone(), engine.clone(), set_locks.clone()));
    let runner = JobRunner::new(store.clone(), hub.clone(), engine, set_locks);
    runner.start().await?;
    let setup_token: Arc<str> = doppel_store::new_server_name().into();
    let leptos = LeptosOptions::builder()
        .output_name("doppel")
        .site_root(config.site_dir.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build();
    let ctx = ServerContext {
        store,
        jobs: runner.clone(),
        model_files: Arc::new(crate::jobs::train::EngineModelFiles),
        curation,
        setup_token,
        work: app::api::work::WorkLimiter::new(Default::default()),
        login_limit: Arc::default(),
        client_ip: |ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        session_idle: config.session_idle,
        devices,
    };
    let state = AppState { leptos, ctx, hub, runner, config: Arc::new(config), previews: Arc::default(), sessions: sessions.clone(), crash: crate::recovery::CrashPoint::from_env() };

    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("doppel_session")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(time::Duration::try_from(state.config.session_idle)?));

    let routes = route_list();
    let ctx = state.ctx.clone();
    let leptos = state.leptos.clone();
    let router = Router::new()
        .route("/api/projects/{id}/media", post(routes::upload::upload).layer(DefaultBodyLimit::disable()))
        .route("/api/projects/{id}/media/{media}/file", get(routes::files::original))
        .route("/api/projects/{id}/media/{media}/thumb", get(routes::files::thumb))
        .route("/api/projects/{id}/facesets/{set}/faces/{file}", get(routes::faces::face))
        .route("/api/projects/{id}/facesets/{set}/faces/{file}/frame", get(routes::faces::frame))
        .route("/api/projects/{id}/models/{model}/preview.png", get(routes::models::preview))
        .route("/api/projects/{id}/models/{model}/timelapse/{file}", get(routes::models::timelapse))
        .route("/api/projects/{id}/convert/preview", get(routes::convert::preview))
        .route("/api/projects/{id}/conversions/{conversion}/file", get(routes::convert::file))
        .route("/api/projects/{id}/events", get(routes::events::project_events))
        .leptos_routes_with_context(&state, routes, move || provide_context(ctx.clone()), move || shell(leptos.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(security::same_origin))
        .layer(session_layer)
        .layer(axum::middleware::from_fn_with_state(security::AllowedHosts::new(&state.config), security::allowed_host))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(compression())
        .with_state(state.clone());
    Ok((router, state))
}

/// The app's routes, generated once per process. Generating them renders the app with
/// leptos_server's process-wide "suppress resource loads" flag set, and every Resource
/// created meanwhile, by any page rendering anywhere in the process, then waits forever.
/// So a second server built while the first renders pages (the integration tests build
/// one per test, side by side) must not generate them again. The list is a pure function
/// of the app, so caching it changes nothing else.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Compresses pages, scripts and the wasm bundle; never event streams (they must flush),
/// images or media (already compressed, and served with byte ranges).
fn compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate + Clone> {
    use tower_http::compression::predicate::{NotForContentType, Predicate};
    use tower_http::compression::{CompressionLayer, DefaultPredicate};
    CompressionLayer::new().compress_when(
        DefaultPredicate::new()
            .and(NotForContentType::const_new("video/"))
            .and(NotForContentType::const_new("audio/"))
            .and(NotForContentType::const_new("application/octet-stream")),
    )
}

pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    serve_with(config, EngineConfig::from_env()).await
}

/// [`serve`] with the engine's models and device given (`--models-dir`, `--device`).
pub async fn serve_with(config: ServeConfig, engine: EngineConfig) -> anyhow::Result<()> {
    let addr = config.addr;
    let (router, state) = build_with(config, engine).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e} (is another doppel running? try --port)"))?;
    let url = format!("http://{}", listener.local_addr()?);
    if state.ctx.store.user_count().await? == 0 {
        println!("\n  Doppel is running. Create the first admin account with this one-time link:\n\n    {url}/setup?token={}\n", state.ctx.setup_token);
    } else {
        println!("\n  Doppel is running at {url}\n");
    }
    tracing::info!("data directory: {}", state.ctx.store.dirs().root().display());
    // The peer's address reaches the login limits as `ConnectInfo`.
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
