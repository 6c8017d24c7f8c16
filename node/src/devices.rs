//! Operators' phones: the key that encrypts a device's unsent drafts (phone app, docs/PRIVACY.md).
//!
//! A device names itself with a random id it keeps (not personal data). Its key is a keyed
//! BLAKE3 of (user, device id) under a secret kept in the node's store (`meta`
//! `device_key_secret`), so the same user on the same phone gets the same key at every log-in —
//! drafts written offline before a reload become readable again after the next log-in — and
//! the phone never stores it. Disconnecting a device (its user, or a `responsabile` for a lost
//! phone) revokes it for good: no key is handed out again, so what it holds stays unreadable.
//!
//! **Invariant:** a revoked device never receives its key again.

use serde::{Deserialize, Serialize};

use crate::store::{Kind, Store, StoreError, Tx};

/// The `meta` key of the secret.
const SECRET: &str = "device_key_secret";

/// Most characters of a device id.
pub const DEVICE_ID_MAX: usize = 64;

/// What the node knows of a device (`E`, key user ‖ 0 ‖ device id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Unix time it first asked for its key.
    pub created: i64,
    /// Unix time it last did.
    pub last_seen: i64,
    /// Disconnected: no key any more.
    pub revoked: bool,
}

/// Errors of the device functions.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The device id is not 8–64 characters of `a-z 0-9 -`.
    #[error("device id must be 8 to 64 characters of a-z, 0-9 and '-'")]
    BadId,
    /// The device was disconnected.
    #[error("device disconnected")]
    Revoked,
    /// No such device.
    #[error("no such device")]
    Unknown,
    /// The system random source failed (creating the secret).
    #[error("no randomness available for the device key secret")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn key_of(user: &str, device: &str) -> Vec<u8> {
    let mut k = user.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(device.as_bytes());
    k
}

fn check_id(device: &str) -> Result<(), DeviceError> {
    let ok = (8..=DEVICE_ID_MAX).contains(&device.len())
        && device
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DeviceError::BadId)
    }
}

fn secret(store: &Store) -> Result<[u8; 32], DeviceError> {
    if let Some(s) = store.meta_get::<[u8; 32]>(SECRET)? {
        return Ok(s);
    }
    let mut s = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut s)
        .map_err(|_| DeviceError::Random)?;
    store.meta_put(SECRET, &s)?;
    Ok(s)
}

/// The key of `user`'s `device` (registering it on first use), unless it was disconnected.
pub fn key(store: &Store, user: &str, device: &str, now: i64) -> Result<[u8; 32], DeviceError> {
    check_id(device)?;
    let k = key_of(user, device);
    let d = match store.get::<Device>(Kind::Device, &k)? {
        Some(d) if d.revoked => return Err(DeviceError::Revoked),
        Some(d) => Device {
            last_seen: now,
            ..d
        },
        None => Device {
            created: now,
            last_seen: now,
            revoked: false,
        },
    };
    let mut tx = Tx::default();
    tx.put(Kind::Device, &k, &d)?;
    store.commit(tx)?;
    let mut h = blake3::Hasher::new_keyed(&secret(store)?);
    h.update(b"siso/node/device-key/v1\0");
    h.update(&k);
    Ok(*h.finalize().as_bytes())
}

/// Disconnects `user`'s `device` for good.
pub fn revoke(store: &Store, user: &str, device: &str) -> Result<(), DeviceError> {
    check_id(device)?;
    let k = key_of(user, device);
    let d = store
        .get::<Device>(Kind::Device, &k)?
        .ok_or(DeviceError::Unknown)?;
    let mut tx = Tx::default();
    tx.put(Kind::Device, &k, &Device { revoked: true, ..d })?;
    store.commit(tx)?;
    Ok(())
}

/// `user`'s devices: (id, device).
pub fn list(store: &Store, user: &str) -> Result<Vec<(String, Device)>, DeviceError> {
    let mut prefix = user.as_bytes().to_vec();
    prefix.push(0);
    Ok(store
        .scan::<Device>(Kind::Device, &prefix)?
        .into_iter()
        .map(|(k, d)| (String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), d))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::OpenMode;

    #[test]
    fn stable_per_user_and_device_and_gone_once_revoked() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s"), OpenMode::Create).unwrap();
        let a = key(&s, "a.rossi", "phone-0001", 1).unwrap();
        assert_eq!(key(&s, "a.rossi", "phone-0001", 2).unwrap(), a);
        assert_ne!(key(&s, "b.gialli", "phone-0001", 2).unwrap(), a);
        assert_ne!(key(&s, "a.rossi", "phone-0002", 2).unwrap(), a);
        assert!(matches!(
            key(&s, "a.rossi", "x", 2),
            Err(DeviceError::BadId)
        ));
        assert!(matches!(
            key(&s, "a.rossi", "PHONE-0001", 2),
            Err(DeviceError::BadId)
        ));
        revoke(&s, "a.rossi", "phone-0001").unwrap();
        assert!(matches!(
            key(&s, "a.rossi", "phone-0001", 3),
            Err(DeviceError::Revoked)
        ));
        assert!(matches!(
            revoke(&s, "a.rossi", "phone-9999"),
            Err(DeviceError::Unknown)
        ));
        let l = list(&s, "a.rossi").unwrap();
        assert_eq!(l.len(), 2);
        assert!(l
            .iter()
            .any(|(id, d)| id == "phone-0001" && d.revoked && d.last_seen == 2));
    }
}
