//! `siso-bench`: benchmarks as a release binary (never timed unit tests). Every figure is a ratio
//! against a reference measured in the same run. See docs/benchmarks.md.
//!
//! - `cf`: codice fiscale validation + person fingerprinting per core, against raw
//!   `blake3::keyed_hash` of the same inputs.
//! - `overlap`: hub overlap detection (durable ingest, complete summary, a 1% resubmission,
//!   statistics, restart) straight into the service layer and over QUIC, against DuckDB's
//!   self-join of the same fingerprints, each in its own process (`overlap-hub` is the hub's;
//!   `tests/bench/duckdb_overlap.py` DuckDB's).
//!
//! - `anagrafe`: importing an anagrafe file of N persons into a node store (validation of every
//!   row, codici fiscali, families, one atomic write), rows per second and peak memory of the
//!   importing process (`anagrafe-import`), against parsing the same file with the `csv` crate.
//!
//! - `cartella`: the operators' web app of a node with N persons over HTTP — card pages, and
//!   100 social workers recording activities at once — against DuckDB's lookups and durable
//!   single-row inserts over the same rows (`tests/bench/duckdb_cartella.py`).
//!
//! - `oprf`: the fingerprint key services — one service's evaluations per core, and a node's
//!   fingerprints end to end through two of three services — against a raw ristretto255 scalar
//!   multiplication.
//!
//! - `backup`: a node store of N persons — the online backup's copy under the write barrier
//!   (how long writes wait), `backup verify` and `restore` — against copying the closed store's
//!   directory file by file.
//!
//! Exit codes: 0 done; 1 the two systems disagree on the overlaps or a step failed; 2 usage.

use std::hint::black_box;
use std::time::Instant;

use std::path::PathBuf;
use std::process::Command;

use clap::{Parser, Subcommand};
use siso_shared::{CodiceFiscale, FingerprintSecret, Sex};
use siso_tests::cartella_bench;
use siso_tests::loadgen::LoadOptions;
use siso_tests::overlap_bench::{self, DuckReport, HubReport};

#[derive(Parser)]
#[command(
    name = "siso-bench",
    version,
    about = "siso benchmarks (run in release mode)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Codice fiscale validation + fingerprinting vs raw keyed BLAKE3, one core.
    Cf {
        /// Distinct codes.
        #[arg(long, default_value_t = 100_000)]
        codes: usize,
        /// Passes over them.
        #[arg(long, default_value_t = 20)]
        passes: usize,
    },
    /// Fingerprints through the key services vs raw ristretto255 scalar multiplications.
    Oprf {
        /// Fingerprints to make end to end.
        #[arg(long, default_value_t = 1_000_000)]
        fingerprints: usize,
        /// Work directory (kept); default a temporary one (removed).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Hub overlap detection vs DuckDB's self-join on the same fingerprints.
    Overlap {
        /// Person fingerprints in all (households of mean size 2.2).
        #[arg(long, default_value_t = 1_000_000)]
        persons: u64,
        /// Members.
        #[arg(long, default_value_t = 92)]
        members: usize,
        /// Fraction of household positions planted as overlaps between pairs of members.
        #[arg(long, default_value_t = 0.01)]
        overlap: f64,
        /// Records per SubmitBatch.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Work directory (kept); default a temporary one (removed).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip DuckDB (no Python needed).
        #[arg(long)]
        no_duckdb: bool,
        /// The Python interpreter with the duckdb package.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// Anagrafe import rows/s and peak memory vs raw CSV parsing of the same file.
    Anagrafe {
        /// Persons (rows); families of 1 to 4.
        #[arg(long, default_value_t = 1_000_000)]
        persons: usize,
        /// Work directory (kept); default a temporary one (removed).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Backup of a node store of N persons: the dump taken under the write barrier, verify,
    /// restore, against a plain copy of the store directory.
    Backup {
        /// Persons (rows); families of 1 to 4.
        #[arg(long, default_value_t = 1_000_000)]
        persons: usize,
        /// Work directory (kept); default a temporary one (removed).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The operators' person search of a node with N persons: the in-memory index built at the
    /// web app's start, and the latency of searches by name, code and family, against a full
    /// scan of the store's persons in the same run.
    Persons {
        /// Persons (imported from a generated anagrafe).
        #[arg(long, default_value_t = 1_000_000)]
        persons: usize,
        /// Searches to time.
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
        /// Work directory (kept); default a temporary one (removed).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The operators' web app of a node with N persons over HTTP: card pages, and social
    /// workers recording activities all at once, against DuckDB's lookups and durable inserts
    /// over the same rows in the same run.
    Cartella {
        /// Persons (imported from a generated anagrafe).
        #[arg(long, default_value_t = 1_000_000)]
        persons: usize,
        /// Social workers recording at once.
        #[arg(long, default_value_t = 100)]
        operators: usize,
        /// Activities each records.
        #[arg(long, default_value_t = 50)]
        writes: usize,
        /// Card pages to read.
        #[arg(long, default_value_t = 1_000)]
        cards: usize,
        /// Work directory (kept); default a temporary one (removed).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Skip DuckDB (no Python needed).
        #[arg(long)]
        no_duckdb: bool,
        /// The Python interpreter with the duckdb package.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// The import side of `anagrafe` (internal).
    #[command(hide = true)]
    AnagrafeImport {
        /// The anagrafe CSV.
        #[arg(long)]
        file: PathBuf,
        /// A new node store.
        #[arg(long)]
        store: PathBuf,
    },
    /// The hub side of `overlap`, on a data set already written (internal).
    #[command(hide = true)]
    OverlapHub {
        /// The data set directory.
        #[arg(long)]
        dir: PathBuf,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Over QUIC and mutual TLS (an in-process server, one connection per member) instead
        /// of straight into the service layer.
        #[arg(long)]
        quic: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Cf { codes, passes } => cf(codes, passes)?,
        Cmd::Oprf { fingerprints, dir } => {
            let (dir, _tmp) = work_dir(dir)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let r = rt
                .block_on(siso_tests::oprf_bench::run(fingerprints, &dir))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string(&r)?);
        }
        Cmd::Overlap {
            persons,
            members,
            overlap,
            batch,
            concurrency,
            dir,
            no_duckdb,
            python,
        } => {
            let households =
                ((persons as f64 / 2.22 / members.max(1) as f64).round() as usize).max(1);
            let o = LoadOptions {
                members,
                households,
                overlap,
                batch,
                concurrency,
                seed: 2026,
            };
            let (dir, _tmp) = work_dir(dir)?;
            overlap_cmd(&o, &dir, (!no_duckdb).then_some(python.as_str()))?;
        }
        Cmd::Cartella {
            persons,
            operators,
            writes,
            cards,
            dir,
            no_duckdb,
            python,
        } => {
            let (dir, _tmp) = work_dir(dir)?;
            let o = cartella_bench::Options {
                persons,
                operators,
                writes,
                cards,
                python: (!no_duckdb).then_some(python),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(cartella_bench::run(&o, &dir))?;
            println!("{report}");
        }
        Cmd::Anagrafe { persons, dir } => {
            let (dir, _tmp) = work_dir(dir)?;
            anagrafe_cmd(persons, &dir)?;
        }
        Cmd::Backup { persons, dir } => {
            let (dir, _tmp) = work_dir(dir)?;
            backup_cmd(persons, &dir)?;
        }
        Cmd::Persons {
            persons,
            queries,
            dir,
        } => {
            let (dir, _tmp) = work_dir(dir)?;
            persons_cmd(persons, queries, &dir)?;
        }
        Cmd::AnagrafeImport { file, store } => {
            let store = siso_node::store::Store::open(&store, siso_node::store::OpenMode::Create)?;
            let opts = siso_node::import::ImportOptions::new(
                siso_shared::Role::Comune,
                time::OffsetDateTime::now_utc().date(),
            );
            let t = Instant::now();
            let s = siso_node::import::import(
                &store,
                siso_node::import::ImportKind::Anagrafe,
                &file,
                &siso_node::import::Profile::default(),
                &opts,
            )?;
            let seconds = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({
                    "rows": s.rows_read,
                    "imported": s.imported,
                    "households": s.households,
                    "seconds": seconds,
                    "rows_per_s": s.rows_read as f64 / seconds,
                    "peak_rss_mb": overlap_bench::peak_rss_mb(),
                })
            );
        }
        Cmd::OverlapHub {
            dir,
            concurrency,
            quic,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let r = rt.block_on(overlap_bench::run_hub(&dir, concurrency, quic))?;
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}

/// The work directory: the one given (kept), or a temporary one removed when the guard drops.
fn work_dir(dir: Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    Ok(match dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    })
}

fn overlap_cmd(o: &LoadOptions, dir: &std::path::Path, python: Option<&str>) -> anyhow::Result<()> {
    eprintln!(
        "generating {} members x {} households in {} ...",
        o.members,
        o.households,
        dir.display()
    );
    let t = Instant::now();
    let ds = overlap_bench::generate(o, dir)?;
    eprintln!(
        "  {} records, {} fingerprints, {} planted overlaps ({:.1} s, untimed)",
        ds.records,
        ds.fingerprints,
        ds.planted,
        t.elapsed().as_secs_f64()
    );
    let duck: Option<DuckReport> = match python {
        None => None,
        Some(py) => {
            let _ = Command::new("sync").status();
            eprintln!("DuckDB ...");
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/duckdb_overlap.py");
            let out = Command::new(py).arg(&script).arg(dir).output()?;
            if !out.status.success() {
                anyhow::bail!(
                    "DuckDB run failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let d: DuckReport = overlap_bench::last_json(&out.stdout)?;
            // The database is no longer needed; free the disk before the hub runs.
            let _ = std::fs::remove_file(dir.join("duck.db"));
            eprintln!("  {d:?}");
            Some(d)
        }
    };
    // Let the page cache write back what the previous phase left before the next is timed.
    let mut problems = Vec::new();
    let mut hubs = Vec::new();
    for path in ["service", "quic"] {
        let _ = Command::new("sync").status();
        eprintln!("hub ({path}) ...");
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["overlap-hub", "--dir"])
            .arg(dir)
            .args(["--concurrency", &o.concurrency.to_string()]);
        if path == "quic" {
            cmd.arg("--quic");
        }
        let out = cmd.stderr(std::process::Stdio::inherit()).output()?;
        if !out.status.success() {
            anyhow::bail!("hub run ({path}) failed ({})", out.status);
        }
        let h: HubReport = overlap_bench::last_json(&out.stdout)?;
        eprintln!("  {h:?}");
        if h.overlaps != ds.planted {
            problems.push(format!(
                "hub ({path}) found {} overlaps, {} planted",
                h.overlaps, ds.planted
            ));
        }
        if let Some(d) = &duck {
            if d.overlaps != h.overlaps || d.overlaps_after != h.overlaps_after {
                problems.push(format!(
                    "hub ({path}) and DuckDB disagree: {}/{} vs {}/{} (before/after the resubmission)",
                    h.overlaps, h.overlaps_after, d.overlaps, d.overlaps_after
                ));
            }
        }
        hubs.push(h);
    }
    let ratios = |h: &HubReport| {
        duck.as_ref().map(|d| {
            serde_json::json!({
                "hub_ingest_and_detect_over_duckdb_load_and_join":
                    (h.ingest_s + h.detect_s) / (d.load_s + d.join_s),
                "hub_resubmit_over_duckdb_rejoin": h.resubmit_s / d.rejoin_s,
                "hub_peak_rss_over_duckdb": h.peak_rss_mb / d.peak_rss_mb,
            })
        })
    };
    let (h, q) = (&hubs[0], &hubs[1]);
    println!(
        "{}",
        serde_json::json!({
            "dataset": ds,
            "hub": h,
            "hub_quic": q,
            "duckdb": duck,
            "ratios": ratios(h),
            "ratios_quic": ratios(q),
            "agree": problems.is_empty(),
        })
    );
    if !problems.is_empty() {
        anyhow::bail!(problems.join("; "));
    }
    Ok(())
}

fn cf(n: usize, passes: usize) -> anyhow::Result<()> {
    let mut rng = siso_tests::synth::Rng::new(42);
    let places = ["G478", "L117", "H501", "A475", "Z129"];
    let today = time::OffsetDateTime::now_utc().date();
    let inputs: Vec<String> = (0..n)
        .map(|i| {
            let born = time::Date::from_calendar_date(
                1930 + (i % 90) as i32,
                time::Month::try_from(1 + (i % 12) as u8).unwrap_or(time::Month::January),
                1 + (rng.below(28) as u8),
            )
            .unwrap_or(today);
            let sex = if i % 2 == 0 { Sex::M } else { Sex::F };
            let s = ["Rossi", "Bianchi", "Verdi", "Neri", "Conti"][i % 5];
            let g = ["Mario", "Anna", "Luca", "Giulia", "Paolo"][(i / 5) % 5];
            CodiceFiscale::compute(s, g, sex, born, places[i % 5])
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect();
    let secret = FingerprintSecret::from_bytes([7; 32]);
    let key = secret.epoch_key(2026);
    let raw_key = *blake3::hash(b"reference key").as_bytes();

    // Reference: raw keyed hash of the same bytes.
    let t = Instant::now();
    for _ in 0..passes {
        for s in &inputs {
            black_box(blake3::keyed_hash(&raw_key, black_box(s.as_bytes())));
        }
    }
    let raw = (n * passes) as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut ok = 0usize;
    for _ in 0..passes {
        for s in &inputs {
            if let Ok(cf) = CodiceFiscale::parse(black_box(s), today) {
                black_box(key.person(&cf));
                ok += 1;
            }
        }
    }
    let ours = (n * passes) as f64 / t.elapsed().as_secs_f64();
    assert_eq!(ok, n * passes, "every generated code must validate");
    println!(
        "{{\"codes\":{},\"raw_keyed_hash_per_s\":{:.0},\"validate_and_fingerprint_per_s\":{:.0},\"ratio\":{:.3}}}",
        n * passes,
        raw,
        ours,
        ours / raw
    );
    Ok(())
}

fn anagrafe_cmd(n: usize, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join("anagrafe.csv");
    eprintln!("generating {n} persons in {} ...", file.display());
    cartella_bench::write_anagrafe(n, &file)?;
    let bytes = std::fs::metadata(&file)?.len();
    // Reference: the csv crate reading every field of the same file, nothing else.
    let _ = Command::new("sync").status();
    let t = Instant::now();
    let mut rdr = csv::ReaderBuilder::new().delimiter(b';').from_path(&file)?;
    let mut rec = csv::ByteRecord::new();
    let (mut rows, mut fields) = (0u64, 0u64);
    while rdr.read_byte_record(&mut rec)? {
        rows += 1;
        fields += rec.len() as u64;
    }
    let raw_s = t.elapsed().as_secs_f64();
    std::hint::black_box(fields);
    let store = dir.join("store");
    if store.exists() {
        std::fs::remove_dir_all(&store)?;
    }
    eprintln!("importing ...");
    let out = Command::new(std::env::current_exe()?)
        .args(["anagrafe-import", "--file"])
        .arg(&file)
        .arg("--store")
        .arg(&store)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        anyhow::bail!("import failed ({})", out.status);
    }
    let imp: serde_json::Value = overlap_bench::last_json(&out.stdout)?;
    if imp["rows"].as_u64() != Some(rows) || imp["imported"].as_u64() != Some(rows) {
        anyhow::bail!("the import read or imported a different number of rows: {imp}");
    }
    let rows_per_s = imp["rows_per_s"].as_f64().unwrap_or(0.0);
    // The store's files, summed (what `du -sb` says), against the CSV's bytes.
    let store_mb = overlap_bench::dir_mb(&store);
    println!(
        "{}",
        serde_json::json!({
            "persons": rows,
            "file_mb": (bytes as f64 / 1e6 * 10.0).round() / 10.0,
            "store_mb": (store_mb * 10.0).round() / 10.0,
            "store_over_csv": (store_mb / (bytes as f64 / 1e6) * 1000.0).round() / 1000.0,
            "import": imp,
            "csv_parse_rows_per_s": rows as f64 / raw_s,
            "ratio_import_over_csv_parse": rows_per_s / (rows as f64 / raw_s),
        })
    );
    Ok(())
}

/// Copies `from` into `to` file by file, syncing each file (what an operator's `cp -a` of the
/// stopped store costs, made durable as a backup must be).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            bytes += copy_tree(&e.path(), &target)?;
        } else {
            bytes += std::fs::copy(e.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(bytes)
}

fn backup_cmd(n: usize, dir: &std::path::Path) -> anyhow::Result<()> {
    use siso_node::store::{OpenMode, Store};
    use siso_server::backup::{self, PartData};
    std::fs::create_dir_all(dir)?;
    let file = dir.join("anagrafe.csv");
    let store_dir = dir.join("store");
    for d in [&store_dir, &dir.join("copy"), &dir.join("restored")] {
        if d.exists() {
            std::fs::remove_dir_all(d)?;
        }
    }
    eprintln!(
        "generating and importing {n} persons in {} ...",
        dir.display()
    );
    cartella_bench::write_anagrafe(n, &file)?;
    let out = Command::new(std::env::current_exe()?)
        .args(["anagrafe-import", "--file"])
        .arg(&file)
        .arg("--store")
        .arg(&store_dir)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        anyhow::bail!("import failed ({})", out.status);
    }
    // Reference: the closed store's directory copied file by file.
    let _ = Command::new("sync").status();
    let t = Instant::now();
    let store_bytes = copy_tree(&store_dir, &dir.join("copy"))?;
    let copy_s = t.elapsed().as_secs_f64();
    // The online copy: what `serve` does for `backup`, holding the write barrier throughout.
    let store = Store::open(&store_dir, OpenMode::Existing)?;
    let staged_path = dir.join("staged.dump");
    let t = Instant::now();
    let trees = {
        let f = std::fs::File::create(&staged_path)?;
        let mut w = std::io::BufWriter::new(f);
        let trees = store.dump(&mut w)?;
        let f = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        f.sync_all()?;
        trees
    };
    let dump_s = t.elapsed().as_secs_f64();
    drop(store);
    let manifest = backup::Manifest {
        format: 1,
        program: "node".into(),
        release: "bench".into(),
        schema_version: siso_node::store::SCHEMA_VERSION,
        member: "bench".into(),
        epochs: vec![2026],
        created: String::new(),
        online: true,
        trees,
        summary: Default::default(),
        references: vec![],
        parts: vec![],
    };
    let to = dir.join("bench.siso-backup");
    let t = Instant::now();
    let staged = std::fs::File::open(&staged_path)?;
    backup::write(
        &to,
        manifest,
        vec![(backup::STORE_PART.into(), PartData::File(staged))],
        &[],
    )?;
    let write_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    backup::verify(&to, None, "node")?;
    let verify_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    backup::restore(&to, None, "node", &dir.join("restored"), &mut |_, b| Ok(b))?;
    let restore_s = t.elapsed().as_secs_f64();
    let restored = Store::open(&dir.join("restored/store"), OpenMode::Existing)?;
    let persons = restored.count(siso_node::store::Kind::Person)?;
    if persons != n {
        anyhow::bail!("the restored store holds {persons} persons, not {n}");
    }
    let file_bytes = std::fs::metadata(&to)?.len();
    std::fs::remove_file(&staged_path)?;
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "persons": n,
            "store_mb": r(store_bytes as f64 / 1e6),
            "backup_mb": r(file_bytes as f64 / 1e6),
            "copy_s": r(copy_s),
            "barrier_held_s": r(dump_s),
            "write_s": r(write_s),
            "verify_s": r(verify_s),
            "restore_s": r(restore_s),
            "ratios": {
                "barrier_over_copy": r(dump_s / copy_s),
                "backup_over_copy": r((dump_s + write_s) / copy_s),
                "verify_over_copy": r(verify_s / copy_s),
                "restore_over_copy": r(restore_s / copy_s),
            },
        })
    );
    Ok(())
}

fn persons_cmd(n: usize, queries: usize, dir: &std::path::Path) -> anyhow::Result<()> {
    use siso_node::model::Person;
    use siso_node::persons::{fold, id_key, PersonIndex};
    use siso_node::store::{Kind, OpenMode, Store};
    std::fs::create_dir_all(dir)?;
    let file = dir.join("anagrafe.csv");
    eprintln!(
        "generating and importing {n} persons in {} ...",
        dir.display()
    );
    cartella_bench::write_anagrafe(n, &file)?;
    let store_dir = dir.join("store");
    if store_dir.exists() {
        std::fs::remove_dir_all(&store_dir)?;
    }
    let store = Store::open(&store_dir, OpenMode::Create)?;
    let opts = siso_node::import::ImportOptions::new(
        siso_shared::Role::Comune,
        time::OffsetDateTime::now_utc().date(),
    );
    let profile = siso_node::import::Profile::default();
    let kind = siso_node::import::ImportKind::Anagrafe;
    siso_node::import::import(&store, kind, &file, &profile, &opts)?;
    // The queries: every k-th person by surname and the start of the name, by the first
    // eight characters of the code, or by family.
    let all: Vec<Person> = store
        .scan::<Person>(Kind::Person, b"")?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let step = (all.len() / queries.max(1)).max(1);
    let sample: Vec<(String, &Person)> = all
        .iter()
        .step_by(step)
        .enumerate()
        .map(|(i, p)| {
            let q = match i % 10 {
                0..=6 => {
                    let start: String = fold(&p.nome).chars().take(2).collect();
                    format!("{} {start}", fold(&p.cognome))
                }
                7 | 8 => p.cf.chars().take(8).collect(),
                _ => p.famiglia.clone().unwrap_or_else(|| p.cf.clone()),
            };
            (q, p)
        })
        .collect();
    eprintln!("building the index ...");
    let before = overlap_bench::rss_mb();
    let t = Instant::now();
    let index = PersonIndex::build(&store, id_key(&store)?)?;
    let build_s = t.elapsed().as_secs_f64();
    let index_mb = overlap_bench::rss_mb() - before;
    let mut lat = Vec::with_capacity(sample.len());
    for (q, p) in &sample {
        let t = Instant::now();
        let rows = index.search(&store, q)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if !rows.iter().any(|r| r.codice_fiscale == p.cf)
            && rows.len() < siso_node::persons::MAX_ROWS
        {
            anyhow::bail!("search {q:?} missed {}", p.cf);
        }
    }
    lat.sort_by(f64::total_cmp);
    let pct = |x: f64| lat[((lat.len() - 1) as f64 * x) as usize];
    // Reference in the same run: the same name searches as a scan of every person.
    eprintln!("reference: full scans ...");
    let mut scan_ms = Vec::new();
    for (q, _) in sample.iter().filter(|(q, _)| q.contains(' ')).take(5) {
        let t = Instant::now();
        let hits = store
            .scan::<Person>(Kind::Person, b"")?
            .into_iter()
            .filter(|(_, p)| {
                let (s, g) = (fold(&p.cognome), fold(&p.nome));
                format!("{s} {g}").starts_with(q.as_str())
                    || format!("{g} {s}").starts_with(q.as_str())
            })
            .count();
        scan_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let found = index.search(&store, q)?.len();
        if found != hits.min(siso_node::persons::MAX_ROWS) {
            anyhow::bail!("index found {found} for {q:?}, the scan {hits}");
        }
    }
    let scan_mean = scan_ms.iter().sum::<f64>() / scan_ms.len().max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "persons": index.len(),
            "queries": lat.len(),
            "index_build_s": build_s,
            "index_rss_mb": (index_mb * 10.0).round() / 10.0,
            "search_ms": { "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0) },
            "full_scan_ms": scan_mean,
            "ratio_p95_over_full_scan": pct(0.95) / scan_mean,
        })
    );
    Ok(())
}
