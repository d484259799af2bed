//! `doppel bench serve`: many users on one project at once, then crashes.
//!
//! Starts `doppel serve` as a child process on a fresh data directory with a project, two
//! editors and viewers, a video and a face set extracted from it. Then `--clients` users work
//! for `--seconds`: page loads, event streams, small uploads, gallery sorts, and two editors
//! trashing and restoring faces. It prints p50/p99 latency per kind of request and the errors
//! (429 "busy" answers are counted apart), and checks that the face set, its alignments store,
//! its trash and the database agree with every acknowledged change. With `--kills N` it then
//! kills the server with SIGKILL N times at random moments of the same load and of an
//! extraction, restarts it and checks the same each time, then resumes the extraction.

mod check;
mod http;
mod load;

use anyhow::{bail, Context as _};
use clap::Args;
use http::{Client, ServerDirs, ServerProcess};
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// Users working at once.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Crashes (SIGKILL at a random moment) after the load, each followed by a restart and
    /// a check.
    #[arg(long, default_value_t = 0)]
    pub kills: usize,
    /// The video uploaded and extracted.
    #[arg(short, long, default_value = "../shared/data/video/talk_woman_a.mp4")]
    pub input: PathBuf,
    #[arg(long, env = "DOPPEL_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// Keep the data directory (its path is printed).
    #[arg(long)]
    pub keep: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub const PASSWORD: &str = "bench password";

/// The users of the bench.
pub const USERS: [&str; 6] = ["ed1", "ed2", "v1", "v2", "v3", "v4"];

/// Each user's session cookie, from one login each.
pub struct Sessions(std::collections::BTreeMap<&'static str, String>);

impl Sessions {
    pub fn login(base: &str) -> anyhow::Result<Sessions> {
        let mut cookies = std::collections::BTreeMap::new();
        for user in USERS {
            let c = Client::login(base, user, PASSWORD)?;
            cookies.insert(user, c.cookie.unwrap_or_default());
        }
        Ok(Sessions(cookies))
    }

    pub fn client(&self, base: &str, user: &str) -> Client {
        Client::with_cookie(base, self.0.get(user).map_or("", String::as_str))
    }
}

/// The project and face set the load works on.
pub struct Scene {
    pub project: i64,
    pub media: i64,
    pub set: i64,
    /// The set's faces after extraction.
    pub faces: Vec<String>,
}

pub fn run(args: BenchServeArgs) -> anyhow::Result<()> {
    if !args.input.is_file() {
        bail!("{} is not a file (--input)", args.input.display());
    }
    let root = std::env::temp_dir().join(format!("doppel-bench-serve-{}", doppel_store::new_server_name()));
    std::fs::create_dir_all(&root)?;
    let dirs = ServerDirs {
        data: root.join("data"),
        site: http::stub_site(&root)?,
        models: std::path::absolute(&args.models_dir)?,
        log: root.join("server.log"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let project = rt.block_on(setup_accounts(&dirs.data))?;
    let result = bench(&args, &dirs, project, &rt);
    if args.keep || result.is_err() {
        println!("data directory kept: {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

fn bench(args: &BenchServeArgs, dirs: &ServerDirs, project: i64, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let mut server = ServerProcess::start(dirs)?;
    let sessions = Sessions::login(&server.base)?;
    let scene = prepare(&sessions.client(&server.base, "ed1"), project, &args.input)?;
    let all: BTreeSet<String> = scene.faces.iter().cloned().collect();
    println!("scene: project {}, face set {} with {} faces from {}", scene.project, scene.set, all.len(), args.input.display());

    let mut acked = check::Acked::default();
    let report = load::run(&server.base, &sessions, &scene, args.clients, Duration::from_secs(args.seconds), args.seed, &mut acked)?;
    report.print(args.clients, args.seconds);
    let findings = rt.block_on(check::check(&dirs.data, scene.project, scene.set, &all, &acked))?;
    print_findings("after the load", &findings);
    let mut failed = report.errors() > 0 || !findings.problems.is_empty();

    if args.kills > 0 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed ^ 0x5eed);
        let editor = sessions.client(&server.base, "ed1");
        let second = start_extraction(&editor, scene.project, scene.media, 1)?;
        let extraction = second.job_id;
        let (mut lost, mut bad, mut downtime) = (0usize, 0usize, Duration::ZERO);
        for round in 1..=args.kills {
            let moment = Duration::from_millis(rng.gen_range(300..4000));
            let seed = args.seed.wrapping_add(round as u64);
            let base = server.base.clone();
            let scene_ref = &scene;
            let mut round_acked = acked.clone();
            let ext = sessions.client(&base, "ed1");
            let sessions_ref = &sessions;
            // The extraction runs (resumed) while the load goes on; both are cut by the kill.
            let _ = ext.call("resume_job", &[("project", scene.project.to_string()), ("job", extraction.to_string())]);
            std::thread::scope(|s| -> anyhow::Result<()> {
                let load = s.spawn(move || load::run(&base, sessions_ref, scene_ref, (args.clients / 2).max(4), moment + Duration::from_secs(2), seed, &mut round_acked).map(|_| round_acked));
                std::thread::sleep(moment);
                server.kill9();
                acked = load.join().map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
                Ok(())
            })?;
            let restarted = Instant::now();
            server = ServerProcess::start(dirs)?;
            downtime += restarted.elapsed();
            let f = rt.block_on(check::check(&dirs.data, scene.project, scene.set, &all, &acked))?;
            let state = job_state(&sessions.client(&server.base, "ed1"), scene.project, JobOf::Set(second.face_set_id))?;
            println!(
                "kill {round:2} at {:>5} ms: restarted in {:>4} ms; set {} + trash {} = store {} + trash; media {} rows / {} files; extraction {state}; {}",
                moment.as_millis(),
                restarted.elapsed().as_millis(),
                f.in_set,
                f.in_trash,
                f.in_store,
                f.media_rows,
                f.media_files,
                if f.problems.is_empty() { "ok".to_string() } else { f.problems.join("; ") }
            );
            lost += f.problems.iter().filter(|p| p.contains("acknowledged") || p.contains("is gone")).count();
            bad += f.problems.len();
            if !matches!(state.as_str(), "interrupted" | "done" | "queued" | "running") {
                bad += 1;
            }
        }
        // The extraction finishes from where the crashes left it.
        let editor = sessions.client(&server.base, "ed1");
        let _ = editor.call("resume_job", &[("project", scene.project.to_string()), ("job", extraction.to_string())]);
        let end = wait_job(&editor, scene.project, JobOf::Set(second.face_set_id), 600)?;
        let f = rt.block_on(check::check(&dirs.data, scene.project, second.face_set_id, &BTreeSet::new(), &check::Acked::default()))?;
        print_findings("of the extraction cut by every crash", &f);
        bad += f.problems.len();
        println!(
            "kill -9: {} crashes, restart {:.1} s on average; acknowledged changes lost: {lost}; other problems: {}; the extraction resumed and ended {end}",
            args.kills,
            downtime.as_secs_f64() / args.kills as f64,
            bad - lost
        );
        failed |= bad > 0 || end != "done";
    }
    drop(server);
    if failed {
        bail!("the server lost or mixed up data, or answered with errors (see above)");
    }
    println!("ok");
    Ok(())
}

fn print_findings(when: &str, f: &check::Findings) {
    println!(
        "consistency {when}: {} faces in the set + {} in the trash; alignments store {}; media {} rows, {} files: {}",
        f.in_set,
        f.in_trash,
        f.in_store,
        f.media_rows,
        f.media_files,
        if f.problems.is_empty() { "all agree".to_string() } else { f.problems.join("; ") }
    );
}

/// An admin, two editors and four viewers on one project, made directly in the store.
async fn setup_accounts(data: &std::path::Path) -> anyhow::Result<i64> {
    use doppel_store::Role;
    let store = doppel_store::Store::open(data).await?;
    let admin = store.create_user("admin", PASSWORD, true).await?;
    let project = store.create_project(admin.id, "Load").await?;
    for name in USERS {
        let role = if name.starts_with("ed") { Role::Editor } else { Role::Viewer };
        store.create_user(name, PASSWORD, false).await?;
        store.set_member(admin.id, project.id, name, role).await?;
    }
    store.pool().close().await;
    Ok(project.id)
}

/// Uploads the video and extracts a face set from it (every 8th frame, 128 px faces).
fn prepare(ed: &Client, project: i64, input: &std::path::Path) -> anyhow::Result<Scene> {
    let bytes = std::fs::read(input)?;
    let up: crate::routes::upload::Uploaded = ed.upload(project, "clip.mp4", &bytes)?.json()?;
    let probed = wait_job(ed, project, JobOf::Latest(up.job_id), 120)?;
    if probed != "done" {
        bail!("the video's probe ended {probed}");
    }
    let started = start_extraction(ed, project, up.media_id, 8)?;
    let ended = wait_job(ed, project, JobOf::Set(started.face_set_id), 600)?;
    if ended != "done" {
        bail!("the extraction ended {ended}");
    }
    let faces: app::api::FaceList = ed.call("list_faces", &[("project", project.to_string()), ("set", started.face_set_id.to_string())])?.json()?;
    if faces.files.len() < 4 {
        bail!("only {} faces were extracted: the load needs a few", faces.files.len());
    }
    Ok(Scene { project, media: up.media_id, set: started.face_set_id, faces: faces.files })
}

fn start_extraction(ed: &Client, project: i64, media: i64, every_n: u32) -> anyhow::Result<app::api::ExtractStarted> {
    let a = ed.call(
        "start_extraction",
        &[("project", project.to_string()), ("media", media.to_string()), ("every_n", every_n.to_string()), ("size", "128".into())],
    )?;
    a.json::<app::api::ExtractStarted>()
}

/// Which job to ask about: one of the project's latest (a probe), or a face set's extraction
/// (which a thousand uploads' probes push off the list of latest jobs).
#[derive(Clone, Copy)]
enum JobOf {
    Latest(i64),
    Set(i64),
}

/// The job's state as the app names it ("done", "failed", ...).
fn job_state(c: &Client, project: i64, job: JobOf) -> anyhow::Result<String> {
    let found = match job {
        JobOf::Latest(id) => {
            let jobs: Vec<app::api::JobDto> = c.call("list_jobs", &[("project", project.to_string())])?.json()?;
            jobs.into_iter().find(|j| j.id == id).with_context(|| format!("job {id} is not listed"))?
        }
        JobOf::Set(set) => {
            let detail: app::api::FaceSetDetail = c.call("get_face_set", &[("project", project.to_string()), ("set", set.to_string())])?.json()?;
            detail.job.with_context(|| format!("face set {set} has no job"))?
        }
    };
    Ok(serde_json::to_value(found.state)?.as_str().unwrap_or("?").to_string())
}

fn wait_job(c: &Client, project: i64, job: JobOf, secs: u64) -> anyhow::Result<String> {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let state = job_state(c, project, job)?;
        if !matches!(state.as_str(), "queued" | "running") {
            return Ok(state);
        }
        if Instant::now() > until {
            bail!("the job is still {state} after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A seeded generator per client.
pub fn rng(seed: u64, client: usize) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(client as u64))
}

pub fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}
