//! What a crash may leave, put right at start-up, before any job or request runs: nothing is
//! lost and nothing is left half-made.
//!
//! - uploads in flight (`tmp/*.part`) and the temp files of atomic writes (`.<name>.<pid>-<n>.tmp`
//!   anywhere in a project but its `models/` folders, which training clears under its own lock)
//!   are deleted: they were never acknowledged;
//! - a file in a project's `media/` with no media record (a crash between the rename and the
//!   commit of its upload) is deleted: the upload was never acknowledged either;
//! - a media record still `probing` gets its probe job queued again (the job that was queued,
//!   running or interrupted, or a new one when it has none): probing only reads the file, so
//!   it runs again without asking; a record whose file is missing is rejected with the reason.
//!
//! Also here: the crash points of the upload route, a test hook (see [`CrashPoint`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use doppel_store::{ProbeRepair, Store};

/// A named place in a request where the server kills itself, to test crash recovery with the
/// real binary: `DOPPEL_CRASH_AT=<point>` in the environment of `doppel serve`, read once at
/// start. Inert when unset. The upload's points, in order: `upload-streamed` (the body is in
/// `tmp/<name>.part`), `upload-renamed` (the file is in `media/`, no record yet),
/// `upload-committed` (record and probe job committed, the reply not sent).
#[derive(Debug, Clone, Default)]
pub struct CrashPoint(Option<Arc<str>>);

impl CrashPoint {
    pub const ENV: &'static str = "DOPPEL_CRASH_AT";

    pub fn from_env() -> CrashPoint {
        CrashPoint::named(std::env::var(Self::ENV).ok().as_deref())
    }

    pub fn named(point: Option<&str>) -> CrashPoint {
        let point = point.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = point {
            tracing::warn!("{}={p}: this server aborts when a request reaches that point (a test hook)", Self::ENV);
        }
        CrashPoint(point.map(Into::into))
    }

    /// Aborts the process, as `kill -9` would, when `point` is the one set.
    pub fn at(&self, point: &str) {
        if self.0.as_deref() == Some(point) {
            eprintln!("{}: aborting at {point}", Self::ENV);
            std::process::abort();
        }
    }
}

/// What the sweep found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Temp files and partial uploads deleted.
    pub temps: Vec<PathBuf>,
    /// Files in `media/` without a record, deleted.
    pub orphans: Vec<PathBuf>,
    /// Records left `probing` whose probe job is queued again (media ids).
    pub requeued: Vec<i64>,
    /// Records left `probing` without their file, rejected (media ids).
    pub rejected: Vec<i64>,
    /// Finished face sets whose alignments store was brought back in line with their folder
    /// (a stop between moving faces to or from the trash and saving the store).
    pub resynced: Vec<i64>,
}

/// Why a record left `probing` without its file is rejected.
pub const MISSING_UPLOAD: &str = "the server stopped before this upload was stored completely: upload it again";

/// Puts the data directory and the database back in agreement (see the module's comment).
/// Runs before the job runner starts, so nothing writes meanwhile.
pub async fn sweep(store: &Store) -> anyhow::Result<Swept> {
    let known = store.media_stored_names().await?;
    let root = store.dirs().root().to_path_buf();
    let tmp = store.dirs().tmp();
    let (temps, orphans) = tokio::task::spawn_blocking(move || (sweep_temps(&root, &tmp), sweep_orphans(&root, &known))).await?;
    let mut swept = Swept { temps, orphans, ..Swept::default() };
    let probe = crate::jobs::JobKind::Probe.as_str();
    for m in store.probing_media().await? {
        let present = store.dirs().media_file(m.project_id, &m.stored_name).map(|p| p.is_file()).unwrap_or(false);
        if !present {
            tracing::warn!("upload {} (media {}) has no file: rejected", m.label, m.id);
            store.set_media_rejected(m.id, MISSING_UPLOAD).await?;
            swept.rejected.push(m.id);
            continue;
        }
        match store.requeue_probe(&m, probe, serde_json::json!({ "media_id": m.id, "label": m.label })).await? {
            ProbeRepair::Queued => {}
            ProbeRepair::Requeued(job) | ProbeRepair::Created(job) => {
                tracing::warn!("upload {} (media {}) was left unchecked by a stop: its check is queued again (job {})", m.label, m.id, job.id);
                swept.requeued.push(m.id);
            }
        }
    }
    swept.resynced = resync_face_sets(store).await?;
    for p in &swept.temps {
        tracing::info!("removed {} (left by a stop)", p.display());
    }
    for p in &swept.orphans {
        tracing::warn!("removed {}: an upload the server never recorded (it stopped in between)", p.display());
    }
    Ok(swept)
}

/// Every finished face set's alignments store, made to hold exactly the faces in its folder.
/// Sets whose extraction is unfinished are left to its resumed run.
async fn resync_face_sets(store: &Store) -> anyhow::Result<Vec<i64>> {
    let projects: Vec<i64> = dirs_in(&store.dirs().root().join("projects"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
        .collect();
    let mut done = Vec::new();
    for project in projects {
        for trashed in [false, true] {
            for set in store.list_face_sets(project, trashed).await? {
                if set.state != doppel_store::FaceSetState::Ready {
                    continue;
                }
                let dir = store.dirs().face_set_dir(project, set.id);
                if !dir.is_dir() {
                    continue;
                }
                let changed = tokio::task::spawn_blocking(move || doppel_engine::faces::curate::FaceFolder::open(&dir).and_then(|f| f.resync())).await?;
                match changed {
                    Ok(true) => {
                        tracing::warn!("face set {} ({}): its alignments store was brought back in line with its faces after a stop", set.id, set.name);
                        done.push(set.id);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!("face set {} ({}): {e}", set.id, set.name),
                }
            }
        }
    }
    Ok(done)
}

/// `tmp/*.part` and `*.tmp`, and the atomic writes' hidden temps in every project's folders
/// but `models/`.
fn sweep_temps(root: &Path, tmp: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for (path, name) in files_in(tmp) {
        if name.ends_with(".part") || name.ends_with(".tmp") {
            remove(path, &mut removed);
        }
    }
    for project in dirs_in(&root.join("projects")) {
        // Training clears its own temps, under the model folder's lock.
        let mut stack: Vec<PathBuf> = dirs_in(&project).into_iter().filter(|d| d.file_name().is_none_or(|n| n != "models")).collect();
        let mut scan = |dir: &Path| {
            for (path, name) in files_in(dir) {
                if name.starts_with('.') && name.ends_with(".tmp") {
                    remove(path, &mut removed);
                }
            }
        };
        scan(&project);
        while let Some(dir) = stack.pop() {
            scan(&dir);
            stack.extend(dirs_in(&dir));
        }
    }
    removed
}

/// Files in `projects/<id>/media/` that no media record names.
fn sweep_orphans(root: &Path, known: &HashSet<String>) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for project in dirs_in(&root.join("projects")) {
        for (path, name) in files_in(&project.join("media")) {
            if !known.contains(&name) {
                remove(path, &mut removed);
            }
        }
    }
    removed
}

fn remove(path: PathBuf, removed: &mut Vec<PathBuf>) {
    match std::fs::remove_file(&path) {
        Ok(()) => removed.push(path),
        Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
    }
}

/// Regular files of `dir` with their names (none when it does not exist).
fn files_in(dir: &Path) -> Vec<(PathBuf, String)> {
    entries(dir).filter(|e| e.file_type().is_ok_and(|t| t.is_file())).filter_map(|e| Some((e.path(), e.file_name().into_string().ok()?))).collect()
}

/// Subfolders of `dir` (not following links).
fn dirs_in(dir: &Path) -> Vec<PathBuf> {
    entries(dir).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

fn entries(dir: &Path) -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir(dir).into_iter().flatten().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_points_are_inert_unless_named() {
        // A point that is not the one set returns; the set one would abort (checked by
        // tests/hardening_crash.rs with the real binary).
        CrashPoint::default().at("upload-streamed");
        CrashPoint::named(Some("  ")).at("upload-streamed");
        CrashPoint::named(Some("upload-committed")).at("upload-streamed");
    }

    #[test]
    fn temps_and_orphans_go_and_everything_else_stays() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |rel: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
            p
        };
        let gone = [
            write("tmp/0123.part"),
            write("tmp/x.tmp"),
            write("projects/1/facesets/2/.clip.alignments.json.77-0.tmp"),
            write("projects/1/outputs/.abc.mp4.9-3.tmp"),
            write("projects/1/.x.1-1.tmp"),
        ];
        let kept = [
            write("tmp/notes.txt"),
            write("projects/1/facesets/2/clip.alignments.json"),
            write("projects/1/facesets/2/clip_000001_0.png"),
            write("projects/1/models/3/.save.5-1.tmp"),
            write("projects/1/media/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ];
        let orphan = write("projects/1/media/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        let mut temps = sweep_temps(root, &root.join("tmp"));
        temps.sort();
        let mut expected = gone.to_vec();
        expected.sort();
        assert_eq!(temps, expected);
        let known: HashSet<String> = ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string()].into_iter().collect();
        assert_eq!(sweep_orphans(root, &known), vec![orphan.clone()]);
        assert!(gone.iter().chain([&orphan]).all(|p| !p.exists()));
        assert!(kept.iter().all(|p| p.is_file()), "training's own temps and real files stay");
    }
}
