//! The node's configuration file (`DATA/node.toml`): TOML, unknown fields refused, documented
//! field by field in docs/configuration.md. Keys are referenced by path, never copied.

use std::net::{IpAddr, SocketAddr};
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
    /// The shared-key scheme's fingerprint secret (hex file): tests and small pilots only, and
    /// exclusive with `[oprf]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_key: Option<PathBuf>,
    /// The fingerprint key services (the default scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oprf: Option<OprfConfig>,
    /// The epoch (year) this node shares.
    pub epoch: u16,
    /// Sync settings.
    #[serde(default)]
    pub sync: SyncConfig,
    /// HTTP server of `serve`.
    #[serde(default)]
    pub http: HttpConfig,
    /// The operators' web app of `serve`.
    #[serde(default)]
    pub web: WebConfig,
    /// How long social records are kept (`siso-node retention run`).
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// Retention periods (`[retention]`), in whole years counted from the date named on each;
/// `siso-node retention run` deletes what is past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Accessi, from the day of the access (default 5).
    pub accessi_years: u16,
    /// Closed cases (the case, its presa in carico and its diary) from the closure, and ended
    /// prese in carico from their end (default 10).
    pub closed_case_years: u16,
    /// Interventions, from their end; open-ended ones are kept (default 10).
    pub interventi_years: u16,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            accessi_years: 5,
            closed_case_years: 10,
            interventi_years: 10,
        }
    }
}

/// The fingerprint key services (`[oprf]`): person fingerprints are VOPRF evaluations by any
/// `threshold` of these services under the epoch's shared key (docs/PRIVACY.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OprfConfig {
    /// The epoch's public verification keys (`verification.toml` of `siso-keyd deal`).
    pub verification: PathBuf,
    /// Codici fiscali per request (default 4096, at most 65535).
    #[serde(default = "default_oprf_batch")]
    pub batch: usize,
    /// Seconds to wait for a key service (default 30).
    #[serde(default = "default_oprf_timeout")]
    pub timeout_secs: u64,
    /// The key services, each with the share it holds.
    pub services: Vec<KeyService>,
}

fn default_oprf_batch() -> usize {
    4096
}

fn default_oprf_timeout() -> u64 {
    30
}

/// One key service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyService {
    /// Its name in its certificate (TLS server name), e.g. `keyd-1`.
    pub name: String,
    /// Its QUIC address.
    pub address: SocketAddr,
    /// The index of the share it holds (as in `verification.toml`).
    pub share: u8,
}

impl std::str::FromStr for KeyService {
    type Err = String;

    /// Parses `SHARE:NAME@ADDRESS`, e.g. `1:keyd-1@127.0.0.1:7401`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected SHARE:NAME@ADDRESS, e.g. 1:keyd-1@10.0.0.7:7401");
        let (share, rest) = s.split_once(':').ok_or_else(bad)?;
        let (name, address) = rest.split_once('@').ok_or_else(bad)?;
        Ok(KeyService {
            name: name.to_owned(),
            address: address.parse().map_err(|_| bad())?,
            share: share.parse().map_err(|_| bad())?,
        })
    }
}

impl OprfConfig {
    /// Range checks.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("oprf: {m}")));
        if self.batch == 0 || self.batch > siso_shared::oprf::wire::MAX_BATCH {
            return bad(format!(
                "batch must be 1 to {}",
                siso_shared::oprf::wire::MAX_BATCH
            ));
        }
        let mut shares: Vec<u8> = self.services.iter().map(|s| s.share).collect();
        shares.sort_unstable();
        shares.dedup();
        if shares.len() != self.services.len() || shares.contains(&0) || shares.len() < 2 {
            return bad("list at least two services with distinct, non-zero shares".into());
        }
        Ok(())
    }
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

/// The operators' web app.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address of the web app. Without `cert` and `key` it is served over plain HTTP, which
    /// `serve` accepts only on a loopback address (behind a reverse proxy on the same host).
    pub listen: SocketAddr,
    /// The web app's certificate chain (PEM); with `key`, the app is served over HTTPS.
    pub cert: Option<PathBuf>,
    /// The web app's private key (PEM).
    pub key: Option<PathBuf>,
    /// Minutes without activity that end a session.
    pub session_idle_minutes: u32,
    /// Hours after which any session ends.
    pub session_max_hours: u32,
    /// Reverse proxies whose `X-Forwarded-For` header is believed (addresses).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            cert: None,
            key: None,
            session_idle_minutes: 30,
            session_max_hours: 12,
            trusted_proxies: Vec::new(),
        }
    }
}

impl WebConfig {
    /// Checks the combination: both or neither of `cert` and `key`; plain HTTP only on a
    /// loopback address; sensible session limits.
    pub fn check(&self) -> Result<(), ConfigError> {
        match (&self.cert, &self.key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "web.cert and web.key go together: give both (HTTPS) or neither".into(),
                ))
            }
            (None, None) if !self.listen.ip().is_loopback() => {
                return Err(ConfigError::Invalid(format!(
                    "web.listen = {} is not a loopback address: plain HTTP is refused there; \
                     set web.cert and web.key, or listen on 127.0.0.1 behind a reverse proxy",
                    self.listen
                )))
            }
            _ => {}
        }
        if self.session_idle_minutes == 0 || self.session_max_hours == 0 {
            return Err(ConfigError::Invalid(
                "web.session_idle_minutes and web.session_max_hours must be positive".into(),
            ));
        }
        Ok(())
    }

    /// True if served over HTTPS.
    pub fn https(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
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
        cfg.web.check()?;
        cfg.check_scheme()?;
        if cfg.sync.batch_records == 0 {
            return Err(ConfigError::Invalid(
                "sync.batch_records must be positive".into(),
            ));
        }
        Ok(cfg)
    }

    /// Exactly one fingerprint scheme: `[oprf]`, or `fingerprint_key` (shared-key).
    pub fn check_scheme(&self) -> Result<(), ConfigError> {
        match (&self.oprf, &self.fingerprint_key) {
            (Some(o), None) => o.check(),
            (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => Err(ConfigError::Invalid(
                "fingerprint_key and [oprf] exclude each other: the hub refuses to mix schemes \
                 within an epoch; keep [oprf] (fingerprint_key is for tests and small pilots)"
                    .into(),
            )),
            (None, None) => Err(ConfigError::Invalid(
                "no fingerprint scheme: configure the key services in [oprf] \
                 (or, for tests and small pilots only, fingerprint_key)"
                    .into(),
            )),
        }
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

    /// The file `init` writes: every setting, commented. The web app's `cert` and `key`, when
    /// set, replace their commented examples.
    pub fn render(&self) -> Result<String, ConfigError> {
        let mut text = siso_server::config::fill_template(TEMPLATE, self)?;
        let quote = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
        let scheme = match &self.fingerprint_key {
            Some(p) => format!(
                "# Shared-key fingerprint scheme (tests and small pilots only: whoever holds this\n\
                 # secret can fingerprint any codice fiscale). Never give it to the hub.\n\
                 fingerprint_key = {}",
                quote(p)
            ),
            None => {
                "# Person fingerprints come from the key services of [oprf] (at the end).".into()
            }
        };
        text = text.replace(SCHEME_MARKER, &scheme);
        if let Some(o) = &self.oprf {
            text.push_str(&format!(
                "\n[oprf]\n# The epoch's public verification keys (verification.toml of `siso-keyd deal`).\n\
                 verification = {}\n# Codici fiscali per request (default 4096).\nbatch = {}\n\
                 # Seconds to wait for a key service (default 30).\ntimeout_secs = {}\n\
                 # The key services (any `threshold` of them evaluate; see verification.toml).\n",
                quote(&o.verification),
                o.batch,
                o.timeout_secs
            ));
            for k in &o.services {
                text.push_str(&format!(
                    "\n[[oprf.services]]\nname = {}\naddress = \"{}\"\nshare = {}\n",
                    toml::Value::String(k.name.clone()),
                    k.address,
                    k.share
                ));
            }
        }
        for (name, example, value) in [
            ("cert", CERT_EXAMPLE, &self.web.cert),
            ("key", KEY_EXAMPLE, &self.web.key),
        ] {
            if let Some(p) = value {
                let quoted = toml::Value::String(p.display().to_string()).to_string();
                text = text.replace(example, &format!("{name} = {quoted}"));
            }
        }
        Ok(text)
    }
}

/// Where the template's fingerprint scheme line goes.
const SCHEME_MARKER: &str = "# {SCHEME}";

/// The template's commented example of `web.cert`.
const CERT_EXAMPLE: &str = "# cert = \"/etc/siso/web/cert.pem\"";
/// The template's commented example of `web.key`.
const KEY_EXAMPLE: &str = "# key = \"/etc/siso/web/key.pem\"";

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
# {SCHEME}
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

[web]
# Address of the operators' web app (default 127.0.0.1:8443). Without cert and key it is served
# over plain HTTP, accepted only on a loopback address (behind a reverse proxy on this host).
listen = {web.listen}
# The web app's certificate chain and private key (PEM) for HTTPS, e.g.
# cert = "/etc/siso/web/cert.pem"
# key = "/etc/siso/web/key.pem"
# Minutes without activity that end a session (default 30); hours after which any session ends
# (default 12). A restart of the node ends every session.
session_idle_minutes = {web.session_idle_minutes}
session_max_hours = {web.session_max_hours}
# Reverse proxies whose X-Forwarded-For header is believed (addresses, e.g. ["10.0.0.5"]).
trusted_proxies = {web.trusted_proxies}

[retention]
# How long social records are kept, in years; `siso-node retention run` deletes what is past
# them (see docs/operations.md for the periods assumed and their legal bases).
# Accessi, from the day of the access (default 5).
accessi_years = {retention.accessi_years}
# Closed cases (with their presa in carico and diary) from the closure, ended prese in carico
# from their end (default 10).
closed_case_years = {retention.closed_case_years}
# Interventions from their end; open-ended ones are kept (default 10).
interventi_years = {retention.interventi_years}
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
            fingerprint_key: Some("/etc/siso/fingerprint.key".into()),
            oprf: None,
            epoch: 2026,
            sync: SyncConfig::default(),
            http: HttpConfig::default(),
            web: WebConfig::default(),
            retention: RetentionConfig::default(),
        };
        let text = c.render().unwrap();
        let back: NodeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.render().unwrap(), text);
        assert_eq!((&back.ca, &back.cert), (&c.ca, &c.cert));
        assert_eq!(back.sync.batch_records, 2000);
        assert!(toml::from_str::<NodeConfig>(&text.replace("[sync]", "typo = 1\n[sync]")).is_err());
        back.web.check().unwrap();
        // With HTTPS settings.
        let mut c = back;
        c.web.cert = Some("/etc/siso/web/cert \"a\".pem".into());
        c.web.key = Some("/etc/siso/web/key.pem".into());
        let again: NodeConfig = toml::from_str(&c.render().unwrap()).unwrap();
        assert_eq!((again.web.cert, again.web.key), (c.web.cert, c.web.key));
    }

    #[test]
    fn web_plain_http_only_on_loopback_and_cert_with_key() {
        let mut w = WebConfig::default();
        w.check().unwrap();
        assert!(!w.https());
        w.listen = "0.0.0.0:8443".parse().unwrap();
        assert!(w
            .check()
            .unwrap_err()
            .to_string()
            .contains("plain HTTP is refused"));
        w.cert = Some("/c.pem".into());
        assert!(w.check().is_err());
        w.key = Some("/k.pem".into());
        w.check().unwrap();
        assert!(w.https());
        w.session_idle_minutes = 0;
        assert!(w.check().is_err());
    }
}
