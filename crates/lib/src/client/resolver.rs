//! Name resolution for the client: each host is looked up once per run.
//!
//! ureq resolves the host of every request, pooled connection or not, and with a timeout set it
//! does so on a thread of its own: one thread per request. An apply of thousands of tenants
//! makes several requests each to the same host, so the first answer is kept (a run lasts
//! minutes; pooled connections stay with their address anyway).

use std::collections::HashMap;
use std::sync::Mutex;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Resolves through [`DefaultResolver`] and remembers the answer per `host:port`.
#[derive(Debug, Default)]
pub(crate) struct CachingResolver {
    inner: DefaultResolver,
    known: Mutex<HashMap<String, ResolvedSocketAddrs>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        );
        let known = |map: &HashMap<String, ResolvedSocketAddrs>| map.get(&key).cloned();
        if let Some(addrs) = known(&self.known.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(addrs);
        }
        // Looked up outside the lock: a slow lookup does not hold up other hosts.
        let addrs = self.inner.resolve(uri, config, timeout)?;
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, addrs.clone());
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_once_per_host() {
        let resolver = CachingResolver::default();
        let config = Config::default();
        let uri: Uri = "http://127.0.0.1:8080/api".parse().unwrap();
        let first = resolver
            .resolve(&uri, &config, NextTimeout::default())
            .unwrap();
        assert_eq!(first[0], "127.0.0.1:8080".parse().unwrap());
        assert_eq!(resolver.known.lock().unwrap().len(), 1);
        let other: Uri = "http://127.0.0.1:8080/other".parse().unwrap();
        resolver
            .resolve(&other, &config, NextTimeout::default())
            .unwrap();
        assert_eq!(resolver.known.lock().unwrap().len(), 1);
    }
}
