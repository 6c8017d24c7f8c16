//! Sessions in memory: a random token in an `HttpOnly; SameSite=Strict` cookie names one; the
//! map is keyed by the token's BLAKE3 hash, so the tokens themselves are never stored. Each
//! session has its own CSRF token; a session ends when it is idle too long, when it is too old,
//! at log-out, when its user is disabled, and when the process restarts.

use std::collections::HashMap;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused this long ends (default 30 minutes).
    pub idle: Duration,
    /// A session this old ends however busy (default 12 hours).
    pub absolute: Duration,
    /// Most sessions at once; the oldest goes when a new one would exceed it.
    pub max_sessions: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
            max_sessions: 10_000,
        }
    }
}

/// A logged-in user's session.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The account's user name.
    pub user: String,
    /// The account's role, as its side spells it.
    pub role: String,
    /// The CSRF token of this session (sent in forms and the `X-CSRF-Token` header).
    pub csrf: String,
    /// When it began.
    pub created: OffsetDateTime,
    /// When it was last used.
    pub last_seen: OffsetDateTime,
}

impl Session {
    /// True if `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        blake3::hash(presented.as_bytes()) == blake3::hash(self.csrf.as_bytes())
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("csrf", &"<redacted>")
            .field("created", &self.created)
            .field("last_seen", &self.last_seen)
            .finish()
    }
}

/// 32 random bytes, hex: a session or CSRF token. `None` if the system random source failed.
pub fn random_token() -> Option<String> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).ok()?;
    Some(hex::encode(b))
}

fn key(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// The live sessions of a process.
pub struct Sessions {
    limits: SessionLimits,
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("limits", &self.limits)
            .field("live", &self.len())
            .finish()
    }
}

impl Sessions {
    /// No sessions yet.
    pub fn new(limits: SessionLimits) -> Sessions {
        Sessions {
            limits,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn alive(&self, s: &Session, now: OffsetDateTime) -> bool {
        now - s.last_seen < self.limits.idle && now - s.created < self.limits.absolute
    }

    /// Starts a session; its token (for the cookie) and the session. `None` if no randomness.
    pub fn create(&self, user: &str, role: &str, now: OffsetDateTime) -> Option<(String, Session)> {
        let token = random_token()?;
        let s = Session {
            user: user.to_owned(),
            role: role.to_owned(),
            csrf: random_token()?,
            created: now,
            last_seen: now,
        };
        let mut map = self.lock();
        map.retain(|_, x| self.alive(x, now));
        while map.len() >= self.limits.max_sessions.max(1) {
            let oldest = map.iter().min_by_key(|(_, x)| x.created).map(|(k, _)| *k);
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(key(&token), s.clone());
        Some((token, s))
    }

    /// The session a token names, if it is alive; using it counts as activity. An expired one
    /// is removed.
    pub fn touch(&self, token: &str, now: OffsetDateTime) -> Option<Session> {
        let mut map = self.lock();
        let k = key(token);
        let alive = map.get(&k).map(|s| self.alive(s, now))?;
        if !alive {
            map.remove(&k);
            return None;
        }
        let s = map.get_mut(&k)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends the session a token names (log-out). True if there was one.
    pub fn end(&self, token: &str) -> bool {
        self.lock().remove(&key(token)).is_some()
    }

    /// Ends every session of a user (disabled, role changed, password reset); how many.
    pub fn end_user(&self, user: &str) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, s| s.user != user);
        before - map.len()
    }

    /// Sessions held (expired ones included until they are next looked at).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 09:00 UTC);

    #[test]
    fn idle_and_absolute_expiry_logout_and_user_end() {
        let s = Sessions::new(SessionLimits::default());
        let (tok, sess) = s.create("mrossi", "assistente_sociale", T0).unwrap();
        assert_eq!(tok.len(), 64);
        assert!(sess.csrf_ok(&sess.csrf) && !sess.csrf_ok("x"));
        // Activity keeps it alive past 30 minutes in all…
        let mut t = T0;
        for _ in 0..20 {
            t += Duration::minutes(29);
            assert!(s.touch(&tok, t).is_some(), "{t}");
        }
        // …but not past 12 hours.
        assert!(s.touch(&tok, T0 + Duration::hours(12)).is_none());
        assert!(s.is_empty(), "an expired session is removed");
        // Idle: 30 minutes without use.
        let (tok, _) = s.create("mrossi", "assistente_sociale", T0).unwrap();
        assert!(s.touch(&tok, T0 + Duration::minutes(30)).is_none());
        // Log-out and disabling end sessions; other users keep theirs.
        let (a, _) = s.create("a", "sportello", T0).unwrap();
        let (b1, _) = s.create("b", "sportello", T0).unwrap();
        let (b2, _) = s.create("b", "sportello", T0).unwrap();
        assert!(s.end(&a) && !s.end(&a));
        assert_eq!(s.end_user("b"), 2);
        assert!(s.touch(&b1, T0).is_none() && s.touch(&b2, T0).is_none());
        assert!(s.touch("not a token", T0).is_none());
    }

    #[test]
    fn the_oldest_session_goes_at_the_limit_and_nothing_secret_prints() {
        let s = Sessions::new(SessionLimits {
            max_sessions: 2,
            ..SessionLimits::default()
        });
        let (first, sess) = s.create("a", "r", T0).unwrap();
        let (second, _) = s.create("b", "r", T0 + Duration::seconds(1)).unwrap();
        let (third, _) = s.create("c", "r", T0 + Duration::seconds(2)).unwrap();
        let now = T0 + Duration::seconds(3);
        assert!(s.touch(&first, now).is_none());
        assert!(s.touch(&second, now).is_some() && s.touch(&third, now).is_some());
        let shown = format!("{sess:?} {s:?}");
        assert!(
            !shown.contains(&sess.csrf) && !shown.contains(&first),
            "{shown}"
        );
    }
}
