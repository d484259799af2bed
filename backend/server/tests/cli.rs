//! The `doppel` command line, run as a user runs it.

mod common;

use common::shared_data as shared;
use std::path::PathBuf;
use std::process::Command;

fn models() -> PathBuf {
    std::env::var_os("DOPPEL_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models")))
}

fn doppel() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doppel"));
    c.env_remove("RUST_BACKTRACE");
    c
}

#[test]
fn detect_prints_faces_landmarks_and_descriptors_as_json() {
    let out = doppel()
        .args(["detect", "--json", "--models-dir"])
        .arg(models())
        .arg(shared("images/two_people.jpg"))
        .arg(shared("conformance/images/white.png"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v.as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results[0]["image"].as_str().unwrap().ends_with("two_people.jpg"));
    let faces = results[0]["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 2, "two people");
    for f in faces {
        let b: Vec<f64> = f["box"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(b.len(), 4);
        assert!(b[2] > 50.0 && b[3] > 50.0, "{b:?}");
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 68);
        // Landmarks lie in or near the box.
        for p in f["landmarks"].as_array().unwrap() {
            let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
            assert!(x > b[0] - b[2] * 0.3 && x < b[0] + b[2] * 1.3 && y > b[1] - b[3] * 0.3 && y < b[1] + b[3] * 1.3);
        }
        assert_eq!(f["descriptor"].as_array().unwrap().len(), 128);
    }
    let d = |i: usize| -> Vec<f64> { faces[i]["descriptor"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let dist = d(0).iter().zip(d(1)).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    assert!(dist > 0.6, "two different people are far apart: {dist}");
    assert_eq!(results[1]["faces"].as_array().unwrap().len(), 0, "a white image has no face");
}

#[test]
fn detect_reports_unreadable_images_and_missing_weights_clearly() {
    let out = doppel()
        .args(["detect", "--json", "--models-dir"])
        .arg(models())
        .arg(shared("README.md"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["error"].as_str().unwrap().contains("cannot read the image"), "{v}");

    let out = doppel().args(["detect", "--json", "--models-dir", "/nonexistent", "x.png"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("network weights missing") && err.contains("scripts/setup.sh"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn convert_and_media_explain_bad_input() {
    let dir = std::env::temp_dir().join(format!("doppel-cli-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = doppel()
        .args(["convert", "-i"])
        .arg(shared("video/tiny_5frames.mp4"))
        .arg("-o")
        .arg(dir.join("out.mp4"))
        .arg("-m")
        .arg(&dir)
        .arg("--alignments")
        .arg(dir.join("none.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a Doppel model folder"), "{err}");
    assert!(!dir.join("out.mp4").exists());
    let balance = doppel().args(["convert", "-i", "x.mp4", "-o", "y.mp4", "-m", "z", "--color", "manual-balance", "--red", "300"]).output().unwrap();
    assert!(!balance.status.success() && String::from_utf8_lossy(&balance.stderr).contains("'300' is not a number from -100 to 100"));
    let info = doppel().args(["media", "info"]).arg(shared("video/phone_rotated90.mov")).output().unwrap();
    assert!(info.status.success());
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    // The file's display matrix turns it 90 degrees counter-clockwise: 270 clockwise.
    assert_eq!((v["kind"].as_str(), v["rotation"].as_u64(), v["has_audio"].as_bool()), (Some("video"), Some(270), Some(true)));
    let bad = doppel().args(["media", "info"]).arg(shared("README.md")).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not a video or image"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `doppel sort`: prints the order, renames by it (again without stacking prefixes), moves
/// groups into folders, logs JSON, and refuses --move without groups; `doppel alignments`
/// on the same faces: several faces in a frame found, the store follows a cleaned folder (with
/// a backup), a store rebuilt from the faces, the frames never looked at, frames drawn, stores
/// merged and smoothed.
#[test]
fn sort_and_alignments_jobs_on_a_face_set() {
    let dir = std::env::temp_dir().join(format!("doppel-cli-sort-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let extract = doppel()
        .args(["extract", "--every-n", "4", "--size", "96", "--models-dir"])
        .arg(models())
        .arg("-i")
        .arg(shared("video/short_hamilton_clip.mp4"))
        .arg("-o")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(extract.status.success(), "{}", String::from_utf8_lossy(&extract.stderr));
    let faces = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".png")).collect();
        v.sort();
        v
    };
    let count = faces().len();
    assert!(count >= 4, "{count} faces");

    let printed = doppel().args(["sort", "--by", "size", "-i"]).arg(&dir).output().unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let lines: Vec<String> = String::from_utf8_lossy(&printed.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), count);
    let sizes: Vec<f32> = lines.iter().map(|l| l.split('\t').nth(2).unwrap().parse().unwrap()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first: {sizes:?}");

    for _ in 0..2 {
        let renamed = doppel().args(["sort", "--by", "size", "--rename", "-i"]).arg(&dir).output().unwrap();
        assert!(renamed.status.success(), "{}", String::from_utf8_lossy(&renamed.stderr));
    }
    let names = faces();
    assert_eq!(names.len(), count);
    for (i, n) in names.iter().enumerate() {
        assert!(n.starts_with(&format!("{:05}_", i + 1)), "{n}");
        // The order is the printed one, and a second rename did not stack a second prefix.
        assert_eq!(&n[6..], lines[i].split('\t').nth(1).unwrap(), "{n}");
    }

    let refused = doppel().args(["sort", "--move", "-i"]).arg(&dir).output().unwrap();
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("give --group-by too"));

    // The alignments jobs on the same faces: the store follows a cleaned folder.
    let store = dir.join("short_hamilton_clip.alignments.json");
    let job = |args: &[&str]| {
        let out = doppel().arg("alignments").args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (store_arg, dir_arg) = (store.to_str().unwrap(), dir.to_str().unwrap());
    let several = job(&["multi-faces", "-a", store_arg]);
    assert!(several.lines().count() >= 1, "several people in a frame of the clip");
    std::fs::remove_file(dir.join(&names[0])).unwrap();
    let removed = job(&["remove-faces", "-a", store_arg, "-f", dir_arg]);
    assert!(removed.starts_with(&format!("1 faces removed, {} kept", count - 1)), "{removed}");
    assert!(dir.join("short_hamilton_clip.alignments.json.bak").is_file(), "the previous store is kept");
    let rebuilt = dir.join("rebuilt.json");
    job(&["from-faces", "-f", dir_arg, "-o", rebuilt.to_str().unwrap()]);
    let faces_in = |p: &std::path::Path| -> usize {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["frames"].as_object().unwrap().values().map(|f| f["faces"].as_array().unwrap().len()).sum()
    };
    assert_eq!((faces_in(&store), faces_in(&rebuilt)), (count - 1, count - 1));
    let clip = shared("video/short_hamilton_clip.mp4");
    let info: serde_json::Value = serde_json::from_slice(&doppel().args(["media", "info"]).arg(&clip).output().unwrap().stdout).unwrap();
    let looked_at = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&store).unwrap()).unwrap()["frames"].as_object().unwrap().len();
    let missing = job(&["missing-frames", "-a", store_arg, "-s", clip.to_str().unwrap()]);
    assert_eq!(missing.lines().count() + looked_at, info["frame_count"].as_u64().unwrap() as usize, "every 4th frame was looked at");
    let count = count - 1;
    let drawn = dir.join("drawn");
    let out = job(&["draw", "-a", store_arg, "-s", clip.to_str().unwrap(), "-o", drawn.to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(&drawn).unwrap().count(), looked_at - job(&["no-faces", "-a", store_arg]).lines().count(), "{out}");
    std::fs::remove_dir_all(&drawn).unwrap();
    let merged = dir.join("merged.json");
    let out = job(&["merge", "-a", store_arg, "-o", rebuilt.to_str().unwrap(), "-O", merged.to_str().unwrap()]);
    assert!(out.starts_with("0 faces added"), "the rebuilt store has the same faces: {out}");
    let out = job(&["smooth", "-a", merged.to_str().unwrap()]);
    assert!(out.contains(&format!("{count} faces smoothed")), "{out}");
    let log = dir.join("order.json");
    let grouped = doppel().args(["sort", "--by", "blur", "--group-by", "face", "--move", "--log"]).arg(&log).arg("-i").arg(&dir).output().unwrap();
    assert!(grouped.status.success(), "{}", String::from_utf8_lossy(&grouped.stderr));
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
    assert_eq!(entries.len(), count);
    let groups: std::collections::BTreeSet<u64> = entries.iter().map(|e| e["group"].as_u64().unwrap()).collect();
    assert!(groups.len() >= 2, "several people in the clip: {groups:?}");
    for e in &entries {
        let folder = dir.join(format!("group_{:03}", e["group"].as_u64().unwrap()));
        assert!(folder.join(e["file"].as_str().unwrap()).is_file(), "{e}");
    }
    assert!(faces().is_empty(), "every face moved into its group");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `doppel alignments import-fsa`: a faceswap alignments file (written by Python's pickle with
/// NumPy, scripts/fixtures/make_fsa.py) becomes a Doppel store and, with --faces, a face set
/// that `doppel sort` reads; a file that is not faceswap's is refused saying so.
#[test]
fn import_fsa_brings_a_faceswap_file_into_a_face_set() {
    let dir = tempfile::tempdir().unwrap();
    let (store, faces) = (dir.path().join("clip.alignments.json"), dir.path().join("faces"));
    let fsa = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../engine/testdata/talk_woman_a_v24.fsa"));
    let out = doppel()
        .args(["alignments", "import-fsa", "--size", "128", "--fsa"])
        .arg(&fsa)
        .arg("-s")
        .arg(shared("video/talk_woman_a.mp4"))
        .arg("-o")
        .arg(&store)
        .arg("--faces")
        .arg(&faces)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("faceswap alignments 2.4: 6 faces in 6 frames (6 faceswap masks kept as painted)"), "{stdout}");
    assert!(stderr.contains("skipped frame talk_woman_a_000009.png, face 1: not 68 landmarks") && stderr.contains("6 face PNGs written"), "{stderr}");
    let pngs = std::fs::read_dir(&faces).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "png")).count();
    assert_eq!(pngs, 6);
    let sorted = doppel().args(["sort", "--by", "size", "-i"]).arg(&faces).output().unwrap();
    assert!(sorted.status.success() && String::from_utf8_lossy(&sorted.stdout).lines().count() == 6, "{}", String::from_utf8_lossy(&sorted.stderr));
    let not_fsa = doppel().args(["alignments", "import-fsa", "--fsa"]).arg(&store).arg("-s").arg(shared("video/talk_woman_a.mp4")).arg("-o").arg(dir.path().join("x.json")).output().unwrap();
    assert!(!not_fsa.status.success() && String::from_utf8_lossy(&not_fsa.stderr).contains("is not a faceswap alignments file (.fsa)"), "{}", String::from_utf8_lossy(&not_fsa.stderr));
}

/// `--device` names what it cannot use, and why: a name that is no device, a backend this
/// build lacks, a device the machine does not have.
#[test]
fn devices_are_listed_and_bad_ones_explained() {
    let out = doppel().args(["devices", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list[0]["device"], "cpu");
    assert_eq!(list.iter().filter(|d| d["default"] == true).count(), 1, "{list:?}");
    if cfg!(feature = "wgpu") {
        assert!(list.iter().any(|d| d["device"] == "wgpu:0"), "the test setup installs lavapipe: {list:?}");
    }

    let detect = |device: &str| {
        let out = doppel()
            .args(["detect", "--json", "--device", device, "--models-dir"])
            .arg(models())
            .arg(shared("conformance/images/white.png"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{device} was accepted");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains("panicked"), "{err}");
        err
    };
    let err = detect("gpu2");
    assert!(err.contains("unknown device 'gpu2': use cpu, cuda[:N] or wgpu[:N]"), "{err}");
    let err = detect("cuda:0");
    assert!(err.contains("cuda:0 is not available: this build of Doppel has no `cuda` feature"), "{err}");
    let err = detect("wgpu:9");
    if cfg!(feature = "wgpu") {
        assert!(err.contains("wgpu:9 is not on this machine:") && err.contains("wgpu:0"), "{err}");
    } else {
        assert!(err.contains("wgpu:9 is not available: this build of Doppel has no `wgpu` feature"), "{err}");
    }
}
