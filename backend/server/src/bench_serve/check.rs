//! After load or a crash: the face set, its alignments store, its trash and the database agree,
//! every acknowledged change is there, and nothing half-made looks complete.

use doppel_engine::faces::{read_face_meta, Alignments};
use doppel_store::{DataDir, JobState, MediaState, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Where each face of the set was last acknowledged to be.
#[derive(Debug, Default, Clone)]
pub struct Acked {
    /// Face file -> true when last acknowledged in the trash.
    pub trashed: BTreeMap<String, bool>,
    /// Uploads the server acknowledged (media ids).
    pub uploads: BTreeSet<i64>,
}

/// What the check found; `problems` is empty when all holds.
#[derive(Debug, Default)]
pub struct Findings {
    pub in_set: usize,
    pub in_trash: usize,
    pub in_store: usize,
    pub media_rows: usize,
    pub media_files: usize,
    pub problems: Vec<String>,
}

fn pngs(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".png"))
        .collect()
}

/// Checks face set `set` of `project` (whose faces were `all` at the start) and the project's
/// media against what was acknowledged.
pub async fn check(data: &Path, project: i64, set: i64, all: &BTreeSet<String>, acked: &Acked) -> anyhow::Result<Findings> {
    let dirs = DataDir::create(data)?;
    let mut f = Findings::default();
    let dir = dirs.face_set_dir(project, set);
    let in_set = pngs(&dir);
    let in_trash = pngs(&dir.join("trash"));
    f.in_set = in_set.len();
    f.in_trash = in_trash.len();
    for both in in_set.intersection(&in_trash) {
        f.problems.push(format!("{both} is both in the set and in its trash"));
    }
    for lost in all.iter().filter(|n| !in_set.contains(*n) && !in_trash.contains(*n)) {
        f.problems.push(format!("{lost} is gone"));
    }
    for (file, &trashed) in &acked.trashed {
        let (here, there) = if trashed { (&in_trash, "trash") } else { (&in_set, "set") };
        if !here.contains(file) {
            f.problems.push(format!("{file} was acknowledged in the {there} but is not there"));
        }
    }
    let store = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".alignments.json"));
    match store.map(|p| Alignments::load(&p)) {
        Some(Ok(a)) => {
            f.in_store = a.face_count();
            if f.in_store != f.in_set {
                f.problems.push(format!("the alignments store has {} faces, the set {}", f.in_store, f.in_set));
            }
        }
        Some(Err(e)) => f.problems.push(format!("the alignments store does not load: {e}")),
        None => f.problems.push("the set has no alignments store".into()),
    }
    for name in &in_set {
        if let Err(e) = read_face_meta(&dir.join(name)) {
            f.problems.push(format!("{name} looks like a face but does not read: {e}"));
        }
    }

    let db = Store::open(data).await?;
    // Jobs first: a probe sets its media ready before its job is done, so a media record
    // read after its job (as running) may already be ready, never the other way round.
    let jobs = db.list_jobs(project, i64::MAX).await?;
    let media = db.list_media(project).await?;
    f.media_rows = media.len();
    let on_disk = pngs_and_all(&dirs.media_dir(project));
    f.media_files = on_disk.len();
    for m in &media {
        if !on_disk.contains(&m.stored_name) {
            f.problems.push(format!("media {} ({}) has no file", m.id, m.label));
        }
        let probing = jobs.iter().any(|j| {
            j.kind == "probe" && j.params.get("media_id").and_then(|v| v.as_i64()) == Some(m.id) && matches!(j.state, JobState::Queued | JobState::Running)
        });
        if m.state == MediaState::Probing && !probing {
            f.problems.push(format!("media {} is probing with no job queued to do it", m.id));
        }
    }
    let named: BTreeSet<&str> = media.iter().map(|m| m.stored_name.as_str()).collect();
    for file in on_disk.iter().filter(|n| !named.contains(n.as_str())) {
        f.problems.push(format!("media file {file} has no row"));
    }
    for id in &acked.uploads {
        if !media.iter().any(|m| m.id == *id) {
            f.problems.push(format!("acknowledged upload {id} is gone"));
        }
    }
    for leftover in std::fs::read_dir(dirs.tmp()).into_iter().flatten().flatten() {
        f.problems.push(format!("leftover {} in tmp/", leftover.file_name().to_string_lossy()));
    }
    db.pool().close().await;
    Ok(f)
}

fn pngs_and_all(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.file_name().into_string().ok()).collect()
}
