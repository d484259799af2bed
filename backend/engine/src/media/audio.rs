//! The source's audio in a written video: the main audio stream copied packet by packet when
//! the output container can hold its codec, else decoded and re-encoded to AAC (FFmpeg's own
//! encoder, through an `abuffer` -> `abuffersink` graph that resamples and cuts frames of the
//! encoder's size). Either way it is written as the video advances, so the muxer interleaves
//! without holding the whole video in memory.

use ffmpeg_next::format::context::{Input, Output};
use ffmpeg_next::{codec, encoder, ffi, filter, frame, media, Packet, Rational, Rescale};
use std::path::Path;

/// What happened to the source's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioOutcome {
    /// The source has no audio.
    None,
    /// Copied unchanged (codec named).
    Copied(String),
    /// Re-encoded to AAC from this codec, which the container cannot hold.
    Encoded(String),
    /// Left out, and why.
    Dropped(String),
}

impl AudioOutcome {
    /// For people: "audio copied (aac)".
    pub fn describe(&self) -> String {
        match self {
            AudioOutcome::None => "no audio in the source".to_string(),
            AudioOutcome::Copied(codec) => format!("audio copied ({codec})"),
            AudioOutcome::Encoded(codec) => format!("audio re-encoded to AAC (the container cannot hold {codec})"),
            AudioOutcome::Dropped(why) => format!("audio left out: {why}"),
        }
    }
}

/// The source's audio on its way into an output.
pub(super) struct AudioTrack {
    input: Input,
    stream: usize,
    in_base: Rational,
    out_index: usize,
    out_base: Rational,
    finished: bool,
    pending: Option<Packet>,
    /// `None`: packets are copied.
    encode: Option<Encode>,
}

/// The decoder, the resampling graph and the AAC encoder.
struct Encode {
    decoder: codec::decoder::Audio,
    graph: filter::Graph,
    encoder: codec::encoder::Audio,
    /// The source stream's time base.
    in_base: Rational,
    /// The graph's and the encoder's time base (1 / sample rate).
    base: Rational,
}

impl AudioTrack {
    /// The source's main audio stream, added to `output` (before its header is written).
    pub(super) fn open(source: &Path, output: &mut Output) -> (Option<AudioTrack>, AudioOutcome) {
        let Ok(input) = super::source::open(source) else { return (None, AudioOutcome::Dropped("the source could not be opened for its audio".into())) };
        let Some(stream) = input.streams().best(media::Type::Audio) else { return (None, AudioOutcome::None) };
        let (index, in_base, params) = (stream.index(), stream.time_base(), stream.parameters());
        let codec_id = params.id();
        let name = codec_id.name().to_string();
        // SAFETY: both pointers come from live FFmpeg objects owned above.
        let copyable = unsafe { ffi::avformat_query_codec(output.format().as_ptr(), codec_id.into(), ffi::FF_COMPLIANCE_NORMAL) } == 1;
        let track = |out_index, encode| AudioTrack { input, stream: index, in_base, out_index, out_base: in_base, finished: false, pending: None, encode };
        if copyable {
            let Ok(mut out) = output.add_stream(encoder::find(codec::Id::None)) else { return (None, AudioOutcome::Dropped("FFmpeg refused the audio stream".into())) };
            out.set_parameters(params);
            // SAFETY: the stream's parameters were just set; a zero tag lets the muxer choose.
            unsafe { (*out.parameters().as_mut_ptr()).codec_tag = 0 };
            let out_index = out.index();
            return (Some(track(out_index, None)), AudioOutcome::Copied(name));
        }
        match Encode::open(params, in_base, output) {
            Ok((encode, out_index)) => (Some(track(out_index, Some(encode))), AudioOutcome::Encoded(name)),
            Err(e) => (None, AudioOutcome::Dropped(format!("the container cannot hold {name} audio and re-encoding it failed ({e}); pick .mkv to keep it"))),
        }
    }

    /// Reads the output stream's time base once the header is written.
    pub(super) fn started(&mut self, output: &Output) {
        self.out_base = output.stream(self.out_index).map(|s| s.time_base()).unwrap_or(self.in_base);
    }

    /// Writes the audio that starts before `time` seconds (all of it for infinity).
    pub(super) fn write_until(&mut self, time: f64, output: &mut Output) -> Result<(), ffmpeg_next::Error> {
        while !self.finished {
            let packet = match self.pending.take() {
                Some(p) => p,
                None => match next_packet(&mut self.input, self.stream) {
                    Some(p) => p,
                    None => {
                        self.finished = true;
                        if let Some(e) = self.encode.as_mut() {
                            e.finish(self.out_index, self.out_base, output)?;
                        }
                        break;
                    }
                },
            };
            let start = packet.pts().or(packet.dts()).map(|t| t as f64 * f64::from(self.in_base)).unwrap_or(0.0);
            if start > time {
                self.pending = Some(packet);
                break;
            }
            match self.encode.as_mut() {
                Some(e) => e.packet(&packet, self.out_index, self.out_base, output)?,
                None => {
                    let mut packet = packet;
                    packet.rescale_ts(self.in_base, self.out_base);
                    packet.set_position(-1);
                    packet.set_stream(self.out_index);
                    packet.write_interleaved(output)?;
                }
            }
        }
        Ok(())
    }
}

impl Encode {
    fn open(params: codec::Parameters, in_base: Rational, output: &mut Output) -> Result<(Encode, usize), ffmpeg_next::Error> {
        let mut decoder = codec::context::Context::from_parameters(params.clone())?.decoder().audio()?;
        decoder.set_parameters(params)?;
        let aac = encoder::find(codec::Id::AAC).ok_or(ffmpeg_next::Error::EncoderNotFound)?.audio()?;
        let global = output.format().flags().contains(ffmpeg_next::format::Flags::GLOBAL_HEADER);
        let mut out = output.add_stream(aac)?;
        let mut enc = codec::context::Context::from_parameters(out.parameters())?.encoder().audio()?;
        let layout = aac.channel_layouts().map(|l| l.best(decoder.channel_layout().channels())).unwrap_or(ffmpeg_next::ChannelLayout::STEREO);
        let rate = decoder.rate() as i32;
        if global {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        enc.set_rate(rate);
        enc.set_channel_layout(layout);
        enc.set_format(aac.formats().and_then(|mut f| f.next()).unwrap_or(ffmpeg_next::format::Sample::F32(ffmpeg_next::format::sample::Type::Planar)));
        enc.set_bit_rate(192_000);
        enc.set_time_base((1, rate));
        out.set_time_base((1, rate));
        let encoder = enc.open_as(aac)?;
        out.set_parameters(&encoder);
        let out_index = out.index();
        let graph = resampler(&decoder, Rational(1, rate), &encoder)?;
        Ok((Encode { decoder, graph, encoder, in_base, base: Rational(1, rate) }, out_index))
    }

    fn packet(&mut self, packet: &Packet, out_index: usize, out_base: Rational, output: &mut Output) -> Result<(), ffmpeg_next::Error> {
        // A packet the decoder rejects is skipped (a moment of silence, not a failed video).
        if self.decoder.send_packet(packet).is_ok() {
            self.decoded(out_index, out_base, output)?;
        }
        Ok(())
    }

    fn finish(&mut self, out_index: usize, out_base: Rational, output: &mut Output) -> Result<(), ffmpeg_next::Error> {
        let _ = self.decoder.send_eof();
        self.decoded(out_index, out_base, output)?;
        self.graph.get("in").ok_or(ffmpeg_next::Error::Bug)?.source().flush()?;
        self.filtered(out_index, out_base, output)?;
        self.encoder.send_eof()?;
        self.encoded(out_index, out_base, output)
    }

    fn decoded(&mut self, out_index: usize, out_base: Rational, output: &mut Output) -> Result<(), ffmpeg_next::Error> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let pts = decoded.timestamp().map(|t| t.rescale(self.in_base, self.base));
            decoded.set_pts(pts);
            self.graph.get("in").ok_or(ffmpeg_next::Error::Bug)?.source().add(&decoded)?;
            self.filtered(out_index, out_base, output)?;
        }
        Ok(())
    }

    fn filtered(&mut self, out_index: usize, out_base: Rational, output: &mut Output) -> Result<(), ffmpeg_next::Error> {
        let mut filtered = frame::Audio::empty();
        while self.graph.get("out").ok_or(ffmpeg_next::Error::Bug)?.sink().frame(&mut filtered).is_ok() {
            self.encoder.send_frame(&filtered)?;
            self.encoded(out_index, out_base, output)?;
        }
        Ok(())
    }

    fn encoded(&mut self, out_index: usize, out_base: Rational, output: &mut Output) -> Result<(), ffmpeg_next::Error> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(out_index);
            packet.rescale_ts(self.base, out_base);
            packet.write_interleaved(output)?;
        }
        Ok(())
    }
}

/// A graph from the decoder's samples to the encoder's format, layout, rate and frame size.
fn resampler(decoder: &codec::decoder::Audio, base: Rational, encoder: &codec::encoder::Audio) -> Result<filter::Graph, ffmpeg_next::Error> {
    let mut graph = filter::Graph::new();
    // A source may leave its layout unspecified: the usual one for its channel count.
    let layout = match decoder.channel_layout().bits() {
        0 => ffmpeg_next::ChannelLayout::default(i32::from(decoder.channels())).bits(),
        bits => bits,
    };
    let args = format!("time_base={}:sample_rate={}:sample_fmt={}:channel_layout=0x{layout:x}", base, decoder.rate(), decoder.format().name());
    graph.add(&filter::find("abuffer").ok_or(ffmpeg_next::Error::FilterNotFound)?, "in", &args)?;
    graph.add(&filter::find("abuffersink").ok_or(ffmpeg_next::Error::FilterNotFound)?, "out", "")?;
    {
        let mut out = graph.get("out").ok_or(ffmpeg_next::Error::Bug)?;
        out.set_sample_format(encoder.format());
        out.set_channel_layout(encoder.channel_layout());
        out.set_sample_rate(encoder.rate());
    }
    graph.output("in", 0)?.input("out", 0)?.parse("anull")?;
    graph.validate()?;
    graph.get("out").ok_or(ffmpeg_next::Error::Bug)?.sink().set_frame_size(encoder.frame_size());
    Ok(graph)
}

fn next_packet(input: &mut Input, stream: usize) -> Option<Packet> {
    loop {
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) if packet.stream() == stream => return Some(packet),
            Ok(()) => continue,
            Err(_) => return None,
        }
    }
}
