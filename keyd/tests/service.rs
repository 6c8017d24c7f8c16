//! The key service's protocol logic with a clock the test moves: the per-minute rate, the
//! budget, and answers a node can verify.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use siso_keyd::config::Quota;
use siso_keyd::service::Keyd;
use siso_keyd::store::{OpenMode, Store};
use siso_server::clock::Clock;
use siso_shared::oprf::wire::{self as owire, KeyReply, KeyRequest};
use siso_shared::oprf::{deal_random, Pending};
use siso_shared::wire::ErrorCode;
use time::OffsetDateTime;

#[derive(Debug)]
struct TestClock(Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

fn random(b: &mut [u8; 64]) {
    siso_keyd::service::system_random(b)
}

#[tokio::test]
async fn rate_and_budget_are_enforced_and_answers_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (shares, keys) = deal_random(2026, 3, 2, &mut random).unwrap();
    let store = Store::open(dir.path(), OpenMode::Create).unwrap();
    let mut quota = Quota {
        per_minute: 5,
        ..Quota::default()
    };
    quota.members.insert("054039".into(), 8);
    let start = time::macros::datetime!(2026-03-02 10:00:05 UTC);
    let clock = Arc::new(TestClock(Mutex::new(start)));
    let mut shares = shares.into_iter();
    let keyd =
        Arc::new(Keyd::new(vec![shares.next().unwrap()], quota, store, clock.clone()).unwrap());
    let member = "054039".parse().unwrap();
    let ask = |n: usize| {
        let p = Pending::blind(
            (0..n)
                .map(|i| format!("RSSMRA80A01H50{i}").into_bytes())
                .collect(),
            &mut random,
        )
        .unwrap();
        let frame = owire::encode(&KeyRequest::Evaluate {
            version: owire::OPRF_PROTOCOL_VERSION,
            body: p.request(2026, &[1, 2]),
        })
        .unwrap();
        (p, frame)
    };
    let code = |r: KeyReply| match r {
        KeyReply::Error(e) => e.code,
        other => panic!("not an error: {other:?}"),
    };

    // 3 evaluations: answered, and the answer verifies against share 1's key.
    let (p, frame) = ask(3);
    let KeyReply::Evaluated(ev) = keyd.handle(&member, &frame[4..]).await else {
        panic!("not evaluated")
    };
    assert_eq!((ev.share, ev.evaluated.len()), (1, 3));
    // (Combining needs a second service; a single answer with the set {1} verifies alone.)
    let (p1, frame1) = {
        let p = Pending::blind(vec![b"X".to_vec()], &mut random).unwrap();
        let f = owire::encode(&KeyRequest::Evaluate {
            version: owire::OPRF_PROTOCOL_VERSION,
            body: p.request(2026, &[1]),
        })
        .unwrap();
        (p, f)
    };
    drop(p);
    // 3 more in the same minute: over the rate of 5.
    let (_, frame) = ask(3);
    assert_eq!(
        code(keyd.handle(&member, &frame[4..]).await),
        ErrorCode::RateLimited
    );
    assert_eq!(keyd.metrics.refusals("rate_limited"), 1);
    // The next minute: allowed again (6 of the budget of 8 used).
    *clock.0.lock().unwrap() = start + time::Duration::minutes(1);
    let KeyReply::Evaluated(one) = keyd.handle(&member, &frame1[4..]).await else {
        panic!("not evaluated")
    };
    assert!(p1.finish(&keys, &[1], &[one]).is_ok());
    let (_, frame) = ask(3);
    assert!(matches!(
        keyd.handle(&member, &frame[4..]).await,
        KeyReply::Evaluated(_)
    ));
    // 7 used; 3 more would pass the budget of 8: refused, counted, nothing charged.
    *clock.0.lock().unwrap() = start + time::Duration::minutes(2);
    let (_, frame) = ask(3);
    assert_eq!(
        code(keyd.handle(&member, &frame[4..]).await),
        ErrorCode::OverBudget
    );
    let u = keyd.store().usage(2026, &member).unwrap();
    assert_eq!((u.used, u.refused), (7, 1));
    assert_eq!(keyd.metrics.refusals("over_budget"), 1);
    // A request naming a set without this service's share is refused.
    let p = Pending::blind(vec![b"Y".to_vec()], &mut random).unwrap();
    let f = owire::encode(&KeyRequest::Evaluate {
        version: owire::OPRF_PROTOCOL_VERSION,
        body: p.request(2026, &[2, 3]),
    })
    .unwrap();
    assert_eq!(
        code(keyd.handle(&member, &f[4..]).await),
        ErrorCode::Malformed
    );
}
