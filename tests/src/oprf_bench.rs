//! `siso-bench oprf`: the fingerprint key services' throughput, against a raw ristretto255
//! variable-base scalar multiplication measured in the same run (the physical limit: each
//! fingerprint costs four of them — the node's blind and unblind, and one per service of the
//! pair).
//!
//! 1. Reference: `scalar * point` on one core.
//! 2. One key service's evaluations per second on one core (batches of 4,096, proof included).
//! 3. End to end: three `siso-keyd` instances on loopback and a node's [`KeySession`] turning N
//!    distinct codici fiscali into fingerprints (blind, two services over mutual-TLS QUIC,
//!    verify both proofs, combine, finalise), everything on this machine's cores.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::scalar::Scalar;
use serde::Serialize;
use siso_node::oprf::KeySession;
use siso_shared::oprf::wire::Evaluate;
use siso_shared::oprf::{deal_random, evaluate_share, Pending};

use crate::keyd::KeyServices;

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct OprfReport {
    /// Cores of this machine.
    pub cores: usize,
    /// Raw variable-base scalar multiplications per second, one core.
    pub raw_mults_per_s: f64,
    /// One service's evaluations per second, one core.
    pub service_evals_per_s: f64,
    /// The service's evaluations per raw multiplication.
    pub service_ratio: f64,
    /// Fingerprints evaluated end to end.
    pub fingerprints: usize,
    /// Seconds for them.
    pub seconds: f64,
    /// Fingerprints per second end to end.
    pub fingerprints_per_s: f64,
    /// End to end against the physical limit on all cores (`cores × raw / 4`).
    pub ratio_to_limit: f64,
}

fn random(b: &mut [u8; 64]) {
    // Benchmark inputs only: a fast deterministic stream is enough here.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let h = blake3::hash(&n.to_le_bytes());
    b[..32].copy_from_slice(h.as_bytes());
    b[32..].copy_from_slice(blake3::hash(h.as_bytes()).as_bytes());
}

/// The reference: raw multiplications per second on one core.
fn raw_mults_per_s() -> f64 {
    let n = 20_000u32;
    let point = &Scalar::from(7u8) * RISTRETTO_BASEPOINT_TABLE;
    let scalars: Vec<Scalar> = (0..n)
        .map(|i| Scalar::from(u64::from(i) * 2_654_435_761 + 1))
        .collect();
    let t = Instant::now();
    let mut acc = point;
    for s in &scalars {
        acc = black_box(s * acc);
    }
    black_box(acc);
    f64::from(n) / t.elapsed().as_secs_f64()
}

/// One service's evaluations per second on one core.
fn service_evals_per_s() -> Result<f64, Box<dyn std::error::Error + Send + Sync>> {
    let (shares, _) = deal_random(2026, 3, 2, &mut random)?;
    let inputs: Vec<Vec<u8>> = (0..4096u32)
        .map(|i| format!("RSSMRA80A01H{i:04}").into_bytes())
        .collect();
    let p = Pending::blind(inputs, &mut random)?;
    let req: Evaluate = p.request(2026, &[1, 2]);
    let rounds = 5;
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(evaluate_share(&shares[0], &req, Scalar::from(3u8))?);
    }
    Ok(f64::from(rounds * 4096) / t.elapsed().as_secs_f64())
}

/// Runs the benchmark with `n` fingerprints under `dir`.
pub async fn run(
    n: usize,
    dir: &Path,
) -> Result<OprfReport, Box<dyn std::error::Error + Send + Sync>> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let raw = tokio::task::spawn_blocking(raw_mults_per_s).await?;
    let service = tokio::task::spawn_blocking(service_evals_per_s).await??;
    eprintln!("raw scalar multiplications: {raw:.0}/s; one service: {service:.0} evaluations/s (one core)");

    let pki = dir.join("pki");
    siso_certs_dev::init(
        &pki,
        &siso_certs_dev::InitOptions {
            comuni: vec!["054039".into()],
            ets: Vec::new(),
            region: Vec::new(),
            ..Default::default()
        },
        time::OffsetDateTime::now_utc(),
    )?;
    let layout = siso_certs_dev::Layout { root: pki };
    let mut quota = siso_keyd::config::Quota::default();
    quota.members.insert("054039".into(), n as u64 * 2);
    quota.per_minute = n as u64 * 2;
    let k = KeyServices::start(&layout, &dir.join("keyd"), 2026, quota).await?;
    let member = layout.member_dir(&"054039".parse()?);
    let oprf = k.oprf_config();
    let cfg = siso_node::config::NodeConfig {
        member: "054039".into(),
        hub: "127.0.0.1:9".parse()?,
        hub_name: "localhost".into(),
        ca: layout.ca_dir().join("ca.pem"),
        cert: member.join("cert.pem"),
        key: member.join("key.pem"),
        fingerprint_key: None,
        oprf: Some(oprf.clone()),
        epoch: 2026,
        sync: Default::default(),
        http: Default::default(),
        web: Default::default(),
        retention: Default::default(),
    };
    let inputs: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("RSSMRA80A01{i:05}", i = i % 100_000).into_bytes())
        .enumerate()
        .map(|(i, mut b)| {
            b.extend_from_slice(&(i as u32).to_be_bytes());
            b
        })
        .collect();
    let t = Instant::now();
    let session = KeySession::connect(&cfg, &oprf).await?;
    let out = session.evaluate(inputs).await?;
    session.close().await;
    let seconds = t.elapsed().as_secs_f64();
    if out.len() != n {
        return Err(format!("{} outputs for {n} inputs", out.len()).into());
    }
    k.stop().await;
    let per_s = n as f64 / seconds;
    let limit = cores as f64 * raw / 4.0;
    Ok(OprfReport {
        cores,
        raw_mults_per_s: raw.round(),
        service_evals_per_s: service.round(),
        service_ratio: (service / raw * 1000.0).round() / 1000.0,
        fingerprints: n,
        seconds: (seconds * 10.0).round() / 10.0,
        fingerprints_per_s: per_s.round(),
        ratio_to_limit: (per_s / limit * 1000.0).round() / 1000.0,
    })
}
