use serde::{Deserialize, Serialize};

/// The logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    Viewer,
    Editor,
    Owner,
}

impl RoleDto {
    pub fn label(self) -> &'static str {
        match self {
            RoleDto::Viewer => "viewer",
            RoleDto::Editor => "editor",
            RoleDto::Owner => "owner",
        }
    }

    pub fn can_edit(self) -> bool {
        self >= RoleDto::Editor
    }

    pub fn is_owner(self) -> bool {
        self == RoleDto::Owner
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDto {
    pub id: i64,
    pub name: String,
    pub role: RoleDto,
    pub created_at: i64,
    pub trashed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDto {
    pub username: String,
    pub role: RoleDto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    /// Disabled accounts cannot log in.
    #[serde(default)]
    pub disabled: bool,
}

/// What probing found in an uploaded file (the engine's `MediaFacts`, as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaFactsDto {
    pub kind: String,
    pub container: String,
    #[serde(default)]
    pub container_long: String,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub has_audio: bool,
    /// As displayed, rotation applied.
    pub width: u32,
    pub height: u32,
    pub rotation: u32,
    pub fps: f64,
    pub frame_count: u64,
    pub duration_secs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaStateDto {
    Probing,
    Ready,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaDto {
    pub id: i64,
    pub label: String,
    pub size_bytes: i64,
    pub state: MediaStateDto,
    pub error: Option<String>,
    pub facts: Option<MediaFactsDto>,
    pub created_at: i64,
}

/// Sent on a project's event stream when a media record changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaChanged {
    pub id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStateDto {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobStateDto {
    pub fn label(self) -> &'static str {
        match self {
            JobStateDto::Queued => "queued",
            JobStateDto::Running => "running",
            JobStateDto::Done => "done",
            JobStateDto::Failed => "failed",
            JobStateDto::Cancelled => "cancelled",
            JobStateDto::Interrupted => "interrupted",
        }
    }

    pub fn can_cancel(self) -> bool {
        matches!(self, JobStateDto::Queued | JobStateDto::Running | JobStateDto::Interrupted)
    }

    /// Resume is offered for work that was stopped, not for work that failed on its input.
    pub fn can_resume(self) -> bool {
        matches!(self, JobStateDto::Interrupted | JobStateDto::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDto {
    pub id: i64,
    pub project_id: i64,
    pub kind: String,
    /// A short human description, e.g. "probe clip.mp4".
    pub title: String,
    pub state: JobStateDto,
    pub done: u64,
    pub total: u64,
    pub rate: Option<f64>,
    pub eta_secs: Option<f64>,
    pub log_tail: String,
    pub error: Option<String>,
    /// The compute device it runs on (`cpu`, `wgpu:0`); none for jobs that use no network.
    #[serde(default)]
    pub device: Option<String>,
    /// The job's last word on its work, e.g. "12 faces in 12 frames (12 written now)".
    #[serde(default)]
    pub message: Option<String>,
    /// Who started it.
    pub started_by: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceSetStateDto {
    Queued,
    Extracting,
    Ready,
    Failed,
    Stopped,
}

impl FaceSetStateDto {
    pub fn label(self) -> &'static str {
        match self {
            FaceSetStateDto::Queued => "queued",
            FaceSetStateDto::Extracting => "extracting",
            FaceSetStateDto::Ready => "ready",
            FaceSetStateDto::Failed => "failed",
            FaceSetStateDto::Stopped => "stopped",
        }
    }

    /// The state of a face set whose extraction job is in `job` (as the store derives it).
    pub fn from_job(job: JobStateDto) -> FaceSetStateDto {
        match job {
            JobStateDto::Queued => FaceSetStateDto::Queued,
            JobStateDto::Running => FaceSetStateDto::Extracting,
            JobStateDto::Done => FaceSetStateDto::Ready,
            JobStateDto::Failed => FaceSetStateDto::Failed,
            JobStateDto::Cancelled | JobStateDto::Interrupted => FaceSetStateDto::Stopped,
        }
    }
}

/// Faces extracted from one source of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceSetDto {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub source_media: Option<i64>,
    pub source_label: Option<String>,
    pub job_id: Option<i64>,
    pub state: FaceSetStateDto,
    pub face_count: u64,
    /// Frames looked at.
    pub frame_count: u64,
    pub summary: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// A face set with its extraction job, for the face set's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceSetDetail {
    pub set: FaceSetDto,
    pub job: Option<JobDto>,
    /// The asking user's role on the project.
    pub role: RoleDto,
}

/// Face file names of a face set, in frame order (at most [`crate::api::FACES_LISTED`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceList {
    pub files: Vec<String>,
    /// Faces in the set, listed or not.
    pub total: usize,
}

/// Sent on a project's event stream (`face`) for each face an extraction writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceAdded {
    pub face_set_id: i64,
    pub file: String,
}

/// One face in the gallery: its file, its group (an index into [`Gallery::groups`], 0 without
/// groups) and the value it was sorted by, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryFace {
    pub file: String,
    pub group: u32,
    pub value: Option<f32>,
}

/// A face set's faces (or its trash's) in the asked order, grouped faces next to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gallery {
    pub faces: Vec<GalleryFace>,
    /// Group labels ("person 1 (340)", "yaw -0.80 to -0.40"); empty without groups.
    pub groups: Vec<String>,
    /// Faces in the trash.
    pub trashed: usize,
    /// Faces measured for this answer (the first sort of a new set measures them all).
    pub measured: usize,
    /// Time the server took, in milliseconds.
    pub millis: u64,
}

/// What a trash or restore moved, and the faces asked for that were already moved (by someone
/// else: the page just drops them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FacesMoved {
    pub moved: Vec<String>,
    pub absent: Vec<String>,
}

/// Sent on a project's event stream (`faces`) when someone trashes, restores or edits faces of
/// a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacesChanged {
    pub face_set_id: i64,
    pub trashed: Vec<String>,
    pub restored: Vec<String>,
    /// Faces saved in the frame editor (a new crop and metadata under the same name).
    #[serde(default)]
    pub edited: Vec<String>,
    /// Who did it.
    pub by: String,
}

/// One hand edit of a face: who, when (seconds since 1970), what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceEditDto {
    pub by: String,
    pub at: i64,
    pub what: String,
}

/// A face as the frame editor needs it: where it is in its frame, its landmarks, the mask to
/// paint on, its revision (sent back with the save) and its neighbours in frame order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditableFace {
    pub file: String,
    pub frame: u64,
    pub frame_width: u32,
    pub frame_height: u32,
    /// The detector's box `[x, y, w, h]` in frame pixels.
    pub rect: [f32; 4],
    /// 68 points in frame pixels.
    pub landmarks: Vec<[f32; 2]>,
    pub revision: u32,
    pub edits: Vec<FaceEditDto>,
    /// The painted mask if there is one, else the `extended` one: a greyscale PNG, base64, in
    /// the face's crop.
    pub mask_png: String,
    /// Side of the face's crop in pixels.
    pub crop_size: u32,
    /// Crop pixels -> frame pixels, as a canvas transform `[a, b, c, d, e, f]`
    /// (`x' = a x + c y + e`, `y' = b x + d y + f`).
    pub crop_to_frame: [f64; 6],
    pub mask_painted: bool,
    pub previous: Option<String>,
    pub next: Option<String>,
}

/// What starting an extraction made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractStarted {
    pub face_set_id: i64,
    pub job_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelStateDto {
    Queued,
    Training,
    Done,
    Stopped,
    Failed,
}

impl ModelStateDto {
    pub fn label(self) -> &'static str {
        match self {
            ModelStateDto::Queued => "queued",
            ModelStateDto::Training => "training",
            ModelStateDto::Done => "done",
            ModelStateDto::Stopped => "stopped",
            ModelStateDto::Failed => "failed",
        }
    }

    /// The state of a model whose current training job is in `job` (as the store derives it).
    pub fn from_job(job: JobStateDto) -> ModelStateDto {
        match job {
            JobStateDto::Queued => ModelStateDto::Queued,
            JobStateDto::Running => ModelStateDto::Training,
            JobStateDto::Done => ModelStateDto::Done,
            JobStateDto::Failed => ModelStateDto::Failed,
            JobStateDto::Cancelled | JobStateDto::Interrupted => ModelStateDto::Stopped,
        }
    }
}

/// A swap model of a project, with its current training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDto {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// One of [`crate::api::MODEL_KINDS`].
    pub kind: String,
    pub face_set_a: Option<i64>,
    pub face_set_b: Option<i64>,
    pub face_set_a_name: Option<String>,
    pub face_set_b_name: Option<String>,
    pub state: ModelStateDto,
    pub job: Option<JobDto>,
    /// The current job's options.
    pub settings: Option<crate::api::TrainParams>,
    /// Iterations done in all, at the last save.
    pub iteration: u64,
    /// The losses of A and B at the last save.
    pub loss: Option<(f32, f32)>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// What starting a training made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainStarted {
    pub model_id: i64,
    pub job_id: i64,
}

/// A model's loss history for the graph (at most [`crate::api::MAX_GRAPH_POINTS`] points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossHistory {
    /// The model asked for (the newest when none was named); `None` when the project has none.
    pub model_id: Option<i64>,
    /// Iterations in the newest save.
    pub iterations: u64,
    pub points: Vec<crate::api::LossPoint>,
}

/// The iterations of a model's timelapse frames, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelapseFrames {
    pub model_id: Option<i64>,
    pub iterations: Vec<u64>,
}

/// Sent on a project's event stream (`train`) while a model trains, a few times a second at
/// most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainTick {
    pub model_id: i64,
    pub job_id: i64,
    pub iteration: u64,
    pub target: Option<u64>,
    pub loss_a: f32,
    pub loss_b: f32,
    /// 2 x batch x iterations per second, lately.
    pub examples_per_second: f64,
    pub eta_seconds: Option<f64>,
}

/// Sent on a project's event stream (`saved`) when training saved a model: its preview and
/// (when there is one) a timelapse frame are new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSaved {
    pub model_id: i64,
    pub iteration: u64,
    pub timelapse: bool,
}

/// A compute device of the server, as the Admin page lists it and the job forms offer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDto {
    /// How jobs name it: `cpu`, `cuda:0`, `wgpu:1`.
    pub id: String,
    /// What the device calls itself, e.g. "NVIDIA GeForce RTX 4090".
    pub name: String,
    /// `cpu`, `cuda` or `wgpu`.
    pub backend: String,
    /// Bytes of device memory, where known (the CPU: the machine's RAM).
    pub memory_bytes: Option<u64>,
    /// A GPU backend on a software renderer (on the CPU): it works, but slowly.
    pub software: bool,
    /// Jobs run here unless they name another device (`doppel serve --device`).
    pub default: bool,
}
