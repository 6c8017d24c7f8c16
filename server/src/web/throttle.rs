//! Log-in throttling: an account is locked for a while after too many failed log-ins in a row,
//! and a client address may try only so often a minute (OWASP ASVS 2.2.1). Accounts that do not
//! exist are throttled exactly like those that do, so the answers tell nothing about which
//! user names exist.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed log-ins in a row that lock an account (default 5).
    pub failures: u32,
    /// How long a locked account stays locked (default 15 minutes).
    pub lockout: Duration,
    /// Log-in attempts one client address may make per `window` (default 30).
    pub per_address: usize,
    /// The window of `per_address` (default one minute).
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            failures: 5,
            lockout: Duration::minutes(15),
            per_address: 30,
            window: Duration::minutes(1),
        }
    }
}

/// Whether a log-in attempt may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Allowed,
    /// The account is locked until then (even a right password is refused).
    AccountLocked(OffsetDateTime),
    /// The address has tried too often; it may try again then.
    AddressLimited(OffsetDateTime),
}

/// Entries kept at most per map; stale ones are dropped first.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default, Clone, Copy)]
struct Account {
    failures: u32,
    last: Option<OffsetDateTime>,
    locked_until: Option<OffsetDateTime>,
}

/// The throttle of one process (state in memory: a restart forgets it, as it ends sessions).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    accounts: Mutex<HashMap<String, Account>>,
    addresses: Mutex<HashMap<IpAddr, VecDeque<OffsetDateTime>>>,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(limits: ThrottleLimits) -> LoginThrottle {
        LoginThrottle {
            limits,
            ..LoginThrottle::default()
        }
    }

    /// Records an attempt by `user` from `addr` and says whether it may proceed.
    pub fn check(&self, user: &str, addr: IpAddr, now: OffsetDateTime) -> Verdict {
        {
            let mut addrs = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
            if addrs.len() >= MAX_ENTRIES {
                addrs.retain(|_, q| q.back().is_some_and(|&t| now - t < self.limits.window));
            }
            let q = addrs.entry(addr).or_default();
            while q.front().is_some_and(|&t| now - t >= self.limits.window) {
                q.pop_front();
            }
            if q.len() >= self.limits.per_address {
                let first = q.front().copied().unwrap_or(now);
                return Verdict::AddressLimited(first + self.limits.window);
            }
            q.push_back(now);
        }
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = accounts.get_mut(user) {
            match a.locked_until {
                Some(until) if now < until => return Verdict::AccountLocked(until),
                Some(_) => *a = Account::default(),
                None => {}
            }
        }
        Verdict::Allowed
    }

    /// Records a failed log-in; true if it locked the account.
    pub fn failed(&self, user: &str, now: OffsetDateTime) -> bool {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if accounts.len() >= MAX_ENTRIES {
            let horizon = self.limits.lockout;
            accounts.retain(|_, a| a.last.is_some_and(|t| now - t < horizon));
        }
        let a = accounts.entry(user.to_owned()).or_default();
        a.failures += 1;
        a.last = Some(now);
        if a.failures >= self.limits.failures && a.locked_until.is_none() {
            a.locked_until = Some(now + self.limits.lockout);
            return true;
        }
        false
    }

    /// Records a successful log-in: the account's failures are forgotten.
    pub fn succeeded(&self, user: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);
    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn five_failures_lock_an_account_for_fifteen_minutes() {
        let t = LoginThrottle::new(ThrottleLimits::default());
        for i in 0..5 {
            assert_eq!(t.check("mrossi", A, T0), Verdict::Allowed, "attempt {i}");
            assert_eq!(t.failed("mrossi", T0), i == 4);
        }
        let until = T0 + Duration::minutes(15);
        // Locked from any address, for that account only.
        assert_eq!(t.check("mrossi", B, T0), Verdict::AccountLocked(until));
        assert_eq!(t.check("other", A, T0), Verdict::Allowed);
        assert_eq!(
            t.check("mrossi", A, until - Duration::seconds(1)),
            Verdict::AccountLocked(until)
        );
        // After the lock-out, a fresh start.
        assert_eq!(t.check("mrossi", A, until), Verdict::Allowed);
        assert!(!t.failed("mrossi", until));
        // A success forgets the failures.
        for _ in 0..3 {
            t.failed("bianchi", T0);
        }
        t.succeeded("bianchi");
        for _ in 0..4 {
            assert!(!t.failed("bianchi", T0));
        }
    }

    #[test]
    fn thirty_attempts_a_minute_per_address() {
        let t = LoginThrottle::new(ThrottleLimits::default());
        for i in 0..30 {
            let user = format!("u{i}");
            assert_eq!(
                t.check(&user, A, T0 + Duration::seconds(i)),
                Verdict::Allowed
            );
        }
        assert_eq!(
            t.check("u", A, T0 + Duration::seconds(30)),
            Verdict::AddressLimited(T0 + Duration::minutes(1))
        );
        assert_eq!(
            t.check("u", B, T0 + Duration::seconds(30)),
            Verdict::Allowed
        );
        // The window slides.
        assert_eq!(
            t.check("u", A, T0 + Duration::seconds(60)),
            Verdict::Allowed
        );
    }
}
