//! Live events for open pages: job progress, media changes, faces as extraction writes them,
//! faces people trash or restore,
//! and training's progress and saves, fanned out per project.

use app::api::{FaceAdded, FacesChanged, JobDto, MediaChanged, ModelSaved, TrainTick};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub enum EventBody {
    Job(JobDto),
    Media(MediaChanged),
    Face(FaceAdded),
    /// Someone trashed or restored faces of a set.
    Faces(FacesChanged),
    /// A training run's iteration, losses and speed (a few a second at most).
    Train(TrainTick),
    /// A training run saved: a new preview (and timelapse frame).
    Saved(ModelSaved),
}

#[derive(Debug, Clone)]
pub struct ProjectEvent {
    pub project_id: i64,
    pub body: EventBody,
}

impl ProjectEvent {
    /// SSE event name and JSON data.
    pub fn sse_parts(&self) -> (&'static str, String) {
        match &self.body {
            EventBody::Job(j) => ("job", serde_json::to_string(j).unwrap_or_default()),
            EventBody::Media(m) => ("media", serde_json::to_string(m).unwrap_or_default()),
            EventBody::Face(f) => ("face", serde_json::to_string(f).unwrap_or_default()),
            EventBody::Faces(f) => ("faces", serde_json::to_string(f).unwrap_or_default()),
            EventBody::Train(t) => ("train", serde_json::to_string(t).unwrap_or_default()),
            EventBody::Saved(s) => ("saved", serde_json::to_string(s).unwrap_or_default()),
        }
    }
}

/// One broadcast channel for all projects; listeners filter by project. Slow listeners skip
/// missed events (the page reloads its lists on the next one).
#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<ProjectEvent>,
}

impl EventHub {
    pub fn new() -> Self {
        EventHub { tx: broadcast::channel(1024).0 }
    }

    pub fn send(&self, project_id: i64, body: EventBody) {
        // No listener is not an error.
        let _ = self.tx.send(ProjectEvent { project_id, body });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ProjectEvent> {
        self.tx.subscribe()
    }
}
