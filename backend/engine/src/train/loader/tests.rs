use super::*;

fn sets() -> (FaceSet, FaceSet) {
    let (a, b) = crate::train::testdata::face_sets();
    (FaceSet::open(a).unwrap(), FaceSet::open(b).unwrap())
}

fn settings(threads: usize, warp: WarpMode) -> LoaderSettings {
    let augment = AugmentSettings {
        warp,
        ..AugmentSettings::default()
    };
    LoaderSettings {
        batch: 3,
        input: 64,
        output: 64,
        frame: CropFrame::FACE,
        augment,
        seed: 5,
        threads,
        ahead: 2,
    }
}

#[test]
fn batches_depend_on_seed_and_iteration_only() {
    let (a, b) = sets();
    let take = |threads, start, count| {
        let mut loader = Loader::start(
            a.clone(),
            b.clone(),
            settings(threads, WarpMode::ToLandmarks),
            start,
        )
        .unwrap();
        (0..count)
            .map(|_| loader.next_batches().unwrap())
            .collect::<Vec<_>>()
    };
    let straight = take(1, 0, 5);
    let (first, batch_b) = &straight[0];
    assert_eq!(
        (
            first.size,
            first.input.len(),
            first.target.len(),
            first.mask.len()
        ),
        (3, 3 * 3 * 64 * 64, 3 * 3 * 64 * 64, 3 * 64 * 64)
    );
    assert_eq!(batch_b.eyes.len(), 3 * 64 * 64);
    // Two threads, and a restart at iteration 3 (a resumed session), give the same batches.
    assert_eq!(take(2, 0, 5), straight);
    assert_eq!(take(2, 3, 2), straight[3..]);
    assert_ne!(straight[0].0.input, straight[1].0.input);
}

#[test]
fn every_face_is_used_once_per_epoch() {
    let (a, _) = sets();
    let n = a.faces.len();
    let mut cache = None;
    let mut seen: Vec<usize> = (0..n as u64)
        .map(|k| face_at(k, n, 5, 0, &mut cache))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    let next: Vec<usize> = (n as u64..2 * n as u64)
        .map(|k| face_at(k, n, 5, 0, &mut cache))
        .collect();
    let first: Vec<usize> = (0..n as u64)
        .map(|k| face_at(k, n, 5, 0, &mut cache))
        .collect();
    assert_ne!(next, first, "each epoch is shuffled afresh");
}

#[test]
fn partners_are_the_closest_faces_of_the_other_side() {
    let p = |dx: f32| [Point::new(dx, 0.0); 68];
    let near = nearest(&[p(0.0), p(10.0)], &[p(9.0), p(1.0), p(30.0)]);
    assert_eq!(
        near[0][..2]
            .iter()
            .collect::<std::collections::HashSet<_>>(),
        [1, 0].iter().collect()
    );
    assert_eq!(near[0].len(), 3);
    let mut sorted = near[1].clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![0, 1, 2]);
}

#[test]
fn coverage_zooms_in_on_the_face() {
    use crate::train::session::TrainingSettings;
    let (a, _) = sets();
    let path = &a.faces[0].0;
    let full = load_face(path, TrainingSettings::default().frame(), 64).unwrap();
    let half = load_face(path, TrainingSettings { coverage: 0.5, ..TrainingSettings::default() }.frame(), 64).unwrap();
    let span = |f: &Face| f.landmarks[16].x - f.landmarks[0].x;
    assert!((span(&half) / span(&full) - 2.0).abs() < 0.1, "{} vs {}", span(&half), span(&full));
    assert!(span(&full) > 20.0 && span(&full) < 64.0, "at full coverage the whole jaw is inside the crop");
}
