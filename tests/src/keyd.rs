//! Key services for tests and the demo: deals an epoch key into three shares and runs three
//! `siso-keyd` instances in-process on loopback, each with its own store and certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use siso_certs_dev::Layout;
use siso_keyd::config::{KeydConfig, Limits, Quota};
use siso_node::config::{KeyService, OprfConfig};
use tokio_util::sync::CancellationToken;

/// The names of the three services (as `siso-certs init` certifies them).
pub const NAMES: [&str; 3] = ["keyd-1", "keyd-2", "keyd-3"];

/// Three running key services (any of them may be stopped and started again).
#[derive(Debug)]
pub struct KeyServices {
    /// Their configurations (addresses fixed after the first start).
    pub configs: Vec<KeydConfig>,
    /// The running instances, `None` when stopped.
    pub running: Vec<Option<(siso_keyd::Running, CancellationToken)>>,
    /// The public verification file.
    pub verification: PathBuf,
}

impl KeyServices {
    /// Deals `epoch` under `dir` and starts the three services with `quota`.
    pub async fn start(
        layout: &Layout,
        dir: &Path,
        epoch: u16,
        quota: Quota,
    ) -> Result<KeyServices, Box<dyn std::error::Error + Send + Sync>> {
        let dealt = siso_keyd::shares::deal(epoch, 3, 2, &dir.join("dealt"))?;
        let mut configs = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let certs = layout.keyd_dir(name);
            let data = dir.join(name);
            std::fs::create_dir_all(&data)?;
            configs.push(KeydConfig {
                data_dir: data,
                listen: "127.0.0.1:0".parse()?,
                http: "127.0.0.1:0".parse()?,
                ca_dir: layout.ca_dir(),
                cert: certs.join("cert.pem"),
                key: certs.join("key.pem"),
                shares: vec![dealt.shares[i].clone()],
                quota: quota.clone(),
                limits: Limits::default(),
            });
        }
        let mut k = KeyServices {
            running: (0..configs.len()).map(|_| None).collect(),
            configs,
            verification: dealt.verification,
        };
        for i in 0..k.configs.len() {
            k.start_one(i).await?;
        }
        Ok(k)
    }

    /// Starts service `i` (again, on the same address).
    pub async fn start_one(
        &mut self,
        i: usize,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let shutdown = CancellationToken::new();
        let r = siso_keyd::start(
            &self.configs[i],
            Arc::new(siso_server::clock::SystemClock),
            shutdown.clone(),
        )
        .await?;
        self.configs[i].listen = r.quic_addr;
        self.configs[i].http = r.http_addr;
        self.running[i] = Some((r, shutdown));
        Ok(())
    }

    /// Stops service `i` and waits for it to close.
    pub async fn stop_one(&mut self, i: usize) {
        if let Some((r, s)) = self.running[i].take() {
            s.cancel();
            let _ = r.done.await;
        }
    }

    /// Stops all.
    pub async fn stop(mut self) {
        for i in 0..self.running.len() {
            self.stop_one(i).await;
        }
    }

    /// The node's `[oprf]` section for these services.
    pub fn oprf_config(&self) -> OprfConfig {
        OprfConfig {
            verification: self.verification.clone(),
            batch: 4096,
            timeout_secs: 10,
            services: self
                .configs
                .iter()
                .enumerate()
                .map(|(i, c)| KeyService {
                    name: NAMES[i].into(),
                    address: c.listen,
                    share: (i + 1) as u8,
                })
                .collect(),
        }
    }

    /// Service `i`'s service object (metrics, usage).
    pub fn service(&self, i: usize) -> Option<&Arc<siso_keyd::service::Keyd>> {
        self.running[i].as_ref().map(|(r, _)| &r.keyd)
    }
}
