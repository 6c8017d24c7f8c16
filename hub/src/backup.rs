//! The hub's backups (`siso-hub backup`, `backup verify`, `restore`): the store, `hub.toml` and
//! the named accounts (`accounts.json`, if any)
//! in one file (`siso_server::backup`), taken from the running `serve` over its admin socket
//! (`DATA_DIR/admin.sock`) or from the stopped store.
//!
//! The CA directory, the hub's key and certificate and the analyst token file are not in a
//! backup: the manifest lists them under `references`. A restored `hub.toml` points
//! `data_dir` at the directory restored into; everything else is as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use siso_server::backup::{self, BackupError, Manifest, PartData, Recipient, ServiceBackupError};
use time::OffsetDateTime;

use crate::config::HubConfig;
use crate::store::{OpenMode, Store};

/// The files the configuration names that a backup does not carry.
fn references(cfg: &HubConfig) -> Vec<PathBuf> {
    vec![
        cfg.ca_dir.clone(),
        cfg.cert.clone(),
        cfg.key.clone(),
        cfg.analyst_token_file.clone(),
    ]
}

/// Backs up the hub configured by `config` to `to` (encrypted to `recipients` if any).
pub fn take(
    config: &Path,
    to: &Path,
    recipients: &[Recipient],
    now: OffsetDateTime,
) -> Result<Manifest, ServiceBackupError> {
    let cfg = HubConfig::load(config)?;
    let text = backup::read_config(config)?;
    let mut summary = BTreeMap::<String, u64>::new();
    let mut epochs = std::collections::BTreeSet::new();
    let staged = backup::stage_store(
        &cfg.data_dir,
        to,
        &mut |out| {
            let store =
                Store::open(&cfg.store_dir(), OpenMode::Existing).map_err(|e| e.to_string())?;
            store.dump(out).map(drop).map_err(|e| e.to_string())
        },
        &mut |tree, k, _| {
            let name = match tree {
                t if t.starts_with(b"batches/") => {
                    if let Some(e) = t.get(8..10) {
                        epochs.insert(u16::from_be_bytes([e[0], e[1]]));
                    }
                    "batches"
                }
                b"ledger" => "ledger_entries",
                b"aggregates" => {
                    if let Some(e) = k.get(..2) {
                        epochs.insert(u16::from_be_bytes([e[0], e[1]]));
                    }
                    "aggregate_periods"
                }
                b"releases" => "releases",
                b"audit" => "message_log_records",
                _ => return,
            };
            *summary.entry(name.to_owned()).or_default() += 1;
        },
    )?;
    let manifest = Manifest {
        format: 1,
        program: "hub".into(),
        release: concat!(env!("CARGO_PKG_VERSION"), " (", env!("SISO_GIT_REV"), ")").into(),
        schema_version: staged.schema_version,
        member: "hub".into(),
        epochs: epochs.into_iter().collect(),
        created: backup::rfc3339(now),
        online: staged.online,
        trees: staged.trees,
        summary,
        references: references(&cfg)
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        parts: vec![],
    };
    let mut parts = vec![
        ("hub.toml".to_owned(), PartData::Bytes(text)),
        (backup::STORE_PART.into(), PartData::File(staged.file)),
    ];
    // The named accounts and API tokens (hashes only), if any were made.
    let accounts = cfg.data_dir.join(crate::accounts::FILE);
    match std::fs::read(&accounts) {
        Ok(b) => parts.push((crate::accounts::FILE.to_owned(), PartData::Bytes(b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ServiceBackupError::Io {
                path: accounts.display().to_string(),
                source,
            })
        }
    }
    Ok(backup::write(to, manifest, parts, recipients)?)
}

/// Restores a hub backup into `data` (new or empty) after checking all of it: `data/hub.toml`
/// (its `data_dir` set to `data`) and `data/store`, opened once so that a schema this release
/// cannot read is reported now. Returns the manifest and the referenced files missing here.
pub fn restore(
    from: &Path,
    identity: Option<&Path>,
    data: &Path,
) -> Result<(Manifest, Vec<String>), ServiceBackupError> {
    let absolute = std::path::absolute(data).map_err(|source| ServiceBackupError::Io {
        path: data.display().to_string(),
        source,
    })?;
    let m = backup::restore(from, identity, "hub", data, &mut |name, bytes| {
        if name != "hub.toml" {
            return Ok(bytes);
        }
        let bad = |e: String| BackupError::Corrupt(format!("hub.toml: {e}"));
        let text = String::from_utf8(bytes).map_err(|e| bad(e.to_string()))?;
        let mut table: toml::Table = text.parse().map_err(|e| bad(format!("{e}")))?;
        table.insert(
            "data_dir".into(),
            toml::Value::String(absolute.display().to_string()),
        );
        Ok(toml::to_string(&table)
            .map_err(|e| bad(e.to_string()))?
            .into_bytes())
    })?;
    drop(Store::open(&data.join("store"), OpenMode::Existing)?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let accounts = data.join(crate::accounts::FILE);
        if accounts.exists() {
            std::fs::set_permissions(&accounts, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| ServiceBackupError::Io {
                    path: accounts.display().to_string(),
                    source,
                },
            )?;
        }
    }
    let cfg = HubConfig::load(&data.join("hub.toml"))?;
    Ok((m, backup::missing(references(&cfg))))
}
