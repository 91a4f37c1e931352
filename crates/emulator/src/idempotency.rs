//! `X-Idempotency-Key` on imports: a replay within [`WINDOW`] gets the first answer again and
//! applies nothing. Keys are per tenant; a key reused for a different request is refused.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;

/// How long an answer is remembered.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// The header names.
pub(crate) const KEY_HEADER: &str = "x-idempotency-key";
pub(crate) const REPLAYED_HEADER: &str = "x-idempotent-replayed";

/// Returns whether a key has the length the platform accepts: 32 to 255 visible ASCII characters.
pub(crate) fn is_valid_key(key: &str) -> bool {
    (32..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// A remembered answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

#[derive(Debug)]
struct Entry {
    request: u64,
    at: Instant,
    answer: Answer,
}

/// What the cache knows of a key.
#[derive(Debug)]
pub(crate) enum Seen {
    New,
    Replay(Answer),
    /// The key was used for a different request.
    Reused,
}

/// Fingerprint of a request: what it asks, not how it was sent.
pub(crate) fn fingerprint(method: &str, path: &str, query: &str, body: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    (method, path, query, body).hash(&mut h);
    h.finish()
}

/// Answers by (tenant, key).
type Answers = HashMap<(String, String), Entry>;

/// When each key was remembered, oldest first, for expiry.
type Expiry = VecDeque<(Instant, String, String)>;

/// Remembered answers.
#[derive(Debug, Default)]
pub struct Cache {
    inner: Mutex<(Answers, Expiry)>,
}

impl Cache {
    fn expire(map: &mut Answers, queue: &mut Expiry, now: Instant) {
        while let Some((at, _, _)) = queue.front() {
            if now.duration_since(*at) < WINDOW {
                break;
            }
            if let Some((at, tid, key)) = queue.pop_front() {
                if map
                    .get(&(tid.clone(), key.clone()))
                    .is_some_and(|e| e.at == at)
                {
                    map.remove(&(tid, key));
                }
            }
        }
    }

    pub(crate) fn seen(&self, tenant: &str, key: &str, request: u64) -> Seen {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, queue) = &mut *guard;
        Self::expire(map, queue, Instant::now());
        match map.get(&(tenant.to_owned(), key.to_owned())) {
            None => Seen::New,
            Some(e) if e.request == request => Seen::Replay(e.answer.clone()),
            Some(_) => Seen::Reused,
        }
    }

    pub(crate) fn remember(&self, tenant: &str, key: &str, request: u64, answer: Answer) {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, queue) = &mut *guard;
        let now = Instant::now();
        Self::expire(map, queue, now);
        queue.push_back((now, tenant.to_owned(), key.to_owned()));
        map.insert(
            (tenant.to_owned(), key.to_owned()),
            Entry {
                request,
                at: now,
                answer,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_the_same_request_and_refuses_a_different_one() {
        let c = Cache::default();
        let key = "k".repeat(32);
        let req = fingerprint("POST", "/a", "", b"{}");
        assert!(matches!(c.seen("t", &key, req), Seen::New));
        c.remember(
            "t",
            &key,
            req,
            Answer {
                status: StatusCode::NO_CONTENT,
                content_type: None,
                body: Bytes::new(),
            },
        );
        assert!(
            matches!(c.seen("t", &key, req), Seen::Replay(a) if a.status == StatusCode::NO_CONTENT)
        );
        assert!(matches!(
            c.seen("t", &key, fingerprint("POST", "/a", "", b"[]")),
            Seen::Reused
        ));
        assert!(matches!(c.seen("other", &key, req), Seen::New));
    }

    #[test]
    fn key_length_is_checked() {
        assert!(!is_valid_key("short"));
        assert!(is_valid_key(&"a".repeat(32)));
        assert!(!is_valid_key(&"a".repeat(256)));
        assert!(!is_valid_key(&format!("{} ", "a".repeat(40))));
    }
}
