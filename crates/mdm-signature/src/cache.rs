//! A bounded cache of verified chains, in front of any [`CertVerifier`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::{CertVerifier, Error, IdentityCertificate, VerifiedChain};

/// Remembers successful verifications by certificate hash, so a device that checks in every
/// minute pays for its chain once, not on every request.
///
/// An entry is used only while the chain's verdict holds ([`VerifiedChain::holds_at`]: never past
/// the earliest notAfter on the path) and for at most `max_age` after it was verified (default one
/// hour, so that a changed trust decision, such as a replaced CA pool behind an `Arc`, is picked
/// up). Failures are not cached. The cache holds at most `capacity` entries: when the newer half
/// fills up, the older half is dropped (a two-generation scheme: O(1), no per-hit bookkeeping
/// beyond moving a surviving entry into the newer half).
pub struct CachedVerifier<V> {
    inner: V,
    capacity: usize,
    max_age: Duration,
    state: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    newer: HashMap<[u8; 32], Entry>,
    older: HashMap<[u8; 32], Entry>,
}

#[derive(Clone)]
struct Entry {
    chain: VerifiedChain,
    /// When the entry stops being used: min(chain notAfter, verified at + max age).
    expires: SystemTime,
}

impl<V: CertVerifier> CachedVerifier<V> {
    /// Wraps `inner`, remembering up to `capacity` verified certificates (at least 2).
    pub fn new(inner: V, capacity: usize) -> Self {
        CachedVerifier {
            inner,
            capacity: capacity.max(2),
            max_age: Duration::from_secs(60 * 60),
            state: Mutex::new(Generations::default()),
        }
    }

    /// Sets how long a verification is reused at most.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The wrapped verifier.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// The number of cached verifications (some may have expired and not been dropped yet).
    pub fn len(&self) -> usize {
        let state = self.lock();
        // Each half holds at most `capacity` entries, so the sum cannot saturate.
        state.newer.len().saturating_add(state.older.len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every cached verification.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.newer.clear();
        state.older.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps stay consistent even if a holder panicked: every update is a single insert or
        // remove, so a poisoned lock is safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, key: &[u8; 32], now: SystemTime) -> Option<VerifiedChain> {
        let usable = |e: &Entry| e.chain.not_before <= now && now <= e.expires;
        let mut state = self.lock();
        if let Some(entry) = state.newer.get(key) {
            return usable(entry).then(|| entry.chain.clone());
        }
        let entry = state.older.remove(key)?;
        if !usable(&entry) {
            return None;
        }
        let chain = entry.chain.clone();
        self.insert_locked(&mut state, *key, entry);
        Some(chain)
    }

    fn insert_locked(&self, state: &mut Generations, key: [u8; 32], entry: Entry) {
        if state.newer.len() >= self.capacity / 2 {
            state.older = std::mem::take(&mut state.newer);
        }
        state.newer.insert(key, entry);
    }
}

impl<V: CertVerifier> CertVerifier for CachedVerifier<V> {
    fn verify_cert(
        &self,
        cert: &IdentityCertificate,
        now: SystemTime,
    ) -> Result<VerifiedChain, Error> {
        let key = *cert.sha256();
        if let Some(chain) = self.lookup(&key, now) {
            return Ok(chain);
        }
        let chain = self.inner.verify_cert(cert, now)?;
        let expires = now
            .checked_add(self.max_age)
            .map_or(chain.not_after, |t| t.min(chain.not_after));
        let entry = Entry {
            chain: chain.clone(),
            expires,
        };
        let mut state = self.lock();
        state.older.remove(&key);
        self.insert_locked(&mut state, key, entry);
        Ok(chain)
    }
}

impl<V> std::fmt::Debug for CachedVerifier<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedVerifier")
            .field("capacity", &self.capacity)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}
