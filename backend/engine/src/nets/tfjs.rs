//! Reader of TF.js "weights manifest" files: a JSON list of groups, each naming binary shards
//! (concatenated in order) and the tensors stored in them, float32 or uint8-quantized with an
//! affine `value = q * scale + min`.
//!
//! Tensors keep TF.js' layouts (convolution filters HWIO, depthwise `[h, w, in, 1]`, dense
//! `[in, out]`); the network modules convert them to Burn's as they load them.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What the user should run when weights are missing or damaged.
pub const FETCH_HINT: &str = "run scripts/setup.sh (or scripts/fetch-models.sh) to fetch them";

#[derive(Debug, Error)]
pub enum WeightsError {
    #[error("network weights missing: {path} ({FETCH_HINT})")]
    Missing { path: PathBuf },
    #[error("network weights damaged: {path}: {reason} ({FETCH_HINT})")]
    Damaged { path: PathBuf, reason: String },
    #[error("weights do not fit the network: {0}")]
    Mismatch(String),
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    scale: Option<f32>,
    min: Option<f32>,
}

/// One tensor, dequantized to f32, in its TF.js layout (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct TfjsTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// All tensors of one manifest. Networks [`take`](TfjsWeights::take) what they use and
/// [`finish`](TfjsWeights::finish) checks that nothing is left over, so weights that do not
/// fit the architecture fail loudly.
#[derive(Debug)]
pub struct TfjsWeights {
    source: PathBuf,
    tensors: BTreeMap<String, TfjsTensor>,
}

impl TfjsWeights {
    /// Reads a manifest and its shards (paths relative to the manifest).
    pub fn load(manifest: &Path) -> Result<TfjsWeights, WeightsError> {
        let text = read(manifest)?;
        let groups: Vec<Group> = serde_json::from_slice(&text)
            .map_err(|e| WeightsError::Damaged { path: manifest.to_path_buf(), reason: e.to_string() })?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let mut tensors = BTreeMap::new();
        for group in groups {
            let mut bytes = Vec::new();
            for p in &group.paths {
                if p.contains("..") || Path::new(p).is_absolute() {
                    return Err(WeightsError::Damaged { path: manifest.to_path_buf(), reason: format!("shard path {p:?} leaves the folder") });
                }
                bytes.extend(read(&dir.join(p))?);
            }
            let shard_path = dir.join(group.paths.first().map(String::as_str).unwrap_or("?"));
            let mut at = 0usize;
            for entry in group.weights {
                let (tensor, used) = decode(&entry, &bytes[at.min(bytes.len())..])
                    .map_err(|reason| WeightsError::Damaged { path: shard_path.clone(), reason })?;
                at += used;
                tensors.insert(entry.name.clone(), tensor);
            }
            if at != bytes.len() {
                return Err(WeightsError::Damaged {
                    path: shard_path,
                    reason: format!("{} bytes of shard data, the manifest describes {at}", bytes.len()),
                });
            }
        }
        Ok(TfjsWeights { source: manifest.to_path_buf(), tensors })
    }

    /// Removes and returns the tensor `name`, which must have exactly `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<TfjsTensor, WeightsError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| WeightsError::Mismatch(format!("{} has no tensor {name}", self.source.display())))?;
        if t.shape != shape {
            return Err(WeightsError::Mismatch(format!("{name} has shape {:?}, the network needs {shape:?}", t.shape)));
        }
        Ok(t)
    }

    /// Whether a tensor is present (for networks with optional parts).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Names not taken yet.
    pub fn remaining(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Fails if any tensor was not used: the file has parts the network does not know.
    pub fn finish(&self) -> Result<(), WeightsError> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let left: Vec<&str> = self.tensors.keys().map(String::as_str).take(8).collect();
        Err(WeightsError::Mismatch(format!("{} tensors of {} are not used by the network: {}", self.tensors.len(), self.source.display(), left.join(", "))))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => WeightsError::Missing { path: path.to_path_buf() },
        _ => WeightsError::Io { path: path.to_path_buf(), source },
    })
}

/// Decodes one entry from the front of `bytes`; returns it and the bytes it used.
fn decode(entry: &Entry, bytes: &[u8]) -> Result<(TfjsTensor, usize), String> {
    let count: usize = entry.shape.iter().product();
    let need = |width: usize| {
        let n = count * width;
        if bytes.len() < n {
            Err(format!("{} needs {n} bytes, the shards end after {}", entry.name, bytes.len()))
        } else {
            Ok(n)
        }
    };
    let (data, used) = match (&entry.quantization, entry.dtype.as_str()) {
        (Some(q), "float32") if q.dtype == "uint8" => {
            let (scale, min) = q.scale.zip(q.min).ok_or_else(|| format!("{}: uint8 quantization without scale and min", entry.name))?;
            let n = need(1)?;
            (bytes[..n].iter().map(|&b| b as f32 * scale + min).collect(), n)
        }
        // Quantized graph constants (shapes, axes): TF.js rounds them back to integers.
        (Some(q), "int32") if q.dtype == "uint8" => {
            let (scale, min) = q.scale.zip(q.min).ok_or_else(|| format!("{}: uint8 quantization without scale and min", entry.name))?;
            let n = need(1)?;
            (bytes[..n].iter().map(|&b| (b as f32 * scale + min).round()).collect(), n)
        }
        (Some(q), _) => return Err(format!("{}: unsupported quantization {}", entry.name, q.dtype)),
        (None, "float32") => {
            let n = need(4)?;
            (bytes[..n].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(), n)
        }
        (None, "int32") => {
            let n = need(4)?;
            (bytes[..n].chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(), n)
        }
        (None, other) => return Err(format!("{}: unsupported dtype {other}", entry.name)),
    };
    Ok((TfjsTensor { name: entry.name.clone(), shape: entry.shape.clone(), data }, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_model(dir: &Path, manifest: &str, shard: &[u8]) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("m.bin"), shard).unwrap();
        let path = dir.join("m-weights_manifest.json");
        std::fs::write(&path, manifest).unwrap();
        path
    }

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("doppel-tfjs-{name}-{}", std::process::id()))
    }

    #[test]
    fn dequantizes_uint8_and_reads_float32_in_order() {
        let dir = tmp("ok");
        let mut shard = vec![0u8, 1, 255, 10];
        shard.extend(1.5f32.to_le_bytes());
        shard.extend((-2.0f32).to_le_bytes());
        let manifest = r#"[{"paths":["m.bin"],"weights":[
            {"name":"a","shape":[2,2],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}},
            {"name":"b","shape":[2],"dtype":"float32"}]}]"#;
        let path = write_model(&dir, manifest, &shard);
        let mut w = TfjsWeights::load(&path).unwrap();
        assert_eq!(w.take("a", &[2, 2]).unwrap().data, vec![-1.0, -0.5, 126.5, 4.0]);
        assert!(matches!(w.take("b", &[3]), Err(WeightsError::Mismatch(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn leftovers_and_short_shards_are_errors() {
        let dir = tmp("bad");
        let manifest = r#"[{"paths":["m.bin"],"weights":[{"name":"a","shape":[4],"dtype":"float32"}]}]"#;
        let path = write_model(&dir, manifest, &[0u8; 8]);
        assert!(matches!(TfjsWeights::load(&path), Err(WeightsError::Damaged { .. })));
        let path = write_model(&dir, manifest, &[0u8; 16]);
        let w = TfjsWeights::load(&path).unwrap();
        let err = w.finish().unwrap_err().to_string();
        assert!(err.contains("not used"), "{err}");
        let path = write_model(&dir, manifest, &[0u8; 20]);
        assert!(matches!(TfjsWeights::load(&path), Err(WeightsError::Damaged { .. })), "extra bytes mean a wrong manifest");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_weights_name_the_fix() {
        let err = TfjsWeights::load(Path::new("/nonexistent/x-weights_manifest.json")).unwrap_err();
        assert!(matches!(err, WeightsError::Missing { .. }));
        assert!(err.to_string().contains("scripts/setup.sh"), "{err}");
    }

    #[test]
    fn the_fetched_face_api_manifests_load() {
        let models = super::super::test_models();
        for (model, tensors) in [("face_landmark_68_model", 49), ("face_recognition_model", 0), ("ssd_mobilenetv1_model", 0)] {
            let w = TfjsWeights::load(&models.face_api_manifest(model)).unwrap_or_else(|e| panic!("{e}"));
            let n = w.remaining().count();
            assert!(n > 0, "{model} has tensors");
            if tensors > 0 {
                assert_eq!(n, tensors, "{model}");
            }
        }
    }
}
