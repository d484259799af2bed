//! The load: `clients` threads, each a user doing what users of that role do, for a while.
//! Every request's kind, status and time is recorded; the editors record which faces the
//! server acknowledged moving, for the consistency check.

use super::check::Acked;
use super::http::Answer;
use super::{pick, rng, Scene, Sessions};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Page,
    Events,
    Thumbnail,
    Sort,
    Upload,
    Trash,
    Restore,
}

/// Times and outcomes per kind of request.
#[derive(Debug, Default)]
pub struct Report {
    took: BTreeMap<Kind, Vec<Duration>>,
    busy: BTreeMap<Kind, usize>,
    /// 404s for faces another user had just moved to the trash: a right answer.
    gone: usize,
    errors: BTreeMap<Kind, Vec<String>>,
}

impl Report {
    fn add(&mut self, kind: Kind, outcome: anyhow::Result<Answer>) -> Option<Answer> {
        match outcome {
            Ok(a) if a.status == 404 && kind == Kind::Thumbnail => {
                self.gone += 1;
                None
            }
            Ok(a) if a.status == 429 => {
                *self.busy.entry(kind).or_default() += 1;
                None
            }
            Ok(a) if a.status < 400 => {
                self.took.entry(kind).or_default().push(a.took);
                Some(a)
            }
            Ok(a) => {
                self.errors.entry(kind).or_default().push(format!("{}: {}", a.status, String::from_utf8_lossy(&a.body)));
                None
            }
            Err(e) => {
                self.errors.entry(kind).or_default().push(e.to_string());
                None
            }
        }
    }

    fn merge(&mut self, other: Report) {
        for (k, v) in other.took {
            self.took.entry(k).or_default().extend(v);
        }
        self.gone += other.gone;
        for (k, v) in other.busy {
            *self.busy.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            self.errors.entry(k).or_default().extend(v);
        }
    }

    /// Answers that were neither success nor 429.
    pub fn errors(&self) -> usize {
        self.errors.values().map(Vec::len).sum()
    }

    pub fn print(&self, clients: usize, seconds: u64) {
        let total: usize = self.took.values().map(Vec::len).sum::<usize>() + self.busy.values().sum::<usize>() + self.errors() + self.gone;
        println!("load: {clients} clients for {seconds} s: {total} requests ({:.1}/s)", total as f64 / seconds as f64);
        for (kind, times) in &self.took {
            let mut t = times.clone();
            t.sort();
            let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
            println!(
                "  {:<10} {:>6} ok  p50 {:>8.1} ms  p99 {:>8.1} ms  429 busy {:>4}  errors {}",
                format!("{kind:?}").to_lowercase(),
                t.len(),
                q(0.5),
                q(0.99),
                self.busy.get(kind).copied().unwrap_or(0),
                self.errors.get(kind).map_or(0, Vec::len)
            );
        }
        for (kind, errs) in &self.errors {
            println!("  {kind:?} errors: {} (first: {})", errs.len(), errs[0]);
        }
        println!("  thumbnails of faces just moved to the trash (404, right): {}", self.gone);
        println!("errors (not 429): {}", self.errors());
    }
}

/// A small PNG, different for each upload.
fn small_png(n: u64) -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x as u64 * 8 + n) as u8, (y * 8) as u8, (n % 251) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("a PNG encodes in memory");
    out.into_inner()
}

const SORTS: [&str; 6] = ["", "face", "hist", "blur", "yaw", "size"];

/// Runs the load until `length` has passed (or the server is gone) and returns the report;
/// `acked` gets the editors' acknowledged moves and uploads.
pub fn run(base: &str, sessions: &Sessions, scene: &Scene, clients: usize, length: Duration, seed: u64, acked: &mut Acked) -> anyhow::Result<Report> {
    let until = Instant::now() + length;
    let stop = AtomicBool::new(false);
    let shared = Mutex::new(std::mem::take(acked));
    let mut report = Report::default();
    let half = scene.faces.len() / 2;
    let reports: Vec<Report> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (stop, shared) = (&stop, &shared);
                s.spawn(move || -> Report {
                    let mut r = Report::default();
                    let mut rng = rng(seed, i);
                    // Two editors curate (each its own half of the faces), two upload, the rest view.
                    let user = match i {
                        0 | 2 => "ed1",
                        1 | 3 => "ed2",
                        _ => ["v1", "v2", "v3", "v4"][i % 4],
                    };
                    // One login per user, its session shared by all its clients (a browser's tabs).
                    let c = sessions.client(base, user);
                    let (pid, set) = (scene.project.to_string(), scene.set.to_string());
                    let mine = if i == 0 { &scene.faces[..half] } else { &scene.faces[half..] };
                    let mut n = 0u64;
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        n += 1;
                        match i {
                            0 | 1 => {
                                let face = pick(&mut rng, mine).clone();
                                let trash = rng.gen_bool(0.5);
                                let (kind, endpoint) = if trash { (Kind::Trash, "trash_faces") } else { (Kind::Restore, "restore_faces") };
                                let a = c.call(endpoint, &[("project", pid.clone()), ("set", set.clone()), ("files[0]", face.clone())]);
                                if a.is_err() {
                                    // No answer: the move may or may not have happened.
                                    shared.lock().unwrap().trashed.remove(&face);
                                }
                                if r.add(kind, a).is_some() {
                                    shared.lock().unwrap().trashed.insert(face, trash);
                                }
                            }
                            2 | 3 => {
                                let a = c.upload(scene.project, &format!("still_{i}_{n}.png"), &small_png(n));
                                if let Some(a) = r.add(Kind::Upload, a) {
                                    if let Ok(up) = a.json::<crate::routes::upload::Uploaded>() {
                                        shared.lock().unwrap().uploads.insert(up.media_id);
                                    }
                                }
                            }
                            _ => match rng.gen_range(0..10) {
                                0..=2 => {
                                    let page = if rng.gen_bool(0.5) { format!("/projects/{pid}") } else { format!("/projects/{pid}/facesets/{set}") };
                                    r.add(Kind::Page, c.get(&page));
                                }
                                3 => {
                                    r.add(Kind::Events, c.events(scene.project, rng.gen_range(1..4)));
                                }
                                4..=6 => {
                                    let face = pick(&mut rng, &scene.faces);
                                    r.add(Kind::Thumbnail, c.get(&format!("/api/projects/{pid}/facesets/{set}/faces/{face}?size=128")));
                                }
                                _ => {
                                    let sort = pick(&mut rng, &SORTS).to_string();
                                    r.add(Kind::Sort, c.call("face_gallery", &[("project", pid.clone()), ("set", set.clone()), ("sort", sort)]));
                                }
                            },
                        }
                        // A connection refused means the server is down (a kill): stop.
                        if r.errors.values().flatten().any(|e| e.contains("onnect")) {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    for r in reports {
        report.merge(r);
    }
    *acked = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(report)
}
