//! Hostile files at probe time: playlists and concat lists naming files on this machine,
//! picture bombs. Each is refused before FFmpeg follows a name or decodes a pixel.

use super::*;
use crate::image_io::tests::zeros_png;
use crate::media::testdata::{video, TempFile};

fn target() -> String {
    std::path::absolute(video("tiny_5frames.mp4")).unwrap().display().to_string()
}

#[test]
fn an_hls_playlist_naming_a_local_file_is_refused() {
    let t = target();
    for (name, text) in [
        ("local.m3u8", format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{t}\n#EXT-X-ENDLIST\n")),
        ("url.m3u8", format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile://{t}\n#EXTINF:1.0,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n")),
        ("data.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\ndata:image/png;base64,iVBORw0KGgo=\n#EXT-X-ENDLIST\n".into()),
    ] {
        let file = TempFile::with_bytes(name, text.as_bytes());
        let err = probe(&file.0).unwrap_err();
        assert!(matches!(&err, MediaError::Refused { format } if format == "hls"), "{name}: {err:?}");
        assert_eq!(
            err.to_string(),
            "an HLS playlist (hls) is not accepted: Doppel reads single video and image files, never playlists or lists of other files"
        );
        assert!(crate::media::thumbnail(&file.0, 64).is_err(), "{name}: no thumbnail either");
        assert!(crate::media::FrameReader::open(&file.0).is_err(), "{name}: nor frames");
    }
}

#[test]
fn a_concat_list_naming_a_local_file_is_refused() {
    let t = target();
    for text in [format!("ffconcat version 1.0\nfile '{t}'\n"), "ffconcat version 1.0\nfile 'tiny_5frames.mp4'\n".into()] {
        let file = TempFile::with_bytes("list.ffconcat", text.as_bytes());
        let err = probe(&file.0).unwrap_err();
        assert!(matches!(&err, MediaError::Refused { format } if format == "concat"), "{err:?}");
        assert!(err.to_string().starts_with("a concat list (concat) is not accepted"), "{err}");
    }
}

#[test]
fn picture_bombs_are_refused_from_their_header() {
    for (w, h) in [(16384, 16384), (10000, 10000), (20000, 8)] {
        let file = TempFile::with_bytes(&format!("bomb-{w}x{h}.png"), &zeros_png(w, h));
        let err = probe(&file.0).unwrap_err();
        assert!(matches!(err, MediaError::OverLimit(_)), "{w}x{h}: {err:?}");
        assert!(err.to_string().starts_with(&format!("the picture is {w}x{h} pixels")), "{err}");
        assert!(crate::media::thumbnail(&file.0, 64).is_err(), "{w}x{h}: no thumbnail either");
    }
    // 8K exactly is a picture like any other.
    let file = TempFile::with_bytes("8k.png", &zeros_png(7680, 4320));
    let facts = probe(&file.0).unwrap();
    assert_eq!((facts.kind, facts.width, facts.height), (MediaKind::Image, 7680, 4320));
}

#[test]
fn the_accepted_formats_are_ffmpeg_demuxers() {
    // Every name of the list is a demuxer of this FFmpeg, or one of a multi-name demuxer.
    crate::media::init();
    for name in source::FORMATS.split(',') {
        let c = std::ffi::CString::new(name).unwrap();
        // SAFETY: a lookup by name in FFmpeg's static demuxer table.
        let found = unsafe { ffmpeg_next::ffi::av_find_input_format(c.as_ptr()) };
        let alias = ["mp4", "m4a", "3gp", "3g2", "mj2", "webm"].contains(&name);
        assert!(!found.is_null() || alias, "{name} is not an FFmpeg demuxer");
    }
    assert!(source::accepted_format("mov,mp4,m4a,3gp,3g2,mj2") && source::accepted_format("matroska,webm"));
    assert!(!source::accepted_format("hls") && !source::accepted_format("concat") && !source::accepted_format("dash"));
}
