//! Opening a file with FFmpeg, choosing its video stream and decoding its first frame:
//! the parts shared by [`probe`](super::probe()) and [`thumbnail`](super::thumbnail()).

use std::ffi::c_int;
use std::io::Read;
use std::path::Path;

use ffmpeg_next::codec::packet::Packet;
use ffmpeg_next::format::context::Input;
use ffmpeg_next::format::stream::{Disposition, Stream};
use ffmpeg_next::{codec, decoder, ffi, frame, media, Dictionary};

use super::error::{ffmpeg_reason, Damage, MediaError};
use super::log;

/// Bytes read from the start of a file to recognise its format.
const HEAD_LEN: usize = 4096;

/// The only protocol FFmpeg may use: local files. No `http`, `data:`, `concat:`, `subfile`,
/// and so no way for a file to make FFmpeg read another resource.
const PROTOCOLS: &str = "file";

/// The demuxers FFmpeg may use (FFmpeg 5.1 names; a demuxer with several names, such as
/// `mov,mp4,m4a,3gp,3g2,mj2`, is allowed by any of them): video containers, raw video
/// streams, single pictures, and the audio files `doppel media` muxes. Never playlists or
/// lists of other files (`hls`, `dash`, `concat`, `webm_dash_manifest`), whose entries could
/// name any file on the server.
pub(crate) const FORMATS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,mpegvideo,m4v,h264,hevc,mjpeg,ogg,asf,mxf,nut,ivf,obu,dv,yuv4mpegpipe,gif,image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif_pipe,pgm_pipe,ppm_pipe,pbm_pipe,pam_pipe,mp3,wav,aac,flac";

/// Whether the FFmpeg demuxer `name` (e.g. "mov,mp4,m4a,3gp,3g2,mj2", "hls") is in [`FORMATS`].
pub(crate) fn accepted_format(name: &str) -> bool {
    name.split(',').any(|n| FORMATS.split(',').any(|f| f == n))
}

/// Opens `path` for demuxing, telling unreadable, non-media and damaged files apart.
///
/// The one place the engine opens media: only local files, only the demuxers of [`FORMATS`],
/// a single file (never an image sequence), pictures over the size limits of
/// [`crate::image_io`] refused from their header, and decoders that refuse larger frames.
pub(crate) fn open(path: &Path) -> Result<Input, MediaError> {
    super::init();
    let head = read_head(path)?;
    if head.is_empty() {
        return Err(MediaError::NotMedia {
            reason: "the file is empty".into(),
        });
    }
    let recognised = recognised_format(&head);
    if let Some(format) = recognised.as_ref().filter(|f| !accepted_format(f)) {
        return Err(MediaError::Refused { format: format.clone() });
    }
    if let Some((width, height)) = crate::image_io::declared_size(path) {
        if !crate::image_io::size_ok(width, height) {
            return Err(MediaError::OverLimit(crate::image_io::size_message(width, height)));
        }
    }
    let absolute = std::path::absolute(path)?;
    let Some(name) = absolute.to_str() else {
        // FFmpeg takes UTF-8 file names.
        let err = std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the file name is not valid utf-8",
        );
        return Err(MediaError::Io(err));
    };
    let mut options = Dictionary::new();
    // A single file, never an image sequence pattern such as `frame%03d.png`.
    options.set("pattern_type", "none");
    options.set("protocol_whitelist", PROTOCOLS);
    options.set("format_whitelist", FORMATS);
    log::clear_last_error();
    open_input(name, options).map_err(|err| {
        let detail = log::take_last_error();
        if detail.as_deref().is_some_and(|d| d.contains("whitelist")) {
            return match recognised.clone() {
                Some(format) => MediaError::Refused { format },
                None => MediaError::NotMedia { reason: "not a format Doppel reads".into() },
            };
        }
        match recognised.clone() {
            Some(format) => MediaError::Truncated(Damage::Header {
                format,
                reason: detail.unwrap_or_else(|| ffmpeg_reason(&err)),
            }),
            None => MediaError::NotMedia {
                reason: ffmpeg_reason(&err),
            },
        }
    })
}

/// `avformat_open_input` + `avformat_find_stream_info` as ffmpeg-next's
/// `input_with_dictionary`, but with [`limit_decoder`]'s frame-size limit on the decoders
/// that reading the stream information opens.
fn open_input(name: &str, options: Dictionary) -> Result<Input, ffmpeg_next::Error> {
    let name = std::ffi::CString::new(name).map_err(|_| ffmpeg_next::Error::InvalidData)?;
    let max_pixels = crate::image_io::MAX_PIXELS.to_string();
    // SAFETY: the FFmpeg calls of ffmpeg-next's `input_with_dictionary`, in the same order;
    // the dictionaries are owned here and freed after use, the context is closed on failure
    // or handed to `Input`, which closes it.
    unsafe {
        let mut ps = std::ptr::null_mut();
        let mut opts = options.disown();
        let res = ffi::avformat_open_input(&mut ps, name.as_ptr(), std::ptr::null_mut(), &mut opts);
        drop(Dictionary::own(opts));
        if res != 0 {
            return Err(ffmpeg_next::Error::from(res));
        }
        let streams = (*ps).nb_streams as usize;
        let mut per_stream: Vec<*mut ffi::AVDictionary> = vec![std::ptr::null_mut(); streams];
        for d in &mut per_stream {
            let mut dict = Dictionary::new();
            dict.set("max_pixels", &max_pixels);
            *d = dict.disown();
        }
        let options_ptr = if streams == 0 { std::ptr::null_mut() } else { per_stream.as_mut_ptr() };
        let found = ffi::avformat_find_stream_info(ps, options_ptr);
        for d in &mut per_stream {
            ffi::av_dict_free(d);
        }
        if found < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(ffmpeg_next::Error::from(found));
        }
        Ok(Input::wrap(ps))
    }
}

/// Makes a decoder refuse frames over [`crate::image_io::MAX_PIXELS`] (FFmpeg checks it when
/// the frame size is set, before any frame buffer is allocated). Call before opening it.
pub(crate) fn limit_decoder(context: &mut codec::context::Context) {
    // SAFETY: a plain field write on a live, not yet opened codec context.
    unsafe {
        (*context.as_mut_ptr()).max_pixels = crate::image_io::MAX_PIXELS as i64;
    }
}

/// Up to [`HEAD_LEN`] bytes from the start of the file (fails on a directory or missing file).
fn read_head(path: &Path) -> Result<Vec<u8>, std::io::Error> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    std::fs::File::open(path)?
        .take(HEAD_LEN as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The format FFmpeg confidently recognises from the first bytes alone (no file name), such as
/// an MP4's `ftyp` box or a PNG signature; `None` for text, random bytes and weak guesses.
pub(crate) fn recognised_format(head: &[u8]) -> Option<String> {
    /// Above the score of extension-only matches and of the weak guesses FFmpeg makes
    /// on random bytes (MP3, MPEG-PS), at or below the score of magic-number matches.
    const MIN_SCORE: c_int = ffi::AVPROBE_SCORE_MAX * 3 / 4;
    let mut buf = head.to_vec();
    // FFmpeg's probe functions read up to this many zero bytes past the end.
    buf.resize(head.len() + ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let data = ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: buf.as_mut_ptr(),
        buf_size: c_int::try_from(head.len()).ok()?,
        mime_type: std::ptr::null(),
    };
    let mut score: c_int = 0;
    // SAFETY: `data` points at `buf`, which is padded as FFmpeg requires and outlives the call.
    let format = unsafe { ffi::av_probe_input_format3(&data, 1, &mut score) };
    if format.is_null() || score < MIN_SCORE {
        return None;
    }
    // SAFETY: a non-null result is one of FFmpeg's static input formats with a static name.
    let name = unsafe { std::ffi::CStr::from_ptr((*format).name) };
    Some(name.to_string_lossy().into_owned())
}

/// Index of the main video stream: the first video stream that is not a cover picture.
pub(crate) fn video_stream(input: &Input) -> Option<usize> {
    input
        .streams()
        .find(|s| {
            s.parameters().medium() == media::Type::Video
                && !s.disposition().contains(Disposition::ATTACHED_PIC)
        })
        .map(|s| s.index())
}

/// Stored (coded, unrotated) frame size from the stream's codec parameters.
pub(crate) fn stored_size(stream: &Stream<'_>) -> (u32, u32) {
    let parameters = stream.parameters();
    // SAFETY: `parameters` wraps the stream's live AVCodecParameters; plain field reads.
    let (width, height) = unsafe {
        let p = parameters.as_ptr();
        ((*p).width, (*p).height)
    };
    (
        u32::try_from(width).unwrap_or(0),
        u32::try_from(height).unwrap_or(0),
    )
}

/// Decodes packets until the first video frame comes out (send_packet / receive_frame).
pub(crate) struct FirstFrame {
    decoder: decoder::Video,
    frame: Option<frame::Video>,
    last_error: Option<ffmpeg_next::Error>,
}

impl FirstFrame {
    /// A decoder for `stream`, or [`MediaError::Undecodable`] when FFmpeg has none.
    pub(crate) fn new(stream: &Stream<'_>) -> Result<Self, MediaError> {
        let codec_name = stream.parameters().id().name();
        let undecodable = |err: ffmpeg_next::Error| MediaError::Undecodable {
            reason: format!(
                "no decoder for the {codec_name} codec ({})",
                ffmpeg_reason(&err)
            ),
        };
        let mut context =
            codec::context::Context::from_parameters(stream.parameters()).map_err(undecodable)?;
        limit_decoder(&mut context);
        let decoder = context.decoder().video().map_err(undecodable)?;
        Ok(FirstFrame {
            decoder,
            frame: None,
            last_error: None,
        })
    }

    /// Takes the decoded frame out, so decoding can go on to the next one.
    pub(crate) fn take(&mut self) -> Option<frame::Video> {
        self.frame.take()
    }

    /// Whether a frame has been decoded (no more packets are needed).
    pub(crate) fn done(&self) -> bool {
        self.frame.is_some()
    }

    /// Feeds one packet of the video stream; does nothing once a frame is out.
    pub(crate) fn push(&mut self, packet: &Packet) {
        if self.done() {
            return;
        }
        // A damaged packet is skipped: a later keyframe may still decode.
        if let Err(err) = self.decoder.send_packet(packet) {
            self.last_error = Some(err);
        }
        self.receive();
    }

    /// Drains the decoder and returns the first frame, or why none came out.
    pub(crate) fn finish(mut self) -> Result<frame::Video, MediaError> {
        if !self.done() && self.decoder.send_eof().is_ok() {
            self.receive();
        }
        self.frame.ok_or_else(|| MediaError::Undecodable {
            reason: match self.last_error {
                Some(err) => format!("no frame could be decoded ({})", ffmpeg_reason(&err)),
                None => "no frame could be decoded".into(),
            },
        })
    }

    fn receive(&mut self) {
        let mut frame = frame::Video::empty();
        // EAGAIN (needs more input), EOF and decoding errors all mean: no frame yet.
        if self.decoder.receive_frame(&mut frame).is_ok() && frame.width() > 0 && frame.height() > 0
        {
            self.frame = Some(frame);
        }
    }
}

/// Reads the next packet, skipping packets FFmpeg flags as invalid data; `Ok(None)` at the end.
///
/// Unlike `Input::packets()`, a read error is reported instead of looking like the end.
pub(crate) fn next_packet(input: &mut Input) -> Result<Option<Packet>, ffmpeg_next::Error> {
    /// Consecutive invalid packets tolerated before giving up (random bytes can yield many).
    const MAX_INVALID: u32 = 1000;
    let mut invalid = 0;
    loop {
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) => return Ok(Some(packet)),
            Err(ffmpeg_next::Error::Eof) => return Ok(None),
            Err(ffmpeg_next::Error::InvalidData) if invalid < MAX_INVALID => invalid += 1,
            Err(err) => return Err(err),
        }
    }
}

/// Frames looked at for a poster frame before settling for the brightest one seen.
const POSTER_LOOKAHEAD: usize = 60;

/// The first frame that is not (nearly) black among the first [`POSTER_LOOKAHEAD`], else the
/// brightest of them, with the stream's clockwise rotation: a fade-in or a black leader must
/// not become the picture of a video. `brightness` measures a frame from 0 to 255.
pub(crate) fn poster_frame(
    path: &Path,
    bright_enough: f64,
    brightness: impl Fn(&frame::Video) -> f64,
) -> Result<(frame::Video, u32), MediaError> {
    let mut input = open(path)?;
    let index = video_stream(&input).ok_or_else(|| no_video_stream(&input))?;
    let (mut grabber, rotation) = {
        let stream = input.stream(index).ok_or_else(|| no_video_stream(&input))?;
        (
            FirstFrame::new(&stream)?,
            super::rotation::stream_rotation(&stream),
        )
    };
    let mut best: Option<(f64, frame::Video)> = None;
    let mut seen = 0;
    while seen < POSTER_LOOKAHEAD {
        match next_packet(&mut input) {
            Ok(Some(packet)) if packet.stream() == index => {
                grabber.push(&packet);
                if let Some(frame) = grabber.take() {
                    seen += 1;
                    let level = brightness(&frame);
                    if level >= bright_enough {
                        return Ok((frame, rotation));
                    }
                    if best.as_ref().is_none_or(|(b, _)| level > *b) {
                        best = Some((level, frame));
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    match best {
        Some((_, frame)) => Ok((frame, rotation)),
        None => Ok((grabber.finish()?, rotation)),
    }
}

/// The error for a file without a usable video stream. Weak guesses (text opened as lyrics,
/// random bytes opened as MP3) are not media at all.
pub(crate) fn no_video_stream(input: &Input) -> MediaError {
    if input.probe_score() >= ffi::AVPROBE_SCORE_MAX / 4 {
        let has_audio = input.streams().best(media::Type::Audio).is_some();
        MediaError::NoVideoStream { has_audio }
    } else {
        MediaError::NotMedia {
            reason: "no video or image stream found".into(),
        }
    }
}
