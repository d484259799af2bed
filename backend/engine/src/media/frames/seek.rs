//! Random access to frames: [`SeekIndex`] (every video packet's timestamp and which are
//! keyframes, read by demuxing alone, no decoding) and [`FrameReader::frame_at`], which seeks
//! to the keyframe before a frame and decodes from there. A request for frame 10,000 then
//! costs one group of pictures, not 10,000 decoded frames.
//!
//! A frame's index is its place in presentation order, as [`FrameReader`] counts when it
//! reads from the start: the rank of its timestamp among all the video's packets.

use super::{FrameReader, State};
use crate::media::error::MediaError;
use crate::media::source;
use crate::media::Frame;
use ffmpeg_next::ffi;
use std::path::Path;

/// Timestamps of a video's frames in presentation order, and its keyframes'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekIndex {
    /// Every video packet's timestamp, ascending: frame `i` has `pts[i]`.
    pts: Vec<i64>,
    /// Keyframe timestamps, ascending.
    keys: Vec<i64>,
}

impl SeekIndex {
    /// Demuxes `path` once. `None` when its video packets lack timestamps or repeat them (then
    /// only reading from the start finds frame `i`).
    pub fn build(path: &Path) -> Result<Option<SeekIndex>, MediaError> {
        let mut input = source::open(path)?;
        let stream = source::video_stream(&input).ok_or_else(|| source::no_video_stream(&input))?;
        let (mut pts, mut keys) = (Vec::new(), Vec::new());
        while let Some(packet) = source::next_packet(&mut input).map_err(|e| MediaError::Undecodable { reason: e.to_string() })? {
            if packet.stream() != stream {
                continue;
            }
            let Some(t) = packet.pts() else { return Ok(None) };
            pts.push(t);
            if packet.is_key() {
                keys.push(t);
            }
        }
        pts.sort_unstable();
        keys.sort_unstable();
        if keys.is_empty() || pts.windows(2).any(|w| w[0] == w[1]) {
            return Ok(None);
        }
        Ok(Some(SeekIndex { pts, keys }))
    }

    /// Frames in the video.
    pub fn len(&self) -> u64 {
        self.pts.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    /// The index of the frame with timestamp `pts`, if there is one.
    fn index_of(&self, pts: i64) -> Option<u64> {
        self.pts.binary_search(&pts).ok().map(|i| i as u64)
    }
}

/// What [`FrameReader::frame_at`] found.
#[derive(Debug)]
pub enum Seeked {
    Found(Frame),
    /// The video has fewer frames.
    PastTheEnd,
    /// The frame did not come out after the seek (damage, or a stream whose timestamps lie):
    /// read from the start instead.
    NotFound,
}

impl FrameReader {
    /// Frame `target` (presentation order), by seeking to the keyframe at or before it and
    /// decoding from there. The reader then goes on from the frame after it.
    pub fn frame_at(&mut self, index: &SeekIndex, target: u64) -> Result<Seeked, MediaError> {
        let Some(&want) = index.pts.get(target as usize) else { return Ok(Seeked::PastTheEnd) };
        let key = match index.keys.partition_point(|&k| k <= want) {
            0 => index.keys[0],
            n => index.keys[n - 1],
        };
        let stream = i32::try_from(self.stream).map_err(|_| MediaError::Undecodable { reason: "stream index out of range".into() })?;
        // SAFETY: `input` owns a valid, open AVFormatContext for as long as `self` lives, and
        // av_seek_frame only repositions it; the decoder is flushed below, before any packet
        // from the new position reaches it.
        let sought = unsafe { ffi::av_seek_frame(self.input.as_mut_ptr(), stream, key, ffi::AVSEEK_FLAG_BACKWARD) };
        if sought < 0 {
            return Ok(Seeked::NotFound);
        }
        self.decoder.flush();
        self.state = State::Reading;
        self.last_time = None;
        let mut errors = 0u32;
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) if self.decoded.width() > 0 && self.decoded.height() > 0 => {
                    let Some(pts) = self.decoded.timestamp() else { continue };
                    if pts < want {
                        continue;
                    }
                    if pts > want {
                        return Ok(Seeked::NotFound);
                    }
                    let time = self.frame_time();
                    let image = self.convert()?;
                    self.next_index = index.index_of(pts).unwrap_or(target) + 1;
                    return Ok(Seeked::Found(Frame { index: target, time, image }));
                }
                Ok(()) => {}
                Err(ffmpeg_next::Error::Other { errno: ffmpeg_next::error::EAGAIN }) if self.state == State::Reading => self.feed(),
                Err(ffmpeg_next::Error::Other { .. }) | Err(ffmpeg_next::Error::Eof) if self.state != State::Reading => {
                    self.state = State::Done;
                    return Ok(Seeked::NotFound);
                }
                Err(ffmpeg_next::Error::Eof) => return Ok(Seeked::NotFound),
                // A damaged frame: the decoder drops it and goes on, up to a point.
                Err(_) => {
                    errors += 1;
                    if errors >= super::MAX_ERRORS_IN_ROW {
                        return Ok(Seeked::NotFound);
                    }
                }
            }
        }
    }
}

/// Frame `index` of the video at `path`: sought when the video allows it, else read from the
/// start. `Ok(None)` when the video has no such frame.
pub fn frame_of(path: &Path, index: u64) -> Result<Option<Frame>, MediaError> {
    if let Some(seek) = SeekIndex::build(path)? {
        let mut reader = FrameReader::open(path)?;
        match reader.frame_at(&seek, index)? {
            Seeked::Found(frame) => return Ok(Some(frame)),
            Seeked::PastTheEnd => return Ok(None),
            Seeked::NotFound => tracing::debug!("{}: frame {index} not found by seeking, reading from the start", path.display()),
        }
    }
    let mut reader = FrameReader::open(path)?;
    reader.next_frame(&mut |i| i == index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testdata::video;

    /// Sought frames are the frames reading from the start gives, pixel for pixel.
    #[test]
    fn sought_frames_are_the_frames_read_in_order() {
        for (name, picks) in [("tiny_5frames.mp4", &[0u64, 2, 4][..]), ("talk_woman_a.mp4", &[0, 1, 150, 299, 353][..]), ("phone_rotated90.mov", &[0, 97, 182][..])] {
            let path = video(name);
            let seek = SeekIndex::build(&path).unwrap().expect("these videos have timestamps");
            let all: Vec<Frame> = FrameReader::open(&path).unwrap().map(Result::unwrap).collect();
            assert_eq!(seek.len(), all.len() as u64, "{name}");
            let mut reader = FrameReader::open(&path).unwrap();
            // Out of order on purpose: back and forth through the file.
            for &i in picks.iter().rev().chain(picks) {
                let Seeked::Found(f) = reader.frame_at(&seek, i).unwrap() else { panic!("{name}: frame {i} not found") };
                let expected = &all[i as usize];
                assert_eq!(f.index, i);
                assert!((f.time - expected.time).abs() < 1e-6, "{name} {i}: {} vs {}", f.time, expected.time);
                assert!(f.image == expected.image, "{name}: frame {i} differs from the one read in order");
            }
            assert!(matches!(reader.frame_at(&seek, all.len() as u64).unwrap(), Seeked::PastTheEnd));
            assert!(matches!(reader.frame_at(&seek, 1_000_000_000_000).unwrap(), Seeked::PastTheEnd));
        }
    }

    #[test]
    fn frame_of_finds_a_frame_or_says_there_is_none() {
        let path = video("talk_woman_a.mp4");
        let f = frame_of(&path, 200).unwrap().unwrap();
        assert_eq!(f.index, 200);
        assert!(frame_of(&path, 354).unwrap().is_none());
    }
}
