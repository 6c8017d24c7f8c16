//! Named accounts of the hub's web side and their API tokens (`DATA/accounts.json`).
//!
//! Roles: `regione` (every published figure, all zone, the operational overlap list) and
//! `ufficio_di_piano` bound to one zona (its Comuni at Comune level, every zona and the Region
//! at their levels). The analysts' shared token (`analyst_token_file`) stays as a built-in
//! `regione` principal, `analyst`, which `siso-hub token revoke --id analyst` turns off.
//!
//! The file is managed by `siso-hub user …` and `siso-hub token …` while the hub runs or not:
//! each change is written to a temporary file, synced and renamed over the old one under an
//! exclusive lock (`accounts.lock`), and the running hub re-reads the file when its size,
//! modification time or inode changes ([`AccountsFile`]), so a disabled account or a revoked
//! token is refused from the next request on. It lives beside the store and not in it because
//! sled lets one process open the store, and a revocation must not wait for a restart.
//!
//! **Invariant:** passwords are kept only as argon2id hashes and API tokens only as BLAKE3
//! hashes; neither a password, a token nor a hash appears in a listing, a `Debug` output or a
//! log line ([`AccountView`], [`TokenView`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use siso_server::web::{hash_password, verify_password, Password, PasswordError, PasswordHash};
use time::OffsetDateTime;

/// The file's name in the data directory.
pub const FILE: &str = "accounts.json";
/// The lock file's name in the data directory.
const LOCK: &str = "accounts.lock";
/// The built-in principal of the analysts' shared token.
pub const ANALYST: &str = "analyst";
/// Prefix of every API token (so a leaked one is recognisable by secret scanners).
pub const TOKEN_PREFIX: &str = "siso_";

/// An account's role on the hub.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum HubRole {
    /// The Region's analysts: everything published, all zone.
    Regione,
    /// A zona's *Ufficio di piano*: its own Comuni at Comune level, the rest at zona level.
    UfficioDiPiano,
}

impl HubRole {
    /// The role's name, as the command line and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            HubRole::Regione => "regione",
            HubRole::UfficioDiPiano => "ufficio_di_piano",
        }
    }
}

impl std::fmt::Display for HubRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking, once authenticated: what the HTTP layer authorises against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account's user name, or [`ANALYST`] for the shared token.
    pub username: String,
    /// Its role.
    pub role: HubRole,
    /// The zona of an `ufficio_di_piano`.
    pub zona: Option<u8>,
}

impl Principal {
    /// The built-in principal of the analysts' shared token.
    pub fn analyst() -> Principal {
        Principal {
            username: ANALYST.to_owned(),
            role: HubRole::Regione,
            zona: None,
        }
    }

    /// May this principal read zona `z`'s figures at Comune level?
    pub fn may_read_comuni_of(&self, z: u8) -> bool {
        match self.role {
            HubRole::Regione => true,
            HubRole::UfficioDiPiano => self.zona == Some(z),
        }
    }

    /// How the message log names it: `user:NAME` (or `analyst`).
    pub fn log_name(&self) -> String {
        if self.username == ANALYST {
            ANALYST.to_owned()
        } else {
            format!("user:{}", self.username)
        }
    }
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// User name: 2–64 characters of `a-z 0-9 . _ -` (not `analyst`).
    pub username: String,
    /// Role.
    pub role: HubRole,
    /// The zona (1–12) of an `ufficio_di_piano`; none for `regione`.
    pub zona: Option<u8>,
    /// argon2id hash (PHC string).
    pub password: PasswordHash,
    /// A disabled account cannot log in, and its tokens are refused.
    pub disabled: bool,
    /// Unix time of creation.
    pub created: i64,
    /// Unix time of the last change.
    pub updated: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("zona", &self.zona)
            .field("password", &"<redacted>")
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// An API token as stored: its BLAKE3 hash, never the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// A short public id (`t-` and 8 hex digits) to list and revoke it by.
    pub id: String,
    /// The account it acts for.
    pub username: String,
    /// BLAKE3 of the token, hex.
    pub hash: String,
    /// Unix time of creation.
    pub created: i64,
    /// Unix time of revocation.
    pub revoked: Option<i64>,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("hash", &"<redacted>")
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// Format version (1).
    pub version: u32,
    /// Accounts by user name.
    pub accounts: BTreeMap<String, Account>,
    /// API tokens, oldest first.
    pub tokens: Vec<ApiToken>,
    /// Unix time the analysts' shared token was revoked, if it was.
    pub analyst_token_revoked: Option<i64>,
}

/// What a listing shows of an account: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// User name.
    pub username: String,
    /// Role.
    pub role: HubRole,
    /// Zona of an `ufficio_di_piano`.
    pub zona: Option<u8>,
    /// Disabled.
    pub disabled: bool,
    /// Live (not revoked) API tokens.
    pub tokens: usize,
    /// Created (RFC 3339).
    pub created: String,
}

/// What a listing shows of a token: never the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenView {
    /// Its id.
    pub id: String,
    /// The account.
    pub username: String,
    /// Created (RFC 3339).
    pub created: String,
    /// Revoked (RFC 3339), if it was.
    pub revoked: Option<String>,
}

/// Account and token errors.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The user name is malformed or reserved.
    #[error("user name {0:?}: use 2 to 64 characters among a-z, 0-9, '.', '_' and '-' (not \"analyst\")")]
    Username(String),
    /// A zona is missing, out of range, or given to a `regione` account.
    #[error("{0}")]
    Zona(String),
    /// The user name is taken.
    #[error("user {0} already exists")]
    Exists(String),
    /// No such user.
    #[error("no user {0}")]
    NotFound(String),
    /// No such token.
    #[error("no token {0}")]
    NoToken(String),
    /// The password is not acceptable or could not be hashed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// No randomness for a token.
    #[error("no randomness available for a token")]
    Random,
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: not a valid accounts file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn check_username(u: &str) -> Result<(), AccountError> {
    let ok = (2..=64).contains(&u.len())
        && u != ANALYST
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Username(u.to_owned()))
    }
}

fn check_zona(role: HubRole, zona: Option<u8>) -> Result<(), AccountError> {
    match (role, zona) {
        (HubRole::Regione, None) => Ok(()),
        (HubRole::Regione, Some(_)) => Err(AccountError::Zona(
            "a regione account reads every zona: give no --zona".into(),
        )),
        (HubRole::UfficioDiPiano, None) => Err(AccountError::Zona(
            "an ufficio_di_piano account needs --zona N (1 to 12)".into(),
        )),
        (HubRole::UfficioDiPiano, Some(z)) if siso_shared::comuni::zona(z).is_none() => Err(
            AccountError::Zona(format!("there is no zona sociale {z} (1 to 12)")),
        ),
        _ => Ok(()),
    }
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.trim().as_bytes()).to_hex().to_string()
}

impl Accounts {
    /// Adds an account.
    pub fn add(
        &mut self,
        username: &str,
        role: HubRole,
        zona: Option<u8>,
        password: &Password,
        now: OffsetDateTime,
    ) -> Result<AccountView, AccountError> {
        check_username(username)?;
        check_zona(role, zona)?;
        if self.accounts.contains_key(username) {
            return Err(AccountError::Exists(username.to_owned()));
        }
        let a = Account {
            username: username.to_owned(),
            role,
            zona,
            password: hash_password(password)?,
            disabled: false,
            created: now.unix_timestamp(),
            updated: now.unix_timestamp(),
        };
        self.accounts.insert(username.to_owned(), a);
        self.view(username)
    }

    /// Disables or enables an account.
    pub fn set_disabled(
        &mut self,
        username: &str,
        disabled: bool,
        now: OffsetDateTime,
    ) -> Result<AccountView, AccountError> {
        let a = self
            .accounts
            .get_mut(username)
            .ok_or_else(|| AccountError::NotFound(username.to_owned()))?;
        a.disabled = disabled;
        a.updated = now.unix_timestamp();
        self.view(username)
    }

    /// Sets a new password.
    pub fn set_password(
        &mut self,
        username: &str,
        password: &Password,
        now: OffsetDateTime,
    ) -> Result<AccountView, AccountError> {
        let hash = hash_password(password)?;
        let a = self
            .accounts
            .get_mut(username)
            .ok_or_else(|| AccountError::NotFound(username.to_owned()))?;
        a.password = hash;
        a.updated = now.unix_timestamp();
        self.view(username)
    }

    fn view(&self, username: &str) -> Result<AccountView, AccountError> {
        let a = self
            .accounts
            .get(username)
            .ok_or_else(|| AccountError::NotFound(username.to_owned()))?;
        Ok(AccountView {
            username: a.username.clone(),
            role: a.role,
            zona: a.zona,
            disabled: a.disabled,
            tokens: self
                .tokens
                .iter()
                .filter(|t| t.username == a.username && t.revoked.is_none())
                .count(),
            created: rfc3339(a.created),
        })
    }

    /// Every account, by user name.
    pub fn list(&self) -> Vec<AccountView> {
        self.accounts
            .keys()
            .filter_map(|u| self.view(u).ok())
            .collect()
    }

    /// Every token, oldest first (the analysts' shared token first, as `analyst`).
    pub fn token_list(&self) -> Vec<TokenView> {
        std::iter::once(TokenView {
            id: ANALYST.to_owned(),
            username: ANALYST.to_owned(),
            created: String::new(),
            revoked: self.analyst_token_revoked.map(rfc3339),
        })
        .chain(self.tokens.iter().map(|t| TokenView {
            id: t.id.clone(),
            username: t.username.clone(),
            created: rfc3339(t.created),
            revoked: t.revoked.map(rfc3339),
        }))
        .collect()
    }

    /// Creates an API token for an account: its id and the token (shown once, stored hashed).
    pub fn create_token(
        &mut self,
        username: &str,
        now: OffsetDateTime,
    ) -> Result<(String, String), AccountError> {
        if !self.accounts.contains_key(username) {
            return Err(AccountError::NotFound(username.to_owned()));
        }
        let secret = siso_server::web::random_token().ok_or(AccountError::Random)?;
        let token = format!("{TOKEN_PREFIX}{secret}");
        let hash = token_hash(&token);
        let id = format!("t-{}", &hash[..8]);
        self.tokens.push(ApiToken {
            id: id.clone(),
            username: username.to_owned(),
            hash,
            created: now.unix_timestamp(),
            revoked: None,
        });
        Ok((id, token))
    }

    /// Revokes a token by id (`analyst`: the shared token); true if it was live.
    pub fn revoke_token(&mut self, id: &str, now: OffsetDateTime) -> Result<bool, AccountError> {
        if id == ANALYST {
            let was = self.analyst_token_revoked.is_none();
            self.analyst_token_revoked
                .get_or_insert(now.unix_timestamp());
            return Ok(was);
        }
        let t = self
            .tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| AccountError::NoToken(id.to_owned()))?;
        let was = t.revoked.is_none();
        t.revoked.get_or_insert(now.unix_timestamp());
        Ok(was)
    }

    fn principal(a: &Account) -> Principal {
        Principal {
            username: a.username.clone(),
            role: a.role,
            zona: a.zona,
        }
    }

    /// The principal a bearer token names: a live API token of an enabled account.
    pub fn by_token(&self, token: &str) -> Option<Principal> {
        let h = token_hash(token);
        let t = self
            .tokens
            .iter()
            .find(|t| t.revoked.is_none() && t.hash == h)?;
        let a = self.accounts.get(&t.username).filter(|a| !a.disabled)?;
        Some(Self::principal(a))
    }

    /// The principal if `password` is right and the account enabled. An unknown user costs the
    /// same hashing work as a known one, so timing does not tell which user names exist.
    pub fn authenticate(&self, username: &str, password: &Password) -> Option<Principal> {
        match self.accounts.get(username) {
            Some(a) => {
                (verify_password(password, &a.password) && !a.disabled).then(|| Self::principal(a))
            }
            None => {
                if let Ok(decoy) =
                    hash_password(&Password::candidate("decoy password, never valid"))
                {
                    let _ = verify_password(password, &decoy);
                }
                None
            }
        }
    }

    /// Whether an account still exists, is enabled and has this role and zona (a session
    /// started before a change is ended by the next request).
    pub fn still(&self, p: &Principal) -> bool {
        if p.username == ANALYST {
            return self.analyst_token_revoked.is_none();
        }
        self.accounts
            .get(&p.username)
            .is_some_and(|a| !a.disabled && a.role == p.role && a.zona == p.zona)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AccountError + '_ {
    move |source| AccountError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the file of a data directory (none yet: no accounts).
pub fn load(data: &Path) -> Result<Accounts, AccountError> {
    let path = data.join(FILE);
    match std::fs::read(&path) {
        Ok(b) => {
            let a: Accounts = serde_json::from_slice(&b).map_err(|e| AccountError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if a.version != 1 {
                return Err(AccountError::Corrupt {
                    path,
                    reason: format!("format version {} (this build reads 1)", a.version),
                });
            }
            Ok(a)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts {
            version: 1,
            ..Accounts::default()
        }),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Changes the file of a data directory under its lock: reads it, applies `f`, and — if `f`
/// succeeds — writes it durably (temporary file, sync, rename, sync of the directory; mode
/// 0600). Returns what `f` returned.
pub fn update<T>(
    data: &Path,
    f: impl FnOnce(&mut Accounts) -> Result<T, AccountError>,
) -> Result<T, AccountError> {
    let lock_path = data.join(LOCK);
    let lock = open_private(&lock_path, false)?;
    fs2::FileExt::lock_exclusive(&lock).map_err(io(&lock_path))?;
    let mut a = load(data)?;
    let out = f(&mut a)?;
    let path = data.join(FILE);
    let tmp = data.join(format!("{FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(&a).map_err(|e| AccountError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    {
        let mut file = open_private(&tmp, true)?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(data)
        .and_then(|d| d.sync_all())
        .map_err(io(data))?;
    drop(lock);
    Ok(out)
}

fn open_private(path: &Path, truncate: bool) -> Result<std::fs::File, AccountError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(io(path))
}

/// What identifies a version of the file: length, modification time and inode.
type Stamp = Option<(u64, std::time::SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.len(), m.modified().ok()?, ino))
}

/// The running hub's view of the file, re-read when it changes on disk.
#[derive(Debug)]
pub struct AccountsFile {
    data: PathBuf,
    cached: Mutex<(Stamp, std::sync::Arc<Accounts>)>,
}

impl AccountsFile {
    /// Reads the file of a data directory.
    pub fn open(data: &Path) -> Result<AccountsFile, AccountError> {
        let s = stamp(&data.join(FILE));
        let a = load(data)?;
        Ok(AccountsFile {
            data: data.to_owned(),
            cached: Mutex::new((s, std::sync::Arc::new(a))),
        })
    }

    /// The current accounts: the cached copy, or the file again if it changed. A file that
    /// became unreadable or invalid keeps the last good copy (and says so in the log) — except
    /// that nothing is trusted from a file that was removed: then there are no accounts.
    pub fn current(&self) -> std::sync::Arc<Accounts> {
        let path = self.data.join(FILE);
        let now = stamp(&path);
        let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if c.0 != now {
            match load(&self.data) {
                Ok(a) => {
                    tracing::info!(
                        accounts = a.accounts.len(),
                        tokens = a.tokens.len(),
                        "accounts file re-read"
                    );
                    *c = (now, std::sync::Arc::new(a));
                }
                Err(e) => {
                    tracing::error!(error = %e, "accounts file not re-read; keeping the last good copy")
                }
            }
        }
        c.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

    fn pw(s: &str) -> Password {
        Password::new(s).unwrap()
    }

    #[test]
    fn accounts_tokens_and_refusals() {
        let d = tempfile::tempdir().unwrap();
        let file = AccountsFile::open(d.path()).unwrap();
        assert!(file.current().accounts.is_empty());
        update(d.path(), |a| {
            a.add(
                "regione.umbria",
                HubRole::Regione,
                None,
                &pw("a long password 1"),
                T0,
            )
        })
        .unwrap();
        let v = update(d.path(), |a| {
            a.add(
                "zona3",
                HubRole::UfficioDiPiano,
                Some(3),
                &pw("a long password 2"),
                T0,
            )
        })
        .unwrap();
        assert_eq!(
            (v.role, v.zona, v.tokens),
            (HubRole::UfficioDiPiano, Some(3), 0)
        );
        // Refusals: taken, reserved, no zona, a zona for regione, a zona that does not exist.
        for (u, r, z) in [
            ("zona3", HubRole::Regione, None),
            ("analyst", HubRole::Regione, None),
            ("x1", HubRole::UfficioDiPiano, None),
            ("x2", HubRole::Regione, Some(2)),
            ("x3", HubRole::UfficioDiPiano, Some(13)),
            ("Bad Name", HubRole::Regione, None),
        ] {
            assert!(
                update(d.path(), |a| a.add(u, r, z, &pw("a long password 3"), T0)).is_err(),
                "{u}"
            );
        }
        let (id, token) = update(d.path(), |a| a.create_token("zona3", T0)).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && id.starts_with("t-"));
        let cur = file.current();
        assert_eq!(cur.accounts.len(), 2);
        let p = cur.by_token(&token).unwrap();
        assert_eq!((p.username.as_str(), p.zona), ("zona3", Some(3)));
        assert!(p.may_read_comuni_of(3) && !p.may_read_comuni_of(2));
        assert!(cur.by_token("siso_nothing").is_none());
        // The file holds neither the token nor the password.
        let text = std::fs::read_to_string(d.path().join(FILE)).unwrap();
        assert!(!text.contains(&token) && !text.contains("a long password"));
        assert!(cur
            .authenticate("zona3", &pw("a long password 2"))
            .is_some());
        assert!(cur
            .authenticate("zona3", &pw("a long password 1"))
            .is_none());
        assert!(cur
            .authenticate("nobody", &pw("a long password 2"))
            .is_none());
        // Revocation and disabling take effect on the next read.
        assert!(update(d.path(), |a| a.revoke_token(&id, T0)).unwrap());
        assert!(file.current().by_token(&token).is_none());
        let (_, t2) = update(d.path(), |a| a.create_token("zona3", T0)).unwrap();
        assert!(file.current().by_token(&t2).is_some());
        update(d.path(), |a| a.set_disabled("zona3", true, T0)).unwrap();
        let cur = file.current();
        assert!(cur.by_token(&t2).is_none());
        assert!(!cur.still(&p));
        assert!(cur
            .authenticate("zona3", &pw("a long password 2"))
            .is_none());
        // The analysts' shared token is revocable like any other.
        assert!(cur.still(&Principal::analyst()));
        update(d.path(), |a| a.revoke_token(ANALYST, T0)).unwrap();
        assert!(!file.current().still(&Principal::analyst()));
        assert!(format!("{:?}", file.current()).contains("<redacted>"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A corrupt file is refused by the commands and ignored by the running hub.
        std::fs::write(d.path().join(FILE), b"{not json").unwrap();
        assert!(matches!(load(d.path()), Err(AccountError::Corrupt { .. })));
        assert!(!file.current().accounts.is_empty());
    }
}
