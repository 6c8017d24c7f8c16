//! Who is asking: the analysts' shared token, a named account's API token (bearer), or a named
//! account's browser session (log-in with user name and password: argon2id, sessions, CSRF
//! tokens and log-in throttling from `siso_server::web`, the node's rules).
//!
//! **Invariant:** every request that reads figures is authorised here against the accounts
//! file as it is now: a disabled account, a revoked token or a changed role is refused from the
//! next request on, sessions included.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use siso_server::web::{LoginThrottle, Password, Session, Sessions, Verdict};
use time::OffsetDateTime;

use crate::accounts::{AccountsFile, Principal};

/// The session cookie of a named account's browser.
pub const SESSION_COOKIE: &str = "siso_session";
/// The cookie of a browser logged in with the analysts' shared token (scripts' one-step link).
pub const TOKEN_COOKIE: &str = "siso_token";

/// What the HTTP layer knows to authenticate callers.
pub struct Auth {
    /// BLAKE3 of the analysts' shared token.
    pub analyst_hash: blake3::Hash,
    /// Named accounts and API tokens.
    pub accounts: Arc<AccountsFile>,
    /// Browser sessions of named accounts.
    pub sessions: Sessions,
    /// Log-in throttling.
    pub throttle: LoginThrottle,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("analyst_hash", &"<redacted>")
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// A cookie's value.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(name)?.strip_prefix('='))
        .next()
}

/// An authenticated caller: who, and the browser session if it came with one.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The session (for the CSRF token of forms).
    pub session: Option<Session>,
}

impl Auth {
    /// The principal of a bearer or cookie token: the shared token (unless revoked) or a live
    /// API token of an enabled account.
    pub fn by_token(&self, token: &str) -> Option<Principal> {
        let accounts = self.accounts.current();
        if blake3::hash(token.trim().as_bytes()) == self.analyst_hash {
            return accounts
                .analyst_token_revoked
                .is_none()
                .then(Principal::analyst);
        }
        accounts.by_token(token)
    }

    /// Who sent a request: `Authorization: Bearer`, else the session cookie, else the token
    /// cookie. `None`: nobody (or a token or session no longer valid).
    pub fn identify(&self, headers: &HeaderMap, now: OffsetDateTime) -> Option<Caller> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if let Some(t) = bearer {
            return self.by_token(t).map(|principal| Caller {
                principal,
                session: None,
            });
        }
        if let Some(t) = cookie(headers, SESSION_COOKIE) {
            let s = self.sessions.touch(t, now)?;
            let accounts = self.accounts.current();
            let a = accounts.accounts.get(&s.user)?;
            let principal = Principal {
                username: a.username.clone(),
                role: a.role,
                zona: a.zona,
            };
            if !accounts.still(&principal) || s.role != principal.role.as_str() {
                self.sessions.end(t);
                return None;
            }
            return Some(Caller {
                principal,
                session: Some(s),
            });
        }
        let t = cookie(headers, TOKEN_COOKIE)?;
        self.by_token(t).map(|principal| Caller {
            principal,
            session: None,
        })
    }

    /// A password log-in: the session token for the cookie, or why not (in Italian, for the
    /// form).
    pub fn log_in(
        &self,
        username: &str,
        password: &str,
        addr: IpAddr,
        now: OffsetDateTime,
    ) -> Result<(String, Principal), &'static str> {
        const WRONG: &str = "Nome utente o password errati.";
        match self.throttle.check(username, addr, now) {
            Verdict::Allowed => {}
            Verdict::AccountLocked(_) => {
                return Err("Troppi tentativi non riusciti: l'account è bloccato temporaneamente.")
            }
            Verdict::AddressLimited(_) => {
                return Err("Troppi tentativi da questo indirizzo: riprovare tra un minuto.")
            }
        }
        let accounts = self.accounts.current();
        match accounts.authenticate(username, &Password::candidate(password)) {
            Some(p) => {
                self.throttle.succeeded(username);
                let (token, _) = self
                    .sessions
                    .create(&p.username, p.role.as_str(), now)
                    .ok_or("Servizio non disponibile: riprovare.")?;
                Ok((token, p))
            }
            None => {
                self.throttle.failed(username, now);
                Err(WRONG)
            }
        }
    }
}
