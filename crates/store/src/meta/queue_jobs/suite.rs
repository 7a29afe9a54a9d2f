//! The behaviour every `QueueJobStore` must have; `queue_job_store_suite!` runs each check as a
//! named test.
use serde_json::{Value, json};

use super::*;
use crate::meta::tokens::ProjectStore;

const T0: i64 = 1_767_322_800_000;
/// The default parallelism of checks not about the project limit.
const NO_LIMIT: usize = usize::MAX;

fn projects<S: ProjectStore>(s: &S) {
    s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
    s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
}

fn new_job(project_id: i64, lock: Option<&str>) -> NewQueueJob {
    NewQueueJob {
        project_id,
        branch_id: 10,
        token_id: 3,
        token_description: "token".into(),
        component: "keboola.runner-config-test".into(),
        config: lock.map(str::to_string),
        mode: "run".into(),
        kind: "standard".into(),
        lock_key: lock.map(|l| format!("{project_id}:10:keboola.runner-config-test:{l}")),
        definition: json!({"projectName": "one", "configData": {"parameters": {"a": 1}}}),
        ..NewQueueJob::default()
    }
}

fn insert<S: QueueJobStore>(s: &S, job: &NewQueueJob, at: i64) -> i64 {
    s.insert_queue_job(job, "sealed-secret", at).unwrap().id
}

fn job<S: QueueJobStore>(s: &S, id: i64) -> QueueJob {
    s.queue_job(id.into()).unwrap().expect("stored")
}

fn claim<S: QueueJobStore>(s: &S, free: usize, now: i64) -> Vec<i64> {
    s.claim_queue_jobs("runner", free, NO_LIMIT, now, &mut |_| {}).unwrap().claimed.into_iter().map(|c| c.id).collect()
}

fn end<S: QueueJobStore>(s: &S, id: i64, status: QueueJobStatus, now: i64) {
    let result = json!({"message": "done"});
    let end = QueueJobEnd { status, result: &result, usage: &Value::Null, metrics: &Value::Null };
    s.finish_queue_job(id.into(), &end, &json!({"message": "terminated"}), now).unwrap();
}

pub fn insert_and_read<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let mut new = new_job(1, Some("7"));
    new.config_row_ids = vec!["r1".into(), "r2".into()];
    new.tag = Some("1.2.3".into());
    new.delayed_start_ms = Some(T0 + 60_000);
    let parent = s.insert_queue_job(&new, "sealed-secret", T0).unwrap();
    assert_eq!(parent.run_id, parent.id.to_string(), "a job without a parent runs under its own id");
    assert_eq!((parent.status, parent.desired_status), (QueueJobStatus::Created, QueueJobStatus::Processing));
    assert_eq!((parent.created_ms, parent.updated_ms, parent.start_ms, parent.end_ms), (T0, T0, None, None));
    assert_eq!(parent.config_row_ids, vec!["r1".to_string(), "r2".to_string()]);
    assert_eq!(parent.def("configData")["parameters"]["a"], 1);
    assert_eq!((parent.tag.as_deref(), parent.delayed_start_ms), (Some("1.2.3"), Some(T0 + 60_000)));
    assert_eq!(parent.token_secret.as_deref(), Some("sealed-secret"));
    assert_eq!(s.queue_job(parent.id.into()).unwrap().as_ref(), Some(&parent));
    assert_eq!(s.project_queue_job(ProjectId(1), parent.id.into()).unwrap().as_ref(), Some(&parent));
    assert_eq!(s.project_queue_job(ProjectId(2), parent.id.into()).unwrap(), None, "another project's job is not found");
    assert_eq!(s.queue_job((parent.id + 1000).into()).unwrap(), None);

    let child = s.insert_queue_job(&NewQueueJob { parent_run_id: Some(parent.run_id.clone()), ..new_job(1, None) }, "s", T0).unwrap();
    assert_eq!(child.run_id, format!("{}.{}", parent.run_id, child.id));
    assert_eq!(child.parent_run_id, parent.run_id);
    let grandchild = insert(s, &NewQueueJob { parent_run_id: Some(child.run_id.clone()), ..new_job(1, None) }, T0);
    // Unrelated runs: another project's, and one whose id only starts with the parent's digits.
    insert(s, &NewQueueJob { parent_run_id: Some(parent.run_id.clone()), ..new_job(2, None) }, T0);
    insert(s, &NewQueueJob { parent_run_id: Some(format!("{}0", parent.run_id)), ..new_job(1, None) }, T0);
    let ids = |jobs: Vec<QueueJob>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(s.queue_job_descendants(ProjectId(1), &parent.run_id).unwrap()), vec![child.id, grandchild]);
    assert_eq!(ids(s.queue_job_descendants(ProjectId(1), &child.run_id).unwrap()), vec![grandchild]);
}

pub fn claims_oldest_first_and_each_job_once<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let a = insert(s, &new_job(1, None), T0);
    let b = insert(s, &new_job(2, None), T0);
    let c = insert(s, &new_job(1, None), T0);
    let mut seen = Vec::new();
    let claims = s.claim_queue_jobs("runner-1", 2, NO_LIMIT, T0 + 5, &mut |id| seen.push(id)).unwrap();
    assert_eq!(claims.claimed, vec![ClaimedQueueJob { id: a, coordinator: false }, ClaimedQueueJob { id: b, coordinator: false }]);
    assert_eq!(seen, vec![a, b], "each claim is announced");
    assert_eq!(claims.next_delayed_in_ms, None);
    let running = job(s, a);
    assert_eq!((running.status, running.start_ms, running.updated_ms), (QueueJobStatus::Processing, Some(T0 + 5), T0 + 5));
    assert_eq!(claim(s, 2, T0 + 6), vec![c], "a claimed job is not claimed again");
    assert_eq!(claim(s, 2, T0 + 7), Vec::<i64>::new());
    assert_eq!(claim(s, 0, T0 + 8), Vec::<i64>::new());

    // Without a free slot only coordinators start; they take no slot.
    let standard = insert(s, &new_job(1, None), T0);
    let container = insert(s, &NewQueueJob { kind: "orchestrationContainer".into(), ..new_job(1, None) }, T0);
    let claims = s.claim_queue_jobs("runner-1", 0, NO_LIMIT, T0 + 9, &mut |_| {}).unwrap();
    assert_eq!(claims.claimed, vec![ClaimedQueueJob { id: container, coordinator: true }]);
    assert_eq!(job(s, standard).status, QueueJobStatus::Created);
    assert_eq!(claim(s, 1, T0 + 10), vec![standard]);
}

pub fn concurrent_claims_never_share_a_job<S: ProjectStore + QueueJobStore + Sync>(s: &S) {
    projects(s);
    let jobs: Vec<i64> = (0..40).map(|i| insert(s, &new_job(1 + i % 2, None), T0)).collect();
    let claimed: Vec<i64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for round in 0..20 {
                        mine.extend(claim(s, 3, T0 + w * 100 + round));
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut sorted = claimed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), claimed.len(), "no job claimed twice");
    assert_eq!(sorted, jobs, "every job claimed");
}

pub fn one_running_job_per_lock_key<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let first = insert(s, &new_job(1, Some("7")), T0);
    let second = insert(s, &new_job(1, Some("7")), T0);
    let other = insert(s, &new_job(1, Some("8")), T0);
    let elsewhere = insert(s, &new_job(2, Some("7")), T0);
    assert_eq!(claim(s, 10, T0 + 1), vec![first, other, elsewhere]);
    let waiting = job(s, second);
    assert_eq!((waiting.status, waiting.updated_ms), (QueueJobStatus::Waiting, T0 + 1), "kept behind a running job of its key");
    assert_eq!(claim(s, 10, T0 + 2), Vec::<i64>::new());

    // A kill does not free the key until the job has stopped.
    s.kill_queue_job(first.into(), &json!({}), T0 + 3).unwrap();
    assert_eq!(job(s, first).status, QueueJobStatus::Terminating);
    assert_eq!(claim(s, 10, T0 + 4), Vec::<i64>::new());
    end(s, first, QueueJobStatus::Success, T0 + 5);
    assert_eq!(claim(s, 10, T0 + 6), vec![second]);
    end(s, second, QueueJobStatus::Error, T0 + 7);

    // Without a free slot, later jobs of a key stay behind the first one waiting.
    let blocked = insert(s, &new_job(1, Some("9")), T0 + 8);
    let behind = insert(s, &NewQueueJob { kind: "container".into(), ..new_job(1, Some("9")) }, T0 + 8);
    assert_eq!(claim(s, 0, T0 + 9), Vec::<i64>::new());
    assert_eq!(job(s, blocked).status, QueueJobStatus::Created);
    assert_eq!(job(s, behind).status, QueueJobStatus::Waiting, "behind the first job of its key, though that one waits for a slot");
    assert_eq!(claim(s, 1, T0 + 10), vec![blocked]);
    assert_eq!(claim(s, 1, T0 + 11), Vec::<i64>::new());
}

pub fn delayed_jobs_wait_for_their_time<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let later = insert(s, &NewQueueJob { delayed_start_ms: Some(T0 + 5_000), ..new_job(1, None) }, T0);
    let sooner = insert(s, &NewQueueJob { delayed_start_ms: Some(T0 + 2_000), ..new_job(1, None) }, T0);
    let claims = s.claim_queue_jobs("runner", 5, NO_LIMIT, T0 + 1_000, &mut |_| {}).unwrap();
    assert_eq!(claims, QueueClaims { claimed: vec![], next_delayed_in_ms: Some(1_000) });
    assert_eq!(claim(s, 5, T0 + 2_000), vec![sooner], "due at its time");
    assert_eq!(claim(s, 5, T0 + 6_000), vec![later]);
}

pub fn kill_and_finish<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let queued = insert(s, &new_job(1, None), T0);
    let cancelled = json!({"message": "Job was cancelled before it started."});
    s.kill_queue_job(queued.into(), &cancelled, T0 + 1).unwrap();
    let j = job(s, queued);
    assert_eq!((j.status, j.desired_status), (QueueJobStatus::Cancelled, QueueJobStatus::Terminating));
    assert!(j.is_finished());
    assert_eq!((j.result, j.end_ms, j.token_secret), (cancelled, Some(T0 + 1), None));
    assert_eq!(claim(s, 5, T0 + 2), Vec::<i64>::new(), "a cancelled job never starts");

    // A running job asked to stop ends terminated, whatever it reports.
    let running = insert(s, &new_job(1, None), T0);
    assert_eq!(claim(s, 5, T0 + 1_000), vec![running]);
    s.set_queue_job_runner_pid(running.into(), 4242).unwrap();
    s.kill_queue_job(running.into(), &json!({}), T0 + 1_100).unwrap();
    let j = job(s, running);
    assert_eq!((j.status, j.desired_status, j.end_ms), (QueueJobStatus::Terminating, QueueJobStatus::Terminating, None));
    assert!(!j.is_finished());
    end(s, running, QueueJobStatus::Success, T0 + 3_500);
    let j = job(s, running);
    assert_eq!((j.status, j.result["message"].as_str()), (QueueJobStatus::Terminated, Some("terminated")));
    assert_eq!((j.end_ms, j.duration_seconds, j.token_secret), (Some(T0 + 3_500), 3, None), "2.5 s rounds to 3");
    assert_eq!(s.queue_job_runner_pid(running.into()).unwrap(), None, "the process is forgotten");

    // A finished job is not changed by a kill.
    s.kill_queue_job(queued.into(), &json!({"message": "again"}), T0 + 4_000).unwrap();
    assert_eq!(job(s, queued).end_ms, Some(T0 + 1));

    // A run that ends on its own keeps its outcome.
    let done = insert(s, &new_job(1, None), T0);
    assert_eq!(claim(s, 5, T0 + 1_000), vec![done]);
    let result = json!({"message": "Component processing finished."});
    let usage = json!([{"metric": "kB", "value": 1}]);
    let outcome = QueueJobEnd { status: QueueJobStatus::Warning, result: &result, usage: &usage, metrics: &Value::Null };
    s.finish_queue_job(done.into(), &outcome, &json!({}), T0 + 2_000).unwrap();
    let j = job(s, done);
    assert_eq!((j.status, j.desired_status), (QueueJobStatus::Warning, QueueJobStatus::Processing));
    assert_eq!((j.result, j.usage_data, j.metrics), (result, usage, Value::Null));
    assert_eq!((j.duration_seconds, j.updated_ms), (1, T0 + 2_000));
}

pub fn search_filters_sorts_and_pages<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let a = insert(s, &NewQueueJob { config_row_ids: vec!["r1".into()], tag: Some("t".into()), ..new_job(1, Some("7")) }, T0);
    let b = insert(s, &NewQueueJob { component: "keboola.python".into(), branch_id: 11, ..new_job(1, None) }, T0 + 1_000);
    let c = insert(s, &NewQueueJob { kind: "container".into(), mode: "forceRun".into(), ..new_job(1, Some("8")) }, T0 + 2_000);
    let other = insert(s, &new_job(2, Some("7")), T0);
    assert_eq!(claim(s, 10, T0 + 3_000), vec![a, b, c, other]);
    end(s, a, QueueJobStatus::Success, T0 + 5_000);
    end(s, c, QueueJobStatus::Error, T0 + 4_000);

    let by_id = QueueJobPage { sort: QueueJobSort { field: QueueJobSortField::Id, descending: false }, limit: 100, offset: 0 };
    let find = |f: QueueJobFilter| s.search_queue_jobs(ProjectId(1), &f, &by_id).unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(find(QueueJobFilter::default()), vec![a, b, c], "one project's jobs");
    assert_eq!(find(QueueJobFilter { ids: vec![a, c, other], ..Default::default() }), vec![a, c]);
    assert_eq!(find(QueueJobFilter { run_ids: vec![b.to_string()], ..Default::default() }), vec![b]);
    assert_eq!(find(QueueJobFilter { branch_ids: vec![11], ..Default::default() }), vec![b]);
    assert_eq!(find(QueueJobFilter { token_ids: vec![3], token_descriptions: vec!["token".into()], ..Default::default() }), vec![a, b, c]);
    assert_eq!(find(QueueJobFilter { components: vec!["keboola.python".into()], ..Default::default() }), vec![b]);
    assert_eq!(find(QueueJobFilter { configs: vec!["7".into(), "8".into()], ..Default::default() }), vec![a, c]);
    assert_eq!(find(QueueJobFilter { config_row_ids: vec!["r0".into(), "r1".into()], ..Default::default() }), vec![a]);
    assert_eq!(find(QueueJobFilter { modes: vec!["forceRun".into()], ..Default::default() }), vec![c]);
    assert_eq!(find(QueueJobFilter { statuses: vec![QueueJobStatus::Success, QueueJobStatus::Processing], ..Default::default() }), vec![a, b]);
    assert_eq!(find(QueueJobFilter { desired_statuses: vec!["processing".into()], ..Default::default() }), vec![a, b, c]);
    assert_eq!(find(QueueJobFilter { desired_statuses: vec!["nonsense".into()], ..Default::default() }), Vec::<i64>::new());
    assert_eq!(find(QueueJobFilter { types: vec!["container".into()], ..Default::default() }), vec![c]);
    assert_eq!(find(QueueJobFilter { tags: vec!["t".into()], ..Default::default() }), vec![a]);
    assert_eq!(find(QueueJobFilter { created_from_ms: Some(T0 + 1_000), created_to_ms: Some(T0 + 2_000), ..Default::default() }), vec![b]);
    assert_eq!(find(QueueJobFilter { end_from_ms: Some(T0), ..Default::default() }), vec![a, c], "a job not ended is outside");
    assert_eq!(find(QueueJobFilter { end_to_ms: Some(T0 + 5_000), ..Default::default() }), vec![c], "the upper bound is exclusive");
    assert_eq!(find(QueueJobFilter { start_from_ms: Some(T0 + 3_000), start_to_ms: Some(T0 + 3_001), ..Default::default() }), vec![a, b, c]);
    assert_eq!(find(QueueJobFilter { duration_from_seconds: Some(1.5), ..Default::default() }), vec![a]);
    assert_eq!(find(QueueJobFilter { duration_to_seconds: Some(1.5), ..Default::default() }), vec![b, c]);
    let of_type = |ids: Vec<&str>| QueueJobFilter { components_of_type: Some(ids.into_iter().map(str::to_string).collect()), ..Default::default() };
    assert_eq!(find(of_type(vec!["keboola.python"])), vec![b]);
    assert_eq!(find(of_type(vec![])), Vec::<i64>::new(), "a type without components matches nothing");
    assert_eq!(
        find(QueueJobFilter { components: vec!["keboola.python".into()], ..of_type(vec!["keboola.runner-config-test"]) }),
        Vec::<i64>::new(),
        "both component bounds hold"
    );

    let sorted = |field, descending, limit, offset| {
        let page = QueueJobPage { sort: QueueJobSort { field, descending }, limit, offset };
        s.search_queue_jobs(ProjectId(1), &QueueJobFilter::default(), &page).unwrap().into_iter().map(|j| j.id).collect::<Vec<_>>()
    };
    assert_eq!(sorted(QueueJobSortField::Id, true, 100, 0), vec![c, b, a]);
    assert_eq!(sorted(QueueJobSortField::CreatedTime, true, 100, 0), vec![c, b, a]);
    assert_eq!(sorted(QueueJobSortField::EndTime, false, 100, 0), vec![c, a, b], "a job without the value comes last");
    assert_eq!(sorted(QueueJobSortField::EndTime, true, 100, 0), vec![a, c, b], "… either way");
    assert_eq!(sorted(QueueJobSortField::StartTime, true, 100, 0), vec![c, b, a], "ties by id, same direction");
    assert_eq!(sorted(QueueJobSortField::Component, false, 100, 0), vec![b, a, c]);
    assert_eq!(sorted(QueueJobSortField::Id, false, 2, 1), vec![b, c], "limit from offset");

    assert_eq!(s.queue_duration_sum(ProjectId(1)).unwrap(), 2, "standard jobs only");
    assert_eq!(s.queue_duration_sum(ProjectId(2)).unwrap(), 0);
}

pub fn recovery_after_a_restart<S: ProjectStore + QueueJobStore>(s: &S) {
    projects(s);
    let running = insert(s, &new_job(1, None), T0);
    let terminating = insert(s, &new_job(2, None), T0);
    let finished = insert(s, &new_job(1, None), T0);
    assert_eq!(claim(s, 3, T0 + 1_000), vec![running, terminating, finished]);
    end(s, finished, QueueJobStatus::Success, T0 + 1_500);
    s.kill_queue_job(terminating.into(), &json!({}), T0 + 1_600).unwrap();
    let queued = insert(s, &new_job(1, None), T0 + 1_700);
    s.set_queue_job_runner_pid(running.into(), 4242).unwrap();
    assert_eq!(s.queue_job_runner_pid(running.into()).unwrap(), Some(4242));
    assert_eq!(s.queue_job_runner_pid(queued.into()).unwrap(), None);

    let left: Vec<(i64, QueueJobStatus)> = s.running_queue_jobs().unwrap().into_iter().map(|j| (j.id, j.status)).collect();
    assert_eq!(left, vec![(running, QueueJobStatus::Processing), (terminating, QueueJobStatus::Terminating)], "every project's, by id");
    // "runner" never recorded a heartbeat: its jobs have no live node.
    let orphans: Vec<i64> = s.orphaned_queue_jobs(T0).unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(orphans, vec![running, terminating]);
    assert!(s.end_queue_job(running.into(), QueueJobStatus::Error, &json!({"message": "interrupted"}), T0 + 2_000).unwrap());
    assert!(s.end_queue_job(terminating.into(), QueueJobStatus::Terminated, &json!({"message": "stopped"}), T0 + 2_000).unwrap());
    // Ended once: a second node's end, and the dead runner's late outcome, change nothing.
    assert!(!s.end_queue_job(running.into(), QueueJobStatus::Error, &json!({"message": "again"}), T0 + 3_000).unwrap());
    end(s, running, QueueJobStatus::Success, T0 + 3_000);
    assert!(s.orphaned_queue_jobs(T0).unwrap().is_empty());
    let j = job(s, running);
    assert_eq!((j.status, j.result["message"].as_str(), j.end_ms), (QueueJobStatus::Error, Some("interrupted"), Some(T0 + 2_000)));
    assert_eq!((j.duration_seconds, j.token_secret), (1, None));
    assert_eq!(s.queue_job_runner_pid(running.into()).unwrap(), None);
    assert_eq!(job(s, terminating).status, QueueJobStatus::Terminated);
    assert!(s.running_queue_jobs().unwrap().is_empty());
    assert_eq!(job(s, queued).status, QueueJobStatus::Created, "a queued job waits for the new process");

    // Tokens kept in clear by older versions are sealed; sealed ones are left as they are.
    let sealer = Sealer::new(&[7; 32]);
    let plain = s.insert_queue_job(&new_job(1, None), "1-plain-token", T0).unwrap().id;
    let sealed = s.insert_queue_job(&new_job(1, None), &sealer.seal("1-other"), T0).unwrap().id;
    let before = job(s, sealed).token_secret;
    assert_eq!(s.seal_plain_queue_token_secrets(&sealer).unwrap(), 2, "the queued job's and the new one's");
    let stored = job(s, plain).token_secret.expect("kept");
    assert_eq!(sealer.open(&stored).as_deref(), Some("1-plain-token"));
    assert_eq!(job(s, sealed).token_secret, before);
    assert_eq!(s.seal_plain_queue_token_secrets(&sealer).unwrap(), 0);
}

/// `components.jobsParallelism`: a project never has more standard jobs processing than its limit
/// (or the default); the rest wait; coordinators are not counted; other projects are not held.
pub fn project_parallelism_limit<S: ProjectStore + QueueJobStore + crate::meta::project_admin::ProjectAdminStore>(s: &S) {
    projects(s);
    s.adopt_projects(1).unwrap();
    let mut d = s.project_details(1).unwrap().unwrap();
    d.limits.insert("components.jobsParallelism".into(), json!({"name": "components.jobsParallelism", "value": 1}));
    s.update_project_details(&d).unwrap();
    let a = insert(s, &new_job(1, None), T0);
    let b = insert(s, &new_job(1, None), T0);
    let other = insert(s, &new_job(2, None), T0);
    let container = insert(s, &NewQueueJob { kind: "orchestrationContainer".into(), ..new_job(1, None) }, T0);
    let claimed: Vec<i64> = s.claim_queue_jobs("runner", 5, 2, T0 + 1, &mut |_| {}).unwrap().claimed.into_iter().map(|c| c.id).collect();
    assert_eq!(claimed, vec![a, other, container], "one standard job of project 1 at a time");
    assert_eq!(job(s, b).status, QueueJobStatus::Waiting, "held back by the limit");
    assert_eq!(claim(s, 5, T0 + 2), Vec::<i64>::new());
    end(s, a, QueueJobStatus::Success, T0 + 3);
    assert_eq!(claim(s, 5, T0 + 4), vec![b], "the next one starts when the first ends");

    // Project 2 has no limit set: the default (here 2) applies.
    let p2: Vec<i64> = (0..3).map(|_| insert(s, &new_job(2, None), T0 + 5)).collect();
    let claimed: Vec<i64> = s.claim_queue_jobs("runner", 5, 2, T0 + 6, &mut |_| {}).unwrap().claimed.into_iter().map(|c| c.id).collect();
    assert_eq!(claimed, vec![p2[0]], "project 2 already runs one job; the default allows two");
}
