//! The extract job: the faces of one of a project's videos or photos into its face set, by
//! the engine's extraction pipeline on a blocking thread.
//!
//! Progress (frames looked at, of the frames this run will look at) goes through the job's
//! progress; every face written is announced on the project's event stream (`face`), so open
//! pages show it at once; a cancel stops the pipeline between frames. The engine saves its
//! alignments store as it goes, so resuming the job continues the same face set where it
//! stopped. The networks are loaded once per job.
//!
//! Each save of the store holds the set's folder lock, the one the gallery's trash, restore
//! and edits take (the server's [`crate::curation::SetLocks`]), and merges with the store on
//! disk instead of writing the copy loaded at start: a change made in the gallery while the
//! job runs or resumes survives it.

use super::{JobCtx, JobError, JobHandle};
use crate::events::{EventBody, EventHub};
use app::api::{ExtractParams, FaceAdded};
use doppel_engine::analyze::FaceAnalyzer;
use doppel_engine::extract::{self, ExtractOptions, Observer, Progress, Report};
use doppel_engine::identity::IdentityFilter;
use doppel_store::{Media, MediaState};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub async fn run(ctx: &JobCtx) -> Result<(), JobError> {
    let params: ExtractParams = serde_json::from_value(ctx.job.params.clone())
        .map_err(|e| JobError::Failed(format!("bad job parameters: {e}")))?;
    let store = &ctx.store;
    let project = ctx.job.project_id;
    let set = store
        .face_set(project, params.face_set_id)
        .await
        .map_err(|_| JobError::Failed("the face set of this extraction is gone (in the trash?)".into()))?;
    let source = store
        .media(project, params.media_id)
        .await
        .map_err(|_| JobError::Failed("the source of this extraction is no longer in the project".into()))?;
    let input = media_path(ctx, &source, &["video", "image"])?;
    let mut references = Vec::new();
    for (ids, wanted) in [(&params.filter, true), (&params.nfilter, false)] {
        for id in ids {
            let photo = store
                .media(project, *id)
                .await
                .map_err(|_| JobError::Failed(format!("reference photo #{id} is no longer in the project")))?;
            let path = media_path(ctx, &photo, &["image"])?;
            references.push(Reference { path, label: photo.label, wanted });
        }
    }

    let mut options = ExtractOptions::new(input, store.dirs().face_set_dir(project, set.id));
    // The gallery's lock of this set: each save of the store takes it and merges.
    options.folder_lock = Some(ctx.set_locks.folder(&options.output));
    options.every_n = params.every_n;
    options.frames = params.frames;
    options.size = params.size;
    options.min_size = params.min_size;
    options.re_feed = params.re_feed;
    ctx.log(&describe(&params, &references)).await;
    ctx.progress(0, 0);

    let on = ctx.device()?;
    ctx.log(&format!("on {on}")).await;
    let engine = ctx.engine.clone();
    let observer = JobObserver { handle: ctx.handle(), hub: ctx.hub.clone(), project, set: set.id };
    let threshold = params.threshold;
    let work = tokio::task::spawn_blocking(move || -> Result<(Report, String), String> {
        let device = on.to_burn().map_err(|e| format!("cannot use the {on} device: {e}"))?;
        let t = Instant::now();
        let analyzer = FaceAnalyzer::load(&engine.models, &device).map_err(|e| format!("cannot load the face networks: {e}"))?;
        let loaded = format!("face networks loaded in {:.1} s", t.elapsed().as_secs_f64());
        if !references.is_empty() {
            options.filter = identity_filter(&analyzer, &references, threshold)?;
        }
        let mut observer = observer;
        let report = extract::run(&analyzer, &options, &mut observer).map_err(|e| e.to_string())?;
        Ok((report, loaded))
    })
    .await;
    let (report, loaded) = match work {
        Ok(Ok(done)) => done,
        Ok(Err(message)) => return Err(JobError::Failed(message)),
        Err(join) => return Err(JobError::Failed(format!("the extraction crashed: {join}"))),
    };
    ctx.log(&loaded).await;
    let summary = report.summary();
    let looked_at = report.progress.frames_done + report.progress.frames_resumed;
    store.record_face_set_run(set.id, report.faces_total, looked_at, &summary).await?;
    if report.stopped {
        ctx.set_message(format!("stopped: {summary}"));
        return Err(JobError::Cancelled);
    }
    ctx.set_message(summary);
    Ok(())
}

/// Reports to the job: frames as progress, faces as events, and the cancel flag.
struct JobObserver {
    handle: JobHandle,
    hub: EventHub,
    project: i64,
    set: i64,
}

impl Observer for JobObserver {
    fn progress(&mut self, p: &Progress) {
        self.handle.progress_timed(p.frames_done, p.frames_total.unwrap_or(0), p.seconds);
    }

    fn face_written(&mut self, path: &Path) {
        if let Some(file) = path.file_name().and_then(|n| n.to_str()) {
            self.hub.send(self.project, EventBody::Face(FaceAdded { face_set_id: self.set, file: file.to_string() }));
        }
    }

    fn should_stop(&self) -> bool {
        self.handle.cancelled()
    }
}

/// A reference photo of the identity filter.
struct Reference {
    path: PathBuf,
    label: String,
    wanted: bool,
}

/// The stored file of a ready media record of one of `kinds`.
pub(super) fn media_path(ctx: &JobCtx, m: &Media, kinds: &[&str]) -> Result<PathBuf, JobError> {
    let kind = m
        .facts
        .as_deref()
        .and_then(|f| serde_json::from_str::<serde_json::Value>(f).ok())
        .and_then(|f| f.get("kind").and_then(|k| k.as_str()).map(str::to_string));
    if m.state != MediaState::Ready || !kind.as_deref().is_some_and(|k| kinds.contains(&k)) {
        return Err(JobError::Failed(format!("{} is not a {} ready in this project", m.label, kinds.join(" or "))));
    }
    let path = ctx.store.dirs().media_file(m.project_id, &m.stored_name)?;
    if !path.is_file() {
        return Err(JobError::Failed(format!("{}: the uploaded file is gone; upload it again", m.label)));
    }
    Ok(path)
}

/// The identity filter from the reference photos (the engine reads them by content, so the
/// stored files are used as they are). Errors name the label, not the stored file.
fn identity_filter(analyzer: &FaceAnalyzer, refs: &[Reference], threshold: f32) -> Result<IdentityFilter, String> {
    let paths = |wanted: bool| refs.iter().filter(|r| r.wanted == wanted).map(|r| r.path.clone()).collect::<Vec<_>>();
    IdentityFilter::from_images(analyzer, &paths(true), &paths(false), threshold).map_err(|e| {
        let mut message = e.to_string();
        for r in refs {
            message = message.replace(&r.path.display().to_string(), &r.label);
        }
        message
    })
}

/// One log line with the options.
fn describe(p: &ExtractParams, refs: &[Reference]) -> String {
    let mut s = format!("extracting faces from {}: ", p.label);
    s += &match p.every_n {
        1 => "every frame".to_string(),
        n => format!("one frame in {n}"),
    };
    if let Some((a, b)) = p.frames {
        s += &if b == u64::MAX { format!(", from frame {a}") } else { format!(", frames {a} to {b}") };
    }
    s += &format!(", {} px faces", p.size);
    if p.min_size > 0 {
        s += &format!(", faces under {} px ignored", p.min_size);
    }
    if p.re_feed > 1 {
        s += &format!(", landmarks averaged over {} runs", p.re_feed);
    }
    let list = |wanted: bool| refs.iter().filter(|r| r.wanted == wanted).map(|r| r.label.as_str()).collect::<Vec<_>>().join(", ");
    if refs.iter().any(|r| r.wanted) {
        s += &format!(", keeping only the people in {}", list(true));
    }
    if refs.iter().any(|r| !r.wanted) {
        s += &format!(", dropping the people in {}", list(false));
    }
    if !refs.is_empty() {
        s += &format!(" (threshold {})", p.threshold);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_says_what_was_asked() {
        let p = ExtractParams {
            media_id: 1,
            face_set_id: 2,
            label: "clip.mp4".into(),
            every_n: 5,
            frames: Some((10, u64::MAX)),
            size: 256,
            min_size: 0,
            re_feed: 1,
            threshold: 0.6,
            filter: vec![],
            nfilter: vec![],
            device: None,
        };
        assert_eq!(describe(&p, &[]), "extracting faces from clip.mp4: one frame in 5, from frame 10, 256 px faces");
    }
}
