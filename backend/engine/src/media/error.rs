//! Errors of media probing and decoding, grouped by cause.
//!
//! Every message is lowercase without a trailing full stop and is written to be
//! shown to the user right after the file name, e.g.
//! `clip.mp4: the file is truncated or damaged: only 83 of 169 frames could be read`.

use std::fmt;

/// Why a file cannot be used as a video or image.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// FFmpeg recognises no video or image format in the file.
    #[error("not a video or image file: {reason}")]
    NotMedia {
        /// FFmpeg's reason, lowercased (e.g. "invalid data found when processing input").
        reason: String,
    },
    /// The container opened but holds no video or image stream (audio only, subtitles, ...).
    #[error("the file has no video or image stream{}", audio_note(*.has_audio))]
    NoVideoStream {
        /// Whether the file has an audio stream (an audio-only file).
        has_audio: bool,
    },
    /// The format is recognised but the file ends early or is corrupt.
    #[error("the file is truncated or damaged: {0}")]
    Truncated(Damage),
    /// The video stream exists but cannot be decoded.
    #[error("the video cannot be decoded: {reason}")]
    Undecodable {
        /// What failed, lowercased (e.g. "no decoder for the hevc codec").
        reason: String,
    },
    /// A format that names other files (a playlist, a concat list) or that Doppel does not
    /// read; refused before FFmpeg follows anything in it.
    #[error("{} is not accepted: Doppel reads single video and image files, never playlists or lists of other files", refused_label(.format))]
    Refused {
        /// FFmpeg's demuxer name, e.g. "hls", "concat".
        format: String,
    },
    /// Over one of the media limits (size, frames, duration): the message says which.
    #[error("{0}")]
    OverLimit(String),
    /// The file cannot be read at all (missing, a directory, no permission, ...).
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
}

fn audio_note(has_audio: bool) -> &'static str {
    if has_audio {
        " (only audio)"
    } else {
        ""
    }
}

/// "an HLS playlist (hls)" for a refused demuxer.
fn refused_label(demuxer: &str) -> String {
    let kind = match demuxer {
        "hls" => "an HLS playlist",
        "dash" | "webm_dash_manifest" => "a DASH manifest",
        "concat" => "a concat list",
        _ => "a file of this format",
    };
    format!("{kind} ({demuxer})")
}

/// A readable name for an FFmpeg demuxer list: "mov,mp4,m4a,3gp,3g2,mj2" -> "MP4/MOV".
fn format_label(demuxer: &str) -> String {
    let names: Vec<&str> = demuxer.split(',').collect();
    if names.contains(&"mp4") && names.contains(&"mov") {
        "MP4/MOV".into()
    } else {
        names.first().map(|n| n.trim_end_matches("_pipe").to_uppercase()).unwrap_or_default()
    }
}

/// How a recognised file is damaged; the detail of [`MediaError::Truncated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The container's header (e.g. an MP4 `moov` box) cannot be read.
    Header {
        /// The container FFmpeg recognised from the first bytes, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
        format: String,
        /// FFmpeg's reason, lowercased (e.g. "moov atom not found").
        reason: String,
    },
    /// The header declares more video frames than the file holds.
    MissingFrames {
        /// Video packets actually demuxed.
        read: u64,
        /// Video frames declared by the header.
        declared: u64,
    },
    /// Reading stopped with an error before the end of the file.
    ReadError {
        /// Video packets demuxed before the error.
        read: u64,
        /// FFmpeg's reason, lowercased.
        reason: String,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Header { format, reason } => {
                write!(f, "its {} header cannot be read ({reason})", format_label(format))
            }
            Damage::MissingFrames { read, declared } => {
                write!(f, "only {read} of {declared} frames could be read")
            }
            Damage::ReadError { read, reason } => {
                write!(f, "reading stopped after {read} frames ({reason})")
            }
        }
    }
}

/// FFmpeg's error text with a lowercase first letter, e.g. "invalid data found when processing input".
pub(crate) fn ffmpeg_reason(err: &ffmpeg_next::Error) -> String {
    lowercase_first(&err.to_string())
}

/// `s` with its first character lowercased and any trailing full stop removed.
pub(crate) fn lowercase_first(s: &str) -> String {
    let s = s.trim().trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_full_stop() {
        let errors = [
            MediaError::NotMedia {
                reason: lowercase_first("Invalid data found when processing input."),
            },
            MediaError::NoVideoStream { has_audio: true },
            MediaError::Truncated(Damage::MissingFrames {
                read: 83,
                declared: 169,
            }),
            MediaError::Truncated(Damage::Header {
                format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
                reason: "moov atom not found".into(),
            }),
            MediaError::Undecodable {
                reason: "no decoder for the hevc codec".into(),
            },
        ];
        for e in &errors {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
        }
        assert_eq!(
            errors[0].to_string(),
            "not a video or image file: invalid data found when processing input"
        );
        assert_eq!(
            errors[2].to_string(),
            "the file is truncated or damaged: only 83 of 169 frames could be read"
        );
        assert_eq!(
            errors[3].to_string(),
            "the file is truncated or damaged: its MP4/MOV header cannot be read (moov atom not found)"
        );
        assert_eq!(
            errors[1].to_string(),
            "the file has no video or image stream (only audio)"
        );
    }
}
