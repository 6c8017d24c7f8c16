//! The node's configuration file (`DATA/node.toml`): TOML, unknown fields refused, documented
//! field by field in docs/configuration.md. Keys are referenced by path, never copied.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use siso_shared::{MemberId, Role};

pub use siso_server::config::ConfigError;

/// The node configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's member id (must match its certificate).
    pub member: String,
    /// The hub's QUIC address.
    pub hub: SocketAddr,
    /// The hub's name in its certificate (TLS server name).
    pub hub_name: String,
    /// The regional CA certificate (PEM).
    pub ca: PathBuf,
    /// This node's certificate (PEM).
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
    /// The regional fingerprint secret (hex file; nodes only).
    pub fingerprint_key: PathBuf,
    /// The epoch (year) this node shares.
    pub epoch: u16,
    /// Sync settings.
    #[serde(default)]
    pub sync: SyncConfig,
    /// HTTP server of `serve`.
    #[serde(default)]
    pub http: HttpConfig,
}

/// Sync settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Seconds between two sync rounds of `serve`.
    pub interval_secs: u64,
    /// Household records per batch.
    pub batch_records: usize,
    /// Seconds to wait for the hub's answer.
    pub timeout_secs: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval_secs: 900,
            batch_records: 2000,
            timeout_secs: 30,
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP server (`/healthz`, `/metrics`).
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
        }
    }
}

impl NodeConfig {
    /// The configuration file of a data directory.
    pub fn path(data: &Path) -> PathBuf {
        data.join("node.toml")
    }

    /// Loads `DATA/node.toml`.
    pub fn load(data: &Path) -> Result<NodeConfig, ConfigError> {
        let cfg: NodeConfig = siso_server::config::load_toml(
            &Self::path(data),
            " (is this a node data directory? run `siso-node init` first)",
        )?;
        cfg.member_id()?;
        if cfg.sync.batch_records == 0 {
            return Err(ConfigError::Invalid(
                "sync.batch_records must be positive".into(),
            ));
        }
        Ok(cfg)
    }

    /// The member id.
    pub fn member_id(&self) -> Result<MemberId, ConfigError> {
        self.member
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("member: {e}")))
    }

    /// The member's role.
    pub fn role(&self) -> Role {
        self.member_id().map(|m| m.role()).unwrap_or(Role::Comune)
    }

    /// The file `init` writes: every setting, commented.
    pub fn render(&self) -> Result<String, ConfigError> {
        siso_server::config::fill_template(TEMPLATE, self)
    }
}

/// The commented `node.toml` that [`NodeConfig::render`] fills.
const TEMPLATE: &str = r#"# siso node configuration. Every setting is documented in docs/configuration.md.

# This node's member id: the ISTAT code of the Comune, or ets-<slug> for a third-sector entity.
member = {member}
# The hub's QUIC address and the name in its certificate.
hub = {hub}
hub_name = {hub_name}
# TLS material (paths; the files stay where they are).
ca = {ca}
cert = {cert}
key = {key}
# The regional fingerprint secret (hex). Kept by the nodes only; never give it to the hub.
fingerprint_key = {fingerprint_key}
# The epoch (year) whose records this node shares.
epoch = {epoch}

[sync]
# Seconds between two sync rounds of `siso-node serve` (default 900).
interval_secs = {sync.interval_secs}
# Household records per batch sent to the hub (default 2000).
batch_records = {sync.batch_records}
# Seconds to wait for the hub's answer (default 30).
timeout_secs = {sync.timeout_secs}

[http]
# Address of the HTTP server of `siso-node serve`: /healthz and /metrics (default 127.0.0.1:8090).
listen = {http.listen}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_file_reads_back_and_refuses_unknown_fields() {
        let c = NodeConfig {
            member: "054039".into(),
            hub: "127.0.0.1:4433".parse().unwrap(),
            hub_name: "hub.siso.example".into(),
            ca: "/etc/siso/ca \"regione\".pem".into(),
            cert: "C:\\siso\\cert.pem".into(),
            key: "/etc/siso/key.pem".into(),
            fingerprint_key: "/etc/siso/fingerprint.key".into(),
            epoch: 2026,
            sync: SyncConfig::default(),
            http: HttpConfig::default(),
        };
        let text = c.render().unwrap();
        let back: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.render().unwrap(), text);
        assert_eq!((back.ca, back.cert), (c.ca, c.cert));
        assert_eq!(back.sync.batch_records, 2000);
        assert!(toml::from_str::<NodeConfig>(&text.replace("[sync]", "typo = 1\n[sync]")).is_err());
    }
}
