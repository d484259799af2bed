//! Live events for open pages: job progress, media changes and faces as extraction writes
//! them, fanned out per project.

use app::api::{FaceAdded, JobDto, MediaChanged};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub enum EventBody {
    Job(JobDto),
    Media(MediaChanged),
    Face(FaceAdded),
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
