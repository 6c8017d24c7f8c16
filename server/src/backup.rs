//! Backup files of a node or a hub: one file holding the store (a [`dump`](crate::store::dump)
//! taken under the write barrier) and the configuration files, with a manifest, optionally
//! encrypted to `age` recipients.
//!
//! Layout (plain): [`MAGIC`], the manifest's length (u32 BE) and the manifest (JSON), each part's
//! bytes in the manifest's order, then the BLAKE3 hash of everything before it (32 bytes). The
//! manifest names each part with its length and BLAKE3 hash. An encrypted backup is that whole
//! file encrypted with `age` (X25519 recipients); reading it needs a matching identity file.
//!
//! **Invariant:** nothing is restored from a file that has not been read to its end and checked
//! first: every part's hash, the trailer, the store dump's structure and counts against the
//! manifest. A restore writes into an empty directory only, and removes what it wrote when the
//! second pass finds anything different.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

pub use age;
pub use age::x25519::Recipient;
use serde::{Deserialize, Serialize};

use crate::store::{DumpError, TreeCounts};

pub mod cli;

/// The first bytes of a (plain) backup file.
pub const MAGIC: &[u8] = b"SISO-BACKUP/1\n";
/// The first bytes of an `age` file.
const AGE_MAGIC: &[u8] = b"age-encryption.org/";
/// The manifest's hard maximum length.
const MAX_MANIFEST: u32 = 1 << 20;
/// The store part's name.
pub const STORE_PART: &str = "store";

/// What a backup holds, written at its head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// This layout's version (1).
    pub format: u32,
    /// `node` or `hub`.
    pub program: String,
    /// The release that wrote it (`--version`).
    pub release: String,
    /// The store's schema version.
    pub schema_version: u32,
    /// The member (a node's member id; `hub` for the hub).
    pub member: String,
    /// The epochs the store holds.
    pub epochs: Vec<u16>,
    /// When it was taken (RFC 3339, UTC).
    pub created: String,
    /// Taken from a running `serve` over its admin socket (else from the closed store).
    pub online: bool,
    /// Entries per store tree.
    pub trees: TreeCounts,
    /// Counts an operator recognises (persons, records, batches...).
    pub summary: std::collections::BTreeMap<String, u64>,
    /// Files the configuration names but the backup does not carry (keys, certificates,
    /// tokens: they are restored from where they are kept, not from a backup).
    pub references: Vec<String>,
    /// The parts, in the order they follow the manifest.
    pub parts: Vec<Part>,
}

impl std::fmt::Display for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "backup of {} {} taken {} ({}), siso {}, store schema {}, epochs {:?}",
            self.program,
            self.member,
            self.created,
            if self.online {
                "online"
            } else {
                "store closed"
            },
            self.release,
            self.schema_version,
            self.epochs
        )?;
        for (k, v) in &self.summary {
            writeln!(f, "  {k}: {v}")?;
        }
        for p in &self.parts {
            writeln!(
                f,
                "  part {}: {} bytes, blake3 {}",
                p.name, p.bytes, p.blake3
            )?;
        }
        for r in &self.references {
            writeln!(f, "  not included (restore it separately): {r}")?;
        }
        Ok(())
    }
}

/// One part of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Its name: [`STORE_PART`] or a configuration file's name in the data directory.
    pub name: String,
    /// Its length.
    pub bytes: u64,
    /// Its BLAKE3 hash (hex).
    pub blake3: String,
}

/// Backup errors.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not a siso backup.
    #[error("not a siso backup file")]
    NotABackup,
    /// The file ends too early.
    #[error("the backup is truncated (it ends before its last part and checksum)")]
    Truncated,
    /// A checksum or a count does not match.
    #[error("the backup is corrupt: {0}")]
    Corrupt(String),
    /// Encrypted, and no identity was given.
    #[error(
        "the backup is encrypted: pass --identity FILE (the age identity of one of its recipients)"
    )]
    NeedsIdentity,
    /// The identity file could not be used, or is not a recipient's.
    #[error("cannot decrypt the backup: {0}")]
    Decrypt(String),
    /// Encryption failed (a bad recipient).
    #[error("cannot encrypt the backup: {0}")]
    Encrypt(String),
    /// It is another program's backup, or a layout this release does not read.
    #[error("{0}")]
    Mismatch(String),
    /// Restoring the store failed.
    #[error(transparent)]
    Dump(#[from] DumpError),
}

fn io_or_truncated(e: std::io::Error) -> BackupError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        BackupError::Truncated
    } else {
        BackupError::Io(e)
    }
}

/// Parses `age` recipients (`age1…`), as given on the command line or in a recipients file.
pub fn recipients(list: &[String]) -> Result<Vec<Recipient>, BackupError> {
    list.iter()
        .map(|r| {
            r.trim()
                .parse::<Recipient>()
                .map_err(|e| BackupError::Encrypt(format!("{r}: {e}")))
        })
        .collect()
}

/// Sees each part of a backup being read: the manifest, the part, a reader of exactly it.
type PartVisitor<'a> = dyn FnMut(&Manifest, &Part, &mut dyn Read) -> Result<(), BackupError> + 'a;

/// Rewrites a configuration file being restored (its name, its bytes).
pub type FileRewrite<'a> = dyn FnMut(&str, Vec<u8>) -> Result<Vec<u8>, BackupError> + 'a;

/// Sees each entry of a store being staged: tree, key, value.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], &[u8], &[u8]) + 'a;

/// A part's contents, before it is written.
#[derive(Debug)]
pub enum PartData {
    /// Held in memory (a configuration file).
    Bytes(Vec<u8>),
    /// A file (the store dump, staged on disk).
    File(std::fs::File),
}

/// Writes a backup to `to` (through `to.partial`, synced and renamed, so `to` is either the
/// whole backup or absent): `manifest` with its `parts` filled in from `parts`. Encrypted to
/// `recipients` unless empty.
pub fn write(
    to: &Path,
    mut manifest: Manifest,
    parts: Vec<(String, PartData)>,
    recipients: &[Recipient],
) -> Result<Manifest, BackupError> {
    let mut parts = parts;
    manifest.parts.clear();
    for (name, data) in &mut parts {
        let mut h = blake3::Hasher::new();
        let bytes = match data {
            PartData::Bytes(b) => {
                h.update(b);
                b.len() as u64
            }
            PartData::File(f) => {
                use std::io::Seek;
                f.seek(std::io::SeekFrom::Start(0))?;
                let n = std::io::copy(f, &mut h)?;
                f.seek(std::io::SeekFrom::Start(0))?;
                n
            }
        };
        manifest.parts.push(Part {
            name: name.clone(),
            bytes,
            blake3: h.finalize().to_hex().to_string(),
        });
    }
    let json = serde_json::to_vec(&manifest).map_err(|e| BackupError::Corrupt(e.to_string()))?;
    let partial = partial_path(to);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&partial)?;
    let result = (|| {
        let sink: Box<dyn Write> = if recipients.is_empty() {
            Box::new(std::io::BufWriter::new(file.try_clone()?))
        } else {
            let enc = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r as &dyn age::Recipient),
            )
            .map_err(|e| BackupError::Encrypt(e.to_string()))?;
            Box::new(Finishing(Some(
                enc.wrap_output(std::io::BufWriter::new(file.try_clone()?))?,
            )))
        };
        let mut out = Hashing {
            inner: sink,
            hash: blake3::Hasher::new(),
        };
        out.write_all(MAGIC)?;
        out.write_all(&(json.len() as u32).to_be_bytes())?;
        out.write_all(&json)?;
        for (_, data) in parts {
            match data {
                PartData::Bytes(b) => out.write_all(&b)?,
                PartData::File(mut f) => {
                    std::io::copy(&mut f, &mut out)?;
                }
            }
        }
        let trailer = out.hash.finalize();
        let mut inner = out.inner;
        inner.write_all(trailer.as_bytes())?;
        inner.flush()?;
        drop(inner);
        file.sync_all()?;
        std::fs::rename(&partial, to)?;
        if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result.map(|()| manifest)
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

/// An `age` stream writer that finishes (writes its last chunk) on flush.
struct Finishing<W: Write>(Option<age::stream::StreamWriter<W>>);

impl<W: Write> Write for Finishing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("write after the end")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.take() {
            Some(w) => w.finish()?.flush(),
            None => Ok(()),
        }
    }
}

/// A writer or reader that hashes what passes through it.
struct Hashing<T> {
    inner: T,
    hash: blake3::Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Opens a backup for reading, decrypting it with the identities in `identity` if it is
/// encrypted.
fn open(path: &Path, identity: Option<&Path>) -> Result<Box<dyn Read>, BackupError> {
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let head = std::io::BufRead::fill_buf(&mut file)?;
    if head.starts_with(AGE_MAGIC) {
        let Some(identity) = identity else {
            return Err(BackupError::NeedsIdentity);
        };
        let ids = age::IdentityFile::from_file(identity.display().to_string())
            .map_err(|e| BackupError::Decrypt(format!("{}: {e}", identity.display())))?
            .into_identities()
            .map_err(|e| BackupError::Decrypt(format!("{}: {e}", identity.display())))?;
        let dec = age::Decryptor::new_buffered(file).map_err(|e| match e {
            age::DecryptError::Io(e) => io_or_truncated(e),
            e => BackupError::Decrypt(e.to_string()),
        })?;
        let r = dec
            .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => BackupError::Decrypt(format!(
                    "{} is not the identity of any of its recipients",
                    identity.display()
                )),
                e => BackupError::Decrypt(e.to_string()),
            })?;
        Ok(Box::new(r))
    } else if head.starts_with(MAGIC) || head.is_empty() || MAGIC.starts_with(head) {
        Ok(Box::new(file))
    } else {
        Err(BackupError::NotABackup)
    }
}

/// Reading errors from inside an `age` stream are `InvalidData` when a chunk fails its tag.
fn read_error(e: std::io::Error) -> BackupError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        BackupError::Corrupt(format!("decryption failed: {e}"))
    } else {
        io_or_truncated(e)
    }
}

/// Reads a backup from its start: each part is handed to `each` (a reader of exactly that
/// part); checks every hash, the trailer and the end of the file.
fn read(input: Box<dyn Read>, each: &mut PartVisitor<'_>) -> Result<Manifest, BackupError> {
    let mut r = Hashing {
        inner: input,
        hash: blake3::Hasher::new(),
    };
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic).map_err(read_error)?;
    if magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(read_error)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_MANIFEST {
        return Err(BackupError::Corrupt("manifest length".into()));
    }
    let mut json = vec![0u8; len as usize];
    r.read_exact(&mut json).map_err(read_error)?;
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| BackupError::Corrupt(format!("manifest: {e}")))?;
    if manifest.format != 1 {
        return Err(BackupError::Mismatch(format!(
            "backup layout {} is not read by this release (it reads 1)",
            manifest.format
        )));
    }
    for part in &manifest.parts {
        let mut h = Hashing {
            inner: (&mut r).take(part.bytes),
            hash: blake3::Hasher::new(),
        };
        each(&manifest, part, &mut h)?;
        // Whatever the consumer left unread is still part of the part.
        std::io::copy(&mut h, &mut std::io::sink()).map_err(read_error)?;
        if h.inner.limit() != 0 {
            return Err(BackupError::Truncated);
        }
        if h.hash.finalize().to_hex().as_str() != part.blake3 {
            return Err(BackupError::Corrupt(format!(
                "part {} does not match its checksum",
                part.name
            )));
        }
    }
    let expected = r.hash.finalize();
    let mut trailer = [0u8; 32];
    r.inner.read_exact(&mut trailer).map_err(read_error)?;
    if trailer != *expected.as_bytes() {
        return Err(BackupError::Corrupt(
            "the file checksum does not match".into(),
        ));
    }
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra).map_err(read_error)? != 0 {
        return Err(BackupError::Corrupt("bytes after the end".into()));
    }
    Ok(manifest)
}

/// Reads a store part as a dump, checking its counts against the manifest.
fn check_store(
    manifest: &Manifest,
    input: &mut dyn Read,
    each: &mut dyn FnMut(crate::store::DumpItem<'_>) -> Result<(), DumpError>,
) -> Result<(), BackupError> {
    let counts = crate::store::read_dump(input, each).map_err(|e| match e {
        DumpError::Io(e) => read_error(e),
        e => BackupError::Dump(e),
    })?;
    if counts != manifest.trees {
        return Err(BackupError::Corrupt(
            "the store's entries do not match the manifest's counts".into(),
        ));
    }
    Ok(())
}

/// Checks a backup without restoring it: every part, the store's structure and counts, and
/// that it is `program`'s.
pub fn verify(
    path: &Path,
    identity: Option<&Path>,
    program: &str,
) -> Result<Manifest, BackupError> {
    let m = read(open(path, identity)?, &mut |m, part, r| {
        if m.program != program {
            return Err(BackupError::Mismatch(format!(
                "this is a backup of a {}, not of a {program}",
                m.program
            )));
        }
        if part.name == STORE_PART {
            check_store(m, r, &mut |_| Ok(()))?;
        }
        Ok(())
    })?;
    if !m.parts.iter().any(|p| p.name == STORE_PART) {
        return Err(BackupError::Corrupt("no store part".into()));
    }
    Ok(m)
}

/// Restores a backup into `data` (absent or empty): verifies the whole file first, then writes
/// the store into `data/store` and each other part to `data/NAME` through `file` (which may
/// rewrite it, e.g. to point a configuration at its new directory). Anything written is
/// removed again when the second pass fails.
pub fn restore(
    path: &Path,
    identity: Option<&Path>,
    program: &str,
    data: &Path,
    file: &mut FileRewrite<'_>,
) -> Result<Manifest, BackupError> {
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        return Err(BackupError::Mismatch(format!(
            "{} is not empty: restore into a new or empty directory",
            data.display()
        )));
    }
    let manifest = verify(path, identity, program)?;
    let created = !data.exists();
    std::fs::create_dir_all(data)?;
    let result = read(open(path, identity)?, &mut |m, part, r| {
        if part.name == STORE_PART {
            return crate::store::load(&data.join(STORE_PART), r).map(|counts| {
                if counts == m.trees {
                    Ok(())
                } else {
                    Err(BackupError::Corrupt(
                        "the store changed between reads".into(),
                    ))
                }
            })?;
        }
        if part.name.is_empty() || part.name.contains(['/', '\\']) || part.name.starts_with('.') {
            return Err(BackupError::Corrupt(format!("part name {:?}", part.name)));
        }
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).map_err(read_error)?;
        let bytes = file(&part.name, bytes)?;
        std::fs::write(data.join(&part.name), bytes)?;
        Ok(())
    });
    match result {
        Ok(m) if m == manifest => {
            sync_dir(data)?;
            Ok(m)
        }
        other => {
            if created {
                let _ = std::fs::remove_dir_all(data);
            } else if let Ok(entries) = std::fs::read_dir(data) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
            Err(match other {
                Err(e) => e,
                Ok(_) => BackupError::Corrupt("the file changed between reads".into()),
            })
        }
    }
}

/// The errors of a side's `backup` and `restore` (node and hub share them: their configuration
/// and store errors are this crate's).
#[derive(Debug, thiserror::Error)]
pub enum ServiceBackupError {
    /// The configuration could not be read.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The backup file.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The restored store cannot be opened.
    #[error("restored, but the store cannot be opened: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Reading a configuration file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// Reads a configuration file for a backup.
pub fn read_config(path: &Path) -> Result<Vec<u8>, ServiceBackupError> {
    std::fs::read(path).map_err(|source| ServiceBackupError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The referenced files (keys, certificates, tokens) that are not on this machine.
pub fn missing(references: Vec<PathBuf>) -> Vec<String> {
    references
        .into_iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect()
}

/// A time as the manifest writes it (RFC 3339).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A store dump staged for a backup.
#[derive(Debug)]
pub struct Staged {
    /// The dump (an unlinked file next to the backup: nothing is left if the command dies).
    pub file: std::fs::File,
    /// Entries per tree.
    pub trees: TreeCounts,
    /// The schema version recorded in the dump's `meta` tree.
    pub schema_version: u32,
    /// Taken from a running service.
    pub online: bool,
}

/// Stages a dump of the store of the data directory `data` next to `to`: from the running
/// service over its admin socket when one answers, else through `closed` (which opens the store
/// itself, and fails when another process holds it). `each` sees every entry (tree, key,
/// value), for the manifest's summary.
pub fn stage_store(
    data: &Path,
    to: &Path,
    closed: &mut dyn FnMut(&mut dyn Write) -> Result<(), String>,
    each: &mut EntryVisitor<'_>,
) -> Result<Staged, BackupError> {
    let path = {
        let mut name = to.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".staging-{}", std::process::id()));
        to.with_file_name(name)
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    let online = match crate::admin::request(data, "backup")
        .map_err(|e| BackupError::Mismatch(e.to_string()))?
    {
        Some(mut answer) => {
            let mut w = std::io::BufWriter::new(&mut file);
            std::io::copy(&mut answer, &mut w)?;
            w.flush()?;
            true
        }
        None => {
            let mut w = std::io::BufWriter::new(&mut file);
            closed(&mut w).map_err(BackupError::Mismatch)?;
            w.flush()?;
            false
        }
    };
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut tree = Vec::new();
    let mut schema = None;
    let trees = crate::store::read_dump(&mut BufReader::new(&mut file), &mut |item| {
        match item {
            crate::store::DumpItem::Tree(t) => tree = t.to_vec(),
            crate::store::DumpItem::Entry(k, v) => {
                if tree == b"meta" && k == b"schema_version" {
                    schema = <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes);
                }
                each(&tree, k, v);
            }
        }
        Ok(())
    })
    .map_err(|e| match e {
        DumpError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            BackupError::Mismatch("the running service's copy ended early (see its log)".into())
        }
        e => BackupError::Dump(e),
    })?;
    file.seek(std::io::SeekFrom::Start(0))?;
    Ok(Staged {
        file,
        trees,
        schema_version: schema
            .ok_or_else(|| BackupError::Corrupt("the store has no schema version".into()))?,
        online,
    })
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
