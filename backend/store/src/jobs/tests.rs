use super::*;
use crate::test_support::temp_store;

#[test]
fn state_machine_allows_only_the_documented_moves() {
    use JobState::*;
    assert!(Queued.can_become(Running));
    assert!(Running.can_become(Interrupted));
    assert!(Interrupted.can_become(Queued));
    assert!(!Done.can_become(Running));
    assert!(!Done.can_become(Queued));
    assert!(!Queued.can_become(Done));
    assert!(!Interrupted.can_become(Running), "resume goes through the queue");
    for s in JobState::ALL {
        assert!(!s.can_become(s), "{s:?} -> itself");
        assert_eq!(JobState::parse(s.as_str()).unwrap(), s);
    }
}

#[tokio::test]
async fn jobs_run_finish_and_refuse_bad_moves() {
    let t = temp_store().await;
    let s = &t.store;
    let u = s.create_user("u", "password1", false).await.unwrap();
    let p = s.create_project(u.id, "p").await.unwrap();
    let j = s.create_job("probe", p.id, &serde_json::json!({"media": 1}), Some(u.id)).await.unwrap();
    assert_eq!(j.state, JobState::Queued);
    assert_eq!(j.created_by_name.as_deref(), Some("u"), "who started it");
    assert!(s.claim_next_job(&["train"]).await.unwrap().is_none(), "other kinds are not claimed");
    let running = s.claim_next_job(&["probe"]).await.unwrap().unwrap();
    assert_eq!(running.id, j.id);
    assert_eq!(running.state, JobState::Running);
    assert!(running.started_at.is_some());
    assert!(s.claim_next_job(&["probe"]).await.unwrap().is_none(), "a running job is not claimed twice");
    s.set_job_progress(j.id, &JobProgress { done: 3, total: 10, rate: Some(1.5), eta_secs: Some(4.6) }).await.unwrap();
    assert_eq!(s.job(j.id).await.unwrap().progress.done, 3);
    s.set_job_message(j.id, "2 faces in 2 frames").await.unwrap();
    let done = s.transition_job(j.id, JobState::Done, None).await.unwrap();
    assert!(done.finished_at.is_some());
    assert_eq!(done.message.as_deref(), Some("2 faces in 2 frames"));
    let err = s.transition_job(j.id, JobState::Running, None).await.unwrap_err();
    assert!(matches!(err, StoreError::BadTransition { from: "done", to: "running" }));
}

#[tokio::test]
async fn restart_marks_running_jobs_interrupted_and_they_resume() {
    let t = temp_store().await;
    let s = &t.store;
    let u = s.create_user("u", "password1", false).await.unwrap();
    let p = s.create_project(u.id, "p").await.unwrap();
    let a = s.create_job("probe", p.id, &serde_json::json!({}), Some(u.id)).await.unwrap();
    let b = s.create_job("probe", p.id, &serde_json::json!({}), Some(u.id)).await.unwrap();
    s.claim_next_job(&["probe"]).await.unwrap();
    let dir = t.dir.clone();
    let interrupted = s.interrupt_running_jobs().await.unwrap();
    assert_eq!(interrupted.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a.id]);
    // The same database opened again, as after a restart.
    let s2 = crate::Store::open(&dir).await.unwrap();
    assert_eq!(s2.job(a.id).await.unwrap().state, JobState::Interrupted);
    assert_eq!(s2.job(b.id).await.unwrap().state, JobState::Queued);
    s2.set_job_message(a.id, "stopped half way").await.unwrap();
    s2.transition_job(a.id, JobState::Queued, None).await.unwrap();
    let again = s2.claim_next_job(&["probe"]).await.unwrap().unwrap();
    assert_eq!(again.id, a.id, "resumed job keeps its place");
    assert_eq!(again.message, None, "a new run has no last word yet");
}

#[tokio::test]
async fn cancel_queued_and_log_tail_is_bounded() {
    let t = temp_store().await;
    let s = &t.store;
    let u = s.create_user("u", "password1", false).await.unwrap();
    let p = s.create_project(u.id, "p").await.unwrap();
    let j = s.create_job("probe", p.id, &serde_json::json!({}), Some(u.id)).await.unwrap();
    for i in 0..(LOG_TAIL_LINES + 5) {
        s.append_job_log(j.id, &format!("line {i}")).await.unwrap();
    }
    let tail = s.job(j.id).await.unwrap().log_tail;
    assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
    assert!(tail.ends_with(&format!("line {}", LOG_TAIL_LINES + 4)));
    s.transition_job(j.id, JobState::Cancelled, None).await.unwrap();
    assert!(s.claim_next_job(&["probe"]).await.unwrap().is_none());
}

#[tokio::test]
async fn an_upload_record_and_its_probe_are_made_together_and_stuck_ones_are_requeued() {
    let t = temp_store().await;
    let s = &t.store;
    let u = s.create_user("u", "password1", false).await.unwrap();
    let p = s.create_project(u.id, "p").await.unwrap();
    let name = crate::new_server_name();
    let (m, j) = s.create_media_with_job(p.id, "a.mp4", &name, 10, u.id, "probe", |id| serde_json::json!({ "media_id": id })).await.unwrap();
    assert_eq!((m.stored_name.as_str(), m.state, j.state), (name.as_str(), crate::MediaState::Probing, JobState::Queued));
    assert_eq!(j.params["media_id"], m.id);
    // A second record under the same storage name fails, and leaves no job behind.
    let jobs = s.list_jobs(p.id, 100).await.unwrap().len();
    assert!(s.create_media_with_job(p.id, "b.mp4", &name, 10, u.id, "probe", |id| serde_json::json!({ "media_id": id })).await.is_err());
    assert_eq!(s.list_jobs(p.id, 100).await.unwrap().len(), jobs, "the failed insert rolled its job back");
    assert_eq!(s.media_stored_names().await.unwrap(), [name.clone()].into_iter().collect::<std::collections::HashSet<_>>());

    let params = serde_json::json!({ "media_id": m.id });
    assert_eq!(s.requeue_probe(&m, "probe", params.clone()).await.unwrap(), ProbeRepair::Queued);
    // Running when the server stopped: queued again, the same job.
    s.claim_next_job(&["probe"]).await.unwrap().unwrap();
    let ProbeRepair::Requeued(again) = s.requeue_probe(&m, "probe", params.clone()).await.unwrap() else { panic!("not requeued") };
    assert_eq!((again.id, again.state), (j.id, JobState::Queued));
    // A record with no job at all gets one.
    let lone = s.create_media(p.id, "c.mp4", &crate::new_server_name(), 10, u.id).await.unwrap();
    let ProbeRepair::Created(new) = s.requeue_probe(&lone, "probe", serde_json::json!({ "media_id": lone.id })).await.unwrap() else { panic!("not created") };
    assert_eq!((new.state, new.params["media_id"].as_i64()), (JobState::Queued, Some(lone.id)));
    assert_eq!(s.probing_media().await.unwrap().iter().map(|m| m.id).collect::<Vec<_>>(), vec![m.id, lone.id]);
}

#[tokio::test]
async fn each_device_worker_claims_only_its_own_jobs_and_the_default_takes_the_strays() {
    let t = temp_store().await;
    let s = &t.store;
    let u = s.create_user("u", "password1", false).await.unwrap();
    let p = s.create_project(u.id, "p").await.unwrap();
    let job = |device: Option<&str>| {
        let params = match device {
            Some(d) => serde_json::json!({ "label": "m", "device": d }),
            None => serde_json::json!({ "label": "m" }),
        };
        async move { s.create_job("train", p.id, &params, Some(u.id)).await.unwrap().id }
    };
    let on_wgpu = job(Some("wgpu:0")).await;
    let on_cpu = job(Some("cpu")).await;
    let second_on_wgpu = job(Some("wgpu:0")).await;
    let unassigned = job(None).await;
    let gone = job(Some("cuda:3")).await;
    let known: &'static [&'static str] = &["cpu", "wgpu:0", "wgpu:1"];
    // The server's default device is the CPU: its worker also takes jobs naming no known device.
    let cpu = DeviceClaim { device: "cpu", known: Some(known) };
    let wgpu0 = DeviceClaim { device: "wgpu:0", known: None };
    let wgpu1 = DeviceClaim { device: "wgpu:1", known: None };
    let claim = |d: DeviceClaim<'static>| async move { s.claim_next_job_on(&["train"], Some(&d)).await.unwrap().map(|j| j.id) };

    assert_eq!(claim(wgpu1).await, None, "no job names wgpu:1");
    assert_eq!(claim(wgpu0).await, Some(on_wgpu), "the oldest of its own, not the older ones of others");
    assert_eq!(claim(cpu).await, Some(on_cpu), "the CPU's job runs beside the wgpu one");
    assert_eq!(claim(wgpu0).await, Some(second_on_wgpu));
    assert_eq!(claim(wgpu0).await, None, "jobs without a device are not a GPU worker's");
    assert_eq!(claim(cpu).await, Some(unassigned), "a job without a device goes to the default device");
    assert_eq!(claim(cpu).await, Some(gone), "a job on a device the server lacks goes to the default device");
    assert_eq!(claim(cpu).await, None);

    // Other kinds are still left alone, and the unfiltered claim takes any device.
    let other = s.create_job("extract", p.id, &serde_json::json!({ "device": "wgpu:1" }), Some(u.id)).await.unwrap();
    assert_eq!(claim(wgpu1).await, None, "only the kinds asked for");
    assert_eq!(s.claim_next_job(&["extract"]).await.unwrap().map(|j| j.id), Some(other.id));
}
