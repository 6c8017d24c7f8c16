//! `siso-demo`: the whole system on loopback — a development PKI, the hub, and one node per
//! member (92 Comuni and 2 third-sector entities by default), each with its own sled store and
//! QUIC client, importing a synthetic population, assessing, syncing — then a summary of what
//! the hub found against what was planted. The end-to-end tests run the same code.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use siso_hub::config::{Access, HubConfig, Limits, LogFormat, StatsConfig};
use siso_hub::store as hub_store;
use siso_node::import::{ImportKind, ImportOptions, Profile};
use siso_node::store as node_store;
use siso_shared::MemberId;
use tokio_util::sync::CancellationToken;

use crate::synth::{self, SynthOptions, Truth};

/// Demo options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Working directory (PKI, data, hub, nodes).
    pub dir: PathBuf,
    /// Synthetic population.
    pub synth: SynthOptions,
    /// HTTP address of the hub (dashboard).
    pub http: SocketAddr,
    /// Nodes working at once.
    pub concurrency: usize,
    /// Address of the operators' web app of one Comune (Perugia), with demo accounts.
    pub web: SocketAddr,
    /// Use the shared-key fingerprint scheme instead of three key services (comparison only).
    pub shared_key: bool,
}

/// A demo account of the operators' web app (synthetic data only: the password is printed).
#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    /// User name.
    pub username: String,
    /// Role.
    pub ruolo: String,
    /// Password, random per run.
    pub password: String,
}

/// The summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Members synced (Comuni and entities).
    pub members: usize,
    /// Household records shared with the hub.
    pub households_shared: u64,
    /// Households supported by two or more members, found by the hub.
    pub overlaps_found: u64,
    /// Planted.
    pub overlaps_planted: u64,
    /// Double economic support found.
    pub double_economic_support_found: u64,
    /// Planted.
    pub double_economic_support_planted: u64,
    /// Latent needs nobody supports, found.
    pub unsupported_need_found: u64,
    /// Planted.
    pub unsupported_need_planted: u64,
    /// Persons in the synthetic anagrafe.
    pub persons: u64,
    /// How fingerprints were made: `oprf` (three key services, any two evaluate) or
    /// `shared-key`.
    pub fingerprint_scheme: String,
    /// Person fingerprints the key services evaluated (0 with the shared key).
    pub fingerprints_evaluated: u64,
    /// Seconds taken.
    pub elapsed_s: f64,
    /// The dashboard.
    pub dashboard_url: String,
    /// The statistical release the dashboard publishes: id, cells, withheld, seconds to
    /// protect and audit, digest.
    pub release: ReleaseSummary,
    /// The operators' web app of one Comune.
    pub web_url: String,
    /// Its demo accounts.
    pub web_accounts: Vec<DemoAccount>,
}

/// The demo's statistical release.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// Its id.
    pub id: u64,
    /// Cells.
    pub cells: usize,
    /// Cells withheld.
    pub withheld: usize,
    /// Seconds to protect and audit it.
    pub seconds: f64,
    /// Its BLAKE3 digest.
    pub digest: String,
}

/// A finished demo with its hub still running.
#[derive(Debug)]
pub struct Demo {
    /// The summary.
    pub summary: Summary,
    /// The planted truth.
    pub truth: Truth,
    /// The running hub.
    pub hub: siso_hub::Running,
    /// Cancels the hub.
    pub shutdown: CancellationToken,
    /// The analysts' token.
    pub token: String,
    /// The hub's data directory.
    pub hub_dir: PathBuf,
    /// The key services (none with the shared key).
    pub keyd: Option<crate::keyd::KeyServices>,
}

/// Demo errors.
pub type DemoError = Box<dyn std::error::Error + Send + Sync>;

/// Sends tracing events of the hub to `hub_log` (as the hub's own log file) and warnings of
/// the rest to stderr.
pub fn install_logging(hub_log: &Path) -> Result<(), DemoError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    if let Some(d) = hub_log.parent() {
        std::fs::create_dir_all(d)?;
    }
    let file = std::fs::File::create(hub_log)?;
    let hub_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("siso_hub", tracing::Level::DEBUG),
        );
    let err_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(hub_layer)
        .with(err_layer)
        .try_init()?;
    Ok(())
}

/// Starts a hub in this process with a fresh store in `hub_dir` (which holds `analyst.token`),
/// trusting the CA in `ca_dir`, with the certificate and key in `cert_dir`; QUIC on an ephemeral
/// loopback port. Shared by the demo and the load generator. It cuts no release by itself: the
/// demo cuts its release once every node has synced, and the load generator and benchmarks
/// measure ingest without one.
pub async fn start_local_hub(
    hub_dir: &Path,
    ca_dir: &Path,
    cert_dir: &Path,
    http: SocketAddr,
    limits: Limits,
) -> Result<(siso_hub::Running, CancellationToken), DemoError> {
    let cfg = HubConfig {
        data_dir: hub_dir.to_owned(),
        listen: "127.0.0.1:0".parse()?,
        http,
        ca_dir: ca_dir.to_owned(),
        cert: cert_dir.join("cert.pem"),
        key: cert_dir.join("key.pem"),
        analyst_token_file: hub_dir.join("analyst.token"),
        log_format: LogFormat::Text,
        audit_check_minutes: 60,
        limits,
        access: Access::default(),
        stats: StatsConfig {
            release_quiet_ms: 0,
            ..StatsConfig::default()
        },
    };
    hub_store::Store::open(&cfg.store_dir(), hub_store::OpenMode::Create)?;
    let shutdown = CancellationToken::new();
    let hub = siso_hub::start(
        &cfg,
        Arc::new(siso_hub::service::SystemClock),
        shutdown.clone(),
    )
    .await?;
    Ok((hub, shutdown))
}

/// Runs the demo and leaves the hub running.
pub async fn run(
    opts: &DemoOptions,
    progress: impl Fn(&str) + Send + Sync,
) -> Result<Demo, DemoError> {
    let started = Instant::now();
    let today = opts.synth.today;
    let epoch = opts.synth.epoch;
    std::fs::create_dir_all(&opts.dir)?;
    progress("popolazione sintetica / synthetic population");
    let data = opts.dir.join("data");
    let truth = synth::generate(&opts.synth, &data)?;
    progress("PKI di sviluppo / development PKI");
    let pki = opts.dir.join("pki");
    if pki.exists() {
        std::fs::remove_dir_all(&pki)?;
    }
    let comuni: Vec<String> = truth
        .members
        .iter()
        .filter(|m| !m.starts_with("ets-"))
        .cloned()
        .collect();
    siso_certs_dev::init(
        &pki,
        &siso_certs_dev::InitOptions {
            comuni: comuni.clone(),
            ets: synth::ETS.iter().map(|s| s.to_string()).collect(),
            region: vec!["umbria".into()],
            shared_key: opts.shared_key,
            ..Default::default()
        },
        time::OffsetDateTime::now_utc(),
    )?;
    let layout = siso_certs_dev::Layout { root: pki.clone() };
    let keyd = if opts.shared_key {
        None
    } else {
        progress("servizi delle chiavi / key services (2 di 3 / 2 of 3)");
        let kdir = opts.dir.join("keyd");
        if kdir.exists() {
            std::fs::remove_dir_all(&kdir)?;
        }
        Some(
            crate::keyd::KeyServices::start(
                &layout,
                &kdir,
                epoch,
                siso_keyd::config::Quota::default(),
            )
            .await?,
        )
    };
    let oprf = keyd.as_ref().map(crate::keyd::KeyServices::oprf_config);

    progress("hub");
    let hub_dir = opts.dir.join("hub");
    if hub_dir.join("store").exists() {
        std::fs::remove_dir_all(hub_dir.join("store"))?;
    }
    std::fs::create_dir_all(&hub_dir)?;
    let token = {
        let mut b = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
            .map_err(|_| "random generator failed")?;
        hex::encode(b)
    };
    std::fs::write(hub_dir.join("analyst.token"), format!("{token}\n"))?;
    let (hub, shutdown) = start_local_hub(
        &hub_dir,
        &layout.ca_dir(),
        &layout.hub_dir(),
        opts.http,
        Limits::default(),
    )
    .await?;

    progress("nodi: import, valutazione, sincronizzazione / nodes: import, assess, sync");
    let nodes_dir = opts.dir.join("nodes");
    let rules = siso_node::rules::Rules::defaults();
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut nodes = Vec::new();
    for member in &truth.members {
        let m: MemberId = member.parse()?;
        let d = layout.member_dir(&m);
        let ncfg = siso_node::config::NodeConfig {
            member: member.clone(),
            hub: hub.quic_addr,
            hub_name: "localhost".into(),
            ca: layout.ca_dir().join("ca.pem"),
            cert: d.join("cert.pem"),
            key: d.join("key.pem"),
            fingerprint_key: opts.shared_key.then(|| layout.fingerprint_key()),
            oprf: oprf.clone(),
            epoch,
            sync: Default::default(),
            http: Default::default(),
            web: Default::default(),
            retention: Default::default(),
        };
        let ndir = nodes_dir.join(member);
        if ndir.exists() {
            std::fs::remove_dir_all(&ndir)?;
        }
        std::fs::create_dir_all(&ndir)?;
        std::fs::write(siso_node::config::NodeConfig::path(&ndir), ncfg.render()?)?;
        let store = node_store::Store::open(&ndir.join("store"), node_store::OpenMode::Create)?;
        nodes.push((ncfg, store, data.join(member)));
    }
    let nodes = Arc::new(nodes);
    let now = time::OffsetDateTime::now_utc();
    let mut shared = 0u64;
    let mut fingerprints_evaluated = 0u64;
    for round in 0..2 {
        let mut tasks = Vec::new();
        for i in 0..nodes.len() {
            let nodes = nodes.clone();
            let sem = sem.clone();
            let rules = rules.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
                let (cfg, store, files) = &nodes[i];
                if round == 0 {
                    let role = cfg.role();
                    let st = store.clone();
                    let files = files.clone();
                    tokio::task::spawn_blocking(move || -> Result<(), String> {
                        for &kind in ImportKind::all() {
                            if !kind.allowed_for(role) {
                                continue;
                            }
                            let o = ImportOptions::new(role, today);
                            siso_node::import::import(
                                &st,
                                kind,
                                &files.join(kind.file_name()),
                                &Profile::default(),
                                &o,
                            )
                            .map_err(|e| {
                                format!("{}: {}", files.display(), e.lines().join("; "))
                            })?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())??;
                }
                let r = siso_node::sync::assess_and_round(store, cfg, &rules, now)
                    .await
                    .map_err(|e| format!("{}: {e}", cfg.member))?;
                Ok::<(u64, u64), String>((r.shared, r.fingerprints_evaluated))
            }));
        }
        shared = 0;
        for t in tasks {
            let (n, evaluated) = t.await.map_err(|e| e.to_string())??;
            shared += n;
            fingerprints_evaluated += evaluated;
        }
    }
    progress("app degli operatori / operators' web app");
    let (web_addr, web_accounts) = start_web_app(&nodes, opts.web, shutdown.clone()).await?;
    progress("rilascio statistico / statistical release");
    let release = {
        // The hub cuts a release by itself once ingest is quiet; cutting it here (or finding
        // the one the hub just cut) makes the demo wait for it.
        let h = hub.hub.clone();
        let period = siso_hub::release::Period { epoch, month: None };
        let r = match tokio::task::spawn_blocking(move || h.cut_release(period)).await? {
            Ok(r) => r,
            Err(siso_hub::service::HubError::Release(
                siso_hub::release::ReleaseError::Unchanged(_),
            )) => hub
                .hub
                .release_for(epoch, None)
                .ok_or("no release after an unchanged one")?,
            Err(e) => return Err(e.into()),
        };
        ReleaseSummary {
            id: r.meta.id,
            cells: r.meta.report.cells,
            withheld: r.meta.report.suppressed,
            seconds: (r.meta.report.seconds * 10.0).round() / 10.0,
            digest: r.meta.digest_hex(),
        }
    };
    let s = hub.hub.summary(epoch);
    let summary = Summary {
        members: truth.members.len(),
        households_shared: shared,
        overlaps_found: s.overlap_groups,
        overlaps_planted: truth.overlaps_planted,
        double_economic_support_found: s.double_economic_support,
        double_economic_support_planted: truth.double_economic_support_planted,
        unsupported_need_found: s.unsupported_need,
        unsupported_need_planted: truth.unsupported_need_planted,
        persons: truth.persons,
        fingerprint_scheme: if opts.shared_key {
            "shared-key"
        } else {
            "oprf"
        }
        .into(),
        fingerprints_evaluated,
        elapsed_s: (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        dashboard_url: format!("http://{}/login?token={token}", hub.http_addr),
        release,
        web_url: format!("http://{web_addr}/"),
        web_accounts,
    };
    Ok(Demo {
        summary,
        truth,
        hub,
        shutdown,
        token,
        hub_dir,
        keyd,
    })
}

/// Starts the operators' web app of Perugia's node (the first Comune if Perugia is not in the
/// demo) on `addr`, with a `responsabile`, an `assistente_sociale` and a `sportello` whose
/// passwords are random per run.
async fn start_web_app(
    nodes: &[(siso_node::config::NodeConfig, node_store::Store, PathBuf)],
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, Vec<DemoAccount>), DemoError> {
    use siso_node::accounts::{self, OperatorRole};
    let comune = |m: &str| {
        m.parse::<MemberId>()
            .map(|m| m.role() == siso_shared::Role::Comune)
    };
    let (cfg, store, _) = nodes
        .iter()
        .find(|(c, _, _)| c.member == "054039")
        .or_else(|| {
            nodes
                .iter()
                .find(|(c, _, _)| comune(&c.member).unwrap_or(false))
        })
        .ok_or("the demo has no Comune")?;
    let now = time::OffsetDateTime::now_utc();
    let mut made = Vec::new();
    for (username, role) in [
        ("responsabile", OperatorRole::Responsabile),
        ("assistente", OperatorRole::AssistenteSociale),
        ("sportello", OperatorRole::Sportello),
    ] {
        let token = siso_server::web::random_token().ok_or("no randomness")?;
        let password = token[..20].to_owned();
        let p = siso_server::web::Password::new(&password)?;
        if accounts::get(store, username)?.is_some() {
            accounts::change(
                store,
                username,
                accounts::Change::Password(p),
                cfg.role(),
                now,
            )?;
        } else {
            accounts::add(store, username, role, &p, cfg.role(), now)?;
        }
        made.push(DemoAccount {
            username: username.into(),
            ruolo: role.as_str().into(),
            password,
        });
    }
    let opts = siso_node::web::WebOptions {
        member: cfg.member_id()?,
        https: false,
        sessions: Default::default(),
        throttle: Default::default(),
        proxies: Default::default(),
        rules: siso_node::rules::Rules::defaults(),
    };
    let state = siso_node::web::WebState::open(
        store.clone(),
        opts,
        Arc::new(siso_server::clock::SystemClock),
    )?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(siso_node::web::run(listener, None, state, shutdown));
    Ok((bound, made))
}

impl Summary {
    /// The summary in Italian and English.
    pub fn text(&self) -> String {
        let ok = |a: u64, b: u64| if a == b { "✓" } else { "✗" };
        format!(
            "siso — dimostrazione / demo\n\
             enti sincronizzati / members synced:                 {}\n\
             persone nell'anagrafe sintetica / synthetic persons: {}\n\
             impronte / fingerprints:                             {}\n\
             nuclei condivisi / households shared:                {}\n\
             sovrapposizioni trovate / overlaps found:            {} (piantate / planted {}) {}\n\
             doppio sostegno economico / double economic support: {} (piantati / planted {}) {}\n\
             bisogni non sostenuti / unsupported needs:           {} (piantati / planted {}) {}\n\
             secondi / seconds:                                   {:.1}\n\
             rilascio statistico / statistical release:           n. {} ({} celle / cells, {} riservate / withheld, {:.1} s)\n\
             cruscotto / dashboard:                               {}\n\
             app degli operatori / operators' web app:            {}{}",
            self.members,
            self.persons,
            if self.fingerprint_scheme == "oprf" {
                format!(
                    "OPRF (RFC 9497), 2 di 3 servizi delle chiavi / 2 of 3 key services; {} valutate / evaluated; nessuna chiave sui nodi / no key on any node",
                    self.fingerprints_evaluated
                )
            } else {
                "chiave condivisa (solo prove) / shared key (tests only)".into()
            },
            self.households_shared,
            self.overlaps_found,
            self.overlaps_planted,
            ok(self.overlaps_found, self.overlaps_planted),
            self.double_economic_support_found,
            self.double_economic_support_planted,
            ok(
                self.double_economic_support_found,
                self.double_economic_support_planted
            ),
            self.unsupported_need_found,
            self.unsupported_need_planted,
            ok(self.unsupported_need_found, self.unsupported_need_planted),
            self.elapsed_s,
            self.release.id,
            self.release.cells,
            self.release.withheld,
            self.release.seconds,
            self.dashboard_url,
            self.web_url,
            self.web_accounts
                .iter()
                .map(|a| format!(
                    "\n  utente / user {:<13} password {}  ({})",
                    a.username, a.password, a.ruolo
                ))
                .collect::<String>()
        )
    }
}
