//! The convert job: a video of the project with its faces swapped by one of its models, by the
//! engine's conversion on a blocking thread, written to the project's outputs folder.
//!
//! Progress is frames written of the source's frames, at the run's own pace (loading the
//! model and the face networks is left out). The engine writes under a temporary name and
//! renames only when the video is complete, so a stopped or failed run leaves no file that
//! looks finished; a retry starts over. The faces come from the alignments store of a face
//! set extracted from the same video, or are found while converting.

use super::{JobCtx, JobError, JobHandle};
use app::api::{ConvertParams, ConvertSettings};
use doppel_engine::analyze::FaceAnalyzer;
use doppel_engine::convert::{self, ConvertError, ConvertObserver, ConvertOptions, ConvertProgress, Swapper};
use doppel_engine::media::{EncodeSettings, VideoCodec};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub async fn run(ctx: &JobCtx) -> Result<(), JobError> {
    let params: ConvertParams = serde_json::from_value(ctx.job.params.clone()).map_err(|e| JobError::Failed(format!("bad job parameters: {e}")))?;
    let store = &ctx.store;
    let project = ctx.job.project_id;
    let conversion = store.conversion(project, params.conversion_id).await.map_err(|_| JobError::Failed("this conversion is gone (in the trash?)".into()))?;
    let source = store.media(project, params.media_id).await.map_err(|_| JobError::Failed("the video of this conversion is no longer in the project".into()))?;
    let input = super::extract::media_path(ctx, &source, &["video"])?;
    let model = store.model(project, params.model_id).await.map_err(|_| JobError::Failed("the model of this conversion is gone (in the trash?)".into()))?;
    let model_dir = store.dirs().model_dir(project, model.id);
    let alignments = match params.faces {
        Some(set) => Some(alignments_of(store.dirs(), project, set, &source.stored_name)),
        None => None,
    };
    let output = store.dirs().output_file(project, &conversion.stored_name)?;
    std::fs::create_dir_all(store.dirs().outputs_dir(project)).map_err(|e| JobError::Failed(format!("cannot make the outputs folder: {e}")))?;
    let options = engine_options(&params.settings, input.clone(), output.clone(), alignments).map_err(JobError::Failed)?;
    let faces = match params.faces {
        Some(_) => "faces from the face set's alignments".to_string(),
        None => "faces found while converting".to_string(),
    };
    ctx.log(&format!("converting {} with '{}' (iteration {}): {faces}", params.label, model.name, model.iteration)).await;
    ctx.progress(0, 0);

    let on = ctx.device()?;
    ctx.log(&format!("on {on}")).await;
    let engine = ctx.engine.clone();
    let observer = JobObserver { handle: ctx.handle() };
    let detect = params.faces.is_none();
    let work = tokio::task::spawn_blocking(move || -> Result<(convert::ConvertReport, String), String> {
        let device = on.to_burn().map_err(|e| format!("cannot use the {on} device: {e}"))?;
        let t = Instant::now();
        let swapper = Swapper::load(&model_dir, &device).map_err(|e| format!("cannot load the model: {e}"))?;
        let analyzer = if detect { Some(FaceAnalyzer::load(&engine.models, &device).map_err(|e| format!("cannot load the face networks: {e}"))?) } else { None };
        let loaded = format!("model loaded in {:.1} s", t.elapsed().as_secs_f64());
        let mut observer = observer;
        let report = convert::run(&swapper, &options, analyzer.as_ref(), &mut observer).map_err(|e| match e {
            ConvertError::Stopped => STOPPED.to_string(),
            e => e.to_string(),
        })?;
        Ok((report, loaded))
    })
    .await;
    // Errors name the video and the model, never the server's folders.
    let names = [(input, source.label.clone()), (output.clone(), conversion.label.clone())];
    let (report, loaded) = match work {
        Ok(Ok(done)) => done,
        Ok(Err(message)) if message == STOPPED => {
            ctx.set_message(String::from("stopped: no video was written; start it again to convert"));
            return Err(JobError::Cancelled);
        }
        Ok(Err(message)) => return Err(JobError::Failed(without_paths(message, &names))),
        Err(join) => return Err(JobError::Failed(format!("the conversion crashed: {join}"))),
    };
    ctx.log(&loaded).await;
    let size = std::fs::metadata(&report.output).map(|m| m.len()).map_err(|e| JobError::Failed(format!("the video is missing after writing: {e}")))?;
    let summary = without_paths(report.summary(), &names);
    store.record_conversion_output(conversion.id, size, &summary).await?;
    ctx.set_message(summary);
    Ok(())
}

const STOPPED: &str = "stopped";

/// The alignments store extraction wrote for `stored_name` into face set `set`.
pub fn alignments_of(dirs: &doppel_store::DataDir, project: i64, set: i64, stored_name: &str) -> PathBuf {
    let stem = Path::new(stored_name).file_stem().and_then(|s| s.to_str()).unwrap_or(stored_name);
    dirs.face_set_dir(project, set).join(format!("{stem}.alignments.json"))
}

/// The engine's options for the checked settings of the web app (the same names as the
/// engine's, read by its own serde).
pub fn engine_options(s: &ConvertSettings, input: PathBuf, output: PathBuf, alignments: Option<PathBuf>) -> Result<ConvertOptions, String> {
    let mut o = ConvertOptions::new(input, output, alignments);
    let named = |what: &str, value: serde_json::Value| format!("'{value}' is not a {what} this server knows");
    o.direction = serde_json::from_value(serde_json::json!(s.direction)).map_err(|_| named("direction", s.direction.clone().into()))?;
    o.mask = serde_json::from_value(serde_json::to_value(&s.mask).map_err(|e| e.to_string())?).map_err(|_| named("mask", s.mask.kind.clone().into()))?;
    o.color = serde_json::from_value(serde_json::json!({ "mode": s.color })).map_err(|_| named("colour mode", s.color.clone().into()))?;
    o.sharpen = convert::SharpenSettings {
        mode: serde_json::from_value(serde_json::json!(s.sharpen)).map_err(|_| named("sharpening", s.sharpen.clone().into()))?,
        amount: s.sharpen_amount,
        ..convert::SharpenSettings::default()
    };
    let codec: VideoCodec = serde_json::from_value(serde_json::json!(s.codec)).map_err(|_| named("codec", s.codec.clone().into()))?;
    o.encode = EncodeSettings { codec, crf: s.crf, ..EncodeSettings::default() };
    o.smooth = (s.smooth > 0.0).then(|| convert::SmoothSettings::with_cutoff(s.smooth));
    o.ranges = s.frames.clone();
    o.scale = s.scale;
    Ok(o)
}

/// `message` with each path replaced by what people call it.
fn without_paths(mut message: String, names: &[(PathBuf, String)]) -> String {
    for (path, name) in names {
        message = message.replace(&path.display().to_string(), name);
    }
    message
}

/// Frames as the job's progress; the cancel flag.
struct JobObserver {
    handle: JobHandle,
}

impl ConvertObserver for JobObserver {
    fn progress(&mut self, p: &ConvertProgress) {
        self.handle.progress_timed(p.frames_done, p.frames_total.unwrap_or(0), p.seconds);
    }

    fn should_stop(&self) -> bool {
        self.handle.cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::api::ConvertForm;
    use doppel_engine::convert::{ColorMode, Direction, MaskChoice, SharpenMode};

    fn settings(f: ConvertForm) -> ConvertSettings {
        ConvertForm { media: "1".into(), model: "2".into(), ..f }.parse().unwrap().settings
    }

    fn options(f: ConvertForm) -> ConvertOptions {
        engine_options(&settings(f), "in".into(), "out.mp4".into(), None).unwrap()
    }

    #[test]
    fn every_choice_the_app_offers_is_one_the_engine_takes() {
        for (list, field) in [(&app::api::MASKS[..], 0), (&app::api::COLORS[..], 1), (&app::api::SHARPENS[..], 2), (&app::api::DIRECTIONS[..], 3), (&app::api::CODECS[..], 4)] {
            for &v in list {
                let mut f = ConvertForm::default();
                *[&mut f.mask, &mut f.color, &mut f.sharpen, &mut f.direction, &mut f.codec][field] = v.to_string();
                engine_options(&settings(f), "in".into(), "out.mp4".into(), None).unwrap_or_else(|e| panic!("{v}: {e}"));
            }
        }
    }

    #[test]
    fn settings_become_the_engines() {
        let o = options(ConvertForm {
            mask: "components".into(),
            erode: "-3".into(),
            blur: "4".into(),
            color: "color-transfer".into(),
            sharpen: "unsharp".into(),
            sharpen_amount: "0.5".into(),
            direction: "b-to-a".into(),
            codec: "h265".into(),
            crf: "23".into(),
            frames: "5-9".into(),
            scale: "50".into(),
            smooth: "0".into(),
            ..Default::default()
        });
        assert_eq!((o.mask.kind, o.mask.erode, o.mask.blur), (MaskChoice::Components, -3.0, 4.0));
        assert_eq!((o.color, o.sharpen.mode, o.sharpen.amount, o.direction), (ColorMode::ColorTransfer, SharpenMode::Unsharp, 0.5, Direction::BToA));
        assert_eq!((o.encode.codec, o.encode.crf, o.ranges.clone(), o.smooth.is_none(), o.scale), (VideoCodec::H265, 23, vec![(5, 9)], true, 50));
        let defaults = options(ConvertForm::default());
        assert_eq!((defaults.mask.kind, defaults.color, defaults.direction), (MaskChoice::Extended, ColorMode::AvgColor, Direction::AToB));
        assert!(defaults.smooth.is_some(), "the web app smooths landmarks unless told not to");
    }

    #[test]
    fn the_alignments_are_those_extraction_wrote_for_the_stored_file() {
        let dirs = doppel_store::DataDir::create(tempfile::tempdir().unwrap().path()).unwrap();
        let path = alignments_of(&dirs, 1, 2, "0123456789abcdef0123456789abcdef");
        assert_eq!(path, dirs.face_set_dir(1, 2).join("0123456789abcdef0123456789abcdef.alignments.json"));
    }
}
