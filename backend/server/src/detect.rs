//! `doppel detect --json IMAGE..`: faces, landmarks and identity descriptors of still images,
//! as JSON on stdout. The stable interface for evaluation.

use doppel_engine::analyze::{FaceAnalyzer, FaceRecord};
use doppel_engine::device::ComputeDevice;
use doppel_engine::nets::ssd::DetectOptions;
use doppel_engine::nets::ModelsDir;
use serde::Serialize;
use std::path::PathBuf;

/// What `detect` needs, validated.
#[derive(Debug, Clone)]
pub struct DetectConfig {
    pub images: Vec<PathBuf>,
    pub models: ModelsDir,
    pub device: ComputeDevice,
    pub options: DetectOptions,
}

#[derive(Serialize)]
struct ImageResult {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    faces: Option<Vec<FaceJson>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct FaceJson {
    /// `[x, y, width, height]` in the image's pixels.
    #[serde(rename = "box")]
    rect: [f32; 4],
    score: f32,
    /// 68 `[x, y]` points (iBUG order) in the image's pixels.
    landmarks: Vec<[f32; 2]>,
    /// 128 numbers; Euclidean distance below ~0.6 means the same person.
    descriptor: Vec<f32>,
}

impl From<FaceRecord> for FaceJson {
    fn from(f: FaceRecord) -> Self {
        let r = f.detection.rect;
        FaceJson {
            rect: [r.x, r.y, r.width, r.height],
            score: f.detection.score,
            landmarks: f.landmarks.points().iter().map(|p| [p.x, p.y]).collect(),
            descriptor: f.descriptor.0.to_vec(),
        }
    }
}

/// Runs the analysis; prints the JSON array. Images that cannot be read get an `error` entry
/// and make the command fail after printing everything else.
pub fn run(config: DetectConfig) -> anyhow::Result<()> {
    let device = config.device.to_burn()?;
    let analyzer = FaceAnalyzer::load(&config.models, &device)?;
    let bar = indicatif::ProgressBar::new(config.images.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} images, {per_sec}, ETA {eta} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut results = Vec::with_capacity(config.images.len());
    let mut failed = 0;
    for path in &config.images {
        bar.set_message(path.display().to_string());
        let outcome = doppel_engine::image_io::decode_file(path)
            .map_err(|e| format!("cannot read the image: {e}"))
            .and_then(|img| analyzer.analyze(&img.to_rgb8(), &config.options).map_err(|e| e.to_string()));
        let image = path.display().to_string();
        results.push(match outcome {
            Ok(faces) => ImageResult { image, faces: Some(faces.into_iter().map(FaceJson::from).collect()), error: None },
            Err(e) => {
                failed += 1;
                ImageResult { image, faces: None, error: Some(e) }
            }
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!("{}", serde_json::to_string(&results)?);
    if failed > 0 {
        anyhow::bail!("{failed} of {} images could not be analysed (see their \"error\")", config.images.len());
    }
    Ok(())
}
