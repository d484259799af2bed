//! Hostile uploads: picture bombs, playlists and concat lists that name files on the server.
//! Each is refused by the probe job with a clear reason, leaves no file behind (no original,
//! no thumbnail), and the server goes on answering.

mod common;

use app::api::{MediaDto, MediaStateDto};
use axum::http::StatusCode;
use common::*;
use doppel_store::JobState;

async fn media_list(s: &TestServer, cookie: &str, pid: i64) -> Vec<MediaDto> {
    s.call(Some(cookie), "list_media", &[("project", &pid.to_string())]).await.json()
}

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: enough for a few chunks.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// A hand-made PNG whose header declares `width` x `height` 8-bit grey pixels, followed by
/// one stored zlib block of 256 zero bytes: about 330 bytes that claim gigabytes.
fn huge_header_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let zeros = [0u8; 256];
    let mut z = vec![0x78, 0x01, 0x01, 0x00, 0x01, 0xff, 0xfe];
    z.extend_from_slice(&zeros);
    // Adler-32 of 256 zero bytes: a = 1, b = 256.
    z.extend_from_slice(&((256u32 << 16) | 1).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A complete, valid 1-bit PNG of `width` x `height` black pixels: kilobytes that decode to
/// `width * height` bytes and more.
fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&vec![0; width.div_ceil(8) as usize * height as usize]).unwrap();
    writer.finish().unwrap();
    bytes
}

/// Uploads `bytes` as `name`, waits for its probe job and checks that the file was refused
/// with a reason containing `expect`, and that nothing of it is left. Returns the reason.
async fn refused(s: &TestServer, cookie: &str, pid: i64, name: &str, bytes: Vec<u8>, expect: &str) -> String {
    let started = std::time::Instant::now();
    let r = s.upload(cookie, pid, name, bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
    let up: doppel::routes::upload::Uploaded = r.json();
    let job = s.wait_job(up.job_id).await;
    assert_eq!(job.state, JobState::Failed, "{name}: {job:?}");
    let m = media_list(s, cookie, pid).await.into_iter().find(|m| m.id == up.media_id).unwrap();
    assert_eq!(m.state, MediaStateDto::Rejected, "{name}");
    let reason = m.error.clone().unwrap_or_default();
    assert!(reason.contains(expect), "{name}: {reason}");
    assert!(job.error.as_deref().unwrap_or("").contains(name), "{name}: {:?}", job.error);
    let dirs = s.state.ctx.store.dirs();
    assert!(!dirs.thumb_file(pid, m.id).exists(), "{name}: no thumbnail is kept");
    assert_eq!(s.get(Some(cookie), &app::api::media_file_url(pid, m.id)).await.status, StatusCode::NOT_FOUND, "{name}");
    eprintln!("{name}: refused in {:.2} s: {reason}", started.elapsed().as_secs_f64());
    reason
}

/// The project's stored originals.
fn stored(s: &TestServer, pid: i64) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(s.state.ctx.store.dirs().media_dir(pid)) {
        Ok(dir) => dir.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn picture_bombs_are_refused_from_their_header_and_leave_nothing() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Bombs").await;

    let huge = huge_header_png(16384, 16384);
    assert!(huge.len() < 400, "{} bytes", huge.len());
    let reason = refused(&s, &admin, pid, "huge.png", huge, "the picture is 16384x16384 pixels (268.4 megapixels)").await;
    assert!(reason.contains("at most 33.2 megapixels"), "{reason}");

    // Complete and valid: FFmpeg would decode all 100 megapixels of it.
    let bomb = bomb_png(10000, 10000);
    assert!(bomb.len() < 50_000, "{} bytes", bomb.len());
    refused(&s, &admin, pid, "bomb.png", bomb, "the picture is 10000x10000 pixels (100.0 megapixels)").await;

    // A side over 16384 on a small area.
    refused(&s, &admin, pid, "strip.png", huge_header_png(20000, 16), "the picture is 20000x16 pixels").await;

    assert!(stored(&s, pid).is_empty(), "no original is kept: {:?}", stored(&s, pid));
    // The server still answers, and a good file after the bombs is taken.
    let bytes = std::fs::read(shared_data("images/obama_small.jpg")).unwrap();
    let up: doppel::routes::upload::Uploaded = s.upload(&admin, pid, "obama_small.jpg", bytes).await.json();
    assert_eq!(s.wait_job(up.job_id).await.state, JobState::Done);
    let m = media_list(&s, &admin, pid).await.into_iter().find(|m| m.id == up.media_id).unwrap();
    assert_eq!(m.state, MediaStateDto::Ready);
    assert_eq!(stored(&s, pid).len(), 1);
}

#[tokio::test]
async fn playlists_and_concat_lists_never_reach_other_files() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Lists").await;
    let target = shared_data("video/tiny_5frames.mp4");
    let target = std::path::absolute(&target).unwrap();
    assert!(target.is_file(), "{}", target.display());
    let target = target.display();

    let hls = format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXTINF:10.0,\nfile://{target}\n#EXT-X-ENDLIST\n");
    let reason = refused(&s, &admin, pid, "clip.m3u8", hls.into_bytes(), "an HLS playlist (hls) is not accepted").await;
    assert!(reason.contains("never playlists or lists of other files"), "{reason}");

    let concat = format!("ffconcat version 1.0\nfile '{target}'\nfile 'tiny_5frames.mp4'\n");
    refused(&s, &admin, pid, "list.ffconcat", concat.into_bytes(), "a concat list (concat) is not accepted").await;

    // A playlist of data: URIs holding a picture.
    let data = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\ndata:image/png;base64,iVBORw0KGgo=\n#EXT-X-ENDLIST\n";
    refused(&s, &admin, pid, "data.m3u8", data.as_bytes().to_vec(), "is not accepted").await;

    assert!(stored(&s, pid).is_empty(), "no original is kept: {:?}", stored(&s, pid));
    assert_eq!(media_list(&s, &admin, pid).await.len(), 3, "the server still answers");
}
