//! Compute devices from the web app: every signed-in user can list the server's devices (the
//! default marked); a job names its device, the server's default when the form names none,
//! and a device the server does not have is refused before any job exists; a job whose device
//! is gone fails saying so, and is not put back in the queue; each device trains one model at
//! a time, side by side with the others.

mod common;

use app::api::ssr::JobControl;
use app::api::{DeviceDto, ExtractStarted};
use axum::http::StatusCode;
use common::*;
use doppel::routes::upload::Uploaded;
use doppel_store::JobState;

#[tokio::test]
async fn signed_in_users_list_the_devices_and_jobs_run_only_on_devices_the_server_has() {
    // No network weights: the extraction jobs started here end quickly, failing to load them.
    let empty_models = tempfile::tempdir().unwrap();
    let s = server_with_models(1 << 30, empty_models.path().to_path_buf()).await;
    let admin = s.admin().await;
    let user = s.user(&admin, "ed").await;
    let pid = s.project(&admin, "Swap").await;
    let r = s.call(Some(&admin), "set_member", &[("id", &pid.to_string()), ("username", "ed"), ("role", "editor")]).await;
    assert!(r.status.is_success(), "{}", r.text());

    // Any signed-in user reads the list; nobody else.
    let r = s.call(Some(&user), "list_devices", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let devices: Vec<DeviceDto> = r.json();
    assert_eq!(devices.len(), 1, "the test server runs on the CPU only: {devices:?}");
    assert_eq!((devices[0].id.as_str(), devices[0].backend.as_str(), devices[0].default), ("cpu", "cpu", true));
    assert_eq!(s.call(None, "list_devices", &[]).await.status, StatusCode::UNAUTHORIZED);

    let bytes = std::fs::read(shared_data("video/tiny_5frames.mp4")).unwrap();
    let r = s.upload(&user, pid, "tiny_5frames.mp4", bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let up: Uploaded = r.json();
    assert_eq!(s.wait_job(up.job_id).await.state, JobState::Done);
    let jobs_now = || async { s.state.ctx.store.list_jobs(pid, 100).await.unwrap().len() };
    let jobs_before = jobs_now().await;
    let (p, m) = (pid.to_string(), up.media_id.to_string());
    let extract = |device: &'static str| {
        let (p, m, user) = (p.clone(), m.clone(), user.clone());
        let s = &s;
        async move { s.call(Some(&user), "start_extraction", &[("project", p.as_str()), ("media", m.as_str()), ("size", "128"), ("device", device)]).await }
    };

    // A device the server lacks, or no device at all: 400 naming it and what there is, no job.
    for device in ["wgpu:99", "bogus"] {
        let r = extract(device).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{device}: {}", r.text());
        assert!(r.text().contains(&format!("there is no device '{device}' on this server; it has cpu (default)")), "{device}: {}", r.text());
    }
    let mut args = vec![("project", p.clone()), ("face_set_a", "1".into()), ("face_set_b", "2".into()), ("device", "wgpu:99".into())];
    let r = s.call(Some(&user), "start_training", &form(&args)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("there is no device 'wgpu:99' on this server"), "{}", r.text());
    args[3].1 = "bogus".into();
    assert!(s.call(Some(&user), "start_training", &form(&args)).await.text().contains("no device 'bogus'"));
    assert_eq!(jobs_now().await, jobs_before, "no job was made");
    assert!(s.state.ctx.store.list_face_sets(pid, true).await.unwrap().is_empty(), "no face set was made");
    assert!(s.state.ctx.store.list_models(pid, true).await.unwrap().is_empty(), "no model was made");

    // No device named: the default, written into the job; a device named in any case: that one.
    for (device, expected) in [("", "cpu"), ("CPU", "cpu")] {
        let r = extract(device).await;
        assert_eq!(r.status, StatusCode::OK, "{device:?}: {}", r.text());
        let started: ExtractStarted = r.json();
        let job = s.wait_job(started.job_id).await;
        assert_eq!(job.params["device"], expected, "the job says where it runs");
        assert!(job.log_tail.contains("on cpu"), "{}", job.log_tail);
        assert!(job.error.unwrap_or_default().contains("cannot load the face networks"), "it ran, on the CPU");
    }

    // A job whose device is gone (queued before a restart without that GPU) fails saying so,
    // on the default device's worker, and cannot be resumed there.
    let mut gone = app::api::ExtractForm::default().parse(up.media_id, "tiny_5frames.mp4", Some(5)).unwrap();
    gone.device = Some("wgpu:7".into());
    let gone = serde_json::to_value(&gone).unwrap();
    let (_, job) = s.state.ctx.store.create_face_set_with_job(pid, "gone", up.media_id, 1, "extract", gone).await.unwrap();
    s.state.runner.changed(&job);
    let job = s.wait_job(job.id).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("this job runs on wgpu:7, which this server does not have (it has cpu)"), "{error}");
    let r = s.call(Some(&user), "resume_job", &[("project", p.as_str()), ("job", &job.id.to_string())]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("wgpu:7, which this server no longer has"), "{}", r.text());
    assert_eq!(s.state.ctx.store.job(job.id).await.unwrap().state, JobState::Failed, "not queued again");
}

/// A server with the CPU (the default) and a stand-in second device: no such adapter exists,
/// so work sent there fails at once, saying so, which is enough to see which worker took it.
async fn two_device_server() -> TestServer {
    use doppel_engine::device::{ComputeDevice, DeviceInfo};
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/doppel.js"), "export function hydrate() {}\n").unwrap();
    let config = doppel::cli::ServeConfig::new(HOST.parse().unwrap(), dir.path().join("data"), site);
    let device = |device, name: &str| DeviceInfo { device, name: name.into(), memory_bytes: None, software: false };
    let devices = vec![device(ComputeDevice::Cpu, "CPU"), device(ComputeDevice::Wgpu(9), "stand-in GPU")];
    let engine = doppel::jobs::EngineConfig::new(doppel_engine::nets::ModelsDir::new(models_dir()), ComputeDevice::Cpu, devices).unwrap();
    let (router, state) = doppel::server::build_with(config, engine).await.unwrap();
    TestServer { router, state, dir }
}

/// The training lane has a worker per device: while a model trains on the CPU, a second
/// training on the CPU waits in the queue, and one on the other device is taken at once.
#[tokio::test]
async fn each_device_trains_one_model_at_a_time_and_devices_train_side_by_side() {
    let s = two_device_server().await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let devices: Vec<DeviceDto> = s.call(Some(&admin), "list_devices", &[]).await.json();
    let ids: Vec<(&str, bool)> = devices.iter().map(|d| (d.id.as_str(), d.default)).collect();
    assert_eq!(ids, [("cpu", true), ("wgpu:9", false)]);
    let (_, a) = extracted(&s, &admin, pid, "talk_woman_a.mp4").await;
    let (_, b) = extracted(&s, &admin, pid, "talk_woman_b.mp4").await;
    let train = |device: &'static str, iterations: &'static str| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let args = [
                ("project", pid.to_string()),
                ("face_set_a", a.to_string()),
                ("face_set_b", b.to_string()),
                ("kind", "lightweight".into()),
                ("batch", "2".into()),
                ("iterations", iterations.into()),
                ("save_every", "1000".into()),
                ("device", device.into()),
            ];
            let r = s.call(Some(&admin), "start_training", &form(&args)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json::<app::api::TrainStarted>().job_id
        }
    };
    let first = train("", "1000").await;
    let second = train("cpu", "2").await;
    let elsewhere = train("wgpu:9", "2").await;

    let until = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let j = s.state.ctx.store.job(first).await.unwrap();
        if j.state == JobState::Running && j.progress.done >= 1 {
            break;
        }
        assert!(!j.state.is_finished() && std::time::Instant::now() < until, "the first training did not get going: {j:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Up to a minute for the other device's run, then everything is stopped before any check
    // (a failed check would otherwise wait for 1000 iterations).
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let other = loop {
        let j = s.state.ctx.store.job(elsewhere).await.unwrap();
        if j.state.is_finished() || std::time::Instant::now() > until {
            break j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (first_then, second_then) = (s.state.ctx.store.job(first).await.unwrap().state, s.state.ctx.store.job(second).await.unwrap().state);
    for job in [second, elsewhere, first] {
        let r = s.call(Some(&admin), "cancel_job", &[("project", &pid.to_string()), ("job", &job.to_string())]).await;
        assert!(r.status.is_success() || r.status == StatusCode::BAD_REQUEST, "{}", r.text());
    }
    assert_eq!(wait(&s, first, 120).await.state, JobState::Cancelled);

    assert_eq!(other.state, JobState::Failed, "the other device's run did not wait for the CPU's: {other:?}");
    assert_eq!(other.params["device"], "wgpu:9");
    let error = other.error.clone().unwrap_or_default();
    assert!(error.contains("cannot use the wgpu:9 device"), "its own worker ran it, on its device: {error}");
    assert_eq!(first_then, JobState::Running, "the CPU's run went on meanwhile");
    assert_eq!(second_then, JobState::Queued, "a second run on the CPU waits");
    assert_eq!(s.state.ctx.store.job(second).await.unwrap().state, JobState::Cancelled);
}
