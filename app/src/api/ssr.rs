//! Server-only glue for server functions: the context the server provides, the session, and
//! the mapping of store errors to what the user may know.

pub mod login_limit;

use super::{AppError, FaceSetDto, FaceSetStateDto, JobDto, JobStateDto, MediaDto, MediaFactsDto, MediaStateDto, Me, ModelDto, ModelStateDto, ProjectDto, RoleDto, TrainParams};
use doppel_store::{FaceSet, FaceSetState, Job, JobState, Media, MediaState, Model, ModelState, Project, Role, Store, StoreError, User};
use leptos::prelude::*;
use std::sync::Arc;
use tower_sessions::Session;

/// Session key of the logged-in user's id.
pub const SESSION_USER: &str = "uid";
/// Session key of the user's session epoch at login (see [`session_user`]).
pub const SESSION_EPOCH: &str = "epoch";
/// Session key of when the session was last used, in Unix milliseconds.
const SESSION_SEEN: &str = "seen";

/// Control over the job runner that server functions need. Implemented by the server.
pub trait JobControl: Send + Sync {
    /// Asks a running job to stop at its next check; the runner then records it as cancelled.
    fn cancel_running(&self, job_id: i64);
    /// Announces a job whose state a server function changed (listeners update, a queued job
    /// wakes the runner).
    fn changed(&self, job: &Job);
    /// Describes a job for people ("probe clip.mp4").
    fn title(&self, job: &Job) -> String;
}

/// Reads what training leaves in a model folder (the engine's save layout, which this crate
/// does not depend on). Implemented by the server. Blocking: call it off the async runtime.
pub trait ModelFiles: Send + Sync {
    /// The losses `[A, B]` of every iteration in the model's newest complete save; empty when
    /// it has none yet.
    fn loss_history(&self, model_dir: &std::path::Path) -> Result<Vec<[f32; 2]>, String>;
}

/// A curation failure: what the user can act on (400) or a fault of the server (500, logged).
#[derive(Debug)]
pub enum CurationError {
    Invalid(String),
    Internal(String),
}

pub fn curation_error(e: CurationError) -> AppError {
    match e {
        CurationError::Invalid(msg) => invalid(msg),
        CurationError::Internal(msg) => internal(msg),
    }
}

/// A frame editor's save, checked: 68 landmarks or none, a painted mask PNG or none.
#[derive(Debug, Clone)]
pub struct EditRequest {
    pub revision: u32,
    pub landmarks: Option<Vec<[f32; 2]>>,
    /// A moved or resized box, `[x, y, w, h]`.
    pub rect: Option<[f32; 4]>,
    /// Greyscale PNG bytes.
    pub painted_png: Option<Vec<u8>>,
    pub by: String,
}

/// The gallery's work on face set folders (the engine's sort measures and trash, which this
/// crate does not depend on), and the event that tells other pages. Implemented by the
/// server; everything but `announce` blocks: call it off the async runtime.
pub trait FaceCuration: Send + Sync {
    /// The faces of the folder `dir` in `order`; measures are kept in `index` between calls.
    fn gallery(&self, dir: &std::path::Path, index: &std::path::Path, order: &super::GalleryOrder) -> Result<super::Gallery, CurationError>;
    /// The faces in the folder's trash, by name.
    fn trashed(&self, dir: &std::path::Path) -> Result<super::Gallery, CurationError>;
    fn trash(&self, dir: &std::path::Path, files: &[String]) -> Result<super::FacesMoved, CurationError>;
    fn restore(&self, dir: &std::path::Path, files: &[String]) -> Result<super::FacesMoved, CurationError>;
    /// The face `file` of the folder for the frame editor.
    fn face_for_edit(&self, dir: &std::path::Path, file: &str) -> Result<super::EditableFace, CurationError>;
    /// Saves an edit of face `file` whose source video or photo is `source`; returns the new
    /// revision. An edit of an older revision than the face's is refused (`Invalid`).
    fn save_edit(&self, dir: &std::path::Path, file: &str, source: &std::path::Path, edit: EditRequest) -> Result<u32, CurationError>;
    /// The aligner's 68 landmarks for the box `rect` turned by `angle` radians about its centre
    /// on the frame of face `file` (the frame editor's Re-align), not saved; the networks run
    /// on `device` (a device of the server, as jobs name it).
    fn realign(&self, dir: &std::path::Path, file: &str, source: &std::path::Path, rect: [f32; 4], angle: f32, device: &str) -> Result<Vec<[f32; 2]>, CurationError>;
    /// Tells the project's open pages.
    fn announce(&self, project: i64, change: super::FacesChanged);
}

/// Everything the server hands to server functions, via `provide_context`.
#[derive(Clone)]
pub struct ServerContext {
    pub store: Store,
    pub jobs: Arc<dyn JobControl>,
    pub model_files: Arc<dyn ModelFiles>,
    pub curation: Arc<dyn FaceCuration>,
    /// The one-time token of the setup link; valid only while no user exists.
    pub setup_token: Arc<str>,
    /// Bounds the CPU work that reads start (previews, source frames, sorts).
    pub work: Arc<super::work::WorkLimiter>,
    /// Failed logins per name and address (see [`login_limit`]).
    pub login_limit: Arc<login_limit::LoginLimiter>,
    /// The client's address from the request's extensions (the server records the TCP peer).
    pub client_ip: fn(&http::Extensions) -> Option<std::net::IpAddr>,
    /// Sessions end after this long unused.
    pub session_idle: std::time::Duration,
    /// The compute devices found at start, the CPU first, the default marked.
    pub devices: Arc<[super::DeviceDto]>,
}

/// The device a job form names (see [`super::pick_device`]), as the job stores it; 400 with
/// the server's devices when it has no such device.
pub fn job_device(ctx: &ServerContext, raw: &str) -> Result<String, AppError> {
    super::pick_device(&ctx.devices, raw).map_err(invalid)
}

pub fn context() -> Result<ServerContext, AppError> {
    use_context::<ServerContext>().ok_or_else(|| {
        tracing::error!("ServerContext missing from the Leptos context");
        AppError::Internal
    })
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!("no session layer: {e}");
        AppError::Internal
    })
}

/// The logged-in user, if any.
pub async fn current_user() -> Result<Option<Me>, AppError> {
    let ctx = context()?;
    let session = session().await?;
    Ok(session_user(&ctx, &session).await?.map(|u| Me { id: u.id, username: u.username, is_admin: u.is_admin }))
}

/// The user a session belongs to, while it still counts: the user exists, is not disabled,
/// and has not ended their sessions since this one logged in (a password change, disabling or
/// deleting moves their session epoch on). A session that no longer counts is emptied. Every
/// page, server function and file route reads the session through this.
///
/// Sessions end after [`ServerContext::session_idle`] unused: the session layer stores them
/// again, with a new expiry, only when they change, so this notes the time of use in the
/// session whenever the last note is older than 1/16 of the idle time (at most 5 minutes).
pub async fn session_user(ctx: &ServerContext, session: &Session) -> Result<Option<User>, AppError> {
    let uid: Option<i64> = session.get(SESSION_USER).await.map_err(internal)?;
    let Some(uid) = uid else { return Ok(None) };
    // Sessions from before epochs existed hold none: they count until the first change.
    let epoch: i64 = session.get(SESSION_EPOCH).await.map_err(internal)?.unwrap_or(0);
    match ctx.store.session_user(uid, epoch).await {
        Ok(user) => {
            let now = unix_millis();
            let seen: i64 = session.get(SESSION_SEEN).await.map_err(internal)?.unwrap_or(0);
            let every = (ctx.session_idle / 16).min(std::time::Duration::from_secs(300));
            if now.saturating_sub(seen) >= i64::try_from(every.as_millis()).unwrap_or(i64::MAX) {
                session.insert(SESSION_SEEN, now).await.map_err(internal)?;
            }
            Ok(Some(user))
        }
        Err(StoreError::NotFound) => {
            session.flush().await.map_err(internal)?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes the session `user`'s, under a new id (a session fixed before login is worthless).
pub async fn start_session(user: &User) -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await.map_err(internal)?;
    session.insert(SESSION_USER, user.id).await.map_err(internal)?;
    session.insert(SESSION_EPOCH, user.session_epoch).await.map_err(internal)?;
    session.insert(SESSION_SEEN, unix_millis()).await.map_err(internal)?;
    Ok(())
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The address of the client of this request, if the server recorded it.
pub fn client_ip(ctx: &ServerContext) -> Option<std::net::IpAddr> {
    use_context::<http::request::Parts>().and_then(|parts| (ctx.client_ip)(&parts.extensions))
}

/// The logged-in user, or a 401 that sends the browser to the login page.
pub async fn require_user() -> Result<Me, AppError> {
    match current_user().await? {
        Some(me) => Ok(me),
        None => {
            set_status(http::StatusCode::UNAUTHORIZED);
            leptos_axum::redirect("/login");
            Err(AppError::NotLoggedIn)
        }
    }
}

pub async fn require_admin() -> Result<Me, AppError> {
    let me = require_user().await?;
    if !me.is_admin {
        set_status(http::StatusCode::FORBIDDEN);
        return Err(AppError::Forbidden);
    }
    Ok(me)
}

/// The user's project, checked for at least `min`.
pub async fn project_access(project: i64, min: Role) -> Result<(Me, Project, ServerContext), AppError> {
    let me = require_user().await?;
    let ctx = context()?;
    let p = ctx.store.live_project_for(me.id, project, min).await?;
    Ok((me, p, ctx))
}

fn set_status(code: http::StatusCode) {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(code);
    }
}

/// A request the user can fix: 400 with `msg`.
pub fn invalid(msg: impl Into<String>) -> AppError {
    set_status(http::StatusCode::BAD_REQUEST);
    AppError::Invalid(msg.into())
}

/// Refused for now: 429 with `Retry-After`.
pub fn too_many_requests(refused: &login_limit::Refused) -> AppError {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::TOO_MANY_REQUESTS);
        opts.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(refused.retry_after_secs()));
    }
    AppError::TooManyRequests(refused.message())
}

pub fn internal(e: impl std::fmt::Display) -> AppError {
    tracing::error!("internal error: {e}");
    set_status(http::StatusCode::INTERNAL_SERVER_ERROR);
    AppError::Internal
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                set_status(http::StatusCode::NOT_FOUND);
                AppError::NotFound
            }
            StoreError::Forbidden => {
                set_status(http::StatusCode::FORBIDDEN);
                AppError::Forbidden
            }
            StoreError::BadCredentials | StoreError::Invalid(_) | StoreError::Conflict(_) | StoreError::BadTransition { .. } => {
                set_status(http::StatusCode::BAD_REQUEST);
                AppError::Invalid(e.to_string())
            }
            other => internal(other),
        }
    }
}

pub fn role_dto(r: Role) -> RoleDto {
    match r {
        Role::Viewer => RoleDto::Viewer,
        Role::Editor => RoleDto::Editor,
        Role::Owner => RoleDto::Owner,
    }
}

pub fn role_from_dto(r: RoleDto) -> Role {
    match r {
        RoleDto::Viewer => Role::Viewer,
        RoleDto::Editor => Role::Editor,
        RoleDto::Owner => Role::Owner,
    }
}

pub fn project_dto(p: Project) -> ProjectDto {
    ProjectDto { id: p.id, name: p.name, role: role_dto(p.role), created_at: p.created_at, trashed_at: p.trashed_at }
}

pub fn media_dto(m: Media) -> MediaDto {
    let facts = m.facts.as_deref().and_then(|f| match serde_json::from_str::<MediaFactsDto>(f) {
        Ok(facts) => Some(facts),
        Err(e) => {
            tracing::error!("media {} has unreadable facts: {e}", m.id);
            None
        }
    });
    MediaDto {
        id: m.id,
        label: m.label,
        size_bytes: m.size_bytes,
        state: match m.state {
            MediaState::Probing => MediaStateDto::Probing,
            MediaState::Ready => MediaStateDto::Ready,
            MediaState::Rejected => MediaStateDto::Rejected,
        },
        error: m.error,
        facts,
        created_at: m.created_at,
    }
}

pub fn job_state_dto(s: JobState) -> JobStateDto {
    match s {
        JobState::Queued => JobStateDto::Queued,
        JobState::Running => JobStateDto::Running,
        JobState::Done => JobStateDto::Done,
        JobState::Failed => JobStateDto::Failed,
        JobState::Cancelled => JobStateDto::Cancelled,
        JobState::Interrupted => JobStateDto::Interrupted,
    }
}

pub fn job_dto(j: Job, title: String) -> JobDto {
    JobDto {
        id: j.id,
        project_id: j.project_id,
        kind: j.kind,
        title,
        state: job_state_dto(j.state),
        done: j.progress.done,
        total: j.progress.total,
        rate: j.progress.rate,
        eta_secs: j.progress.eta_secs,
        log_tail: j.log_tail,
        error: j.error,
        device: j.params.get("device").and_then(|d| d.as_str()).map(str::to_string),
        message: j.message,
        started_by: j.created_by_name,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
    }
}

pub fn face_set_dto(f: FaceSet) -> FaceSetDto {
    FaceSetDto {
        id: f.id,
        project_id: f.project_id,
        name: f.name,
        source_media: f.source_media,
        source_label: f.source_label,
        job_id: f.job_id,
        state: match f.state {
            FaceSetState::Queued => FaceSetStateDto::Queued,
            FaceSetState::Extracting => FaceSetStateDto::Extracting,
            FaceSetState::Ready => FaceSetStateDto::Ready,
            FaceSetState::Failed => FaceSetStateDto::Failed,
            FaceSetState::Stopped => FaceSetStateDto::Stopped,
        },
        face_count: f.face_count,
        frame_count: f.frame_count,
        summary: f.summary,
        created_by: f.created_by_name,
        created_at: f.created_at,
    }
}

pub fn model_dto(m: Model, job: Option<Job>, title: impl FnOnce(&Job) -> String) -> ModelDto {
    let settings = job.as_ref().and_then(|j| serde_json::from_value::<TrainParams>(j.params.clone()).ok());
    let job = job.map(|j| {
        let t = title(&j);
        job_dto(j, t)
    });
    ModelDto {
        id: m.id,
        project_id: m.project_id,
        name: m.name,
        kind: m.kind,
        face_set_a: m.face_set_a,
        face_set_b: m.face_set_b,
        face_set_a_name: m.face_set_a_name,
        face_set_b_name: m.face_set_b_name,
        state: match m.state {
            ModelState::Queued => ModelStateDto::Queued,
            ModelState::Training => ModelStateDto::Training,
            ModelState::Done => ModelStateDto::Done,
            ModelState::Stopped => ModelStateDto::Stopped,
            ModelState::Failed => ModelStateDto::Failed,
        },
        job,
        settings,
        iteration: m.iteration,
        loss: m.loss,
        created_by: m.created_by_name,
        created_at: m.created_at,
    }
}

pub fn conversion_dto(c: doppel_store::Conversion, job: Option<JobDto>) -> super::ConversionDto {
    use super::ConversionStateDto as S;
    use doppel_store::ConversionState as C;
    super::ConversionDto {
        id: c.id,
        label: c.label,
        media_label: c.media_label,
        model_name: c.model_name,
        state: match c.state {
            C::Queued => S::Queued,
            C::Converting => S::Converting,
            C::Done => S::Done,
            C::Stopped => S::Stopped,
            C::Failed => S::Failed,
        },
        job,
        size_bytes: c.size_bytes,
        summary: c.summary,
        created_by: c.created_by_name,
        created_at: c.created_at,
    }
}

/// The Content-Security-Policy of every page. Scripts come from this origin only (the bundle,
/// and the WASM it compiles: `'wasm-unsafe-eval'`), plus Leptos' inline hydration scripts,
/// which carry the response's nonce; nothing may frame a page or post a form elsewhere.
/// Styles allow inline `style` attributes (the gallery positions its tiles with them).
pub fn page_csp(nonce: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{nonce}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The Content-Security-Policy of every file that is not a page (uploads, faces, videos, JSON):
/// opened on its own, it runs nothing and reaches nothing, in a sandbox with an opaque origin.
pub const FILE_CSP: &str = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'";

/// Puts the page CSP with this response's nonce on the response being rendered.
pub fn set_page_csp() {
    let Some(res) = use_context::<leptos_axum::ResponseOptions>() else { return };
    let nonce = leptos::nonce::use_nonce();
    if let Ok(v) = http::HeaderValue::from_str(&page_csp(nonce.as_deref())) {
        res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
    }
}
