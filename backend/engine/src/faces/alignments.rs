//! The alignments store of one source: for every frame looked at, the faces kept in it (an
//! empty list records "no face here", so resuming does not look again). JSON, versioned,
//! migrated on load, written atomically with the previous version kept as `<name>.bak`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::meta::{ExtractorSettings, FaceEntry, SourceRef};

pub const ALIGNMENTS_SCHEMA: &str = "doppel.alignments";
/// Current version of the store's schema.
pub const ALIGNMENTS_VERSION: u32 = 1;

/// One step of the schema's history: turns a store of version `n` into version `n + 1`.
type Migration = fn(Value) -> Result<Value, String>;

/// `MIGRATIONS[i]` takes version `i + 1` to `i + 2`. Version 1 is the first: none yet.
const MIGRATIONS: &[Migration] = &[];

#[derive(Debug, thiserror::Error)]
pub enum AlignmentsError {
    #[error("cannot read or write the alignments file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the alignments file is damaged ({0}); the previous version is in {1}")]
    Damaged(String, String),
    #[error("not a Doppel alignments file (schema `{0}`)")]
    WrongSchema(String),
    #[error("the alignments file was written by a newer Doppel (version {0}, this one reads up to {ALIGNMENTS_VERSION}): update Doppel")]
    TooNew(u64),
    #[error("could not upgrade the alignments file from version {from}: {reason}")]
    Migration { from: u64, reason: String },
}

/// What was found in one frame.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameEntry {
    /// Seconds from the start of the stream.
    pub time: f64,
    /// The image's file name, when the source is a folder of images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Faces kept, in face-index order; empty when the frame has none.
    pub faces: Vec<FaceEntry>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alignments {
    pub schema: String,
    pub version: u32,
    pub source: SourceRef,
    pub extractor: ExtractorSettings,
    /// Frame index -> entry, in frame order.
    pub frames: BTreeMap<u64, FrameEntry>,
}

impl Alignments {
    pub fn new(source: SourceRef, extractor: ExtractorSettings) -> Alignments {
        Alignments { schema: ALIGNMENTS_SCHEMA.into(), version: ALIGNMENTS_VERSION, source, extractor, frames: BTreeMap::new() }
    }

    /// Reads and upgrades a store.
    pub fn load(path: &Path) -> Result<Alignments, AlignmentsError> {
        let bytes = std::fs::read(path)?;
        let damaged = |why: String| AlignmentsError::Damaged(why, doppel_fsio::backup_path(path).display().to_string());
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        let value = migrate(value, MIGRATIONS)?;
        serde_json::from_value(value).map_err(|e| damaged(e.to_string()))
    }

    /// Reads the store at `path` if there is one.
    pub fn load_if_exists(path: &Path) -> Result<Option<Alignments>, AlignmentsError> {
        match std::fs::metadata(path) {
            Ok(_) => Self::load(path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the store atomically, keeping the previous version as `<name>.bak`.
    pub fn save(&self, path: &Path) -> Result<(), AlignmentsError> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        doppel_fsio::write_atomic(path, &json)?;
        Ok(())
    }

    /// Number of faces in all frames.
    pub fn face_count(&self) -> usize {
        self.frames.values().map(|f| f.faces.len()).sum()
    }
}

/// Checks the schema and applies `migrations` until the store is at the current version.
fn migrate(mut value: Value, migrations: &[Migration]) -> Result<Value, AlignmentsError> {
    let schema = value.get("schema").and_then(Value::as_str).unwrap_or_default();
    if schema != ALIGNMENTS_SCHEMA {
        return Err(AlignmentsError::WrongSchema(schema.into()));
    }
    let current = migrations.len() as u64 + 1;
    loop {
        let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version == current {
            return Ok(value);
        }
        if version > current {
            return Err(AlignmentsError::TooNew(version));
        }
        let step = version.checked_sub(1).and_then(|i| migrations.get(i as usize)).ok_or(AlignmentsError::Migration { from: version, reason: "unknown version".into() })?;
        value = step(value).map_err(|reason| AlignmentsError::Migration { from: version, reason })?;
        value["version"] = Value::from(version + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::meta::tests::sample_entry;

    fn store() -> Alignments {
        let mut a = Alignments::new(
            SourceRef { file: "a.mp4".into(), sha256: "00".repeat(32), width: 512, height: 512 },
            ExtractorSettings {
                software: "doppel test".into(),
                detector: "d".into(),
                aligner: "a".into(),
                recognition: "r".into(),
                min_confidence: 0.5,
                min_size: 0,
                re_feed: 1,
                every_n: 1,
            },
        );
        a.frames.insert(0, FrameEntry { time: 0.0, name: None, faces: vec![sample_entry(0)] });
        a.frames.insert(1, FrameEntry { time: 0.033, name: None, faces: vec![] });
        a.frames.insert(2, FrameEntry { time: 0.066, name: Some("x.png".into()), faces: vec![sample_entry(0), sample_entry(1)] });
        a
    }

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-align-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_keeps_frames_without_faces_and_a_backup() {
        let dir = scratch("rt");
        let path = dir.join("a.alignments.json");
        let mut a = store();
        a.save(&path).unwrap();
        assert_eq!(Alignments::load(&path).unwrap(), a);
        assert_eq!(a.face_count(), 3);
        a.frames.remove(&2);
        a.save(&path).unwrap();
        assert_eq!(Alignments::load(&path).unwrap().face_count(), 1);
        assert_eq!(Alignments::load(&doppel_fsio::backup_path(&path)).unwrap().face_count(), 3, "the backup is the previous version");
        assert!(Alignments::load_if_exists(&dir.join("none.json")).unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn damage_points_at_the_backup() {
        let dir = scratch("dmg");
        let path = dir.join("a.json");
        std::fs::write(&path, b"{\"schema\": \"doppel.align").unwrap();
        let err = Alignments::load(&path).unwrap_err().to_string();
        assert!(err.contains("damaged") && err.contains("a.json.bak"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn versions_are_checked_and_migrated_step_by_step() {
        let mut v = serde_json::to_value(store()).unwrap();
        assert_eq!(migrate(v.clone(), MIGRATIONS).unwrap(), v);
        v["version"] = Value::from(7);
        assert!(matches!(migrate(v.clone(), MIGRATIONS), Err(AlignmentsError::TooNew(7))));
        v["schema"] = Value::from("faceswap");
        assert!(matches!(migrate(v, MIGRATIONS), Err(AlignmentsError::WrongSchema(_))));
        // The machinery with a two-step history: 1 -> 2 renames a field, 2 -> 3 adds one.
        let steps: &[Migration] = &[
            |mut v| {
                let old = v.as_object_mut().unwrap().remove("old").ok_or("no `old`")?;
                v["new"] = old;
                Ok(v)
            },
            |mut v| {
                v["added"] = Value::from(true);
                Ok(v)
            },
        ];
        let v1 = serde_json::json!({"schema": ALIGNMENTS_SCHEMA, "version": 1, "old": 5});
        assert_eq!(migrate(v1, steps).unwrap(), serde_json::json!({"schema": ALIGNMENTS_SCHEMA, "version": 3, "new": 5, "added": true}));
        let broken = serde_json::json!({"schema": ALIGNMENTS_SCHEMA, "version": 1});
        assert!(matches!(migrate(broken, steps), Err(AlignmentsError::Migration { from: 1, .. })));
    }
}
