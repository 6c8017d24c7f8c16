//! `siso-loadgen`: N simulated members with M household records each and a planted overlap
//! rate, over real QUIC and mutual TLS, to a hub started in-process or running at a given
//! address (member certificates are then issued by that hub's CA, from its directory).
//!
//! Each member sends its records and later, once every member has, fetches its overlaps on the
//! same connection (a node's round does both on one); the members share a few client sockets
//! and each keeps its TLS configuration, so a reconnection resumes its TLS session.
//!
//! Overlaps are planted in disjoint pairs: for a chosen set of household positions, members
//! 2k and 2k+1 share one person, so the expected number of linked groups is exact.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use siso_hub::config::Limits;
use siso_node::client::{ClientError, ClientTls, Dialer, HubClient};
use siso_shared::wire::{
    BatchId, FetchOverlaps, HouseholdRecord, InterventionSummary, Message, RecordFlags, SubmitBatch,
};
use siso_shared::{Fingerprint, MemberId, TipoIntervento};

use crate::synth::Rng;

/// Options.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Simulated members.
    pub members: usize,
    /// Household records per member.
    pub households: usize,
    /// Fraction of households planted as overlaps.
    pub overlap: f64,
    /// Records per batch.
    pub batch: usize,
    /// Members sending at once.
    pub concurrency: usize,
    /// Seed.
    pub seed: u64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Members.
    pub members: usize,
    /// Household records per member.
    pub households: usize,
    /// Person fingerprints sent.
    pub fingerprints: u64,
    /// Fingerprints per second, acknowledged (durable) by the hub.
    pub fingerprints_per_s: f64,
    /// Median batch latency (send to durable Ack), ms.
    pub batch_latency_p50_ms: f64,
    /// 99th percentile batch latency, ms.
    pub batch_latency_p99_ms: f64,
    /// Linked groups found by the hub.
    pub overlaps_found: u64,
    /// Planted.
    pub overlaps_expected: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Seconds of the ingest phase.
    pub ingest_s: f64,
    /// Seconds to compute the region-wide overlap summary after ingest (in-process hub only).
    pub overlap_summary_s: Option<f64>,
    /// Seconds before the first member connects: the CA, the hub, every member's certificate.
    pub setup_s: f64,
    /// Seconds of the fetch phase: every member connects again and fetches its overlaps.
    pub fetch_s: f64,
    /// Seconds of the whole run: PKI and certificates, hub start, ingest, summary, fetch, stop.
    pub total_s: f64,
    /// The hub: `in-process` or its address.
    pub hub: String,
}

/// Where the hub is.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start one in-process on 127.0.0.1 with a fresh PKI.
    InProcess,
    /// A running hub.
    Remote {
        /// Its QUIC address.
        addr: std::net::SocketAddr,
        /// The name in its certificate.
        server_name: String,
        /// The directory of the CA its clients' certificates must chain to (`ca.pem`,
        /// `ca.key`), as `siso-certs` makes it. Use a test CA: a certificate is issued for
        /// every simulated member.
        ca_dir: std::path::PathBuf,
    },
}

fn fp(rng: &mut Rng) -> Fingerprint {
    let mut b = [0u8; 32];
    for chunk in b.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    Fingerprint(b)
}

/// Builds member `i`'s records, deterministic in (seed, i).
pub fn records(o: &LoadOptions, i: usize) -> Vec<HouseholdRecord> {
    let every = if o.overlap > 0.0 {
        (1.0 / o.overlap).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    let pair = i / 2;
    let paired = i % 2 == 1 || i + 1 < o.members;
    let mut rng = Rng::new(o.seed ^ (i as u64).wrapping_mul(0x1234_5678_9ABC_DEF1));
    (0..o.households)
        .map(|h| {
            let size = match rng.below(100) {
                0..=36 => 1,
                37..=63 => 2,
                64..=81 => 3,
                82..=94 => 4,
                _ => 5,
            };
            let mut persons: Vec<Fingerprint> = (0..size).map(|_| fp(&mut rng)).collect();
            if paired && h % every == 0 {
                // The shared person of pair `pair` at position `h`.
                let mut r = Rng::new(o.seed ^ 0xABCD ^ ((pair as u64) << 32) ^ h as u64);
                persons[0] = fp(&mut r);
            }
            let key = {
                let mut h = blake3::Hasher::new();
                for p in &persons {
                    h.update(&p.0);
                }
                Fingerprint(*h.finalize().as_bytes())
            };
            HouseholdRecord {
                key,
                persons,
                interventions: vec![InterventionSummary {
                    kind: TipoIntervento::PaccoAlimentare,
                    area: siso_shared::AreaBisogno::Altro,
                    start: time::macros::date!(2026 - 01 - 01),
                    end: None,
                }],
                flags: RecordFlags::default(),
            }
        })
        .collect()
}

/// Planted linked groups.
pub fn expected(o: &LoadOptions) -> u64 {
    if o.overlap <= 0.0 || o.members < 2 {
        return 0;
    }
    let every = (1.0 / o.overlap).round().max(1.0) as usize;
    let positions = o.households.div_ceil(every);
    ((o.members / 2) * positions) as u64
}

/// The id of simulated member `i`.
pub fn member(i: usize) -> MemberId {
    MemberId::Comune(format!("9{:05}", i))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs the load against an in-process hub in `dir`.
pub async fn run(
    o: &LoadOptions,
    dir: &std::path::Path,
) -> Result<LoadReport, crate::demo::DemoError> {
    run_against(o, &Target::InProcess, dir).await
}

/// Runs the load against `target`; `dir` holds the in-process hub's files.
pub async fn run_against(
    o: &LoadOptions,
    target: &Target,
    dir: &std::path::Path,
) -> Result<LoadReport, crate::demo::DemoError> {
    let run_started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let mut local = None;
    let (ca, addr, server_name) = match target {
        Target::InProcess => {
            let ca_dir = dir.join("ca");
            let ca = siso_certs_dev::Ca::create(&ca_dir, now, 30, true)?;
            let hub_cert = ca.issue_hub("localhost", now, 30)?;
            hub_cert.write_to(&dir.join("hubcert"))?;
            let hub_dir = dir.join("hub");
            std::fs::create_dir_all(&hub_dir)?;
            std::fs::write(hub_dir.join("analyst.token"), "loadgen\n")?;
            let (hub, shutdown) = crate::demo::start_local_hub(
                &hub_dir,
                &ca_dir,
                &dir.join("hubcert"),
                "127.0.0.1:0".parse()?,
                Limits {
                    max_connections: o.members + 16,
                    ..Limits::default()
                },
            )
            .await?;
            let addr = hub.quic_addr;
            local = Some((hub, shutdown));
            (ca, addr, "localhost".to_owned())
        }
        Target::Remote {
            addr,
            server_name,
            ca_dir,
        } => (
            siso_certs_dev::Ca::load(ca_dir)?,
            *addr,
            server_name.clone(),
        ),
    };
    let ids: Vec<MemberId> = (0..o.members).map(member).collect();
    let creds: Vec<(String, String)> = ca
        .issue_members(&ids, now, 30)?
        .into_iter()
        .map(|i| (i.cert_pem, i.key_pem.unwrap_or_default()))
        .collect();
    let ca_pem = ca.cert_pem().as_bytes().to_vec();
    // The simulated members share a few client sockets (a real member has its own machine; on
    // this one, opening thousands of quinn endpoints only measures their buffer allocation),
    // and each keeps its TLS configuration, so that its second connection resumes its session
    // as a real node's next round within a ticket's lifetime does.
    let endpoints: Vec<quinn::Endpoint> = (0..ENDPOINTS)
        .map(|_| siso_node::client::client_endpoint(addr))
        .collect::<Result<_, _>>()?;

    let o2 = o.clone();
    let creds = Arc::new(creds);
    let ca_pem = Arc::new(ca_pem);
    let sem = Arc::new(tokio::sync::Semaphore::new(o.concurrency.max(1)));
    let started = Instant::now();
    let setup_s = run_started.elapsed().as_secs_f64();
    let keep_open = matches!(target, Target::InProcess);
    let mut tasks = Vec::new();
    for i in 0..o.members {
        let (o, creds, ca_pem, sem) = (o2.clone(), creds.clone(), ca_pem.clone(), sem.clone());
        let server_name = server_name.clone();
        let endpoint = endpoints[i % ENDPOINTS].clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.map_err(|e| e.to_string())?;
            let dialer = dialer(endpoint, &ca_pem, &creds[i])?;
            let client = connect_via(&dialer, addr, &server_name, i).await?;
            let recs = records(&o, i);
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut fps = 0u64;
            for (b, chunk) in recs.chunks(o.batch.max(1)).enumerate() {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                id[8..].copy_from_slice(&(b as u64).to_be_bytes());
                let t = Instant::now();
                let r = client
                    .call(&Message::SubmitBatch(SubmitBatch {
                        member: member(i),
                        epoch: EPOCH,
                        batch_id: BatchId(id),
                        scheme: siso_shared::wire::Scheme::SharedKey,
                        snapshot: b == 0,
                        add: chunk.to_vec(),
                        remove: vec![],
                    }))
                    .await;
                match r {
                    Ok(Message::Ack(_)) => {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        fps += chunk.iter().map(|r| r.persons.len() as u64).sum::<u64>();
                    }
                    _ => errors += 1,
                }
            }
            // The connection stays open for the member's fetch, as a node's round sends its
            // records and fetches its overlaps on one connection — with the in-process hub,
            // whose connection limit is set for all members at once. A running hub has its own
            // limit, so there the member closes and resumes its session for the fetch.
            let client = if keep_open {
                Some(client)
            } else {
                client.close().await;
                None
            };
            Ok::<_, String>((lat, errors, fps, dialer, client))
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut fps = 0;
    let mut dialers: Vec<Option<(Dialer, Option<HubClient>)>> = Vec::with_capacity(o.members);
    for t in tasks {
        let mut d = None;
        match t.await {
            Ok(Ok((l, e, f, dialer, client))) => {
                lat.extend(l);
                errors += e;
                fps += f;
                d = Some((dialer, client));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a simulated member failed");
                errors += 1;
            }
            Err(_) => errors += 1,
        }
        dialers.push(d);
    }
    let ingest = started.elapsed().as_secs_f64();
    let overlap_summary_s = local.as_ref().map(|(hub, _)| {
        let t = Instant::now();
        let _ = hub.hub.summary(EPOCH);
        (t.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    });
    // What the members are told: households of theirs linked to another member's. Overlaps are
    // planted in disjoint pairs, so every linked group is seen by exactly two members.
    let fetch_started = Instant::now();
    let mut fetches = Vec::new();
    for (i, d) in dialers.into_iter().enumerate() {
        let (creds, ca_pem, sem) = (creds.clone(), ca_pem.clone(), sem.clone());
        let server_name = server_name.clone();
        let endpoint = endpoints[i % ENDPOINTS].clone();
        fetches.push(tokio::spawn(async move {
            let _p = sem.acquire().await.map_err(|e| e.to_string())?;
            let fetch = Message::FetchOverlaps(FetchOverlaps {
                member: member(i),
                epoch: EPOCH,
            });
            let (dialer, r) = match d {
                Some((dialer, Some(client))) => {
                    let r = client.call(&fetch).await;
                    client.close().await;
                    (dialer, r)
                }
                Some((dialer, None)) => (dialer, Err(ClientError::Unexpected("closed"))),
                None => (
                    dialer(endpoint, &ca_pem, &creds[i])?,
                    Err(ClientError::Unexpected("no connection")),
                ),
            };
            // A connection lost meanwhile (or never made): connect again, resuming the session.
            let r = match r {
                Err(e) if e.is_transient() || matches!(e, ClientError::Unexpected(_)) => {
                    let client = connect_via(&dialer, addr, &server_name, i).await?;
                    let r = client.call(&fetch).await;
                    client.close().await;
                    r
                }
                r => r,
            };
            match r {
                Ok(Message::Overlaps(r)) => {
                    Ok(r.notices.iter().filter(|n| n.others_count > 0).count() as u64)
                }
                Ok(other) => Err(format!("unexpected reply {}", other.kind())),
                Err(e) => Err(e.to_string()),
            }
        }));
    }
    let mut seen = 0u64;
    for f in fetches {
        match f.await {
            Ok(Ok(n)) => seen += n,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a simulated member could not fetch its overlaps");
                errors += 1;
            }
            Err(_) => errors += 1,
        }
    }
    let fetch_s = fetch_started.elapsed().as_secs_f64();
    for e in &endpoints {
        e.wait_idle().await;
    }
    if let Some((hub, shutdown)) = local {
        shutdown.cancel();
        let _ = hub.done.await;
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(LoadReport {
        members: o.members,
        households: o.households,
        fingerprints: fps,
        fingerprints_per_s: (fps as f64 / ingest).round(),
        batch_latency_p50_ms: (pct(&lat, 0.5) * 100.0).round() / 100.0,
        batch_latency_p99_ms: (pct(&lat, 0.99) * 100.0).round() / 100.0,
        overlaps_found: seen / 2,
        overlaps_expected: expected(o),
        errors,
        ingest_s: (ingest * 1000.0).round() / 1000.0,
        overlap_summary_s,
        setup_s: (setup_s * 1000.0).round() / 1000.0,
        fetch_s: (fetch_s * 1000.0).round() / 1000.0,
        total_s: (run_started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        hub: match target {
            Target::InProcess => "in-process".to_owned(),
            Target::Remote { addr, .. } => addr.to_string(),
        },
    })
}

/// The epoch the simulated members write.
pub const EPOCH: u16 = 2026;

/// Client sockets the simulated members share.
const ENDPOINTS: usize = 4;

/// The client TLS material of a simulated member (PEM certificate and key).
fn client_tls(ca_pem: &[u8], cred: &(String, String)) -> Result<ClientTls, String> {
    use rustls::pki_types::pem::PemObject;
    Ok(ClientTls {
        roots: rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?,
        identity: Some((
            rustls::pki_types::CertificateDer::pem_slice_iter(cred.0.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?,
            rustls::pki_types::PrivateKeyDer::from_pem_slice(cred.1.as_bytes())
                .map_err(|e| e.to_string())?,
        )),
        alpn: vec![siso_shared::wire::ALPN.to_vec()],
    })
}

/// A simulated member's dialer on a shared endpoint (its own TLS session cache).
fn dialer(
    endpoint: quinn::Endpoint,
    ca_pem: &[u8],
    cred: &(String, String),
) -> Result<Dialer, String> {
    Dialer::on_endpoint(endpoint, client_tls(ca_pem, cred)?).map_err(|e| e.to_string())
}

/// Connects simulated member `i` through its dialer and says `Hello`.
async fn connect_via(
    dialer: &Dialer,
    addr: std::net::SocketAddr,
    server_name: &str,
    i: usize,
) -> Result<HubClient, String> {
    let (client, _) = HubClient::connect_via(
        dialer,
        addr,
        server_name,
        &member(i),
        Duration::from_secs(60),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Connects simulated member `i` with its certificate and key (PEM).
pub async fn connect(
    addr: std::net::SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    cred: &(String, String),
    i: usize,
) -> Result<HubClient, String> {
    let tls = client_tls(ca_pem, cred)?;
    let (client, _) =
        HubClient::connect(addr, server_name, tls, &member(i), Duration::from_secs(60))
            .await
            .map_err(|e| e.to_string())?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_load_finds_the_planted_overlaps() {
        let dir = tempfile::tempdir().unwrap();
        let o = LoadOptions {
            members: 6,
            households: 300,
            overlap: 0.1,
            batch: 100,
            concurrency: 6,
            seed: 1,
        };
        let r = run(&o, dir.path()).await.unwrap();
        assert_eq!(r.errors, 0);
        assert_eq!(r.overlaps_expected, 3 * 30);
        assert_eq!(r.overlaps_found, r.overlaps_expected);
        assert!(r.fingerprints > 6 * 300);
    }
}
