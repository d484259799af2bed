//! `doppel alignments <job>`: the alignments store's jobs (see `doppel_engine::faces::jobs`).
//! Stores are written atomically with the previous version kept as `<name>.bak`.

use std::path::PathBuf;

use clap::Subcommand;
use doppel_engine::faces::{jobs, Alignments};

#[derive(Debug, Subcommand)]
pub enum AlignmentsCommand {
    /// Remove from the store the faces whose PNG is gone from a cleaned faces folder.
    RemoveFaces {
        #[arg(short, long)]
        alignments: PathBuf,
        #[arg(short, long)]
        faces: PathBuf,
    },
    /// Frames of the source that the store has no entry for.
    MissingFrames {
        #[arg(short, long)]
        alignments: PathBuf,
        /// The source video (for its frame count).
        #[arg(short, long)]
        source: PathBuf,
    },
    /// Frames looked at where no face was kept.
    NoFaces {
        #[arg(short, long)]
        alignments: PathBuf,
    },
    /// Frames with more than one face.
    MultiFaces {
        #[arg(short, long)]
        alignments: PathBuf,
    },
    /// The store as plain JSON: frame -> faces with box, score and 68 landmarks.
    Export {
        #[arg(short, long)]
        alignments: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Merge a second store of the same source into the first (faces not already there).
    Merge {
        #[arg(short, long)]
        alignments: PathBuf,
        /// The store whose faces are added.
        #[arg(short, long)]
        other: PathBuf,
        /// Where the merged store goes (the first store is left as it is).
        #[arg(short = 'O', long)]
        output: PathBuf,
    },
    /// Smooth the landmarks over time (one-euro filter), in place.
    Smooth {
        #[arg(short, long)]
        alignments: PathBuf,
        /// Lowest cut-off frequency in Hz: lower is steadier.
        #[arg(long, default_value_t = 1.5)]
        cutoff: f64,
    },
    /// The source's frames that have faces, with their boxes and landmarks drawn, as PNGs.
    Draw {
        #[arg(short, long)]
        alignments: PathBuf,
        #[arg(short, long)]
        source: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Import a faceswap alignments file (.fsa, version 2.x) of a video or image folder: a
    /// Doppel store with its faces (boxes, landmarks, a faceswap mask as the painted mask).
    ImportFsa {
        /// The faceswap alignments file.
        #[arg(long)]
        fsa: PathBuf,
        /// The video or image folder it describes.
        #[arg(short, long)]
        source: PathBuf,
        /// Where the Doppel store goes.
        #[arg(short, long)]
        output: PathBuf,
        /// Also cut the face PNGs into this folder (a face set, ready to train on).
        #[arg(long)]
        faces: Option<PathBuf>,
        /// Face crop size in pixels.
        #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(64..=2048))]
        size: u32,
    },
    /// Rebuild a store from the face PNGs of a folder.
    FromFaces {
        #[arg(short, long)]
        faces: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
}

pub fn run(command: AlignmentsCommand) -> anyhow::Result<()> {
    match command {
        AlignmentsCommand::RemoveFaces { alignments, faces } => {
            let store = Alignments::load(&alignments)?;
            let (cleaned, report) = jobs::remove_faces(&store, &faces)?;
            cleaned.save(&alignments)?;
            println!("{} faces removed, {} kept (the previous store is {}.bak)", report.removed, report.kept, alignments.display());
        }
        AlignmentsCommand::MissingFrames { alignments, source } => {
            let store = Alignments::load(&alignments)?;
            let facts = doppel_engine::media::probe(&source)?;
            let missing = jobs::missing_frames(&store, facts.frame_count);
            missing.iter().for_each(|i| println!("{i}"));
            eprintln!("{} of {} frames have no entry", missing.len(), facts.frame_count);
        }
        AlignmentsCommand::NoFaces { alignments } => {
            let frames = jobs::no_faces(&Alignments::load(&alignments)?);
            frames.iter().for_each(|i| println!("{i}"));
            eprintln!("{} frames without a face", frames.len());
        }
        AlignmentsCommand::MultiFaces { alignments } => {
            let frames = jobs::multi_faces(&Alignments::load(&alignments)?);
            frames.iter().for_each(|(i, n)| println!("{i}\t{n}"));
            eprintln!("{} frames with several faces", frames.len());
        }
        AlignmentsCommand::Export { alignments, output } => {
            let exported = jobs::export(&Alignments::load(&alignments)?);
            doppel_store::write_atomic(&output, &serde_json::to_vec_pretty(&exported)?)?;
            eprintln!("{} frames written to {}", exported.len(), output.display());
        }
        AlignmentsCommand::Merge { alignments, other, output } => {
            let (merged, added) = jobs::merge(&Alignments::load(&alignments)?, &Alignments::load(&other)?)?;
            merged.save(&output)?;
            println!("{added} faces added; {} faces in {} frames written to {}", merged.face_count(), merged.frames.len(), output.display());
        }
        AlignmentsCommand::Smooth { alignments, cutoff } => {
            anyhow::ensure!(cutoff > 0.0 && cutoff.is_finite(), "--cutoff must be above 0");
            let store = Alignments::load(&alignments)?;
            jobs::smooth(&store, doppel_engine::convert::SmoothSettings::with_cutoff(cutoff)).save(&alignments)?;
            println!("{} faces smoothed (the previous store is {}.bak)", store.face_count(), alignments.display());
        }
        AlignmentsCommand::Draw { alignments, source, output } => {
            let store = Alignments::load(&alignments)?;
            std::fs::create_dir_all(&output)?;
            let mut drawn = 0;
            for frame in doppel_engine::media::FrameReader::open(&source)? {
                let mut frame = frame?;
                let Some(entry) = store.frames.get(&frame.index).filter(|e| !e.faces.is_empty()) else { continue };
                jobs::draw(&mut frame.image, entry);
                frame.image.save(output.join(format!("frame_{:06}.png", frame.index)))?;
                drawn += 1;
            }
            println!("{drawn} frames drawn into {}", output.display());
        }
        AlignmentsCommand::ImportFsa { fsa, source, output, faces, size } => {
            let software = format!("doppel {}", env!("CARGO_PKG_VERSION"));
            let mut imported = doppel_engine::faces::fsa::import_fsa(&fsa, &source, size, 256, &software)?;
            for line in &imported.skipped {
                eprintln!("skipped {line}");
            }
            if let Some(dir) = &faces {
                let n = doppel_engine::faces::fsa::write_faces(&mut imported.store, &source, dir)?;
                eprintln!("{n} face PNGs written to {}", dir.display());
            }
            imported.store.save(&output)?;
            println!(
                "faceswap alignments {}: {} faces in {} frames ({} faceswap masks kept as painted) written to {}",
                imported.version,
                imported.faces,
                imported.store.frames.len(),
                imported.masks,
                output.display()
            );
        }
        AlignmentsCommand::FromFaces { faces, output } => {
            let store = jobs::from_faces(&faces)?;
            store.save(&output)?;
            eprintln!("{} faces in {} frames written to {}", store.face_count(), store.frames.len(), output.display());
        }
    }
    Ok(())
}
