//! `doppel sort`: a face set in the order of one measure, optionally in groups; the result
//! printed, logged as JSON, written into the file names or into group folders.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use doppel_engine::sort::{self, SortKey};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("action").args(["move_files", "rename"])))]
pub struct SortArgs {
    /// The faces folder (made by doppel extract).
    #[arg(short, long)]
    pub input: PathBuf,
    /// What to sort by: face (identity: nearest the set's main person first), hist (colour
    /// histogram), blur (sharpest first), yaw, pitch, size (largest first), color (most
    /// colourful first).
    #[arg(long, value_enum, default_value_t = KeyArg::Face)]
    pub by: KeyArg,
    /// Group by this measure too: face makes identity clusters, the others equal ranges.
    #[arg(long, value_enum)]
    pub group_by: Option<KeyArg>,
    /// Groups for --group-by (not for face, whose clusters are as many as the people).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub bins: u32,
    /// Move the faces into one folder per group (`<input>/group_001`, ...).
    #[arg(long = "move")]
    pub move_files: bool,
    /// Prefix the file names with their place in the order (`00001_...`).
    #[arg(long)]
    pub rename: bool,
    /// Write the order (and groups) as JSON to this file.
    #[arg(long)]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyArg {
    Face,
    Hist,
    Blur,
    Yaw,
    Pitch,
    Size,
    Color,
}

impl KeyArg {
    fn key(self) -> SortKey {
        match self {
            KeyArg::Face => SortKey::Face,
            KeyArg::Hist => SortKey::Hist,
            KeyArg::Blur => SortKey::Blur,
            KeyArg::Yaw => SortKey::Yaw,
            KeyArg::Pitch => SortKey::Pitch,
            KeyArg::Size => SortKey::Size,
            KeyArg::Color => SortKey::Color,
        }
    }
}

#[derive(serde::Serialize)]
struct Entry {
    file: String,
    group: usize,
    value: f32,
}

pub fn run(args: SortArgs) -> anyhow::Result<()> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("reading the faces of {}", args.input.display()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let records = sort::load_dir(&args.input)?;
    spinner.finish_and_clear();
    let key = args.by.key();
    let values = sort::measure(&records, key)?;
    let order = sort::sort(&records, key)?;
    let groups: Vec<Vec<usize>> = match args.group_by.map(KeyArg::key) {
        Some(g) => {
            let rank: Vec<usize> = {
                let mut r = vec![0; order.len()];
                order.iter().enumerate().for_each(|(place, &i)| r[i] = place);
                r
            };
            // Each group in the --by order.
            sort::group(&records, g, args.bins as usize)?.into_iter().map(|mut members| {
                members.sort_by_key(|&i| rank[i]);
                members
            }).collect()
        }
        None => vec![order.clone()],
    };
    if args.move_files && args.group_by.is_none() {
        anyhow::bail!("--move puts groups into folders: give --group-by too (or use --rename)");
    }
    let name = |i: usize| records[i].path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let entries: Vec<Entry> = groups.iter().enumerate().flat_map(|(g, members)| members.iter().map(move |&i| (g, i))).map(|(g, i)| Entry { file: name(i), group: g + 1, value: values[i] }).collect();
    if let Some(log) = &args.log {
        doppel_store::write_atomic(log, &serde_json::to_vec_pretty(&entries)?)?;
    }
    if args.rename {
        for (place, e) in entries.iter().enumerate() {
            let from = args.input.join(&e.file);
            let to = args.input.join(format!("{:05}_{}", place + 1, strip_place(&e.file)));
            std::fs::rename(&from, &to).map_err(|err| anyhow::anyhow!("cannot rename {}: {err}", from.display()))?;
        }
    } else if args.move_files {
        for e in &entries {
            let dir = args.input.join(format!("group_{:03}", e.group));
            std::fs::create_dir_all(&dir)?;
            let from = args.input.join(&e.file);
            std::fs::rename(&from, dir.join(&e.file)).map_err(|err| anyhow::anyhow!("cannot move {}: {err}", from.display()))?;
        }
    }
    if !args.rename && !args.move_files && args.log.is_none() {
        for e in &entries {
            println!("{}\t{}\t{:.4}", e.group, e.file, e.value);
        }
    }
    let what = if args.group_by.is_some() { format!(" in {} groups", groups.len()) } else { String::new() };
    eprintln!("{} faces sorted by {:?}{what}", entries.len(), args.by);
    Ok(())
}

/// A file name without the `00001_` a previous --rename put in front.
fn strip_place(name: &str) -> &str {
    match name.split_once('_') {
        Some((digits, rest)) if digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renaming_twice_does_not_stack_prefixes() {
        assert_eq!(super::strip_place("00012_clip_000004_0.png"), "clip_000004_0.png");
        assert_eq!(super::strip_place("clip_000004_0.png"), "clip_000004_0.png");
        assert_eq!(super::strip_place("12_x.png"), "12_x.png");
    }
}
