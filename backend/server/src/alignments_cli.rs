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
        AlignmentsCommand::FromFaces { faces, output } => {
            let store = jobs::from_faces(&faces)?;
            store.save(&output)?;
            eprintln!("{} faces in {} frames written to {}", store.face_count(), store.frames.len(), output.display());
        }
    }
    Ok(())
}
