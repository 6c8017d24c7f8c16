//! The hub overlap-detection benchmark (`siso-bench overlap`): the same synthetic household
//! records go through the hub's real ingest path and into DuckDB, and the two are timed and
//! cross-checked in the same run.
//!
//! Three phases, each its own process so that peak memory is measured per system:
//! 1. [`generate`] writes the data set once, untimed: `batches.bin` (the `SubmitBatch` frames
//!    members would send, each preceded by the member id) and `rows.csv` (one row per person
//!    fingerprint: hex fingerprint, member, household) for DuckDB; plus the 1% resubmission of
//!    one member's records in both forms (`resubmit.bin`, `resubmit.csv`).
//! 2. [`run_hub`] opens a fresh hub store, feeds every frame to [`Hub::handle`] (decode, checks,
//!    durable sled write, in-memory index, acknowledgement), computes the complete overlap
//!    summary, then applies the resubmission and recomputes it.
//! 3. `tests/bench/duckdb_overlap.py` loads `rows.csv` into a DuckDB file database, self-joins
//!    it across members, applies the same resubmission and joins again.
//!
//! The households come from [`crate::loadgen::records`]: sizes 1–5 (mean 2.2), one planted
//! overlap (a shared person) per pair of members at a fixed rate, every record supported.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use siso_hub::config::Access;
use siso_hub::service::{Caller, Hub, SystemClock};
use siso_hub::store::{OpenMode, Store};
use siso_node::client::HubClient;
use siso_shared::wire::{self, BatchId, HouseholdRecord, Message, SubmitBatch};
use siso_shared::MemberId;

use crate::loadgen::{member, records, LoadOptions};
use crate::synth::Rng;

/// The epoch every benchmark record belongs to.
pub const EPOCH: u16 = 2026;

/// What [`generate`] wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSet {
    /// Members.
    pub members: usize,
    /// Household records per member.
    pub households: usize,
    /// Household records in all.
    pub records: u64,
    /// Person fingerprints (rows for DuckDB).
    pub fingerprints: u64,
    /// Records per `SubmitBatch`.
    pub batch: usize,
    /// Frames in `batches.bin`.
    pub frames: u64,
    /// Planted overlaps (linked household pairs of two members).
    pub planted: u64,
    /// Records of member 0 changed by the resubmission.
    pub resubmitted: u64,
}

/// One frame of a frames file: the member, the whole frame (header and body), and its records
/// and fingerprints.
type Frame = (MemberId, Vec<u8>, u64, u64);

fn write_frame(out: &mut impl Write, m: &MemberId, msg: &Message) -> anyhow::Result<()> {
    let id = m.to_string();
    let frame = wire::encode(msg)?;
    let (records, fps) = match msg {
        Message::SubmitBatch(b) => (
            b.add.len() as u32,
            b.add.iter().map(|r| r.persons.len() as u32).sum::<u32>(),
        ),
        _ => (0, 0),
    };
    out.write_all(&records.to_be_bytes())?;
    out.write_all(&fps.to_be_bytes())?;
    out.write_all(&[id.len() as u8])?;
    out.write_all(id.as_bytes())?;
    out.write_all(&(frame.len() as u32).to_be_bytes())?;
    out.write_all(&frame)?;
    Ok(())
}

/// Reads the next frame of a frames file.
fn read_frame(inp: &mut impl Read) -> anyhow::Result<Option<Frame>> {
    let mut counts = [0u8; 8];
    match inp.read_exact(&mut counts) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let records = u64::from(u32::from_be_bytes([
        counts[0], counts[1], counts[2], counts[3],
    ]));
    let fps = u64::from(u32::from_be_bytes([
        counts[4], counts[5], counts[6], counts[7],
    ]));
    let mut len = [0u8; 1];
    inp.read_exact(&mut len)?;
    let mut id = vec![0u8; usize::from(len[0])];
    inp.read_exact(&mut id)?;
    let mut n = [0u8; 4];
    inp.read_exact(&mut n)?;
    let mut frame = vec![0u8; u32::from_be_bytes(n) as usize];
    inp.read_exact(&mut frame)?;
    if frame.len() < wire::HEADER_LEN {
        anyhow::bail!("short frame");
    }
    Ok(Some((String::from_utf8(id)?.parse()?, frame, records, fps)))
}

fn csv_rows(out: &mut impl Write, m: usize, h: usize, r: &HouseholdRecord) -> anyhow::Result<()> {
    for p in &r.persons {
        writeln!(out, "{},{m},{h}", hex::encode(p.0))?;
    }
    Ok(())
}

fn batch_id(member: usize, b: usize, tag: u8) -> BatchId {
    let mut id = [0u8; 16];
    id[0] = tag;
    id[1..8].copy_from_slice(&(member as u64).to_be_bytes()[1..]);
    id[8..].copy_from_slice(&(b as u64).to_be_bytes());
    BatchId(id)
}

/// The resubmitted records of member 0, 1% of them: at every 200th household (a planted overlap
/// position for the usual rates) new persons, so an overlap disappears; 101 positions later
/// (never a planted position for even spacings) member 1's first person at the same position,
/// so an overlap appears. `true` marks the first kind.
fn resubmission(households: usize) -> Vec<(usize, bool)> {
    (0..households)
        .filter_map(|h| match h % 200 {
            0 => Some((h, true)),
            101 => Some((h, false)),
            _ => None,
        })
        .collect()
}

/// Writes the data set into `dir`.
pub fn generate(o: &LoadOptions, dir: &Path) -> anyhow::Result<DataSet> {
    std::fs::create_dir_all(dir)?;
    let mut frames =
        BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("batches.bin"))?);
    let mut rows = BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("rows.csv"))?);
    writeln!(rows, "fp,member,household")?;
    let mut ds = DataSet {
        members: o.members,
        households: o.households,
        records: 0,
        fingerprints: 0,
        batch: o.batch,
        frames: 0,
        planted: crate::loadgen::expected(o),
        resubmitted: 0,
    };
    let (mut m0, mut m1) = (Vec::new(), Vec::new());
    for i in 0..o.members {
        let recs = records(o, i);
        for (h, r) in recs.iter().enumerate() {
            csv_rows(&mut rows, i, h, r)?;
            ds.fingerprints += r.persons.len() as u64;
        }
        ds.records += recs.len() as u64;
        for (b, chunk) in recs.chunks(o.batch.max(1)).enumerate() {
            let msg = Message::SubmitBatch(SubmitBatch {
                member: member(i),
                epoch: EPOCH,
                batch_id: batch_id(i, b, 0),
                scheme: siso_shared::wire::Scheme::SharedKey,
                snapshot: false,
                add: chunk.to_vec(),
                remove: vec![],
            });
            write_frame(&mut frames, &member(i), &msg)?;
            ds.frames += 1;
        }
        match i {
            0 => m0 = recs,
            1 => m1 = recs,
            _ => {}
        }
    }
    frames.flush()?;
    rows.flush()?;

    // The resubmission: changed records of member 0, same household keys.
    let mut rng = Rng::new(o.seed ^ 0x5EED);
    let mut changed = Vec::new();
    let mut rows = BufWriter::new(std::fs::File::create(dir.join("resubmit.csv"))?);
    writeln!(rows, "fp,member,household")?;
    for (h, fresh) in resubmission(m0.len().min(m1.len())) {
        let mut r = m0[h].clone();
        if fresh {
            for p in &mut r.persons {
                let mut b = [0u8; 32];
                for c in b.chunks_mut(8) {
                    c.copy_from_slice(&rng.next_u64().to_le_bytes());
                }
                p.0 = b;
            }
        } else if let Some(first) = m1[h].persons.first() {
            r.persons[0] = *first;
        }
        csv_rows(&mut rows, 0, h, &r)?;
        changed.push(r);
    }
    rows.flush()?;
    ds.resubmitted = changed.len() as u64;
    let mut frames = BufWriter::new(std::fs::File::create(dir.join("resubmit.bin"))?);
    if !changed.is_empty() {
        let msg = Message::SubmitBatch(SubmitBatch {
            member: member(0),
            epoch: EPOCH,
            batch_id: batch_id(0, 0, 1),
            scheme: siso_shared::wire::Scheme::SharedKey,
            snapshot: false,
            add: changed,
            remove: vec![],
        });
        write_frame(&mut frames, &member(0), &msg)?;
    }
    frames.flush()?;
    std::fs::write(dir.join("dataset.json"), serde_json::to_vec_pretty(&ds)?)?;
    Ok(ds)
}

/// The hub side's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubReport {
    /// `service` (straight into the service layer) or `quic` (over QUIC and mutual TLS).
    pub path: String,
    /// Household records ingested.
    pub records: u64,
    /// Person fingerprints ingested.
    pub fingerprints: u64,
    /// Seconds from the first frame to the last durable acknowledgement.
    pub ingest_s: f64,
    /// Seconds for the complete overlap summary after ingest.
    pub detect_s: f64,
    /// Overlap groups found (households supported by two or more members).
    pub overlaps: u64,
    /// Seconds from submitting the 1% resubmission to the updated summary (durable).
    pub resubmit_s: f64,
    /// Overlap groups after the resubmission.
    pub overlaps_after: u64,
    /// Seconds to reopen the store, replay it and compute the summary (a restart).
    pub restart_s: f64,
    /// Seconds to build the statistics cube of the epoch (after the resubmission).
    pub stats_s: f64,
    /// Peak resident memory of the hub process before the restart, MB (`VmHWM`).
    pub peak_rss_mb: f64,
    /// Size of the hub's store on disk, MB.
    pub store_mb: f64,
}

/// Peak resident memory of this process, MB (`VmHWM`).
pub fn peak_rss_mb() -> f64 {
    (status_kb("VmHWM:") / 1024.0 * 10.0).round() / 10.0
}

/// This process's resident memory now, MB (0 where /proc is unavailable).
pub fn rss_mb() -> f64 {
    status_kb("VmRSS:") / 1024.0
}

/// A `kB` field of /proc/self/status.
fn status_kb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Bytes of every file under `p`, in MB (10^6).
pub fn dir_mb(p: &Path) -> f64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    (walk(p) as f64 / 1e6 * 10.0).round() / 10.0
}

/// Where the frames go.
#[derive(Clone)]
enum Sink {
    /// Straight into the service layer, as the QUIC server calls it.
    Service(Arc<Hub>),
    /// Over QUIC and mutual TLS, one connection per member.
    Quic(Arc<HashMap<MemberId, HubClient>>),
}

async fn feed(sink: &Sink, file: &Path, concurrency: usize) -> anyhow::Result<(u64, u64)> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Frame>(concurrency * 2);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (sink, rx) = (sink.clone(), rx.clone());
        workers.push(tokio::spawn(async move {
            let (mut records, mut fps) = (0u64, 0u64);
            loop {
                let next = rx.lock().await.recv().await;
                let Some((member, frame, r, f)) = next else {
                    break;
                };
                let reply = match &sink {
                    Sink::Service(hub) => {
                        hub.handle(&Caller { member }, &frame[wire::HEADER_LEN..])
                            .await
                            .0
                    }
                    Sink::Quic(clients) => {
                        let c = clients
                            .get(&member)
                            .ok_or_else(|| anyhow::anyhow!("no connection for {member}"))?;
                        c.request_raw(&frame).await?
                    }
                };
                match reply {
                    Message::Ack(a) if !a.duplicate => {}
                    other => anyhow::bail!("the hub refused a batch: {other:?}"),
                }
                records += r;
                fps += f;
            }
            Ok((records, fps))
        }));
    }
    let path = file.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut inp = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
        while let Some(f) = read_frame(&mut inp)? {
            if tx.blocking_send(f).is_err() {
                break;
            }
        }
        Ok(())
    });
    let mut totals = (0, 0);
    for w in workers {
        let (r, f) = w.await??;
        totals.0 += r;
        totals.1 += f;
    }
    reader.await??;
    Ok(totals)
}

/// Runs the hub side on the data set in `dir` (a fresh store in `dir/hub`): straight into the
/// service layer, or (`quic`) through a hub served on 127.0.0.1 with one mutual-TLS QUIC
/// connection per member in the same process (members' certificates from a CA made in `dir`).
pub async fn run_hub(dir: &Path, concurrency: usize, quic: bool) -> anyhow::Result<HubReport> {
    let store_dir = dir.join("hub");
    if store_dir.exists() {
        std::fs::remove_dir_all(&store_dir)?;
    }
    let mut local = None;
    let (hub, sink) = if quic {
        let ds: DataSet = serde_json::from_slice(&std::fs::read(dir.join("dataset.json"))?)?;
        let now = time::OffsetDateTime::now_utc();
        let ca_dir = dir.join("ca");
        let ca = siso_certs_dev::Ca::create(&ca_dir, now, 30, true)?;
        ca.issue_hub("localhost", now, 30)?
            .write_to(&dir.join("hubcert"))?;
        std::fs::create_dir_all(&store_dir)?;
        std::fs::write(store_dir.join("analyst.token"), "bench\n")?;
        let (running, shutdown) = crate::demo::start_local_hub(
            &store_dir,
            &ca_dir,
            &dir.join("hubcert"),
            "127.0.0.1:0".parse()?,
            siso_hub::config::Limits {
                max_connections: ds.members + 16,
                ..siso_hub::config::Limits::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ca_pem = ca.cert_pem().as_bytes().to_vec();
        let mut clients = HashMap::new();
        for i in 0..ds.members {
            let issued = ca.issue_member(&member(i), now, 30)?;
            let cred = (issued.cert_pem, issued.key_pem.unwrap_or_default());
            let c = crate::loadgen::connect(running.quic_addr, "localhost", &ca_pem, &cred, i)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            clients.insert(member(i), c);
        }
        let hub = running.hub.clone();
        local = Some((running, shutdown));
        (hub, Sink::Quic(Arc::new(clients)))
    } else {
        let hub = Arc::new(Hub::open(
            Store::open(&store_dir, OpenMode::Create)?,
            Access::default(),
            10,
            Arc::new(SystemClock),
        )?);
        (hub.clone(), Sink::Service(hub))
    };
    let t = Instant::now();
    let (records, fingerprints) = feed(&sink, &dir.join("batches.bin"), concurrency).await?;
    let ingest_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let overlaps = hub.summary(EPOCH).overlap_groups;
    let detect_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    feed(&sink, &dir.join("resubmit.bin"), 1).await?;
    let overlaps_after = hub.summary(EPOCH).overlap_groups;
    let resubmit_s = t.elapsed().as_secs_f64();
    // The statistics cube (every table), with subtraction-safe suppression (releases add the
    // linear-programming audit: `siso-hub sdc audit` measures that).
    let t = Instant::now();
    hub.cube_with(EPOCH, siso_hub::disclosure::Method::Subtraction)?;
    let stats_s = t.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    hub.store().flush().await?;
    match sink {
        Sink::Quic(clients) => {
            if let Ok(clients) = Arc::try_unwrap(clients) {
                for (_, c) in clients {
                    c.close().await;
                }
            }
        }
        Sink::Service(h) => drop(h),
    }
    drop(hub);
    if let Some((running, shutdown)) = local {
        shutdown.cancel();
        running.done.await?;
    }
    // A restart: the store replayed into a new in-memory index, and the same answer.
    let store_path = if quic {
        store_dir.join("store")
    } else {
        store_dir.clone()
    };
    let t = Instant::now();
    let hub = Hub::open(
        Store::open(&store_path, OpenMode::Existing)?,
        Access::default(),
        10,
        Arc::new(SystemClock),
    )?;
    let after_restart = hub.summary(EPOCH).overlap_groups;
    let restart_s = t.elapsed().as_secs_f64();
    if after_restart != overlaps_after {
        anyhow::bail!(
            "after a restart the hub finds {after_restart} overlaps, before {overlaps_after}"
        );
    }
    drop(hub);
    Ok(HubReport {
        path: if quic { "quic" } else { "service" }.to_owned(),
        records,
        fingerprints,
        ingest_s,
        detect_s,
        overlaps,
        resubmit_s,
        overlaps_after,
        restart_s,
        stats_s,
        peak_rss_mb: peak,
        store_mb: dir_mb(&store_path),
    })
}

/// DuckDB's figures, as printed by `tests/bench/duckdb_overlap.py`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DuckReport {
    /// DuckDB version.
    pub version: String,
    /// Rows loaded.
    pub rows: u64,
    /// Seconds to load `rows.csv` into the file database (and checkpoint).
    pub load_s: f64,
    /// Seconds for the self-join across members.
    pub join_s: f64,
    /// Distinct linked household pairs of two members.
    pub overlaps: u64,
    /// Seconds to apply the resubmission (delete + insert).
    pub update_s: f64,
    /// Seconds for the self-join after it.
    pub rejoin_s: f64,
    /// Linked pairs after the resubmission.
    pub overlaps_after: u64,
    /// Peak resident memory of the Python process, MB.
    pub peak_rss_mb: f64,
}

/// Reads the last line of a child's stdout as JSON.
pub fn last_json<T: serde::de::DeserializeOwned>(stdout: &[u8]) -> anyhow::Result<T> {
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.trim_start().starts_with('{'))
        .last()
        .ok_or_else(|| anyhow::anyhow!("no JSON line in the output"))?;
    Ok(serde_json::from_str(&line)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tiny_run_finds_the_planted_overlaps_and_the_resubmission_changes_them() {
        let dir = tempfile::tempdir().unwrap();
        let o = LoadOptions {
            members: 4,
            households: 1_100,
            overlap: 0.05,
            batch: 300,
            concurrency: 2,
            seed: 3,
        };
        let ds = generate(&o, dir.path()).unwrap();
        assert_eq!(ds.planted, 2 * 55);
        assert_eq!(ds.resubmitted, 11);
        let r = run_hub(dir.path(), 2, false).await.unwrap();
        assert_eq!(r.records, 4_400);
        assert_eq!(r.fingerprints, ds.fingerprints);
        assert_eq!(r.overlaps, ds.planted);
        // Planted positions are multiples of 20: new persons at 0, 200, ..., 1000 drop six of
        // them; member 1's person at 101, 301, ..., 901 links five new ones.
        assert_eq!(r.overlaps_after, ds.planted - 6 + 5);
        // The same over QUIC and mutual TLS.
        let q = run_hub(dir.path(), 2, true).await.unwrap();
        assert_eq!(q.path, "quic");
        assert_eq!(
            (q.records, q.fingerprints, q.overlaps, q.overlaps_after),
            (r.records, r.fingerprints, r.overlaps, r.overlaps_after)
        );
    }
}
