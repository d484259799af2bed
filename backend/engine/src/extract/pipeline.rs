//! The three stages of [`run`] and the channels between them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use super::input::{file_name, source_hash, Input, InputError};

use super::write::FaceWriter;
use super::{ExtractError, ExtractOptions, Observer, Report};
use crate::analyze::{AnalyzeOptions, FaceAnalyzer, FaceRecord};
use crate::faces::{Alignments, ExtractorSettings, SourceRef};
use crate::identity::Verdict;
use crate::media::Frame;

/// Frames waiting between two stages, each way: enough to smooth out bursts, few enough
/// to bound memory (a 4K frame is 25 MB).
const QUEUE: usize = 8;

pub(super) enum Decoded {
    Start { width: u32, height: u32, hint: Option<u64> },
    Frame { frame: Frame, name: Option<String> },
    End { corrupt: u64, damage: Option<String>, seconds: f64 },
    Failed(InputError),
}

pub(super) enum Analyzed {
    Frame { frame: Frame, name: Option<String>, faces: Vec<FaceRecord>, doubtful: Vec<FaceRecord>, filtered: u64 },
    End { corrupt: u64, damage: Option<String> },
}

/// Extracts the faces of `options.input` with `analyzer`, reporting to `observer`.
pub fn run(analyzer: &FaceAnalyzer, options: &ExtractOptions, observer: &mut dyn Observer) -> Result<Report, ExtractError> {
    if options.size < 64 || options.size > 2048 {
        return Err(ExtractError::Options(format!("the face size must be between 64 and 2048 pixels, not {}", options.size)));
    }
    if let Some((a, b)) = options.frames {
        if a > b {
            return Err(ExtractError::Options(format!("the frame range {a}-{b} is empty")));
        }
    }
    std::fs::create_dir_all(&options.output).map_err(|source| ExtractError::Output { path: options.output.clone(), source })?;
    let stem = options.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let store_path = options.alignments.clone().unwrap_or_else(|| options.output.join(format!("{stem}.alignments.json")));
    let sha256 = source_hash(&options.input)?;
    let existing = Alignments::load_if_exists(&store_path).map_err(|source| ExtractError::Alignments { path: store_path.clone(), source })?;
    if let Some(store) = &existing {
        if store.source.sha256 != sha256 {
            return Err(ExtractError::OtherSource { path: store_path, theirs: store.source.file.clone(), ours: file_name(&options.input) });
        }
    }
    let done: BTreeSet<u64> = existing.as_ref().map(|s| s.frames.keys().copied().collect()).unwrap_or_default();
    let stop = AtomicBool::new(false);
    let started = Instant::now();

    std::thread::scope(|scope| {
        let (frames_tx, frames_rx) = sync_channel::<Decoded>(QUEUE);
        let (faces_tx, faces_rx) = sync_channel::<Analyzed>(QUEUE);
        let (stop, done, options) = (&stop, &done, &*options);
        scope.spawn(move || decode(options, done, stop, frames_tx));

        // The decoder reports the frame size first (or why the source cannot be read).
        let (width, height, hint) = match frames_rx.recv() {
            Ok(Decoded::Start { width, height, hint }) => (width, height, hint),
            Ok(Decoded::Failed(err)) => return Err(ExtractError::Input(err)),
            _ => unreachable!("the decoder starts with Start or Failed"),
        };
        let source = SourceRef { file: file_name(&options.input), sha256: sha256.clone(), width, height };
        let store = existing.unwrap_or_else(|| Alignments::new(source.clone(), settings(options)));
        let total = hint.map(|n| (0..n).filter(|&i| options.wants(i) && !done.contains(&i)).count() as u64);
        let resumed = hint.map_or(done.len() as u64, |n| done.iter().filter(|&&i| i < n && options.wants(i)).count() as u64);
        let writer = FaceWriter::new(options, &stem, source, store, store_path.clone(), total, resumed, started);
        let write = scope.spawn(move || writer.run(faces_rx, observer, stop));

        let analyzed = analyze(analyzer, options, &frames_rx, &faces_tx, stop);
        drop(faces_tx);
        let written = write.join().expect("the writer thread does not panic");
        // Drain so the decoder is not left blocked on a full queue.
        stop.store(true, Ordering::Relaxed);
        frames_rx.iter().for_each(drop);
        let (analyze_seconds, decode_seconds) = analyzed?;
        let mut report = written?;
        report.stage_seconds[0] = decode_seconds;
        report.stage_seconds[1] = analyze_seconds;
        Ok(report)
    })
}

/// Stage 1: decode wanted frames that are not already done.
fn decode(options: &ExtractOptions, done: &BTreeSet<u64>, stop: &AtomicBool, tx: SyncSender<Decoded>) {
    let mut input = match Input::open(&options.input) {
        Ok(input) => input,
        Err(err) => {
            let _ = tx.send(Decoded::Failed(err));
            return;
        }
    };
    let (width, height) = input.displayed_size();
    if tx.send(Decoded::Start { width, height, hint: input.frame_count_hint() }).is_err() {
        return;
    }
    let mut want = |i: u64| options.wants(i) && !done.contains(&i);
    let mut seconds = 0.0;
    let mut damage = None;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let next = input.next_frame(&mut want);
        seconds += t.elapsed().as_secs_f64();
        match next {
            Ok(Some(frame)) => {
                let name = input.frame_name(frame.index);
                if tx.send(Decoded::Frame { frame, name }).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(err) => {
                damage = Some(err.to_string());
                break;
            }
        }
    }
    let damage = damage.or_else(|| input.damage());
    let _ = tx.send(Decoded::End { corrupt: input.skipped(), damage, seconds });
}

/// Stage 2: batches of frames through the networks, then the identity filter. Returns the
/// seconds spent here and in the decoder.
fn analyze(analyzer: &FaceAnalyzer, options: &ExtractOptions, rx: &Receiver<Decoded>, tx: &SyncSender<Analyzed>, stop: &AtomicBool) -> Result<(f64, f64), ExtractError> {
    let analyze_options = AnalyzeOptions { detect: options.detect, min_size: options.min_size, re_feed: options.re_feed, max_spread: options.max_spread };
    let (mut seconds, mut decode_seconds) = (0.0, 0.0);
    let mut batch: Vec<(Frame, Option<String>)> = Vec::with_capacity(options.batch);
    let mut end = None;
    while end.is_none() && !stop.load(Ordering::Relaxed) {
        batch.clear();
        while batch.len() < options.batch.max(1) {
            match rx.recv() {
                Ok(Decoded::Frame { frame, name }) => batch.push((frame, name)),
                Ok(Decoded::End { corrupt, damage, seconds }) => {
                    end = Some(Analyzed::End { corrupt, damage });
                    decode_seconds = seconds;
                    break;
                }
                Ok(Decoded::Start { .. }) | Ok(Decoded::Failed(_)) | Err(_) => {
                    end = Some(Analyzed::End { corrupt: 0, damage: None });
                    break;
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        let t = Instant::now();
        let images: Vec<&image::RgbImage> = batch.iter().map(|(f, _)| &f.image).collect();
        let found = analyzer.analyze_batch(&images, &analyze_options);
        seconds += t.elapsed().as_secs_f64();
        let found = match found {
            Ok(found) => found,
            Err(err) => {
                stop.store(true, Ordering::Relaxed);
                return Err(err.into());
            }
        };
        for ((frame, name), faces) in batch.drain(..).zip(found) {
            let before = faces.len() as u64;
            let faces: Vec<FaceRecord> = faces.into_iter().filter(|f| options.filter.judge(&f.descriptor) == Verdict::Keep).collect();
            let filtered = before - faces.len() as u64;
            let (doubtful, faces): (Vec<FaceRecord>, Vec<FaceRecord>) = faces.into_iter().partition(|f| f.doubtful);
            if tx.send(Analyzed::Frame { frame, name, faces, doubtful, filtered }).is_err() {
                return Ok((seconds, decode_seconds));
            }
        }
    }
    if let Some(end) = end {
        let _ = tx.send(end);
    }
    Ok((seconds, decode_seconds))
}

fn settings(options: &ExtractOptions) -> ExtractorSettings {
    ExtractorSettings {
        software: format!("doppel {}", env!("CARGO_PKG_VERSION")),
        detector: "ssd_mobilenetv1 (face-api 1.7.15)".into(),
        aligner: "face_landmark_68 (face-api 1.7.15)".into(),
        recognition: "face_recognition (face-api 1.7.15)".into(),
        min_confidence: options.detect.min_confidence,
        min_size: options.min_size,
        re_feed: options.re_feed,
        every_n: options.every_n,
    }
}
