use super::*;
use crate::train::session::latest_save;

fn options(tag: &str) -> TrainOptions {
    let (a, b) = crate::train::testdata::face_sets();
    let dir = std::env::temp_dir().join(format!("doppel-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut o = TrainOptions::new(a.clone(), b.clone(), dir, ModelKind::Lightweight);
    o.training.batch = 2;
    o.save_every = 2;
    o
}

/// Records what the run reports.
#[derive(Default)]
struct Record {
    statuses: Vec<Status>,
    saves: Vec<Saved>,
    rollbacks: Vec<(u64, f64)>,
    stop_after: Option<u64>,
}

impl TrainObserver for Record {
    fn status(&mut self, s: &Status) {
        self.statuses.push(s.clone());
    }
    fn saved(&mut self, s: &Saved) {
        self.saves.push(s.clone());
    }
    fn rolled_back(&mut self, to: u64, scale: f64) {
        self.rollbacks.push((to, scale));
    }
    fn should_stop(&self) -> bool {
        self.stop_after.is_some_and(|n| self.statuses.last().is_some_and(|s| s.iteration >= n))
    }
}

#[test]
fn a_run_saves_previews_snapshots_and_timelapse_and_a_second_run_goes_on() {
    let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
    let mut o = options("full");
    o.iterations = Some(4);
    o.snapshot_every = Some(4);
    let (a, b) = crate::train::testdata::face_sets();
    o.timelapse = Some(Timelapse { a: a.clone(), b: b.clone(), out: o.model_dir.join("timelapse") });
    let mut rec = Record::default();
    let report = train(&o, &device, &mut rec).unwrap();
    assert_eq!((report.iteration, report.stopped), (4, false));
    assert_eq!(rec.statuses.iter().map(|s| s.iteration).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(rec.statuses.iter().all(|s| s.loss.a.is_finite() && s.loss.b > 0.0 && s.target == Some(4)));
    assert!(rec.statuses[3].examples_per_second > 0.0 && rec.statuses[3].eta_seconds == Some(0.0));
    assert_eq!(rec.saves.iter().map(|s| s.iteration).collect::<Vec<_>>(), [2, 4]);

    let preview = image::open(o.model_dir.join(PREVIEW)).unwrap();
    // Six columns of 128 px tiles and a gap; one row per fixed face.
    assert_eq!((preview.width(), preview.height()), (6 * 128 + 16, PREVIEW_FACES as u32 * 128));
    let snapshot = rec.saves[1].snapshot.clone().unwrap();
    assert_eq!(snapshot, o.model_dir.join(SNAPSHOTS).join("00000004"));
    let (_, p) = resume(&snapshot, &device).unwrap();
    assert_eq!(p.iteration, 4);
    assert!(rec.saves[0].snapshot.is_none());
    assert!(rec.saves[1].timelapse.as_ref().unwrap().ends_with("timelapse/00000004.png"));
    assert!(o.model_dir.join("timelapse/00000002.png").is_file());

    // Asked for 6 in all: the second run resumes at 4 and does 2 more.
    o.iterations = Some(6);
    let mut more = Record::default();
    let report = train(&o, &device, &mut more).unwrap();
    assert_eq!(report.iteration, 6);
    assert_eq!(more.statuses.first().map(|s| s.iteration), Some(5));
    let (_, p) = resume(&o.model_dir, &device).unwrap();
    assert_eq!((p.iteration, p.history.len()), (6, 6));

    // Another model kind in the same folder is refused with a clear message.
    o.kind = ModelKind::Original;
    let err = train(&o, &device, &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("holds a lightweight model"), "{err}");
    std::fs::remove_dir_all(&o.model_dir).unwrap();
}

#[test]
fn a_stop_saves_first() {
    let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
    let mut o = options("stop");
    o.save_every = 100;
    let mut rec = Record { stop_after: Some(3), ..Record::default() };
    let report = train(&o, &device, &mut rec).unwrap();
    assert_eq!((report.iteration, report.stopped), (3, true));
    assert_eq!(rec.saves.iter().map(|s| s.iteration).collect::<Vec<_>>(), [3]);
    assert!(latest_save(&o.model_dir).is_some());
    std::fs::remove_dir_all(&o.model_dir).unwrap();
}

#[test]
fn a_diverging_run_rolls_back_lowers_the_rate_then_stops_with_a_clear_error() {
    let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
    let mut o = options("nan");
    o.save_every = 1;
    // Absurd: the first update already blows the weights up.
    o.optimizer.learning_rate = 1e30;
    let mut rec = Record::default();
    let err = train(&o, &device, &mut rec).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { rollbacks, .. } if rollbacks == MAX_ROLLBACKS + 1), "{err}");
    assert!(err.to_string().contains("last good save is kept"));
    // Each rollback went back to the save after iteration 1 and halved the rate.
    let scales: Vec<f64> = rec.rollbacks.iter().map(|r| r.1).collect();
    assert_eq!(scales, [0.5, 0.25, 0.125, 0.0625]);
    assert!(rec.rollbacks.iter().all(|r| r.0 == 1));
    let (_, p) = resume(&o.model_dir, &device).unwrap();
    assert_eq!(p.iteration, 1, "the good save is still there and loads");
    std::fs::remove_dir_all(&o.model_dir).unwrap();
}

/// Stopping after iteration k and running again gives the same iterations k + 1.. as one
/// run straight through: same batches, same augmentation, same optimiser state.
#[test]
fn a_stopped_and_resumed_run_matches_one_that_went_straight_through() {
    let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
    let mut straight = options("straight");
    straight.iterations = Some(4);
    straight.save_every = 100;
    straight.optimizer.learning_rate = 1e-4;
    train(&straight, &device, &mut Quiet).unwrap();
    let (_, whole) = resume(&straight.model_dir, &device).unwrap();

    let mut split = straight.clone();
    split.model_dir = std::env::temp_dir().join(format!("doppel-run-split-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&split.model_dir);
    let mut first = Record { stop_after: Some(2), ..Record::default() };
    assert!(train(&split, &device, &mut first).unwrap().stopped);
    train(&split, &device, &mut Quiet).unwrap();
    let (_, parts) = resume(&split.model_dir, &device).unwrap();
    assert_eq!(parts.history, whole.history, "the resumed run must continue exactly");
    for dir in [&straight.model_dir, &split.model_dir] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}
