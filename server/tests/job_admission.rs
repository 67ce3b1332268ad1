//! `--max-jobs` across instances (issue 22, finding 6): two real server instances on one real `redis-server` take a
//! burst of concurrent `POST /jobs`; admission is one conditional store write, so the deployment never runs more
//! than the cap, the others get the busy answer, and the jobs of an instance killed with `kill -9` give their
//! capacity back once their leases run out (not before).
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::process::{start_in, Child, TempDir};
use common::redis_server::RedisServer;
use serde_json::{json, Value};

const CAP: usize = 6;
const LEASE_SECS: u64 = 6;

fn instance(redis: &RedisServer) -> (Child, TempDir) {
    let dir = TempDir::new("job-admission");
    let (url, cap, lease) = (redis.url(), CAP.to_string(), LEASE_SECS.to_string());
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--store",
        "redis",
        "--redis-url",
        url.as_str(),
        "--max-jobs",
        cap.as_str(),
        "--job-lease-secs",
        lease.as_str(),
        "--max-jobs-per-publisher",
        "1000",
    ];
    (start_in(dir.path(), &args), dir)
}

/// Starts a long job (steps a second apart: shorter than a third of the lease, so it must renew between steps).
async fn start_job(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .post(format!("{url}/jobs"))
        .header("content-type", "application/json")
        .body(json!({ "steps": 600, "intervalMs": 1000 }).to_string())
        .send()
        .await
        .unwrap()
}

/// The job id of an admitted job, `None` for the busy answer (anything else fails the test).
async fn admitted(res: reqwest::Response) -> Option<String> {
    let status = res.status().as_u16();
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap();
    match status {
        200 => Some(body["id"].as_str().unwrap().to_owned()),
        503 => {
            let error = body["error"].as_str().unwrap();
            assert!(error.contains("running jobs"), "{error}");
            assert!(retry_after.is_some(), "the busy answer says when to try again");
            None
        }
        other => panic!("unexpected answer {other}: {body}"),
    }
}

async fn state(url: &str, id: &str) -> String {
    let res = reqwest::get(format!("{url}/jobs/{id}")).await.unwrap();
    res.json::<Value>().await.unwrap()["state"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_jobs_holds_across_instances_and_a_killed_instance_gives_its_jobs_back_after_the_lease() {
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis);
    let (b, _db) = instance(&redis);
    let client = reqwest::Client::new();
    // A burst on both instances at once, several times the cap.
    let burst: Vec<_> = (0..10 * CAP)
        .map(|i| {
            let (client, url) = (client.clone(), if i % 2 == 0 { a.url.clone() } else { b.url.clone() });
            tokio::spawn(async move { (i % 2, admitted(start_job(&client, &url).await).await) })
        })
        .collect();
    let mut on = [Vec::new(), Vec::new()];
    for task in burst {
        if let (instance, Some(id)) = task.await.unwrap() {
            on[instance].push(id);
        }
    }
    let running = on[0].len() + on[1].len();
    assert_eq!(running, CAP, "admitted by A: {:?}, by B: {:?}", on[0], on[1]);
    let stored = redis.command(&["HLEN", "tes:jobs"]).await;
    assert_eq!(stored, redis::Value::Int(CAP as i64), "a refused job stores nothing");
    for id in on[0].iter().chain(&on[1]) {
        assert_eq!(state(&b.url, id).await, "running");
    }

    // The instance holding more jobs dies: its jobs hold their places until their leases run out.
    let (killed, survivor, survivor_jobs) = if on[0].len() >= on[1].len() { (a, b, &on[1]) } else { (b, a, &on[0]) };
    let freed = CAP - survivor_jobs.len();
    killed.kill9();
    let killed_at = std::time::Instant::now();
    let early = admitted(start_job(&client, &survivor.url).await).await;
    // Leases are renewed every third of their length: at least two thirds of one were left at the kill.
    if killed_at.elapsed() < Duration::from_secs(LEASE_SECS * 2 / 3) {
        assert_eq!(early, None, "a dead instance's jobs count until their leases run out");
    }
    let mut again = Vec::new();
    let deadline = killed_at + Duration::from_secs(LEASE_SECS + 30);
    while again.len() < freed {
        assert!(std::time::Instant::now() < deadline, "capacity never came back: {} of {freed}", again.len());
        match admitted(start_job(&client, &survivor.url).await).await {
            Some(id) => again.push(id),
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert_eq!(admitted(start_job(&client, &survivor.url).await).await, None, "exactly the dead jobs' places");
    // The survivor's jobs ran throughout (their leases were renewed between steps, and nobody ended them).
    for id in survivor_jobs.iter().chain(&again) {
        assert_eq!(state(&survivor.url, id).await, "running", "job {id}");
    }
}
