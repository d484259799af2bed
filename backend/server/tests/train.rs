//! `doppel train` as users run it, and killed as machines die: at random moments, during
//! saves too, many times. Every restart must resume from a loadable save, and no more than one
//! save interval of iterations may be lost.

mod common;

use common::{models_dir, shared_data};
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn doppel() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doppel"));
    c.env_remove("RUST_BACKTRACE");
    c
}

/// A few faces of each talking woman (every 8th of the first 41 frames).
fn faces(root: &Path) -> (PathBuf, PathBuf) {
    let mut dirs = Vec::new();
    for name in ["talk_woman_a", "talk_woman_b"] {
        let out = root.join(name);
        let status = doppel()
            .args(["extract", "--frames", "0-40", "--every-n", "8", "--size", "128", "--quiet", "--models-dir"])
            .arg(models_dir())
            .arg("-i")
            .arg(shared_data(&format!("video/{name}.mp4")))
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        dirs.push(out);
    }
    (dirs[0].clone(), dirs[1].clone())
}

const SAVE_EVERY: u64 = 2;

fn train(a: &Path, b: &Path, model: &Path) -> Command {
    let mut c = doppel();
    c.args(["train", "-t", "lightweight", "--batch-size", "2", "--quiet", "--log-every", "1", "--save-every", &SAVE_EVERY.to_string(), "-A"]).arg(a).arg("-B").arg(b).arg("-m").arg(model);
    c
}

/// The iteration of the newest save, read the way a restart reads it.
fn saved_iteration(model: &Path) -> Option<u64> {
    let device = doppel_engine::device::ComputeDevice::Cpu.to_burn().unwrap();
    match doppel_engine::train::resume(model, &device) {
        Ok((_, progress)) => Some(progress.iteration),
        Err(doppel_engine::train::SessionError::NoSave(_) | doppel_engine::train::SessionError::NotAModel(_)) => None,
        Err(e) => panic!("the save does not load after a kill: {e}"),
    }
}

/// The largest `N` in lines starting with `prefix N`.
fn last_number(lines: &[String], prefix: &str) -> Option<u64> {
    lines.iter().filter_map(|l| l.strip_prefix(prefix)).filter_map(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()).max()
}

#[test]
fn kill_9_at_random_moments_never_loses_more_than_one_save_interval() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = faces(root.path());
    let model = root.path().join("model");
    let seed: u64 = std::env::var("DOPPEL_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| Instant::now().elapsed().subsec_nanos() as u64 ^ std::process::id() as u64);
    println!("kill seed {seed} (DOPPEL_KILL_SEED to repeat)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut during_save, mut before) = (0, None::<u64>);
    for round in 0..10 {
        let mut child = train(&a, &b, &model).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let (lines, out) = (lines.clone(), child.stdout.take().unwrap());
            std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).for_each(|l| lines.lock().unwrap().push(l)))
        };
        // Half the rounds die at a random moment; the other half right after an iteration
        // that starts a save, so the kill lands inside the save.
        let aim_at_save = round % 2 == 1;
        // The clock starts at the first iteration, so a slow start-up (a loaded machine) does
        // not eat the time the run has to get somewhere.
        let started = Instant::now();
        while !lines.lock().unwrap().iter().any(|l| l.starts_with("iteration ")) && started.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let deadline = Instant::now() + Duration::from_millis(rng.gen_range(500..6000));
        let kill_after_save_start = Duration::from_millis(rng.gen_range(0..1200));
        loop {
            std::thread::sleep(Duration::from_millis(20));
            if aim_at_save {
                let started = lines.lock().unwrap().iter().filter_map(|l| l.strip_prefix("iteration ")).filter_map(|r| r.split(':').next()?.parse::<u64>().ok()).any(|i| i % SAVE_EVERY == 0);
                if started {
                    std::thread::sleep(kill_after_save_start);
                    break;
                }
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let lines = lines.lock().unwrap().clone();
        if std::fs::read_dir(&model).map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))).unwrap_or(false) {
            during_save += 1;
        }
        let saved = saved_iteration(&model);
        let (reported_save, last_done) = (last_number(&lines, "saved at iteration "), last_number(&lines, "iteration "));
        println!("round {round}: reached {last_done:?}, reported save {reported_save:?}, resumes at {saved:?}");
        if let Some(r) = reported_save {
            assert!(saved.unwrap_or(0) >= r, "a save that was reported complete was lost");
        }
        let lost = last_done.unwrap_or(0).saturating_sub(saved.unwrap_or(before.unwrap_or(0)));
        assert!(lost <= SAVE_EVERY, "{lost} iterations lost (at most {SAVE_EVERY} allowed)");
        assert!(saved >= before, "the save went backwards: {before:?} -> {saved:?}");
        before = saved;
    }
    println!("{during_save} of 10 kills left a save half written");
    let last = before.expect("some saves were made");
    assert!(last >= SAVE_EVERY, "training made progress across restarts: {last}");
    // And the model trains on from there.
    let out = train(&a, &b, &model).arg("--iterations").arg((last + 1).to_string()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("resuming at iteration {last}")));
    assert_eq!(saved_iteration(&model), Some(last + 1));
}

#[test]
fn train_explains_bad_folders_and_refuses_a_second_run_on_one_model() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = train(&empty, &empty, &root.path().join("m")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no faces extracted by Doppel"), "{err}");

    let (a, b) = faces(root.path());
    let model = root.path().join("model");
    let mut first = train(&a, &b, &model).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Wait until the first run holds the folder.
    let started = Instant::now();
    while !model.join(".lock").exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = train(&a, &b, &model).output().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another training run is using"), "{}", String::from_utf8_lossy(&second.stderr));
}
