//! Cleaning a face set together: the gallery's order (sorted and grouped on the server from
//! each face's measures), deleting faces into the set's trash and restoring them. Every change
//! is announced on the project's event stream (`faces`), so other open pages follow it.

use super::{AppError, EditableFace, FacesMoved, Gallery};
use leptos::prelude::*;

/// Orders the gallery offers: `name` (frame order) and the engine's sort keys, with labels.
/// A server test checks every key against the engine.
pub const SORT_KEYS: [(&str, &str); 8] = [
    ("name", "frame order"),
    ("face", "identity (main person first)"),
    ("hist", "colour histogram"),
    ("blur", "sharpness (sharpest first)"),
    ("yaw", "yaw (left to right)"),
    ("pitch", "pitch (up to down)"),
    ("size", "face size (largest first)"),
    ("color", "colourfulness"),
];

/// Groupings the gallery offers: none, identity clusters (people) or bins of a measure.
pub const GROUP_KEYS: [(&str, &str); 6] =
    [("", "no groups"), ("face", "people (identity clusters)"), ("yaw", "yaw"), ("pitch", "pitch"), ("blur", "sharpness"), ("size", "face size")];

/// Most faces one trash or restore request moves.
pub const MOST_FACES_MOVED: usize = 20_000;

/// A gallery order as asked for: checked names, bins 2 to 20.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GalleryOrder {
    /// One of [`SORT_KEYS`].
    pub sort: String,
    /// One of [`GROUP_KEYS`]; empty for none.
    pub group: String,
    pub bins: usize,
    /// With `sort` = `face`: likeness to this face of the set instead of to the main person.
    pub like: Option<String>,
}

impl GalleryOrder {
    pub fn parse(sort: &str, group: &str, bins: &str, like: &str) -> Result<GalleryOrder, String> {
        let sort = match sort.trim() {
            "" => "name",
            s => SORT_KEYS.iter().find(|(k, _)| *k == s).map(|(k, _)| *k).ok_or_else(|| format!("cannot sort by '{s}'"))?,
        };
        let group = GROUP_KEYS.iter().find(|(k, _)| *k == group.trim()).map(|(k, _)| *k).ok_or_else(|| format!("cannot group by '{}'", group.trim()))?;
        let bins = super::whole_number(bins, "bins", 5usize, 2, 20)?;
        // The name itself is checked by the server function (the store's face name rule).
        let like = match like.trim() {
            "" => None,
            l if sort == "face" => Some(l.to_string()),
            _ => return Err("likeness to a face is a sort by identity (face)".into()),
        };
        Ok(GalleryOrder { sort: sort.into(), group: group.into(), bins, like })
    }

    /// Frame order without groups needs no measures.
    pub fn is_plain(&self) -> bool {
        self.sort == "name" && self.group.is_empty()
    }
}

/// The faces of a set (or of its trash) in the asked order, with their groups.
#[server(endpoint = "face_gallery")]
pub async fn face_gallery(
    project: i64,
    set: i64,
    #[server(default)] sort: String,
    #[server(default)] group: String,
    #[server(default)] bins: String,
    #[server(default)] trash: bool,
    #[server(default)] like: String,
) -> Result<Gallery, AppError> {
    use super::ssr::*;
    let order = GalleryOrder::parse(&sort, &group, &bins, &like).map_err(invalid)?;
    if let Some(bad) = order.like.as_ref().filter(|l| !doppel_store::is_face_file_name(l)) {
        return Err(invalid(format!("'{bad}' is not a face of this set")));
    }
    let (me, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    let dir = ctx.store.dirs().face_set_dir(p.id, set.id);
    let index = ctx.store.dirs().face_index_file(p.id, set.id);
    let curation = ctx.curation.clone();
    // A sort may measure every face of a new set: bounded like the other reads that compute.
    let permit = ctx.work.try_start(me.id)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if trash {
            curation.trashed(&dir)
        } else {
            curation.gallery(&dir, &index, &order)
        }
    })
        .await
        .map_err(internal)?
        .map_err(curation_error)
}

/// Moves faces of a set into its trash (the alignments store follows). Editors and owners.
#[server(endpoint = "trash_faces")]
pub async fn trash_faces(project: i64, set: i64, files: Vec<String>) -> Result<FacesMoved, AppError> {
    move_faces(project, set, files, false).await
}

/// Brings faces back from a set's trash. Editors and owners.
#[server(endpoint = "restore_faces")]
pub async fn restore_faces(project: i64, set: i64, files: Vec<String>) -> Result<FacesMoved, AppError> {
    move_faces(project, set, files, true).await
}

/// A face for the frame editor. Viewers too (they look, they cannot save).
#[server(endpoint = "face_for_edit")]
pub async fn face_for_edit(project: i64, set: i64, file: String) -> Result<EditableFace, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    if !doppel_store::is_face_file_name(&file) {
        return Err(AppError::NotFound);
    }
    let dir = ctx.store.dirs().face_set_dir(p.id, set.id);
    let curation = ctx.curation.clone();
    tokio::task::spawn_blocking(move || curation.face_for_edit(&dir, &file)).await.map_err(internal)?.map_err(curation_error)
}

/// Saves the frame editor's changes to a face: `landmarks` (136 numbers, x and y of the 68
/// points in frame pixels; empty: unchanged) and `painted` (a greyscale PNG of the mask in the
/// face's crop, base64 or a `data:` URL; empty: unchanged). `revision` is the one the editor
/// loaded. The face is cut again from its frame. Editors and owners. Returns the new revision.
#[server(endpoint = "save_face_edit")]
pub async fn save_face_edit(
    project: i64,
    set: i64,
    file: String,
    revision: u32,
    #[server(default)] landmarks: String,
    #[server(default)] painted: String,
    #[server(default)] rect: String,
) -> Result<u32, AppError> {
    use super::ssr::*;
    use super::FacesChanged;
    let (me, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    if !doppel_store::is_face_file_name(&file) {
        return Err(AppError::NotFound);
    }
    let landmarks = parse_landmarks(&landmarks).map_err(invalid)?;
    let painted_png = parse_png(&painted).map_err(invalid)?;
    let rect = parse_rect(&rect).map_err(invalid)?;
    let source = source_of(&ctx, p.id, &set).await?;
    let dir = ctx.store.dirs().face_set_dir(p.id, set.id);
    let curation = ctx.curation.clone();
    let edit = EditRequest { revision, landmarks, rect, painted_png, by: me.username.clone() };
    let name = file.clone();
    let revision = tokio::task::spawn_blocking(move || curation.save_edit(&dir, &name, &source, edit)).await.map_err(internal)?.map_err(curation_error)?;
    ctx.curation.announce(p.id, FacesChanged { face_set_id: set.id, trashed: Vec::new(), restored: Vec::new(), edited: vec![file], by: me.username });
    Ok(revision)
}

/// The aligner's landmarks for a moved, resized or turned box on a face's frame (the editor's
/// Re-align): `rect` is the box before its turn of `angle` radians (clockwise on screen) about
/// its centre. Nothing is saved. The networks run on the device the set was extracted on
/// (the server's default when it has no such device any more). Editors and owners.
#[server(endpoint = "realign_face")]
pub async fn realign_face(project: i64, set: i64, file: String, rect: String, #[server(default)] angle: String) -> Result<Vec<[f32; 2]>, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    if !doppel_store::is_face_file_name(&file) {
        return Err(AppError::NotFound);
    }
    let rect = parse_rect(&rect).map_err(invalid)?.ok_or_else(|| invalid("a box is needed"))?;
    let angle = match angle.trim() {
        "" => 0.0,
        a => a.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| invalid("the box's turn must be a number (radians)"))?,
    };
    let source = source_of(&ctx, p.id, &set).await?;
    let extracted_on = match set.job_id {
        Some(id) => ctx.store.job(id).await.ok().and_then(|j| j.params.get("device").and_then(|d| d.as_str()).map(str::to_string)),
        None => None,
    };
    let device = extracted_on.and_then(|d| super::pick_device(&ctx.devices, &d).ok()).map_or_else(|| job_device(&ctx, ""), Ok)?;
    let dir = ctx.store.dirs().face_set_dir(p.id, set.id);
    let curation = ctx.curation.clone();
    tokio::task::spawn_blocking(move || curation.realign(&dir, &file, &source, rect, angle, &device)).await.map_err(internal)?.map_err(curation_error)
}

/// The stored video or photo a face set comes from.
#[cfg(feature = "ssr")]
async fn source_of(ctx: &super::ssr::ServerContext, project: i64, set: &doppel_store::FaceSet) -> Result<std::path::PathBuf, AppError> {
    use super::ssr::invalid;
    let media = match set.source_media {
        Some(id) => ctx.store.media(project, id).await?,
        None => return Err(invalid("the video or photo these faces come from was deleted: its faces cannot be edited")),
    };
    Ok(ctx.store.dirs().media_file(project, &media.stored_name)?)
}

/// `x,y,w,h` with a positive width and height -> a box; empty -> none.
pub fn parse_rect(raw: &str) -> Result<Option<[f32; 4]>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let v: Vec<f32> = raw.split(',').map(|t| t.trim().parse::<f32>().ok().filter(|v| v.is_finite())).collect::<Option<_>>().ok_or("the box must be numbers")?;
    match v.as_slice() {
        [x, y, w, h] if *w > 0.0 && *h > 0.0 => Ok(Some([*x, *y, *w, *h])),
        [_, _, _, _] => Err("the box must have a positive width and height".into()),
        _ => Err(format!("a box is 4 numbers (x, y, width, height), not {}", v.len())),
    }
}

/// 136 comma-separated numbers -> 68 points; empty -> none.
pub fn parse_landmarks(raw: &str) -> Result<Option<Vec<[f32; 2]>>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let numbers: Vec<f32> = raw.split(',').map(|t| t.trim().parse::<f32>().ok().filter(|v| v.is_finite())).collect::<Option<_>>().ok_or("the landmarks must be numbers")?;
    if numbers.len() != 136 {
        return Err(format!("68 landmarks (136 numbers) expected, not {}", numbers.len()));
    }
    Ok(Some(numbers.chunks_exact(2).map(|c| [c[0], c[1]]).collect()))
}

/// Most bytes of a painted mask PNG.
#[cfg(feature = "ssr")]
const MOST_MASK_BYTES: usize = 4 << 20;

#[cfg(feature = "ssr")]
fn parse_png(raw: &str) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let b64 = raw.strip_prefix("data:image/png;base64,").unwrap_or(raw);
    if b64.len() > MOST_MASK_BYTES * 4 / 3 + 4 {
        return Err("the painted mask is too large".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| "the painted mask is not a base64 PNG".to_string())?;
    if !bytes.starts_with(b"\x89PNG") {
        return Err("the painted mask is not a PNG".into());
    }
    Ok(Some(bytes))
}

#[cfg(feature = "ssr")]
async fn move_faces(project: i64, set: i64, files: Vec<String>, restore: bool) -> Result<FacesMoved, AppError> {
    use super::ssr::*;
    use super::{FaceSetStateDto, FacesChanged};
    let (me, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    if files.is_empty() {
        return Err(invalid("no faces chosen"));
    }
    if files.len() > MOST_FACES_MOVED {
        return Err(invalid(format!("at most {MOST_FACES_MOVED} faces at a time")));
    }
    if let Some(bad) = files.iter().find(|f| !doppel_store::is_face_file_name(f)) {
        return Err(invalid(format!("'{bad}' is not a face of this set")));
    }
    if matches!(face_set_dto(set.clone()).state, FaceSetStateDto::Queued | FaceSetStateDto::Extracting) {
        return Err(invalid("the extraction of this face set is still running: wait for it, or stop it, before deleting or restoring faces"));
    }
    let dir = ctx.store.dirs().face_set_dir(p.id, set.id);
    let curation = ctx.curation.clone();
    let moved = tokio::task::spawn_blocking(move || if restore { curation.restore(&dir, &files) } else { curation.trash(&dir, &files) })
        .await
        .map_err(internal)?
        .map_err(curation_error)?;
    if !moved.moved.is_empty() {
        let (trashed, restored) = if restore { (Vec::new(), moved.moved.clone()) } else { (moved.moved.clone(), Vec::new()) };
        ctx.curation.announce(p.id, FacesChanged { face_set_id: set.id, trashed, restored, edited: Vec::new(), by: me.username.clone() });
        let count = ctx.store.dirs().face_files(p.id, set.id).map(|f| f.len() as u64).unwrap_or(set.face_count);
        ctx.store.set_face_count(set.id, count).await?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_checked() {
        assert_eq!(GalleryOrder::parse("", "", "", "").unwrap(), GalleryOrder { sort: "name".into(), group: String::new(), bins: 5, like: None });
        assert!(GalleryOrder::parse("", "", "", "").unwrap().is_plain());
        let o = GalleryOrder::parse("blur", "face", "3", "").unwrap();
        assert_eq!((o.sort.as_str(), o.group.as_str(), o.bins, o.is_plain()), ("blur", "face", 3, false));
        assert!(GalleryOrder::parse("../etc", "", "", "").unwrap_err().contains("cannot sort by"));
        assert!(GalleryOrder::parse("name", "colour", "", "").unwrap_err().contains("cannot group by"));
        assert!(GalleryOrder::parse("name", "yaw", "99", "").unwrap_err().contains("bins"));
        assert_eq!(GalleryOrder::parse("face", "", "", "clip_000012_0.png").unwrap().like.as_deref(), Some("clip_000012_0.png"));
        assert!(GalleryOrder::parse("blur", "", "", "clip_000012_0.png").unwrap_err().contains("sort by identity"));
    }

    #[test]
    fn landmarks_are_68_finite_points() {
        assert_eq!(parse_landmarks(" ").unwrap(), None);
        let ok = (0..136).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let points = parse_landmarks(&ok).unwrap().unwrap();
        assert_eq!((points.len(), points[1]), (68, [2.0, 3.0]));
        assert!(parse_landmarks("1,2,3").unwrap_err().contains("not 3"));
        assert!(parse_landmarks(&ok.replace("7,", "NaN,")).is_err());
        assert!(parse_landmarks(&ok.replace("7,", "x,")).is_err());
        assert_eq!(parse_rect("1, 2, 3.5, 4").unwrap(), Some([1.0, 2.0, 3.5, 4.0]));
        assert_eq!(parse_rect("").unwrap(), None);
        assert!(parse_rect("1,2,0,4").unwrap_err().contains("positive"));
        assert!(parse_rect("1,2,3").unwrap_err().contains("not 3"));
    }
}
