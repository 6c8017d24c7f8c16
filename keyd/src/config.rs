//! The key service's configuration (`keyd.toml`): TOML, unknown fields refused, every field
//! documented with its default in docs/configuration.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use siso_shared::{MemberId, Role};

pub use siso_server::config::ConfigError;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeydConfig {
    /// Data directory: the usage store (`DIR/store`) lives here.
    pub data_dir: PathBuf,
    /// UDP address of the QUIC endpoint.
    pub listen: SocketAddr,
    /// TCP address of `/healthz` and `/metrics`.
    pub http: SocketAddr,
    /// Directory of the regional CA: `ca.pem` and, optionally, `crl.pem` (re-read on SIGHUP).
    pub ca_dir: PathBuf,
    /// The service's certificate chain (PEM, issued by `siso-certs issue-keyd`).
    pub cert: PathBuf,
    /// The service's TLS private key (PEM).
    pub key: PathBuf,
    /// Share files (`share-N.key` written by `siso-keyd deal`), one per epoch served.
    pub shares: Vec<PathBuf>,
    /// Budgets and rate limits.
    #[serde(default)]
    pub quota: Quota,
    /// Connection limits.
    #[serde(default)]
    pub limits: Limits,
}

/// Per-member budgets (evaluations per epoch) and rate limits (evaluations per minute).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quota {
    /// A Comune's budget per resident (ISTAT population, compiled in).
    pub per_resident: u64,
    /// The smallest Comune budget.
    pub comune_minimum: u64,
    /// A third-sector entity's budget.
    pub ets: u64,
    /// A health authority's budget (USL/ASL: tens of thousands of households).
    pub asl: u64,
    /// Evaluations per member and minute.
    pub per_minute: u64,
    /// Budgets set member by member (member id → evaluations per epoch), over the rules above.
    pub members: BTreeMap<String, u64>,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            per_resident: 2,
            comune_minimum: 5_000,
            ets: 20_000,
            asl: 200_000,
            per_minute: 200_000,
            members: BTreeMap::new(),
        }
    }
}

impl Quota {
    /// The budget of `member` for an epoch; `None` for roles that may not ask at all.
    pub fn budget(&self, member: &MemberId) -> Option<u64> {
        if let Some(b) = self.members.get(&member.to_string()) {
            return Some(*b);
        }
        match (member.role(), member) {
            (Role::Comune, MemberId::Comune(istat)) => {
                let population = siso_shared::comuni::by_istat(istat)
                    .map(|c| u64::from(c.population))
                    .unwrap_or(0);
                Some(
                    population
                        .saturating_mul(self.per_resident)
                        .max(self.comune_minimum),
                )
            }
            (Role::Ets, _) => Some(self.ets),
            (Role::Asl, _) => Some(self.asl),
            _ => None,
        }
    }
}

/// Connection limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most QUIC connections open at once.
    pub max_connections: usize,
    /// Most concurrent request streams per connection.
    pub max_streams_per_connection: u32,
    /// A connection idle this long is closed (seconds).
    pub idle_timeout_secs: u64,
    /// Seconds a shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            max_streams_per_connection: 8,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 10,
        }
    }
}

impl KeydConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<KeydConfig, ConfigError> {
        let cfg: KeydConfig = siso_server::config::load_toml(path, "keyd.toml")?;
        cfg.check()
            .map_err(|m| ConfigError::Invalid(format!("{}: {m}", path.display())))?;
        Ok(cfg)
    }

    /// Range checks.
    pub fn check(&self) -> Result<(), String> {
        if self.shares.is_empty() {
            return Err("`shares` lists no share file".into());
        }
        if self.quota.per_minute == 0 {
            return Err("`quota.per_minute` must be at least 1".into());
        }
        for m in self.quota.members.keys() {
            let id: MemberId = m
                .parse()
                .map_err(|e| format!("`quota.members`: {m:?}: {e}"))?;
            if !matches!(id.role(), Role::Comune | Role::Ets | Role::Asl) {
                return Err(format!(
                    "`quota.members`: {m} is not a Comune, a third-sector entity or a health authority"
                ));
            }
        }
        if self.limits.max_connections == 0 || self.limits.max_streams_per_connection == 0 {
            return Err("`limits` must allow at least one connection and one stream".into());
        }
        Ok(())
    }

    /// The commented `keyd.toml` for these values.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        siso_server::config::fill_template(TEMPLATE, self)
    }
}

const TEMPLATE: &str = r#"# siso key service configuration. Every setting is documented in docs/configuration.md.

# The usage store (evaluations counted per member and epoch) lives in DATA_DIR/store.
data_dir = {data_dir}
# UDP address of the QUIC endpoint (ALPN siso-oprf/1).
listen = {listen}
# TCP address of /healthz and /metrics (Prometheus).
http = {http}
# The regional CA (ca.pem, crl.pem) and this service's certificate (siso-certs issue-keyd).
ca_dir = {ca_dir}
cert = {cert}
key = {key}
# Share files written by `siso-keyd deal`, one per epoch served (SECRET, mode 0600).
shares = {shares}

[quota]
# A Comune may ask for population x per_resident evaluations per epoch (at least
# comune_minimum); a third-sector entity for `ets`; a health authority for `asl`; anyone at
# most per_minute a minute.
per_resident = {quota.per_resident}
comune_minimum = {quota.comune_minimum}
ets = {quota.ets}
asl = {quota.asl}
per_minute = {quota.per_minute}

[quota.members]
# Budgets set member by member, e.g. "054039" = 500000

[limits]
max_connections = {limits.max_connections}
max_streams_per_connection = {limits.max_streams_per_connection}
idle_timeout_secs = {limits.idle_timeout_secs}
shutdown_grace_secs = {limits.shutdown_grace_secs}
"#;
