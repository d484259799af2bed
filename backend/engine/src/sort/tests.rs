use super::*;
use crate::extract::{run, ExtractOptions, Silent};
use image::{Rgb, RgbImage};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The faces of `identities/<person>/` for the 8 people, extracted into one folder each, and
/// every face's person.
fn identities() -> &'static (Vec<PathBuf>, HashMap<PathBuf, String>) {
    static SETS: OnceLock<(Vec<PathBuf>, HashMap<PathBuf, String>)> = OnceLock::new();
    SETS.get_or_init(|| {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = crate::analyze::FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let root = std::env::temp_dir().join(format!("doppel-sort-{}", std::process::id()));
        let (mut dirs, mut person_of) = (Vec::new(), HashMap::new());
        for person in ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"] {
            // The crops are too tight for the detector: each one on a grey margin, as a photo.
            let photos = root.join(format!("{person}-photos"));
            let _ = std::fs::remove_dir_all(&photos);
            std::fs::create_dir_all(&photos).unwrap();
            for i in 1..=5 {
                let crop = image::open(crate::media::testdata::root().join(format!("identities/{person}/{person}{i}.png"))).unwrap().to_rgb8();
                let (w, h) = crop.dimensions();
                let mut photo = RgbImage::from_pixel(w * 2, h * 2, Rgb([128, 128, 128]));
                image::imageops::replace(&mut photo, &crop, i64::from(w / 2), i64::from(h / 2));
                photo.save(photos.join(format!("{person}{i}.png"))).unwrap();
            }
            let out = root.join(person);
            let _ = std::fs::remove_dir_all(&out);
            let mut options = ExtractOptions::new(photos, out.clone());
            options.size = 128;
            run(&analyzer, &options, &mut Silent).unwrap();
            for r in load_dir(&out).unwrap() {
                person_of.insert(r.path.clone(), person.to_string());
            }
            dirs.push(out);
        }
        (dirs, person_of)
    })
}

fn everyone() -> Vec<FaceRecord> {
    identities().0.iter().flat_map(|d| load_dir(d).unwrap()).collect()
}

#[test]
fn identity_clusters_are_the_people() {
    let records = everyone();
    let person_of = &identities().1;
    assert!(records.len() >= 36, "{} faces", records.len());
    let groups = group(&records, SortKey::Face, 0).unwrap();
    // Purity: each cluster counted as its most common person.
    let pure: usize = groups
        .iter()
        .map(|g| {
            let mut count: HashMap<&str, usize> = HashMap::new();
            g.iter().for_each(|&i| *count.entry(person_of[&records[i].path].as_str()).or_default() += 1);
            count.values().copied().max().unwrap_or(0)
        })
        .sum();
    let purity = pure as f32 / records.len() as f32;
    eprintln!("{} faces in {} clusters, purity {purity:.3}", records.len(), groups.len());
    assert!(purity >= 0.9, "purity {purity}");
    assert!((6..=12).contains(&groups.len()), "{} clusters for 8 people", groups.len());
}

#[test]
fn sorting_by_face_puts_another_person_last() {
    let (dirs, person_of) = identities();
    let mut records = load_dir(&dirs[0]).unwrap();
    let intruder = load_dir(&dirs[6]).unwrap().remove(0);
    records.insert(1, intruder.clone());
    let order = sort(&records, SortKey::Face).unwrap();
    assert_eq!(records[*order.last().unwrap()].path, intruder.path, "{}", person_of[&intruder.path]);
}

fn record(path: &str) -> FaceRecord {
    FaceRecord { path: path.into(), descriptor: None, area: 0.0, pose: (0.0, 0.0), histogram: [0.0; 24], sharpness: 0.0, colourfulness: 0.0 }
}

#[test]
fn each_key_orders_the_way_people_look_for() {
    let records = vec![
        FaceRecord { area: 10.0, sharpness: 5.0, colourfulness: 1.0, pose: (0.5, -0.2), ..record("a") },
        FaceRecord { area: 30.0, sharpness: 1.0, colourfulness: 9.0, pose: (-0.5, 0.3), ..record("b") },
        FaceRecord { area: 20.0, sharpness: 9.0, colourfulness: 4.0, pose: (0.0, 0.0), ..record("c") },
    ];
    assert_eq!(sort(&records, SortKey::Size).unwrap(), vec![1, 2, 0], "largest first");
    assert_eq!(sort(&records, SortKey::Blur).unwrap(), vec![2, 0, 1], "sharpest first");
    assert_eq!(sort(&records, SortKey::Color).unwrap(), vec![1, 2, 0], "most colourful first");
    assert_eq!(sort(&records, SortKey::Yaw).unwrap(), vec![1, 2, 0], "from one side to the other");
    assert_eq!(sort(&records, SortKey::Pitch).unwrap(), vec![0, 2, 1]);
    // Two bins of yaw: the left-turned face alone, then the others.
    assert_eq!(group(&records, SortKey::Yaw, 2).unwrap(), vec![vec![1], vec![2, 0]]);
    assert!(matches!(sort(&records, SortKey::Face), Err(SortError::NoDescriptor(_))));
}

#[test]
fn measures_follow_what_they_name() {
    let sharp = RgbImage::from_fn(32, 32, |x, y| if (x / 4 + y / 4) % 2 == 0 { Rgb([250, 250, 250]) } else { Rgb([5, 5, 5]) });
    let soft = image::imageops::blur(&sharp, 2.0);
    assert!(blur(&sharp) > 4.0 * blur(&soft), "{} vs {}", blur(&sharp), blur(&soft));
    let grey = RgbImage::from_pixel(32, 32, Rgb([120, 120, 120]));
    let red = RgbImage::from_fn(32, 32, |x, _| if x % 2 == 0 { Rgb([230, 20, 40]) } else { Rgb([20, 200, 40]) });
    assert!(colourfulness(&grey) < 1.0 && colourfulness(&red) > 50.0);
    // A face turned the other way (mirrored landmarks) has the opposite yaw.
    let (dirs, _) = identities();
    let face = crate::faces::read_face_meta(&load_dir(&dirs[2]).unwrap()[0].path).unwrap().face.landmarks;
    let mut mirrored = face;
    for (m, p) in mirrored.0.iter_mut().zip(face.0.iter()) {
        m.x = -p.x;
    }
    // Mirroring swaps the eyes' roles; yaw flips sign, pitch stays.
    let ((y1, p1), (y2, p2)) = (pose(&face), pose(&mirrored));
    assert!((y1 + y2).abs() < 0.25 && (p1 - p2).abs() < 0.05, "({y1}, {p1}) vs ({y2}, {p2})");
}

#[test]
fn a_folder_without_faces_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("doppel-sort-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    image::RgbImage::new(8, 8).save(dir.join("plain.png")).unwrap();
    assert!(matches!(load_dir(&dir), Err(SortError::Empty(_))));
    assert!(matches!(load_dir(&dir.join("missing")), Err(SortError::Folder(..))));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Descriptors of `people` made-up people, `per` faces each, spread like real ones (0.25 from
/// their person's centre; centres about 1.1 apart), interleaved.
fn synthetic(people: usize, per: usize) -> (Vec<FaceDescriptor>, Vec<usize>) {
    // A small deterministic generator: the test needs spread, not statistics.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    let unit = |v: [f32; 128], len: f32| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| x / n * len)
    };
    let centres: Vec<[f32; 128]> = (0..people).map(|_| unit(std::array::from_fn(|_| next()), 0.8)).collect();
    let (mut out, mut who) = (Vec::new(), Vec::new());
    for k in 0..per {
        for (p, c) in centres.iter().enumerate() {
            let noise = unit(std::array::from_fn(|_| next()), 0.25);
            out.push(FaceDescriptor(std::array::from_fn(|i| c[i] + noise[i])));
            who.push(p);
            let _ = k;
        }
    }
    (out, who)
}

#[test]
fn large_sets_cluster_into_their_people_through_a_sample() {
    for (people, per) in [(5, 40), (7, 700)] {
        let (descriptors, who) = synthetic(people, per);
        assert_eq!(descriptors.len() > EXACT_CLUSTERING, per == 700);
        let clusters = cluster(&descriptors, SAME_PERSON);
        assert_eq!(clusters.len(), people, "{} faces", descriptors.len());
        for c in &clusters {
            assert!(c.iter().all(|&i| who[i] == who[c[0]]), "a cluster mixes people");
            assert!(c.windows(2).all(|w| w[0] < w[1]), "members in input order");
        }
        assert_eq!(clusters.iter().map(Vec::len).sum::<usize>(), descriptors.len());
    }
}

#[test]
fn likeness_to_a_chosen_face_puts_that_person_first() {
    let records = everyone();
    let person_of = &identities().1;
    // A face of the 5th person: the faces nearest it are that person's.
    let reference = records.iter().position(|r| person_of[&r.path] == "penny").unwrap();
    let d = distances_to(&records, reference).unwrap();
    assert_eq!(d[reference], 0.0);
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
    let pennies = records.iter().filter(|r| person_of[&r.path] == "penny").count();
    assert!(order[..pennies].iter().all(|&i| person_of[&records[i].path] == "penny"), "the nearest {pennies} are all her");
}
