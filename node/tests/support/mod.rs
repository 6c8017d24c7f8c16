//! What the web app's tests share: a node with example data and accounts on loopback, HTTP
//! calls with their replies, the security-header check, and a headless Chromium over WebDriver.

#![allow(clippy::unwrap_used, dead_code)]

#[path = "../../../tests/src/harness.rs"]
pub mod harness;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use siso_node::accounts::{self, OperatorRole};
use siso_node::store::{OpenMode, Store};
use siso_node::web::{WebOptions, WebState};
use siso_server::clock::Clock;
use siso_server::web::Password;
use siso_shared::Role;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

pub const MANAGER: (&str, &str) = ("m.bianchi", "una frase lunga e sicura");
pub const DESK: (&str, &str) = ("s.verdi", "un'altra frase lunga");
pub const ADMIN: (&str, &str) = ("admin", "la frase dell'amministratore");
pub const WORKER: (&str, &str) = ("a.rossi", "la frase dell'assistente sociale");
pub const OTHER_WORKER: (&str, &str) = ("b.gialli", "la frase di un altro assistente");

/// A clock the test moves.
#[derive(Debug)]
pub struct TestClock(pub Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

pub struct App {
    pub addr: SocketAddr,
    pub state: WebState,
    pub clock: Arc<TestClock>,
    pub store: Store,
    pub shutdown: CancellationToken,
    pub _dir: tempfile::TempDir,
}

/// Serves `state` again on `addr` (plain HTTP) after an earlier server there was stopped: the
/// same node, sessions included, back on the network. The token stops it.
pub async fn serve_again(addr: SocketAddr, state: WebState) -> CancellationToken {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "rebinding {addr}: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(siso_node::web::run(listener, None, state, shutdown.clone()));
    shutdown
}

/// Waits until nothing answers on `addr` (a stopped server).
pub async fn wait_closed(addr: SocketAddr) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "{addr} still answers");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The app over a node with the example anagrafe and five accounts.
pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> App {
    start_with(tls, &[siso_node::import::ImportKind::Anagrafe]).await
}

/// The app over a node with these example files imported and five accounts.
pub async fn start_with(
    tls: Option<Arc<rustls::ServerConfig>>,
    kinds: &[siso_node::import::ImportKind],
) -> App {
    let accounts = [
        (MANAGER, OperatorRole::Responsabile),
        (DESK, OperatorRole::Sportello),
        (ADMIN, OperatorRole::Amministratore),
        (WORKER, OperatorRole::AssistenteSociale),
        (OTHER_WORKER, OperatorRole::AssistenteSociale),
    ];
    start_node(tls, "054039", Role::Comune, &accounts, kinds).await
}

/// A third-sector entity's operator.
pub const ETS_OPERATOR: (&str, &str) = ("caritas.1", "la frase dell'operatore del terzo settore");

/// The app of a third-sector node (Caritas di Perugia) with its operator and an administrator.
pub async fn start_ets() -> App {
    let accounts = [
        (ETS_OPERATOR, OperatorRole::OperatoreEts),
        (ADMIN, OperatorRole::Amministratore),
    ];
    start_node(None, "ets-caritas-perugia", Role::Ets, &accounts, &[]).await
}

/// The app over a node of `member` with these accounts and example files.
pub async fn start_node(
    tls: Option<Arc<rustls::ServerConfig>>,
    member: &str,
    member_role: Role,
    users: &[((&str, &str), OperatorRole)],
    kinds: &[siso_node::import::ImportKind],
) -> App {
    start_full(tls, member, member_role, users, kinds, Default::default()).await
}

/// [`start_with`] (the anagrafe, five accounts) behind a reverse proxy on 127.0.0.1.
pub async fn start_behind_proxy() -> App {
    let accounts = [
        (MANAGER, OperatorRole::Responsabile),
        (WORKER, OperatorRole::AssistenteSociale),
    ];
    let proxies = siso_server::web::TrustedProxies(vec!["127.0.0.1".parse().unwrap()]);
    let kinds = [siso_node::import::ImportKind::Anagrafe];
    start_full(None, "054039", Role::Comune, &accounts, &kinds, proxies).await
}

/// The app over a node of `member`, believing `X-Forwarded-For` from `proxies`.
pub async fn start_full(
    tls: Option<Arc<rustls::ServerConfig>>,
    member: &str,
    member_role: Role,
    users: &[((&str, &str), OperatorRole)],
    kinds: &[siso_node::import::ImportKind],
    proxies: siso_server::web::TrustedProxies,
) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store"), OpenMode::Create).unwrap();
    let t0 = datetime!(2026-12-01 09:00 UTC);
    for ((user, pw), role) in users {
        let p = Password::new(pw).unwrap();
        accounts::add(&store, user, *role, &p, member_role, t0).unwrap();
    }
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    let o = siso_node::import::ImportOptions::new(member_role, t0.date());
    for &k in kinds {
        siso_node::import::import(
            &store,
            k,
            &examples.join(k.file_name()),
            &Default::default(),
            &o,
        )
        .unwrap();
    }
    let clock = Arc::new(TestClock(Mutex::new(t0)));
    let opts = WebOptions {
        member: member.parse().unwrap(),
        https: tls.is_some(),
        sessions: Default::default(),
        throttle: Default::default(),
        proxies,
        rules: siso_node::rules::Rules::defaults(),
    };
    let state = WebState::open(store.clone(), opts, clock.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(siso_node::web::run(
        listener,
        tls,
        state.clone(),
        shutdown.clone(),
    ));
    App {
        addr,
        state,
        clock,
        store,
        shutdown,
        _dir: dir,
    }
}

/// An HTTP/1.1 reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// A header's value (name in lower case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_owned())
        })
    }

    /// The session token the reply sets.
    pub fn session_cookie(&self) -> String {
        let c = self.header("set-cookie").expect("a cookie");
        c.split(';').next().unwrap().trim().to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let (status, head, body) = harness::http_exchange(s, method, path, headers, body).await;
    Reply { status, head, body }
}

pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(s, method, path, headers, body).await
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");
pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

pub fn credentials((user, pw): (&str, &str)) -> String {
    serde_json::json!({ "username": user, "password": pw }).to_string()
}

pub async fn api_login(addr: SocketAddr, who: (&str, &str)) -> Reply {
    call(addr, "POST", "/api/v1/sessione", &[JSON], &credentials(who)).await
}

/// Security headers every reply must carry.
pub fn assert_secure(r: &Reply) {
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{}",
        r.head
    );
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
}

#[path = "../../../tests/src/webdriver.rs"]
mod webdriver;
pub use webdriver::*;

/// Fills the log-in form and submits it.
pub async fn form_log_in(c: &fantoccini::Client, base: &str, (user, pw): (&str, &str)) {
    use fantoccini::Locator;
    c.goto(&format!("{base}/accesso")).await.unwrap();
    type_into(c, "#username", user).await;
    type_into(c, "#password", pw).await;
    click(c, Locator::Css("button[type=submit]")).await;
}
