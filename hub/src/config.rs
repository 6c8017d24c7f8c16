//! The hub's configuration file (`hub.toml`): TOML, unknown fields refused, every field with a
//! default documented in docs/configuration.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use siso_server::config::ConfigError;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Data directory: the store (`DIR/store`) lives here.
    pub data_dir: PathBuf,
    /// UDP address of the QUIC endpoint.
    pub listen: SocketAddr,
    /// TCP address of the HTTP server (health, metrics, analysts' API, dashboard).
    pub http: SocketAddr,
    /// Directory of the regional CA: `ca.pem` (trusted for client certificates) and, optionally,
    /// `crl.pem` (re-read at start and on SIGHUP).
    pub ca_dir: PathBuf,
    /// The hub's certificate chain (PEM).
    pub cert: PathBuf,
    /// The hub's private key (PEM).
    pub key: PathBuf,
    /// File holding the analysts' bearer token.
    pub analyst_token_file: PathBuf,
    /// Log format: `text` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Minutes between two checks of the message log's hash chain while serving (0: only at
    /// start); the result is on `/metrics`.
    #[serde(default = "default_audit_check_minutes")]
    pub audit_check_minutes: u64,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Allow/deny lists of member ids.
    #[serde(default)]
    pub access: Access,
    /// Statistics.
    #[serde(default)]
    pub stats: StatsConfig,
}

/// Connection and request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most QUIC connections open at once; further ones are refused.
    pub max_connections: usize,
    /// Most concurrent request streams per connection.
    pub max_streams_per_connection: u32,
    /// A connection idle this long is closed (seconds).
    pub idle_timeout_secs: u64,
    /// Largest request frame accepted (bytes; at most 16 MiB, the protocol maximum).
    pub max_request_bytes: usize,
    /// Bad requests tolerated on one connection before it is closed.
    pub max_bad_requests: u32,
    /// Seconds a shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_streams_per_connection: 16,
            idle_timeout_secs: 60,
            max_request_bytes: siso_shared::wire::MAX_FRAME,
            max_bad_requests: 20,
            shutdown_grace_secs: 30,
        }
    }
}

/// Allow and deny lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    /// If not empty, only these member ids may make requests.
    pub allow: Vec<String>,
    /// These member ids may make no request.
    pub deny: Vec<String>,
}

/// Statistics settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Minimum cell count published (primary suppression threshold); never below 3.
    pub k: u32,
    /// Cut a release by itself once new data has arrived and ingest has been quiet this long
    /// (milliseconds; default 2000). 0: never; releases are then cut by `siso-hub release create`
    /// only.
    pub release_quiet_ms: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            k: 5,
            release_quiet_ms: 2000,
        }
    }
}

fn default_audit_check_minutes() -> u64 {
    60
}

impl HubConfig {
    /// Loads and checks a configuration file.
    pub fn load(path: &Path) -> Result<HubConfig, ConfigError> {
        let cfg: HubConfig = siso_server::config::load_toml(path, "")?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Range checks.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.stats.k < 3 {
            return Err(ConfigError::Invalid(format!(
                "stats.k = {} is below 3, the legal floor for published statistics",
                self.stats.k
            )));
        }
        if self.limits.max_request_bytes > siso_shared::wire::MAX_FRAME
            || self.limits.max_request_bytes < 1024
        {
            return Err(ConfigError::Invalid(format!(
                "limits.max_request_bytes must be between 1024 and {}",
                siso_shared::wire::MAX_FRAME
            )));
        }
        if self.limits.max_connections == 0 || self.limits.max_streams_per_connection == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_connections and limits.max_streams_per_connection must be positive"
                    .into(),
            ));
        }
        for id in self.access.allow.iter().chain(&self.access.deny) {
            id.parse::<siso_shared::MemberId>()
                .map_err(|e| ConfigError::Invalid(format!("access list: {e}")))?;
        }
        Ok(())
    }

    /// The store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// The configuration file `init` writes: every setting present, commented, with its default.
    pub fn render(&self) -> Result<String, ConfigError> {
        siso_server::config::fill_template(TEMPLATE, self)
    }
}

/// The commented `hub.toml` that [`HubConfig::render`] fills.
const TEMPLATE: &str = r#"# siso hub configuration. Every setting is documented in docs/configuration.md.

# Data directory; the store lives in DATA_DIR/store.
data_dir = {data_dir}
# UDP address of the QUIC endpoint (ALPN siso/1, mutual TLS).
listen = {listen}
# TCP address of the HTTP server: /healthz, /metrics, the analysts' API and the dashboard.
http = {http}
# Regional CA directory: ca.pem (trusted for client certificates), crl.pem (optional; re-read on SIGHUP).
ca_dir = {ca_dir}
# The hub's certificate chain and private key (PEM).
cert = {cert}
key = {key}
# File holding the analysts' bearer token (mode 0600).
analyst_token_file = {analyst_token_file}
# Log format: "text" or "json" (logs go to stderr).
log_format = {log_format}
# Minutes between two checks of the message log's hash chain while serving (default 60; 0:
# only at start). /metrics shows the result (siso_hub_audit_chain_intact).
audit_check_minutes = {audit_check_minutes}

[limits]
# Most QUIC connections open at once (default 1024).
max_connections = {limits.max_connections}
# Most concurrent request streams per connection (default 16).
max_streams_per_connection = {limits.max_streams_per_connection}
# Seconds of inactivity before a connection is closed (default 60).
idle_timeout_secs = {limits.idle_timeout_secs}
# Largest request frame in bytes (default and maximum 16777216).
max_request_bytes = {limits.max_request_bytes}
# Bad requests tolerated on one connection before it is closed (default 20).
max_bad_requests = {limits.max_bad_requests}
# Seconds a shutdown waits for in-flight requests (default 30).
shutdown_grace_secs = {limits.shutdown_grace_secs}

[access]
# If not empty, only these member ids may make requests (e.g. ["054039", "ets-caritas-perugia"]).
allow = {access.allow}
# These member ids may make no request.
deny = {access.deny}

[stats]
# Primary suppression threshold: cells counting fewer than k units are not published (default 5, minimum 3).
k = {stats.k}
# Cut and audit a new statistical release by itself once new data has arrived and ingest has
# been quiet this many milliseconds (default 2000); 0: only `siso-hub release create` cuts
# releases (docs/PRIVACY.md, "Releases").
release_quiet_ms = {stats.release_quiet_ms}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HubConfig {
        HubConfig {
            data_dir: "/var/lib/siso-hub".into(),
            listen: "127.0.0.1:4433".parse().unwrap(),
            http: "127.0.0.1:8080".parse().unwrap(),
            ca_dir: "/etc/siso/ca".into(),
            cert: "/etc/siso/hub/cert.pem".into(),
            key: "/etc/siso/hub/key.pem".into(),
            analyst_token_file: "/var/lib/siso-hub/analyst.token".into(),
            log_format: LogFormat::Text,
            audit_check_minutes: 60,
            limits: Limits::default(),
            access: Access::default(),
            stats: StatsConfig::default(),
        }
    }

    #[test]
    fn rendered_file_round_trips() {
        let c = sample();
        let back: HubConfig = toml::from_str(&c.render().unwrap()).unwrap();
        back.check().unwrap();
        assert_eq!(back.listen, c.listen);
        assert_eq!(back.limits.max_request_bytes, c.limits.max_request_bytes);
        assert_eq!(back.stats.k, 5);
    }

    #[test]
    fn refuses_unknown_fields_and_bad_values() {
        let text = sample()
            .render()
            .unwrap()
            .replace("[stats]", "typo = 1\n[stats]");
        assert!(toml::from_str::<HubConfig>(&text).is_err());
        let mut c = sample();
        c.stats.k = 2;
        assert!(c.check().is_err());
        let mut c = sample();
        c.access.deny = vec!["not a member".into()];
        assert!(c.check().is_err());
    }
}
