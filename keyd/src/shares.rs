//! Share files and the dealing ceremony (`siso-keyd deal`).
//!
//! `deal` draws an epoch key and a polynomial from the system's generator, writes one share file
//! per custodian (`share-N.key`, mode 0600) and the public `verification.toml` (every node's
//! `[oprf] verification`), and keeps nothing: the key and the coefficients are zeroed in memory
//! before the files are written (docs/operations.md, "Key ceremony").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use siso_shared::oprf::{deal_random, KeyShare, VerificationKeys};
use zeroize::Zeroize;

use crate::service::system_random;

/// Share file errors.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A share file that does not parse.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The dealing failed.
    #[error("dealing: {0}")]
    Deal(#[from] siso_shared::oprf::OprfError),
    /// The output directory already holds a dealing.
    #[error(
        "{0} already holds share files: deal into an empty directory (an epoch is dealt once)"
    )]
    Exists(PathBuf),
}

/// The share file format (TOML).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareFile {
    epoch: u16,
    index: u8,
    threshold: u8,
    shares: u8,
    /// The share scalar, hex (SECRET).
    key: String,
}

impl Drop for ShareFile {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ShareError + '_ {
    move |source| ShareError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a share file.
pub fn load_share(path: &Path) -> Result<KeyShare, ShareError> {
    let mut text = std::fs::read_to_string(path).map_err(io(path))?;
    let invalid = |reason: String| ShareError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let parsed: Result<ShareFile, _> = toml::from_str(&text);
    text.zeroize();
    let f = parsed.map_err(|e| invalid(e.to_string()))?;
    let mut b = [0u8; 32];
    hex::decode_to_slice(f.key.trim(), &mut b)
        .map_err(|_| invalid("key is not 64 hexadecimal characters".into()))?;
    let share = KeyShare::from_bytes(f.epoch, f.index, b).map_err(|e| invalid(e.to_string()));
    b.zeroize();
    share
}

/// Reads a verification file.
pub fn load_verification(path: &Path) -> Result<VerificationKeys, ShareError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let keys: VerificationKeys = toml::from_str(&text).map_err(|e| ShareError::Invalid {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    keys.check().map_err(|e| ShareError::Invalid {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(keys)
}

/// What `deal` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Dealt {
    /// The epoch.
    pub epoch: u16,
    /// The share files, by index.
    pub shares: Vec<PathBuf>,
    /// The public verification file.
    pub verification: PathBuf,
    /// The group public key (hex).
    pub group_key: String,
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), ShareError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(contents).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Deals an epoch key into `shares` shares with threshold `threshold` under `out`.
pub fn deal(epoch: u16, shares: u8, threshold: u8, out: &Path) -> Result<Dealt, ShareError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    if out.join("verification.toml").exists() || out.join("share-1.key").exists() {
        return Err(ShareError::Exists(out.to_owned()));
    }
    let (dealt, keys) = deal_random(epoch, shares, threshold, &mut system_random)?;
    let mut paths = Vec::new();
    for s in &dealt {
        let path = out.join(format!("share-{}.key", s.index()));
        let mut key = hex::encode(s.to_bytes());
        let mut text = format!(
            "# siso key service share {i} of {shares} (threshold {threshold}) for epoch {epoch}.\n\
             # SECRET: give it to custodian {i} only, over a trusted channel; never copy it elsewhere.\n\
             epoch = {epoch}\nindex = {i}\nthreshold = {threshold}\nshares = {shares}\nkey = \"{key}\"\n",
            i = s.index()
        );
        key.zeroize();
        let written = write_file(&path, text.as_bytes(), 0o600);
        text.zeroize();
        written?;
        paths.push(path);
    }
    let verification = out.join("verification.toml");
    let body = toml::to_string(&keys).map_err(|e| ShareError::Invalid {
        path: verification.clone(),
        reason: e.to_string(),
    })?;
    let text = format!(
        "# siso fingerprint key service: public verification keys for epoch {epoch}.\n\
         # Public: every node's [oprf] verification file.\n{body}"
    );
    write_file(&verification, text.as_bytes(), 0o644)?;
    Ok(Dealt {
        epoch,
        shares: paths,
        verification,
        group_key: keys.group_key.clone(),
    })
}
