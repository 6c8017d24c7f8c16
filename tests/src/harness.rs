//! Test harness: a development PKI in a temp dir, a hub on 127.0.0.1:0 with a real sled store,
//! real QUIC clients, and node data directories. Used by the end-to-end tests of this crate and,
//! through `#[path]`, by the hub's integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use siso_certs_dev::{init, InitOptions, Layout};
use siso_hub::config::{Access, HubConfig, Limits, LogFormat, StatsConfig};
use siso_hub::service::SystemClock;
use siso_hub::store as hub_store;
use siso_hub::Running;
use siso_node::client::{ClientError, ClientTls, HubClient};
use siso_node::store as node_store;
use siso_shared::wire::{
    BatchId, ErrorCode, HelloAck, HouseholdRecord, Level, Message, OverlapMatrixQuery, RecordFlags,
    StatsQuery, SubmitBatch,
};
use siso_shared::Fingerprint;
use siso_shared::MemberId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub const PERUGIA: &str = "054039"; // zona 2
pub const TERNI: &str = "055032"; // zona 10
pub const ASSISI: &str = "054001"; // zona 3
pub const CARITAS: &str = "ets-caritas-perugia";
pub const BANCO: &str = "ets-banco-alimentare-umbria";
pub const REGION: &str = "region-umbria";

#[derive(Debug)]
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            comuni: vec![PERUGIA.into(), TERNI.into(), ASSISI.into()],
            shared_key: true,
            ..InitOptions::default()
        };
        init(dir.path(), &opts, time::OffsetDateTime::now_utc()).unwrap();
        let layout = Layout {
            root: dir.path().to_owned(),
        };
        Pki { dir, layout }
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.layout.ca_dir().join("ca.pem")
    }

    pub fn tls(&self, member: &str) -> ClientTls {
        let m: MemberId = member.parse().unwrap();
        let d = self.layout.member_dir(&m);
        ClientTls::from_files(&self.ca_pem(), &d.join("cert.pem"), &d.join("key.pem")).unwrap()
    }
}

#[derive(Debug)]
pub struct TestHub {
    pub running: Running,
    pub shutdown: CancellationToken,
    pub cfg: HubConfig,
    pub data: PathBuf,
    pub token: String,
}

pub fn hub_config(pki: &Pki, data: &Path) -> HubConfig {
    std::fs::create_dir_all(data).unwrap();
    let token_file = data.join("analyst.token");
    if !token_file.exists() {
        std::fs::write(&token_file, "test-token-0123456789\n").unwrap();
    }
    HubConfig {
        data_dir: data.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        http: "127.0.0.1:0".parse().unwrap(),
        ca_dir: pki.layout.ca_dir(),
        cert: pki.layout.hub_dir().join("cert.pem"),
        key: pki.layout.hub_dir().join("key.pem"),
        analyst_token_file: token_file,
        log_format: LogFormat::Text,
        audit_check_minutes: 60,
        limits: Limits {
            max_bad_requests: 5,
            shutdown_grace_secs: 10,
            ..Limits::default()
        },
        access: Access::default(),
        // Tests cut releases when they want them ([`TestHub::release`]), so that what they
        // read does not depend on how their requests were timed (`siso-hub serve`'s automatic
        // releases are tested through the binary).
        stats: StatsConfig {
            release_quiet_ms: 0,
            ..StatsConfig::default()
        },
    }
}

pub async fn start_hub_with(cfg: HubConfig) -> TestHub {
    let store_dir = cfg.store_dir();
    if !store_dir.exists() {
        hub_store::Store::open(&store_dir, hub_store::OpenMode::Create).unwrap();
    }
    let shutdown = CancellationToken::new();
    let running = siso_hub::start(&cfg, Arc::new(SystemClock), shutdown.clone())
        .await
        .unwrap();
    let token = std::fs::read_to_string(&cfg.analyst_token_file)
        .unwrap()
        .trim()
        .to_owned();
    TestHub {
        running,
        shutdown,
        data: cfg.data_dir.clone(),
        cfg,
        token,
    }
}

pub async fn start_hub(pki: &Pki, data: &Path) -> TestHub {
    start_hub_with(hub_config(pki, data)).await
}

/// A new PKI, a temporary directory and a hub started in `DIR/hub` (keep the directory alive
/// as long as the hub; nodes' directories go beside it).
pub async fn fresh_hub() -> (Pki, tempfile::TempDir, TestHub) {
    let pki = Pki::new();
    let dirs = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dirs.path().join("hub")).await;
    (pki, dirs, hub)
}

impl TestHub {
    pub fn addr(&self) -> SocketAddr {
        self.running.quic_addr
    }

    pub async fn connect(
        &self,
        pki: &Pki,
        member: &str,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        self.connect_tls(pki.tls(member), member).await
    }

    pub async fn connect_tls(
        &self,
        tls: ClientTls,
        member: &str,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        connect_to(self.addr(), tls, member).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.running.done)
            .await
            .unwrap()
            .unwrap();
    }

    pub async fn http_get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        http_get(self.running.http_addr, path, token).await
    }

    /// Cuts a release of `epoch` from everything stored (or finds the one already cut of the
    /// same figures), as `siso-hub release create` does.
    pub async fn release(&self, epoch: u16) -> Arc<siso_hub::release::Release> {
        let hub = self.running.hub.clone();
        let period = siso_hub::release::Period { epoch, month: None };
        match tokio::task::spawn_blocking(move || hub.cut_release(period))
            .await
            .unwrap()
        {
            Ok(r) => r,
            Err(siso_hub::service::HubError::Release(
                siso_hub::release::ReleaseError::Unchanged(_),
            )) => self.running.hub.release_for(epoch, None).unwrap(),
            Err(e) => panic!("release of {epoch} not cut: {e}"),
        }
    }
}

/// Connects to a hub at `addr` (certificate name `localhost`) as `member`.
pub async fn connect_to(
    addr: SocketAddr,
    tls: ClientTls,
    member: &str,
) -> Result<(HubClient, HelloAck), ClientError> {
    HubClient::connect(
        addr,
        "localhost",
        tls,
        &member.parse().unwrap(),
        Duration::from_secs(10),
    )
    .await
}

/// A `siso-hub` binary process (the hub's tests pass `env!("CARGO_BIN_EXE_siso-hub")`),
/// initialised with `siso-hub init` on free loopback ports with the test PKI.
#[derive(Debug)]
pub struct BinaryHub {
    pub bin: PathBuf,
    pub data: PathBuf,
    pub config: PathBuf,
    pub addr: SocketAddr,
    pub http: SocketAddr,
    pub token: String,
    pub child: Option<std::process::Child>,
}

impl BinaryHub {
    /// Runs `siso-hub init` in `data`; does not start the hub.
    pub fn init(bin: &Path, pki: &Pki, data: &Path) -> BinaryHub {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        run_ok(hub_init_command(bin, pki, data).args([
            "--listen",
            &udp.to_string(),
            "--http",
            &tcp.to_string(),
        ]));
        let token = std::fs::read_to_string(data.join("analyst.token"))
            .unwrap()
            .trim()
            .to_owned();
        BinaryHub {
            bin: bin.to_owned(),
            data: data.to_owned(),
            config: data.join("hub.toml"),
            addr: udp,
            http: tcp,
            token,
            child: None,
        }
    }

    /// Starts `siso-hub serve` and waits until its HTTP port answers.
    pub async fn start(&mut self) {
        let child = std::process::Command::new(&self.bin)
            .args(["serve", "--config"])
            .arg(&self.config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_tcp(self.http, "the hub").await;
    }

    /// The process id of the running hub.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(std::process::Child::id).unwrap()
    }

    /// Sends a signal (`KILL`, `TERM`, `HUP`) to the running hub.
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the process to end; its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }

    pub async fn connect(
        &self,
        pki: &Pki,
        member: &str,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        connect_to(self.addr, pki.tls(member), member).await
    }

    pub async fn connect_tls(
        &self,
        tls: ClientTls,
        member: &str,
    ) -> Result<(HubClient, HelloAck), ClientError> {
        connect_to(self.addr, tls, member).await
    }
}

impl Drop for BinaryHub {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A one-record batch of `member` with batch id `[id; 16]`: household `[id; 32]` with the person
/// `[id + 1; 32]`, no interventions.
pub fn one_record_batch(member: &str, id: u8, snapshot: bool) -> Message {
    Message::SubmitBatch(SubmitBatch {
        member: member.parse().unwrap(),
        epoch: 2026,
        batch_id: BatchId([id; 16]),
        scheme: siso_shared::wire::Scheme::SharedKey,
        snapshot,
        add: vec![HouseholdRecord {
            key: Fingerprint([id; 32]),
            persons: vec![Fingerprint([id.wrapping_add(1); 32])],
            interventions: vec![],
            flags: RecordFlags::default(),
        }],
        remove: vec![],
    })
}

/// A `StatsQuery` for the whole of 2026 at `level`, without grouping.
pub fn stats_query(level: Level) -> Message {
    Message::StatsQuery(StatsQuery {
        epoch: 2026,
        level,
        by: None,
        month: None,
    })
}

/// The error code of an error reply; panics on anything else.
pub fn error_code(m: Message) -> ErrorCode {
    match m {
        Message::Error(e) => e.code,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The per-request half of the mTLS matrix against the hub at `addr` (in-process or the
/// binary): the Region submits nothing, an ETS may not read the overlap matrix, a body naming
/// another member is refused and the connection still serves the caller's own batch.
pub async fn assert_request_roles(pki: &Pki, addr: SocketAddr) {
    let (region, _) = connect_to(addr, pki.tls(REGION), REGION).await.unwrap();
    let r = region.request(&one_record_batch(REGION, 3, false)).await;
    assert_eq!(error_code(r.unwrap()), ErrorCode::Forbidden);
    let (ets, _) = connect_to(addr, pki.tls(CARITAS), CARITAS).await.unwrap();
    let r = ets
        .request(&Message::OverlapMatrixQuery(OverlapMatrixQuery {
            epoch: 2026,
        }))
        .await;
    assert_eq!(error_code(r.unwrap()), ErrorCode::Forbidden);
    let (perugia, _) = connect_to(addr, pki.tls(PERUGIA), PERUGIA).await.unwrap();
    let r = perugia.request(&one_record_batch(TERNI, 1, false)).await;
    assert_eq!(error_code(r.unwrap()), ErrorCode::IdentityMismatch);
    let r = perugia.request(&one_record_batch(PERUGIA, 2, false)).await;
    assert!(matches!(r.unwrap(), Message::Ack(_)));
    for c in [region, ets, perugia] {
        c.close().await;
    }
}

/// Runs a command to its end; panics with its stderr unless it succeeded.
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits until a TCP port accepts connections (a server child starting); panics after 20 s.
pub async fn wait_for_tcp(addr: SocketAddr, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `siso-hub init` for `data` with the PKI's CA and hub certificate; more arguments may follow.
pub fn hub_init_command(bin: &Path, pki: &Pki, data: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["init", "--data"])
        .arg(data)
        .arg("--ca-dir")
        .arg(pki.layout.ca_dir())
        .arg("--cert")
        .arg(pki.layout.hub_dir().join("cert.pem"))
        .arg("--key")
        .arg(pki.layout.hub_dir().join("key.pem"));
    cmd
}

/// Panics if any of `needles` (codici fiscali, names, addresses) occurs in any file below `dir`
/// (a hub's data directory: store and logs); returns the bytes searched.
pub fn assert_absent_below<S: AsRef<str>>(
    dir: &Path,
    needles: impl IntoIterator<Item = S>,
) -> usize {
    let mut haystack = Vec::new();
    for f in files_under(dir) {
        haystack.extend(std::fs::read(&f).unwrap());
    }
    let text = String::from_utf8_lossy(&haystack);
    for n in needles {
        let n = n.as_ref();
        assert!(!text.contains(n), "{n:?} found in {}", dir.display());
    }
    haystack.len()
}

/// Every file below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Panics unless `r` is a refusal at the TLS handshake (not a protocol error after it).
pub fn assert_refused(r: Result<impl std::fmt::Debug, ClientError>, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected refusal, got {v:?}"),
        Err(ClientError::Refused(e)) => {
            panic!("{what}: refused by protocol ({e}), expected at TLS")
        }
        Err(_) => {}
    }
}

/// Valid members of each role get in, and the hub's `HelloAck` names them and their role.
pub async fn assert_roles(pki: &Pki, addr: SocketAddr) {
    use siso_shared::Role;
    for (member, role) in [
        (PERUGIA, Role::Comune),
        (CARITAS, Role::Ets),
        (REGION, Role::Region),
    ] {
        let (c, ack) = connect_to(addr, pki.tls(member), member).await.unwrap();
        assert_eq!(ack.member.to_string(), member);
        assert_eq!(ack.role, role);
        assert_eq!(ack.protocol_version, siso_shared::wire::PROTOCOL_VERSION);
        c.close().await;
    }
}

/// The handshake half of the mTLS matrix against the hub at `addr` (in-process or the binary):
/// no client certificate, a certificate of another CA, an expired one of the right CA, a wrong
/// and a missing ALPN are all refused.
pub async fn assert_handshake_refusals(pki: &Pki, addr: SocketAddr) {
    let mut tls = pki.tls(PERUGIA);
    tls.identity = None;
    assert_refused(connect_to(addr, tls, PERUGIA).await, "no certificate");
    let other = Pki::new();
    let mut tls = other.tls(PERUGIA);
    tls.roots = pki.tls(PERUGIA).roots; // trusts our hub, presents the other CA's cert
    assert_refused(connect_to(addr, tls, PERUGIA).await, "another CA");
    let ca = siso_certs_dev::Ca::load(&pki.layout.ca_dir()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = ca
        .issue_member_window(
            &TERNI.parse().unwrap(),
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    expired.write_to(dir.path()).unwrap();
    let tls = ClientTls::from_files(
        &pki.ca_pem(),
        &dir.path().join("cert.pem"),
        &dir.path().join("key.pem"),
    )
    .unwrap();
    assert_refused(connect_to(addr, tls, TERNI).await, "expired");
    let mut tls = pki.tls(PERUGIA);
    tls.alpn = vec![b"siso/0".to_vec()];
    assert_refused(connect_to(addr, tls, PERUGIA).await, "wrong ALPN");
    let mut tls = pki.tls(PERUGIA);
    tls.alpn = vec![];
    assert_refused(connect_to(addr, tls, PERUGIA).await, "no ALPN");
}

/// `families` families of one to three persons (valid, distinct codici fiscali) in an anagrafe
/// file, and an intervention for each family's head in an interventi file, both in `dir`.
pub fn write_registry_csvs(dir: &Path, families: usize) -> (PathBuf, PathBuf) {
    use siso_shared::{CodiceFiscale, Sex};
    use std::fmt::Write as _;
    let mut anagrafe = String::from(
        "codice_fiscale;cognome;nome;sesso;data_nascita;codice_catastale_nascita;id_famiglia;rapporto_intestatario;indirizzo\n",
    );
    let mut interventi = String::from(
        "codice_fiscale;tipo_intervento;area_bisogno;data_inizio;data_fine;importo;cognome;nome;sesso;data_nascita;codice_catastale_nascita\n",
    );
    const C: &[u8] = b"BCDFGLMNPRSTVZ";
    let mut seen = std::collections::HashSet::new();
    let mut n = 0usize;
    for f in 0..families {
        for member in 0..(1 + f % 3) {
            let cf = loop {
                let i = n;
                n += 1;
                let word = |k: usize| -> String {
                    (0..4)
                        .map(|d| C[(k / C.len().pow(d)) % C.len()] as char)
                        .collect::<String>()
                        + "A"
                };
                let born =
                    time::Date::from_ordinal_date(1940 + (i % 60) as i32, 1 + (i % 365) as u16)
                        .unwrap();
                let sex = if i.is_multiple_of(2) { Sex::M } else { Sex::F };
                let (s, g) = (word(i), word(i / 7 + 3));
                let cf = CodiceFiscale::compute(&s, &g, sex, born, "G478").unwrap();
                if seen.insert(cf.as_str().to_owned()) {
                    break (cf, s, g, sex, born);
                }
            };
            let (cf, s, g, sex, born) = cf;
            let rel = if member == 0 { "IS" } else { "FG" };
            writeln!(
                anagrafe,
                "{};{s};{g};{};{born};G478;F{f};{rel};Via Test {f}, Perugia",
                cf.as_str(),
                if sex == Sex::M { "M" } else { "F" }
            )
            .unwrap();
            if member == 0 {
                writeln!(
                    interventi,
                    "{};pacco_alimentare;poverta;2026-0{}-01;;0;;;;;",
                    cf.as_str(),
                    1 + f % 9
                )
                .unwrap();
            }
        }
    }
    let (a, i) = (dir.join("anagrafe.csv"), dir.join("interventi.csv"));
    std::fs::write(&a, anagrafe).unwrap();
    std::fs::write(&i, interventi).unwrap();
    (a, i)
}

/// A minimal HTTP/1.1 GET (no client library needed for these tests).
pub async fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, body) = http_call(addr, "GET", path, &headers, "").await;
    (status, body)
}

/// Debian's Chromium, headless, in this workplace's closed network (no background
/// connections, no QUIC); the caller adds `--user-data-dir` and what to do.
pub const CHROMIUM_ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// One HTTP/1.1 request over a new connection: the status, the head and the body.
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    http_exchange(s, method, path, headers, body).await
}

/// One HTTP/1.1 request on a connection already open (plain or TLS), `Connection: close`.
pub async fn http_exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    // A peer that resets after its reply (or a TLS port spoken to in plain text) still gives
    // what it sent.
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// A node data directory configured for `member` against `hub` (shared-key scheme), with its
/// store created.
pub fn node(
    pki: &Pki,
    hub: SocketAddr,
    member: &str,
    data: &Path,
    batch_records: usize,
) -> (siso_node::config::NodeConfig, siso_node::store::Store) {
    node_with(pki, hub, member, data, batch_records, None)
}

/// [`node`] with the key services of `oprf` instead of the shared key (if given).
pub fn node_with(
    pki: &Pki,
    hub: SocketAddr,
    member: &str,
    data: &Path,
    batch_records: usize,
    oprf: Option<siso_node::config::OprfConfig>,
) -> (siso_node::config::NodeConfig, siso_node::store::Store) {
    let m: MemberId = member.parse().unwrap();
    let d = pki.layout.member_dir(&m);
    let cfg = siso_node::config::NodeConfig {
        member: member.into(),
        hub,
        hub_name: "localhost".into(),
        ca: pki.ca_pem(),
        cert: d.join("cert.pem"),
        key: d.join("key.pem"),
        fingerprint_key: oprf.is_none().then(|| pki.layout.fingerprint_key()),
        oprf,
        epoch: 2026,
        sync: siso_node::config::SyncConfig {
            batch_records,
            timeout_secs: 10,
            ..Default::default()
        },
        http: Default::default(),
        web: Default::default(),
        retention: Default::default(),
    };
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(
        siso_node::config::NodeConfig::path(data),
        cfg.render().unwrap(),
    )
    .unwrap();
    let store = node_store::Store::open(&data.join("store"), node_store::OpenMode::Create).unwrap();
    (siso_node::config::NodeConfig::load(data).unwrap(), store)
}

/// Copies the directory `from` into `to` (created), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A committed store fixture (`tests/fixtures/NAME`): with `SISO_BLESS` set, `make` writes a
/// new one into the given directory first (review the diff: a new fixture means the store
/// format changed, which needs a migration and the old fixture kept under its version's name).
/// Returns a copy in a temporary directory (opening a store writes to it).
pub fn store_fixture(name: &str, make: impl FnOnce(&Path)) -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("SISO_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&fixture);
        make(&fixture);
    }
    assert!(
        fixture.join("conf").exists(),
        "missing {} (SISO_BLESS=1 writes it)",
        fixture.display()
    );
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixture, copy.path());
    copy
}
