//! The node's side of the fingerprint key services (`[oprf]` in node.toml): connects to the
//! configured `siso-keyd` instances over mutual-TLS QUIC (ALPN `siso-oprf/1`), blinds codici
//! fiscali in batches, asks any `threshold` services, verifies each answer's proof and combines
//! them ([`siso_shared::oprf::Pending`]). Several batches are in flight at once, so blinding,
//! the services' evaluation and the node's verification overlap.
//!
//! **Invariant:** only blinded elements leave the node; a service's answer is used only after
//! its proof verified against that service's verification key.

use std::path::Path;
use std::time::Duration;

use siso_shared::oprf::wire::{self as owire, Evaluate, Evaluated, KeyReply, KeyRequest};
use siso_shared::oprf::{Pending, ShareFailure, VerificationKeys};
use siso_shared::wire::WireError;
use tokio::task::JoinSet;

use crate::client::{dial, exchange, ClientError, ClientTls};
use crate::config::{KeyService, NodeConfig, OprfConfig};

/// Batches in flight at once.
const IN_FLIGHT: usize = 4;

/// Errors asking the key services.
#[derive(Debug, thiserror::Error)]
pub enum OprfClientError {
    /// The verification file is unreadable, malformed, inconsistent or of another epoch.
    #[error("key service verification keys {path}: {reason}")]
    Verification {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Fewer than `threshold` services answered.
    #[error("only {reachable} of {configured} key services reachable, {threshold} needed ({failures}); nothing was sent, the outbox is kept")]
    Unreachable {
        /// Reachable.
        reachable: usize,
        /// Configured.
        configured: usize,
        /// Needed.
        threshold: usize,
        /// What failed, service by service.
        failures: String,
    },
    /// A transport failure with one service.
    #[error("key service {name}: {source}")]
    Service {
        /// The service.
        name: String,
        /// The failure.
        source: ClientError,
    },
    /// A service refused (over budget, rate limited, no share for the epoch...).
    #[error("key service {name} refused: {error}")]
    Refused {
        /// The service.
        name: String,
        /// Its reply.
        error: WireError,
    },
    /// A service's answer failed verification (a wrong key, a forged proof).
    #[error("key service {name} answered wrongly: {failure}")]
    Wrong {
        /// The service.
        name: String,
        /// What was wrong.
        failure: ShareFailure,
    },
    /// Something else (blinding, a task).
    #[error("fingerprints: {0}")]
    Other(String),
}

impl OprfClientError {
    /// The wire refusal, if a service refused.
    pub fn refusal(&self) -> Option<&WireError> {
        match self {
            OprfClientError::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Reads and checks the verification keys for `epoch`.
pub fn load_verification(path: &Path, epoch: u16) -> Result<VerificationKeys, OprfClientError> {
    let err = |reason: String| OprfClientError::Verification {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let keys: VerificationKeys = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    keys.check().map_err(|e| err(e.to_string()))?;
    if keys.epoch != epoch {
        return Err(err(format!(
            "the keys are for epoch {}, this node shares epoch {epoch}: configure the epoch's verification.toml",
            keys.epoch
        )));
    }
    Ok(keys)
}

/// The node's TLS material for a key service: its member certificate, ALPN `siso-oprf/1`.
fn key_service_tls(cfg: &NodeConfig, service: &KeyService) -> Result<ClientTls, OprfClientError> {
    let mut tls = ClientTls::from_files(&cfg.ca, &cfg.cert, &cfg.key).map_err(|e| {
        OprfClientError::Service {
            name: service.name.clone(),
            source: e,
        }
    })?;
    tls.alpn = vec![owire::ALPN.to_vec()];
    Ok(tls)
}

#[derive(Debug, Clone)]
struct Link {
    service: KeyService,
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
}

/// Connections to `threshold` key services for one epoch.
#[derive(Debug)]
pub struct KeySession {
    links: Vec<Link>,
    set: Vec<u8>,
    keys: VerificationKeys,
    epoch: u16,
    batch: usize,
    timeout: Duration,
}

fn random64(b: &mut [u8; 64]) {
    use ring::rand::SecureRandom;
    if ring::rand::SystemRandom::new().fill(b).is_err() {
        tracing::error!("the system random generator failed; stopping");
        std::process::abort();
    }
}

impl KeySession {
    /// Connects to the services of `oprf` (all at once) and keeps the first `threshold` that
    /// answer, in configuration order.
    pub async fn connect(
        cfg: &NodeConfig,
        oprf: &OprfConfig,
    ) -> Result<KeySession, OprfClientError> {
        let keys = load_verification(&oprf.verification, cfg.epoch)?;
        let threshold = usize::from(keys.threshold);
        let timeout = Duration::from_secs(oprf.timeout_secs.max(1));
        let mut tasks = JoinSet::new();
        for (i, s) in oprf.services.iter().enumerate() {
            let tls = key_service_tls(cfg, s)?;
            let s = s.clone();
            tasks.spawn(async move {
                let r = dial(s.address, &s.name, tls, timeout).await;
                (i, s, r)
            });
        }
        let mut up = Vec::new();
        let mut failures = Vec::new();
        // The first `threshold` services to answer are used; a service that is down costs no
        // wait once enough others are up (its handshake would only end at the timeout).
        while let Some(j) = tasks.join_next().await {
            match j {
                Ok((i, service, Ok((endpoint, conn)))) => up.push((
                    i,
                    Link {
                        service,
                        endpoint,
                        conn,
                    },
                )),
                Ok((_, s, Err(e))) => failures.push(format!("{}: {e}", s.name)),
                Err(e) => failures.push(e.to_string()),
            }
            if up.len() >= threshold {
                tasks.abort_all();
                break;
            }
        }
        up.sort_by_key(|(i, _)| *i);
        if up.len() < threshold {
            let reachable = up.len();
            for (_, l) in up {
                l.endpoint
                    .close(quinn::VarInt::from_u32(0), b"not enough services");
            }
            return Err(OprfClientError::Unreachable {
                reachable,
                configured: oprf.services.len(),
                threshold,
                failures: failures.join("; "),
            });
        }
        for (_, spare) in up.drain(threshold..) {
            spare.conn.close(quinn::VarInt::from_u32(0), b"spare");
        }
        if !failures.is_empty() {
            tracing::warn!(failures = %failures.join("; "), "some key services are unreachable; using the others");
        }
        let links: Vec<Link> = up.into_iter().map(|(_, l)| l).collect();
        let mut set: Vec<u8> = links.iter().map(|l| l.service.share).collect();
        set.sort_unstable();
        Ok(KeySession {
            links,
            set,
            keys,
            epoch: cfg.epoch,
            batch: oprf.batch,
            timeout,
        })
    }

    /// The services used, by name.
    pub fn services(&self) -> Vec<String> {
        self.links.iter().map(|l| l.service.name.clone()).collect()
    }

    /// The PRF outputs of `inputs`, in order.
    pub async fn evaluate(&self, inputs: Vec<Vec<u8>>) -> Result<Vec<[u8; 64]>, OprfClientError> {
        let chunks: Vec<Vec<Vec<u8>>> = inputs.chunks(self.batch).map(<[_]>::to_vec).collect();
        let mut out: Vec<Option<Vec<[u8; 64]>>> = vec![None; chunks.len()];
        let mut pending = chunks.into_iter().enumerate();
        let mut tasks = JoinSet::new();
        loop {
            while tasks.len() < IN_FLIGHT {
                let Some((i, chunk)) = pending.next() else {
                    break;
                };
                let links = self.links.clone();
                let set = self.set.clone();
                let keys = self.keys.clone();
                let (epoch, timeout) = (self.epoch, self.timeout);
                tasks.spawn(async move {
                    (i, one_batch(links, set, keys, epoch, timeout, chunk).await)
                });
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            let (i, r) = done.map_err(|e| OprfClientError::Other(e.to_string()))?;
            out[i] = Some(r?);
        }
        Ok(out.into_iter().flatten().flatten().collect())
    }

    /// Closes the connections.
    pub async fn close(self) {
        for l in self.links {
            l.conn.close(quinn::VarInt::from_u32(0), b"bye");
            l.endpoint.wait_idle().await;
        }
    }
}

async fn ask(link: &Link, frame: &[u8], timeout: Duration) -> Result<Evaluated, OprfClientError> {
    let name = || link.service.name.clone();
    let bytes =
        exchange(&link.conn, frame, timeout)
            .await
            .map_err(|e| OprfClientError::Service {
                name: name(),
                source: e,
            })?;
    let body =
        bytes
            .get(siso_shared::wire::HEADER_LEN..)
            .ok_or_else(|| OprfClientError::Service {
                name: name(),
                source: ClientError::Codec(siso_shared::wire::CodecError::Truncated),
            })?;
    match owire::decode_reply(body) {
        Ok(KeyReply::Evaluated(e)) => Ok(e),
        Ok(KeyReply::Error(error)) => Err(OprfClientError::Refused {
            name: name(),
            error,
        }),
        Ok(KeyReply::Budget(_)) => Err(OprfClientError::Service {
            name: name(),
            source: ClientError::Unexpected("budget"),
        }),
        Err(e) => Err(OprfClientError::Service {
            name: name(),
            source: ClientError::Codec(e),
        }),
    }
}

async fn one_batch(
    links: Vec<Link>,
    set: Vec<u8>,
    keys: VerificationKeys,
    epoch: u16,
    timeout: Duration,
    inputs: Vec<Vec<u8>>,
) -> Result<Vec<[u8; 64]>, OprfClientError> {
    let pending = tokio::task::spawn_blocking(move || Pending::blind(inputs, &mut random64))
        .await
        .map_err(|e| OprfClientError::Other(e.to_string()))?
        .map_err(|e| OprfClientError::Other(e.to_string()))?;
    let request = KeyRequest::Evaluate {
        version: owire::OPRF_PROTOCOL_VERSION,
        body: Evaluate {
            epoch,
            set: set.clone(),
            blinded: pending.request(epoch, &set).blinded,
        },
    };
    let frame = owire::encode(&request).map_err(|e| OprfClientError::Other(e.to_string()))?;
    let mut asks = JoinSet::new();
    for l in links.clone() {
        let f = frame.clone();
        asks.spawn(async move { ask(&l, &f, timeout).await });
    }
    let mut answers = Vec::with_capacity(links.len());
    while let Some(a) = asks.join_next().await {
        answers.push(a.map_err(|e| OprfClientError::Other(e.to_string()))??);
    }
    let names: Vec<(u8, String)> = links
        .iter()
        .map(|l| (l.service.share, l.service.name.clone()))
        .collect();
    tokio::task::spawn_blocking(move || pending.finish(&keys, &set, &answers))
        .await
        .map_err(|e| OprfClientError::Other(e.to_string()))?
        .map_err(|failure| OprfClientError::Wrong {
            name: names
                .iter()
                .find(|(s, _)| *s == failure.share)
                .map_or_else(|| format!("share {}", failure.share), |(_, n)| n.clone()),
            failure,
        })
}

/// Every configured service's answer about this member's budget for the node's epoch
/// (`siso-node budget`), as JSON rows: name, and the budget or the error.
pub async fn budgets(cfg: &NodeConfig) -> Result<Vec<serde_json::Value>, OprfClientError> {
    let oprf = cfg.oprf.as_ref().ok_or_else(|| {
        OprfClientError::Other("this node uses the shared-key scheme: no key services".into())
    })?;
    let timeout = Duration::from_secs(oprf.timeout_secs.max(1));
    let mut rows = Vec::new();
    for s in &oprf.services {
        rows.push(match budget(cfg, s, timeout).await {
            Ok(b) => serde_json::json!({"service": s.name, "epoch": b.epoch, "used": b.used,
                "limit": b.limit, "per_minute": b.per_minute}),
            Err(e) => serde_json::json!({"service": s.name, "error": e.to_string()}),
        });
    }
    Ok(rows)
}

/// Asks one service for the member's budget of the node's epoch.
pub async fn budget(
    cfg: &NodeConfig,
    service: &KeyService,
    timeout: Duration,
) -> Result<owire::Budget, OprfClientError> {
    let tls = key_service_tls(cfg, service)?;
    let (endpoint, conn) = dial(service.address, &service.name, tls, timeout)
        .await
        .map_err(|e| OprfClientError::Service {
            name: service.name.clone(),
            source: e,
        })?;
    let frame = owire::encode(&KeyRequest::Budget {
        version: owire::OPRF_PROTOCOL_VERSION,
        epoch: cfg.epoch,
    })
    .map_err(|e| OprfClientError::Other(e.to_string()))?;
    let r = exchange(&conn, &frame, timeout).await;
    conn.close(quinn::VarInt::from_u32(0), b"bye");
    endpoint.wait_idle().await;
    let bytes = r.map_err(|e| OprfClientError::Service {
        name: service.name.clone(),
        source: e,
    })?;
    match bytes
        .get(siso_shared::wire::HEADER_LEN..)
        .map(owire::decode_reply)
    {
        Some(Ok(KeyReply::Budget(b))) => Ok(b),
        Some(Ok(KeyReply::Error(error))) => Err(OprfClientError::Refused {
            name: service.name.clone(),
            error,
        }),
        _ => Err(OprfClientError::Other(format!(
            "key service {}: unexpected reply to a budget request",
            service.name
        ))),
    }
}
