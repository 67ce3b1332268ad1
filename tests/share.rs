//! Sharing one connection across tabs (`share_across_tabs`, `share(key)`), in headless Chromium against the real
//! server. Two shared sources in one page behave as two tabs would (each has its own channel object and lock
//! request); the many-tab cases (closing, freezing the leader tab, hiding the APIs) are in tests/e2e/share.mjs.
#![cfg(all(target_arch = "wasm32", feature = "share"))]

use typed_eventsource::{CloseReason, ReadyState, ShareRole, TerminalRule, TypedEventSource};
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Post {
    text: String,
}

/// Waits until exactly one of `sources` leads and all read `Open`; returns the leader's index.
async fn one_leader(sources: &[&TypedEventSource]) -> usize {
    for _ in 0..400 {
        let leaders: Vec<usize> =
            (0..sources.len()).filter(|i| sources[*i].share_role() == Some(ShareRole::Leader)).collect();
        if leaders.len() == 1 && sources.iter().all(|s| s.state() == ReadyState::Open) {
            return leaders[0];
        }
        sleep(25).await;
    }
    let roles: Vec<_> = sources.iter().map(|s| (s.share_role(), s.state())).collect();
    panic!("no single leader with every source open: {roles:?}");
}

async fn publish(text: &str) {
    post_json("/update", &format!(r#"{{"text": "{text}"}}"#)).await;
}

#[wasm_bindgen_test]
async fn two_shared_sources_use_one_connection_and_hand_over_when_the_leader_closes() {
    let _turn = Turn::take().await;
    let before = settled_streams("broadcast").await;
    let (a_log, b_log) = (Log::new(), Log::new());
    let a = TypedEventSource::builder(server_url("/subscribe"))
        .share_across_tabs()
        .on::<Post>("message", a_log.push_with(|p: Post, m: typed_eventsource::EventMeta| (p.text, m.last_event_id)))
        .open()
        .expect("open a");
    let b = TypedEventSource::builder(server_url("/subscribe"))
        .share_across_tabs()
        .on::<Post>("message", b_log.push_with(|p: Post, m: typed_eventsource::EventMeta| (p.text, m.last_event_id)))
        .open()
        .expect("open b");
    let leader = one_leader(&[&a, &b]).await;
    wait_for_streams("broadcast", before + 1, "one connection for both sources").await;
    let first = unique("first");
    publish(&first).await;
    a_log.wait_len(1, "a's event").await;
    b_log.wait_len(1, "b's event").await;
    let (a_got, b_got) = (a_log.take(), b_log.take());
    assert_eq!(a_got, b_got, "the same event, with the same id, in both");
    assert_eq!(a_got[0].0, first);
    // The leader closes: the other takes over, resuming after the last id; it gets what follows, once.
    let (gone, stays, stays_log) = if leader == 0 { (a, b, b_log) } else { (b, a, a_log) };
    gone.close();
    assert_eq!(gone.close_reason(), Some(CloseReason::Client));
    for _ in 0..200 {
        if stays.share_role() == Some(ShareRole::Leader) && stays.state() == ReadyState::Open {
            break;
        }
        sleep(25).await;
    }
    assert_eq!(stays.share_role(), Some(ShareRole::Leader), "the other source took over");
    let second = unique("second");
    publish(&second).await;
    stays_log.wait_len(1, "the event after the hand-off").await;
    // One stream keeps order: a duplicate would arrive before this one.
    let third = unique("third");
    publish(&third).await;
    stays_log.wait_until(|got| got.iter().any(|(t, _)| *t == third), "the next event").await;
    assert_eq!(stays_log.take().iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), vec![second, third]);
    wait_for_streams("broadcast", before + 1, "still one connection").await;
    drop(stays);
    wait_for_streams("broadcast", before, "the last source closing the connection").await;
}

#[wasm_bindgen_test]
async fn a_terminal_message_closes_every_sharing_source_once_and_a_key_shares_across_urls() {
    let _turn = Turn::take().await;
    let before = settled_streams("job").await;
    let job = start_job(6, 150).await;
    let url = server_url(&format!("/jobs/{job}/events"));
    let reasons = Log::new();
    let open = |url: String| {
        TypedEventSource::builder(url)
            .share("job-under-test")
            .close_on(TerminalRule::event_with_data("ping", "finished"))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open")
    };
    // Different URLs, one key: one connection (the fragment does not reach the server).
    let a = open(format!("{url}#a"));
    let b = open(format!("{url}#b"));
    wait_for_streams("job", before + 1, "one job connection for both").await;
    reasons.wait_len(2, "both close reasons").await;
    // Once the server has seen the shared connection close, nothing is left that could give a third reason.
    wait_for_streams("job", before, "the shared connection closed").await;
    let terminal = CloseReason::Terminal { event: "ping".into(), data: "finished".into() };
    assert_eq!(reasons.take(), vec![terminal.clone(), terminal]);
    assert_eq!((a.state(), b.state()), (ReadyState::Closed, ReadyState::Closed));
}

#[wasm_bindgen_test]
fn without_sharing_a_source_has_no_share_role() {
    let source = TypedEventSource::builder(server_url("/subscribe")).open().expect("open");
    assert_eq!(source.share_role(), None);
}
