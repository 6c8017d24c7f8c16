//! `siso-bench cartella`: the operators' web app of a node with N persons, over HTTP on
//! loopback in a release build — the card page as a `responsabile` reads it, and many social
//! workers recording activities at once — against DuckDB doing the same lookups and durable
//! single-row inserts over the same rows in the same run (`tests/bench/duckdb_cartella.py`).
//! See docs/benchmarks.md.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use siso_node::accounts::{self, OperatorRole};
use siso_node::store::{Kind, OpenMode, Store};
use siso_server::web::Password;
use siso_shared::{CodiceFiscale, Role, Sex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Persons in the generated anagrafe.
    pub persons: usize,
    /// Social workers recording at once.
    pub operators: usize,
    /// Activities each of them records.
    pub writes: usize,
    /// Card pages read.
    pub cards: usize,
    /// The Python interpreter with the duckdb package (`None`: no reference).
    pub python: Option<String>,
}

/// Writes an anagrafe file of `n` persons with distinct valid codici fiscali, families of 1–4.
pub fn write_anagrafe(n: usize, path: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    const C: &[u8] = b"BCDFGLMNPRSTVZ";
    const PLACES: [&str; 6] = ["G478", "L117", "H501", "A475", "Z129", "F205"];
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "codice_fiscale;cognome;nome;sesso;data_nascita;codice_catastale_nascita;id_famiglia;rapporto_intestatario;indirizzo"
    )?;
    let word = |k: usize| -> String {
        let mut w: String = (0..3)
            .map(|d| C[(k / C.len().pow(d)) % C.len()] as char)
            .collect();
        w.insert(1, 'A');
        w.push('O');
        w
    };
    let mut seen = std::collections::HashSet::with_capacity(n);
    let (mut i, mut written, mut family, mut left_in_family) = (0usize, 0usize, 0usize, 0usize);
    while written < n {
        i += 1;
        let born =
            time::Date::from_ordinal_date(1930 + (i % 90) as i32, 1 + ((i / 90) % 365) as u16)?;
        let sex = if i % 2 == 0 { Sex::M } else { Sex::F };
        let (s, g) = (word(i / 7), word(i % 2744 + i / 100_000));
        let place = PLACES[(i / 3) % PLACES.len()];
        let Ok(cf) = CodiceFiscale::compute(&s, &g, sex, born, place) else {
            continue;
        };
        if !seen.insert(cf.as_str().to_owned()) {
            continue;
        }
        let rel = if left_in_family == 0 {
            family += 1;
            left_in_family = 1 + family % 4;
            "IS"
        } else {
            "FG"
        };
        left_in_family -= 1;
        writeln!(
            out,
            "{};{s};{g};{};{born};{place};{family};{rel};Via dei Test {family}, Perugia",
            cf.as_str(),
            if sex == Sex::M { "M" } else { "F" }
        )?;
        written += 1;
    }
    out.flush()?;
    Ok(())
}

/// One HTTP/1.1 request on a new connection: (status, body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// A logged-in operator: cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn log_in(addr: SocketAddr, user: &str, pw: &str) -> anyhow::Result<Session> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let body = serde_json::json!({ "username": user, "password": pw }).to_string();
    let req = format!(
        "POST /api/v1/sessione HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let cookie = text
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let (_, body) = text.split_once("\r\n\r\n").context("no body")?;
    let v: serde_json::Value = serde_json::from_str(body)?;
    let csrf = v["csrf"].as_str().context("no csrf")?.to_owned();
    Ok(Session { cookie, csrf })
}

/// p50, p95, p99, max of latencies in milliseconds.
fn percentiles(mut lat: Vec<f64>) -> serde_json::Value {
    lat.sort_by(f64::total_cmp);
    let pct = |x: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * x) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    serde_json::json!({ "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0) })
}

/// Runs the benchmark in `dir`; the figures as JSON.
pub async fn run(o: &Options, dir: &Path) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(dir)?;
    let file = dir.join("anagrafe.csv");
    eprintln!("generating and importing {} persons ...", o.persons);
    write_anagrafe(o.persons, &file)?;
    let store_dir = dir.join("store");
    if store_dir.exists() {
        std::fs::remove_dir_all(&store_dir)?;
    }
    let store = Store::open(&store_dir, OpenMode::Create)?;
    let now = time::OffsetDateTime::now_utc();
    let opts = siso_node::import::ImportOptions::new(Role::Comune, now.date());
    let kind = siso_node::import::ImportKind::Anagrafe;
    siso_node::import::import(&store, kind, &file, &Default::default(), &opts)?;

    eprintln!("creating {} accounts ...", o.operators + 1);
    let pw = |i: usize| format!("una frase di prova numero {i}");
    let worker = |i: usize| format!("as{i:04}");
    let p = Password::new(&pw(0))?;
    accounts::add(
        &store,
        "resp",
        OperatorRole::Responsabile,
        &p,
        Role::Comune,
        now,
    )?;
    for i in 0..o.operators {
        let p = Password::new(&pw(i + 1))?;
        accounts::add(
            &store,
            &worker(i),
            OperatorRole::AssistenteSociale,
            &p,
            Role::Comune,
            now,
        )?;
    }

    // The persons: the card sample and one household head per social worker.
    let mut heads = Vec::new();
    let mut all = Vec::new();
    store.for_each::<siso_node::model::Person>(Kind::Person, b"", |_, p| {
        if p.rapporto == "IS" {
            heads.push(p.cf.clone());
        }
        all.push(p.cf);
    })?;
    let ids = siso_node::persons::id_key(&store)?;
    let step = (all.len() / o.cards.max(1)).max(1);
    let sample: Vec<String> = all.iter().step_by(step).take(o.cards).cloned().collect();
    let hstep = (heads.len() / o.operators.max(1)).max(1);
    let cases: Vec<String> = heads
        .iter()
        .step_by(hstep)
        .take(o.operators)
        .cloned()
        .collect();
    if cases.len() < o.operators {
        bail!("too few households for {} operators", o.operators);
    }
    std::fs::write(dir.join("lookups.txt"), sample.join("\n"))?;
    drop(all);

    eprintln!("starting the web app (person index) ...");
    let t = Instant::now();
    let web = siso_node::web::WebOptions {
        member: "054039".parse()?,
        https: false,
        sessions: Default::default(),
        throttle: siso_server::web::ThrottleLimits {
            per_address: 10_000,
            ..Default::default()
        },
        proxies: Default::default(),
        rules: siso_node::rules::Rules::defaults(),
    };
    let state = siso_node::web::WebState::open(
        store.clone(),
        web,
        Arc::new(siso_server::clock::SystemClock),
    )?;
    let start_s = t.elapsed().as_secs_f64();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(siso_node::web::run(listener, None, state, shutdown.clone()));

    eprintln!("logging in and taking {} cases in charge ...", o.operators);
    let resp = log_in(addr, "resp", &pw(0)).await?;
    let mut sessions = Vec::new();
    for (i, cf) in cases.iter().enumerate() {
        let s = log_in(addr, &worker(i), &pw(i + 1)).await?;
        let body = serde_json::json!({
            "codice_fiscale": cf, "data_inizio": now.date().to_string(),
            "operatore": "", "data_fine": "", "area_bisogno": "poverta",
        })
        .to_string();
        let h = [
            ("Cookie", s.cookie.as_str()),
            ("X-CSRF-Token", &s.csrf),
            ("Content-Type", "application/json"),
        ];
        let (status, reply) = request(addr, "POST", "/api/v1/prese-in-carico", &h, &body).await?;
        if status != 201 {
            bail!("taking a case in charge: {status} {reply}");
        }
        sessions.push((s, cf.clone()));
    }

    eprintln!("reading {} card pages ...", sample.len());
    let mut card_ms = Vec::with_capacity(sample.len());
    for cf in &sample {
        let path = format!("/persone/{}", ids.id_hex(cf));
        let t = Instant::now();
        let (status, body) = request(addr, "GET", &path, &[("Cookie", &resp.cookie)], "").await?;
        card_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 || !body.contains(cf.as_str()) {
            bail!("card of {path}: {status}");
        }
    }

    eprintln!(
        "{} social workers record {} activities each, all at once ...",
        o.operators, o.writes
    );
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (s, cf) in sessions {
        let writes = o.writes;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(writes);
            let mut errors = 0usize;
            for i in 0..writes {
                let body = serde_json::json!({
                    "codice_fiscale": cf, "data": "2026-12-01", "tipo_attivita": "colloquio",
                    "durata_minuti": 30, "note": format!("Colloquio numero {i}."),
                })
                .to_string();
                let h = [
                    ("Cookie", s.cookie.as_str()),
                    ("X-CSRF-Token", &s.csrf),
                    ("Content-Type", "application/json"),
                ];
                let t = Instant::now();
                match request(addr, "POST", "/api/v1/attivita", &h, &body).await {
                    Ok((201, _)) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut write_ms = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (lat, e) = task.await?;
        write_ms.extend(lat);
        errors += e;
    }
    let write_s = t.elapsed().as_secs_f64();
    let written = write_ms.len();
    shutdown.cancel();
    server.await??;
    let stored = store.count(Kind::Attivita)?;
    if stored != written || errors > 0 {
        bail!("{written} activities acknowledged, {stored} stored, {errors} errors");
    }
    let chain = siso_node::audit::verify(&store)?;
    if chain.first_broken.is_some() {
        bail!("the audit trail does not verify: {chain:?}");
    }

    let duck = match &o.python {
        Some(py) => {
            eprintln!("reference: DuckDB ...");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/duckdb_cartella.py");
            let out = std::process::Command::new(py)
                .arg(&script)
                .arg(dir)
                .arg(written.to_string())
                .output()?;
            if !out.status.success() {
                bail!(
                    "{}: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Some(serde_json::from_slice::<serde_json::Value>(&out.stdout)?)
        }
        None => None,
    };
    let card = percentiles(card_ms);
    let write = percentiles(write_ms);
    let ratio = |ours: &serde_json::Value, key: &str, theirs: Option<&serde_json::Value>| {
        theirs
            .and_then(|d| d[key].as_f64())
            .and_then(|d| ours.as_f64().map(|o| o / d))
    };
    Ok(serde_json::json!({
        "persons": o.persons,
        "web_start_s": start_s,
        "card_page_ms": card,
        "operators": o.operators,
        "activities": written,
        "errors": errors,
        "record_ms": write,
        "records_per_s": written as f64 / write_s,
        "audit_records": chain.records,
        "duckdb": duck,
        "ratio_card_p95_over_duckdb_lookup_p95": ratio(&card["p95"], "p95", duck.as_ref().map(|d| &d["lookup_ms"])),
        "ratio_record_p99_over_duckdb_insert_p99": ratio(&write["p99"], "p99", duck.as_ref().map(|d| &d["insert_ms"])),
        "ratio_records_per_s_over_duckdb_inserts_per_s": duck
            .as_ref()
            .and_then(|d| d["inserts_per_s"].as_f64())
            .map(|d| written as f64 / write_s / d),
    }))
}
