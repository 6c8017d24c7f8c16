//! Golden hex fixtures: the exact bytes of one sample of every message. A change to any message
//! layout fails here and must come with a protocol version bump and new fixtures
//! (`SISO_BLESS=1 cargo test -p siso-shared --test wire_golden` rewrites them; review the diff).

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::path::PathBuf;

use siso_shared::fingerprint::Fingerprint;
use siso_shared::vocab::{AgeBand, AreaBisogno, HouseholdType, Role, TipoIntervento};
use siso_shared::wire::*;
use siso_shared::MemberId;
use time::macros::date;

fn fp(b: u8) -> Fingerprint {
    Fingerprint([b; 32])
}

fn comune() -> MemberId {
    MemberId::comune("054039").unwrap()
}

/// One sample of every message, named.
pub fn samples() -> Vec<(&'static str, Message)> {
    let batch = BatchId([7; 16]);
    vec![
        (
            "hello",
            Message::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                software_version: "0.1.0".into(),
                member: comune(),
            }),
        ),
        (
            "hello_ack",
            Message::HelloAck(HelloAck {
                protocol_version: PROTOCOL_VERSION,
                software_version: "0.1.0".into(),
                member: comune(),
                role: Role::Comune,
            }),
        ),
        (
            "submit_batch",
            Message::SubmitBatch(SubmitBatch {
                member: comune(),
                epoch: 2026,
                batch_id: batch,
                scheme: siso_shared::wire::Scheme::SharedKey,
                snapshot: true,
                add: vec![HouseholdRecord {
                    key: fp(1),
                    persons: vec![fp(2), fp(3)],
                    interventions: vec![InterventionSummary {
                        kind: TipoIntervento::SostegnoAffitto,
                        area: siso_shared::AreaBisogno::Altro,
                        start: date!(2026 - 01 - 15),
                        end: Some(date!(2026 - 06 - 30)),
                    }],
                    flags: RecordFlags {
                        latent_need: false,
                        non_resident: true,
                    },
                }],
                remove: vec![fp(4)],
            }),
        ),
        (
            "ack",
            Message::Ack(Ack {
                batch_id: batch,
                duplicate: false,
                stored: 42,
            }),
        ),
        (
            "submit_aggregates",
            Message::SubmitAggregates(SubmitAggregates {
                member: comune(),
                epoch: 2026,
                batch_id: batch,
                periods: vec![PeriodAggregates {
                    month: 3,
                    cells: vec![
                        AggregateCell {
                            breakdown: Breakdown::Area(AreaBisogno::Poverta),
                            measure: Measure::Accessi,
                            value: 12,
                        },
                        AggregateCell {
                            breakdown: Breakdown::AgeBand(AgeBand::Anziani),
                            measure: Measure::Eligible("adi".into()),
                            value: 3,
                        },
                        AggregateCell {
                            breakdown: Breakdown::HouseholdType(HouseholdType::Alone65),
                            measure: Measure::ExpenditureCents,
                            value: 150_000,
                        },
                        AggregateCell {
                            breakdown: Breakdown::Total,
                            measure: Measure::OverlapNoticesResolved,
                            value: 2,
                        },
                        AggregateCell {
                            breakdown: Breakdown::Area(AreaBisogno::Anziani),
                            measure: Measure::HouseholdsInNeed,
                            value: 7,
                        },
                        AggregateCell {
                            breakdown: Breakdown::Area(AreaBisogno::Disabilita),
                            measure: Measure::WaitingRequests,
                            value: 4,
                        },
                        AggregateCell {
                            breakdown: Breakdown::Tipo(TipoIntervento::CentroDiurno),
                            measure: Measure::Interventions,
                            value: 9,
                        },
                        AggregateCell {
                            breakdown: Breakdown::Area(AreaBisogno::Altro),
                            measure: Measure::ActivityMinutes,
                            value: 540,
                        },
                        AggregateCell {
                            breakdown: Breakdown::Total,
                            measure: Measure::SocialWorkers,
                            value: 3,
                        },
                    ],
                }],
            }),
        ),
        (
            "fetch_overlaps",
            Message::FetchOverlaps(FetchOverlaps {
                member: comune(),
                epoch: 2026,
            }),
        ),
        (
            "overlaps",
            Message::Overlaps(OverlapsReply {
                epoch: 2026,
                notices: vec![OverlapNotice {
                    household: fp(1),
                    others_count: 1,
                    others: vec![OtherSupport {
                        member: MemberId::ets("caritas-perugia").unwrap(),
                        role: Role::Ets,
                        zona: None,
                        kinds: vec![TipoIntervento::PaccoAlimentare],
                    }],
                    double_economic_support: false,
                    unsupported_need: false,
                }],
                held: 1,
            }),
        ),
        (
            "stats_query",
            Message::StatsQuery(StatsQuery {
                epoch: 2026,
                level: Level::Zona,
                by: Some(Dimension::TipoIntervento),
                month: Some(4),
            }),
        ),
        (
            "stats",
            Message::Stats(StatsReply {
                json: "{\"epoch\":2026}".into(),
            }),
        ),
        (
            "overlap_matrix_query",
            Message::OverlapMatrixQuery(OverlapMatrixQuery { epoch: 2026 }),
        ),
        (
            "overlap_matrix",
            Message::OverlapMatrix(OverlapMatrix {
                epoch: 2026,
                pairs: vec![OverlapPair {
                    a: comune(),
                    b: MemberId::ets("caritas-perugia").unwrap(),
                    households: 12,
                }],
                double_economic_support: 4,
                unsupported_need: 5,
            }),
        ),
        (
            "error",
            Message::Error(WireError::new(
                ErrorCode::Forbidden,
                "role ets may not query statistics",
            )),
        ),
    ]
}

#[test]
fn golden_fixtures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("SISO_BLESS").is_some();
    let samples = samples();
    assert_eq!(samples.len(), 12, "one sample per Message variant");
    for (name, msg) in samples {
        let frame = encode(&msg).unwrap();
        let hex_now = hex::encode(&frame);
        let path = dir.join(format!("{name}.hex"));
        if bless {
            std::fs::write(&path, format!("{hex_now}\n")).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
        assert_eq!(hex_now, want.trim(), "fixture {name} changed");
        // And the fixture decodes back to the sample.
        let bytes = hex::decode(want.trim()).unwrap();
        let (decoded, used) = decode_frame(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(decoded, msg, "fixture {name} decodes differently");
    }
}

#[test]
fn header_is_big_endian_length() {
    let frame = encode(&Message::OverlapMatrixQuery(OverlapMatrixQuery {
        epoch: 2026,
    }))
    .unwrap();
    // Variant index 9 (u32 BE), then epoch 2026 (u16 BE).
    assert_eq!(hex::encode(&frame), "000000060000000907ea");
}

#[test]
fn rejects_oversized_header_before_allocating() {
    let mut buf = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    buf.extend_from_slice(&[0; 8]);
    assert!(matches!(
        decode_frame(&buf),
        Err(CodecError::TooLarge { .. })
    ));
    assert!(frame_len(u32::MAX.to_be_bytes()).is_err());
    assert_eq!(frame_len(16u32.to_be_bytes()), Ok(16));
}

#[test]
fn incomplete_and_trailing() {
    let frame = encode(&Message::FetchOverlaps(FetchOverlaps {
        member: comune(),
        epoch: 2026,
    }))
    .unwrap();
    assert_eq!(decode_frame(&frame[..3]), Ok(None));
    assert_eq!(decode_frame(&frame[..frame.len() - 1]), Ok(None));
    let mut body = frame[4..].to_vec();
    body.push(0);
    assert_eq!(decode_body(&body), Err(CodecError::TrailingBytes(1)));
}

#[test]
fn semantic_validation() {
    // A member id that is not one.
    let mut bad = encode(&Message::FetchOverlaps(FetchOverlaps {
        member: comune(),
        epoch: 2026,
    }))
    .unwrap();
    // Body: variant u32, string len u64, "054039", epoch u16: corrupt a digit into a letter.
    let pos = 4 + 4 + 8;
    bad[pos] = b'x';
    assert!(matches!(decode_frame(&bad), Err(CodecError::Malformed(_))));
    // Epoch out of range.
    let frame = encode(&Message::OverlapMatrixQuery(OverlapMatrixQuery {
        epoch: 1,
    }))
    .unwrap();
    assert!(matches!(
        decode_frame(&frame),
        Err(CodecError::Malformed(_))
    ));
    // A household record without persons.
    let frame = encode(&Message::SubmitBatch(SubmitBatch {
        member: comune(),
        epoch: 2026,
        batch_id: BatchId([0; 16]),
        scheme: siso_shared::wire::Scheme::SharedKey,
        snapshot: false,
        add: vec![HouseholdRecord {
            key: fp(1),
            persons: vec![],
            interventions: vec![],
            flags: RecordFlags::default(),
        }],
        remove: vec![],
    }))
    .unwrap();
    assert!(matches!(
        decode_frame(&frame),
        Err(CodecError::Malformed(_))
    ));
    // Unknown error codes survive as Other.
    let e = Message::Error(WireError::new(ErrorCode::Other(999), "x"));
    let f = encode(&e).unwrap();
    assert_eq!(decode_frame(&f).unwrap().unwrap().0, e);
}

/// One sample of every message of the key service's protocol (`siso-oprf/1`).
fn oprf_samples() -> Vec<(&'static str, Vec<u8>)> {
    use siso_shared::oprf::wire::{
        self as owire, Budget, Evaluate, Evaluated, KeyReply, KeyRequest,
    };
    use siso_shared::oprf::{Element, Proof};
    let el = |b: u8| Element([b; 32]);
    let req = |r: KeyRequest| owire::encode(&r).unwrap();
    let rep = |r: KeyReply| owire::encode(&r).unwrap();
    vec![
        (
            "oprf_evaluate",
            req(KeyRequest::Evaluate {
                version: owire::OPRF_PROTOCOL_VERSION,
                body: Evaluate {
                    epoch: 2026,
                    set: vec![1, 3],
                    blinded: vec![el(1), el(2)],
                },
            }),
        ),
        (
            "oprf_budget_query",
            req(KeyRequest::Budget {
                version: owire::OPRF_PROTOCOL_VERSION,
                epoch: 2026,
            }),
        ),
        (
            "oprf_evaluated",
            rep(KeyReply::Evaluated(Evaluated {
                share: 3,
                evaluated: vec![el(3), el(4)],
                proof: Proof {
                    c: [5; 32],
                    s: [6; 32],
                },
            })),
        ),
        (
            "oprf_budget",
            rep(KeyReply::Budget(Budget {
                epoch: 2026,
                used: 12_345,
                limit: 330_000,
                per_minute: 200_000,
            })),
        ),
        (
            "oprf_error",
            rep(KeyReply::Error(WireError::new(
                ErrorCode::OverBudget,
                "the budget is spent",
            ))),
        ),
    ]
}

#[test]
fn oprf_golden_fixtures() {
    use siso_shared::oprf::wire::{decode_reply, decode_request};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("SISO_BLESS").is_some();
    for (name, frame) in oprf_samples() {
        let hex_now = hex::encode(&frame);
        let path = dir.join(format!("{name}.hex"));
        if bless {
            std::fs::write(&path, format!("{hex_now}\n")).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
        assert_eq!(hex_now, want.trim(), "fixture {name} changed");
        let body = &frame[HEADER_LEN..];
        assert_eq!(frame_len(frame[..4].try_into().unwrap()), Ok(body.len()));
        // Requests decode as requests, replies as replies; re-encoding gives the same bytes.
        if name == "oprf_evaluate" || name == "oprf_budget_query" {
            let r = decode_request(body).unwrap();
            assert_eq!(siso_shared::oprf::wire::encode(&r).unwrap(), frame);
        } else {
            let r = decode_reply(body).unwrap();
            assert_eq!(siso_shared::oprf::wire::encode(&r).unwrap(), frame);
        }
    }
}

#[test]
fn oprf_requests_are_validated() {
    use siso_shared::oprf::wire::{self as owire, decode_request, Evaluate, KeyRequest};
    use siso_shared::oprf::Element;
    let body = |r: KeyRequest| owire::encode(&r).unwrap()[HEADER_LEN..].to_vec();
    let eval = |epoch, set: Vec<u8>, n: usize, version| KeyRequest::Evaluate {
        version,
        body: Evaluate {
            epoch,
            set,
            blinded: vec![Element([1; 32]); n],
        },
    };
    assert!(decode_request(&body(eval(2026, vec![1, 2], 1, 1))).is_ok());
    for bad in [
        eval(2026, vec![1, 2], 0, 1),
        eval(1999, vec![1, 2], 1, 1),
        eval(2026, vec![], 1, 1),
        eval(2026, vec![1, 2], 1, 9),
    ] {
        assert!(matches!(
            decode_request(&body(bad)),
            Err(CodecError::Malformed(_))
        ));
    }
    // Truncated and trailing bytes are errors, not panics.
    let b = body(eval(2026, vec![1, 2], 2, 1));
    for n in 0..b.len() {
        assert!(decode_request(&b[..n]).is_err());
    }
    let mut t = b.clone();
    t.push(0);
    assert_eq!(decode_request(&t), Err(CodecError::TrailingBytes(1)));
}
