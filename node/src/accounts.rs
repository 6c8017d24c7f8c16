//! Operators' accounts: who may log in to the node's web app, with which role. Kept in the
//! node's store (`U` ‖ user name); passwords only as argon2id hashes (`siso_server::web`).
//! Managed with `siso-node user …` (docs/operations.md).
//!
//! Roles: `sportello` (reception), `assistente_sociale` (social worker),
//! `responsabile` (the service's manager), `amministratore` (accounts and settings only, no case
//! data) on a Comune's node; `operatore_ets` and `amministratore` on a third-sector node.
//!
//! **Invariant:** no password and no password hash leaves this module except into the store:
//! listings carry [`AccountView`], which has neither.

use serde::{Deserialize, Serialize};
use siso_server::web::{hash_password, verify_password, Password, PasswordError, PasswordHash};
use siso_shared::Role;
use time::OffsetDateTime;

use crate::store::{Kind, Store, StoreError, Tx};

/// An operator's role.
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
pub enum OperatorRole {
    /// Reception (segretariato sociale): search, record accesses, a minimal card.
    Sportello,
    /// Professional social worker: the cases assigned to them.
    AssistenteSociale,
    /// The service's manager: every case, assignments, closures, the audit trail.
    Responsabile,
    /// Accounts and settings only; reads no case data.
    Amministratore,
    /// A third-sector entity's operator: the entity's own accesses and interventions.
    OperatoreEts,
}

impl OperatorRole {
    /// Every role.
    pub const ALL: [OperatorRole; 5] = [
        OperatorRole::Sportello,
        OperatorRole::AssistenteSociale,
        OperatorRole::Responsabile,
        OperatorRole::Amministratore,
        OperatorRole::OperatoreEts,
    ];

    /// The role's name, as the command line and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::Sportello => "sportello",
            OperatorRole::AssistenteSociale => "assistente_sociale",
            OperatorRole::Responsabile => "responsabile",
            OperatorRole::Amministratore => "amministratore",
            OperatorRole::OperatoreEts => "operatore_ets",
        }
    }

    /// May a node of this member role have accounts of this operator role?
    pub fn allowed_on(self, member: Role) -> bool {
        match self {
            OperatorRole::Amministratore => member != Role::Region,
            // A health authority's node is limited like an entity's, with the same roles.
            OperatorRole::OperatoreEts => matches!(member, Role::Ets | Role::Asl),
            // The entity's manager reads its monthly report and its overlap notices.
            OperatorRole::Responsabile => member != Role::Region,
            _ => member == Role::Comune,
        }
    }
}

impl std::fmt::Display for OperatorRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OperatorRole {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OperatorRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AccountError::UnknownRole(s.to_owned()))
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// User name: 2–64 characters of `a-z 0-9 . _ -`.
    pub username: String,
    /// Role.
    pub role: OperatorRole,
    /// argon2id hash (PHC string).
    pub password: PasswordHash,
    /// A disabled account cannot log in.
    pub disabled: bool,
    /// Unix time of creation.
    pub created: i64,
    /// Unix time of the last change (role, password, enabled).
    pub updated: i64,
}

/// What a listing shows of an account: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// User name.
    pub username: String,
    /// Role.
    pub role: OperatorRole,
    /// Disabled.
    pub disabled: bool,
    /// Created (RFC 3339).
    pub created: String,
    /// Last changed (RFC 3339).
    pub updated: String,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        let when = |t: i64| {
            OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|d| {
                    d.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default()
        };
        AccountView {
            username: a.username.clone(),
            role: a.role,
            disabled: a.disabled,
            created: when(a.created),
            updated: when(a.updated),
        }
    }
}

/// Account errors.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The user name is malformed.
    #[error("user name {0:?}: use 2 to 64 characters among a-z, 0-9, '.', '_' and '-'")]
    Username(String),
    /// No such role.
    #[error("unknown role {0:?}: one of sportello, assistente_sociale, responsabile, amministratore, operatore_ets")]
    UnknownRole(String),
    /// The role does not fit this node.
    #[error("a {member} node has no {role} accounts")]
    RoleNotAllowed {
        /// The operator role asked for.
        role: OperatorRole,
        /// The node's member role.
        member: Role,
    },
    /// The user name is taken.
    #[error("user {0} already exists")]
    Exists(String),
    /// No such user.
    #[error("no user {0}")]
    NotFound(String),
    /// The password is not acceptable or could not be hashed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_username(u: &str) -> Result<(), AccountError> {
    let ok = (2..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Username(u.to_owned()))
    }
}

fn save(store: &Store, a: &Account) -> Result<(), AccountError> {
    let mut tx = Tx::default();
    tx.put(Kind::Account, a.username.as_bytes(), a)?;
    store.commit(tx)?;
    Ok(())
}

/// The account of a user name.
pub fn get(store: &Store, username: &str) -> Result<Option<Account>, AccountError> {
    Ok(store.get(Kind::Account, username.as_bytes())?)
}

fn existing(store: &Store, username: &str) -> Result<Account, AccountError> {
    get(store, username)?.ok_or_else(|| AccountError::NotFound(username.to_owned()))
}

/// Creates an account (durably) on a node of `member` role.
pub fn add(
    store: &Store,
    username: &str,
    role: OperatorRole,
    password: &Password,
    member: Role,
    now: OffsetDateTime,
) -> Result<Account, AccountError> {
    check_username(username)?;
    if !role.allowed_on(member) {
        return Err(AccountError::RoleNotAllowed { role, member });
    }
    if get(store, username)?.is_some() {
        return Err(AccountError::Exists(username.to_owned()));
    }
    let a = Account {
        username: username.to_owned(),
        role,
        password: hash_password(password)?,
        disabled: false,
        created: now.unix_timestamp(),
        updated: now.unix_timestamp(),
    };
    save(store, &a)?;
    Ok(a)
}

/// Every account, by user name, as a listing shows them.
pub fn list(store: &Store) -> Result<Vec<AccountView>, AccountError> {
    Ok(store
        .scan::<Account>(Kind::Account, b"")?
        .iter()
        .map(|(_, a)| AccountView::from(a))
        .collect())
}

/// A change to an existing account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It can no longer log in.
    Disable,
    /// It can log in again.
    Enable,
    /// A new role.
    Role(OperatorRole),
    /// A new password.
    Password(Password),
}

/// Applies a change to an existing account of a node of `member` role and stores it durably.
pub fn change(
    store: &Store,
    username: &str,
    change: Change,
    member: Role,
    now: OffsetDateTime,
) -> Result<Account, AccountError> {
    let mut a = existing(store, username)?;
    match change {
        Change::Disable => a.disabled = true,
        Change::Enable => a.disabled = false,
        Change::Role(role) if !role.allowed_on(member) => {
            return Err(AccountError::RoleNotAllowed { role, member })
        }
        Change::Role(role) => a.role = role,
        Change::Password(p) => a.password = hash_password(&p)?,
    }
    a.updated = now.unix_timestamp();
    save(store, &a)?;
    Ok(a)
}

/// The account if `password` is right and the account is enabled. An unknown user costs the
/// same hashing work as a known one, so timing does not tell which user names exist.
pub fn authenticate(
    store: &Store,
    username: &str,
    password: &Password,
) -> Result<Option<Account>, AccountError> {
    match get(store, username)? {
        Some(a) => Ok((verify_password(password, &a.password) && !a.disabled).then_some(a)),
        None => {
            let decoy = hash_password(&Password::candidate("decoy password, never valid"))?;
            let _ = verify_password(password, &decoy);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

    fn pw(s: &str) -> Password {
        Password::new(s).unwrap()
    }

    #[test]
    fn accounts_are_added_checked_changed_and_listed_without_hashes() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("store"), OpenMode::Create).unwrap();
        let p = pw("correct horse battery");
        let a = add(
            &s,
            "m.rossi",
            OperatorRole::AssistenteSociale,
            &p,
            Role::Comune,
            T0,
        )
        .unwrap();
        assert!(authenticate(&s, "m.rossi", &p).unwrap().is_some());
        assert!(authenticate(&s, "m.rossi", &Password::candidate("wrong"))
            .unwrap()
            .is_none());
        assert!(authenticate(&s, "nobody", &p).unwrap().is_none());
        // Refusals.
        let e = add(&s, "m.rossi", OperatorRole::Sportello, &p, Role::Comune, T0).unwrap_err();
        assert!(matches!(e, AccountError::Exists(_)), "{e}");
        for bad in ["M.Rossi", "x", "a b", "rossi@comune", ""] {
            let e = add(&s, bad, OperatorRole::Sportello, &p, Role::Comune, T0).unwrap_err();
            assert!(matches!(e, AccountError::Username(_)), "{bad}: {e}");
        }
        let e = add(&s, "ets", OperatorRole::OperatoreEts, &p, Role::Comune, T0).unwrap_err();
        assert!(matches!(e, AccountError::RoleNotAllowed { .. }), "{e}");
        let e = add(&s, "sw", OperatorRole::AssistenteSociale, &p, Role::Ets, T0).unwrap_err();
        assert!(matches!(e, AccountError::RoleNotAllowed { .. }), "{e}");
        let e = add(&s, "rg", OperatorRole::Responsabile, &p, Role::Region, T0).unwrap_err();
        assert!(matches!(e, AccountError::RoleNotAllowed { .. }), "{e}");
        // Disabled accounts do not authenticate; enabling restores them.
        let c = |change| super::change(&s, "m.rossi", change, Role::Comune, T0);
        c(Change::Disable).unwrap();
        assert!(authenticate(&s, "m.rossi", &p).unwrap().is_none());
        c(Change::Enable).unwrap();
        // New password; new role.
        let q = pw("another long passphrase");
        c(Change::Password(q.clone())).unwrap();
        assert!(authenticate(&s, "m.rossi", &p).unwrap().is_none());
        assert!(authenticate(&s, "m.rossi", &q).unwrap().is_some());
        let e = c(Change::Role(OperatorRole::OperatoreEts)).unwrap_err();
        assert!(matches!(e, AccountError::RoleNotAllowed { .. }), "{e}");
        let b = c(Change::Role(OperatorRole::Responsabile)).unwrap();
        assert_eq!((b.role, b.created), (OperatorRole::Responsabile, a.created));
        assert!(matches!(
            change(&s, "nobody", Change::Enable, Role::Comune, T0),
            Err(AccountError::NotFound(_))
        ));
        // The listing has no hash.
        let l = list(&s).unwrap();
        assert_eq!(l.len(), 1);
        let json = serde_json::to_string(&l).unwrap();
        assert!(
            !json.contains("argon2") && json.contains("\"responsabile\""),
            "{json}"
        );
        assert_eq!(l[0].created, "2026-12-01T09:00:00Z");
        assert!(!format!("{:?}", get(&s, "m.rossi").unwrap()).contains("argon2"));
    }

    #[test]
    fn role_names_round_trip() {
        for r in OperatorRole::ALL {
            assert_eq!(r.as_str().parse::<OperatorRole>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
            let v = <OperatorRole as clap::ValueEnum>::to_possible_value(&r).unwrap();
            assert_eq!(v.get_name(), r.as_str());
        }
        assert!("admin".parse::<OperatorRole>().is_err());
    }
}
