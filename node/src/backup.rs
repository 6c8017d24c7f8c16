//! A node's backups (`siso-node backup`, `backup verify`, `restore`): the store, `node.toml`
//! and `rules.toml` in one file (`siso_server::backup`), taken from the running `serve` over its
//! admin socket or from the stopped store.
//!
//! Key, certificate and verification files are not in a backup: the configuration names them
//! by path, the manifest lists them under `references`, and a restore reports which of them are
//! missing on the machine it runs on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use siso_server::backup::{self, Manifest, PartData, ServiceBackupError};
use time::OffsetDateTime;

use crate::config::NodeConfig;
use crate::store::{Kind, OpenMode, Store};

/// What an operator recognises in the store, by key prefix of the `data` tree.
const SUMMARY: &[(Kind, &str)] = &[
    (Kind::Person, "persons"),
    (Kind::Family, "families"),
    (Kind::Accesso, "accessi"),
    (Kind::PresaInCarico, "prese_in_carico"),
    (Kind::Intervento, "interventi"),
    (Kind::Caso, "casi"),
    (Kind::Account, "accounts"),
    (Kind::Acked, "households_shared"),
    (Kind::Outbox, "outbox_batches"),
];

/// The files a configuration names that a backup does not carry.
fn references(cfg: &NodeConfig) -> Vec<PathBuf> {
    let mut r = vec![cfg.ca.clone(), cfg.cert.clone(), cfg.key.clone()];
    r.extend(cfg.fingerprint_key.clone());
    r.extend(cfg.oprf.as_ref().map(|o| o.verification.clone()));
    r.extend(cfg.web.cert.clone());
    r.extend(cfg.web.key.clone());
    r
}

/// Backs up the node of `data` to `to` (encrypted to `recipients` if any), from the running
/// `serve` when it answers on its admin socket, else from the store (which must not be in use).
pub fn take(
    data: &Path,
    to: &Path,
    recipients: &[backup::Recipient],
    now: OffsetDateTime,
) -> Result<Manifest, ServiceBackupError> {
    let cfg = NodeConfig::load(data)?;
    let mut summary = BTreeMap::<String, u64>::new();
    let mut audit = 0u64;
    let staged = backup::stage_store(
        data,
        to,
        &mut |out| {
            let store =
                Store::open(&data.join("store"), OpenMode::Existing).map_err(|e| e.to_string())?;
            store.dump(out).map(drop).map_err(|e| e.to_string())
        },
        &mut |tree, k, v| match tree {
            b"data" => {
                if let Some((_, name)) = k
                    .first()
                    .and_then(|p| SUMMARY.iter().find(|(kind, _)| *kind as u8 == *p))
                {
                    *summary.entry((*name).to_owned()).or_default() +=
                        crate::store::entries_in(k, v);
                }
            }
            b"audit" => audit += 1,
            _ => {}
        },
    )?;
    summary.insert("audit_records".into(), audit);
    let mut parts = vec![(
        "node.toml".to_owned(),
        PartData::Bytes(backup::read_config(&NodeConfig::path(data))?),
    )];
    let rules = data.join("rules.toml");
    if rules.exists() {
        parts.push((
            "rules.toml".into(),
            PartData::Bytes(backup::read_config(&rules)?),
        ));
    }
    parts.push((backup::STORE_PART.into(), PartData::File(staged.file)));
    let manifest = Manifest {
        format: 1,
        program: "node".into(),
        release: concat!(env!("CARGO_PKG_VERSION"), " (", env!("SISO_GIT_REV"), ")").into(),
        schema_version: staged.schema_version,
        member: cfg.member.clone(),
        epochs: vec![cfg.epoch],
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
    Ok(backup::write(to, manifest, parts, recipients)?)
}

/// Restores a node backup into `data` (new or empty) after checking all of it; the store is
/// then opened once, so a schema this release cannot read is reported now. Returns the
/// manifest and the referenced files missing here.
pub fn restore(
    from: &Path,
    identity: Option<&Path>,
    data: &Path,
) -> Result<(Manifest, Vec<String>), ServiceBackupError> {
    let m = backup::restore(from, identity, "node", data, &mut |_, bytes| Ok(bytes))?;
    drop(Store::open(&data.join("store"), OpenMode::Existing)?);
    let cfg = NodeConfig::load(data)?;
    Ok((m, backup::missing(references(&cfg))))
}
