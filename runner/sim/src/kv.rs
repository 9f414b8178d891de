//! The KV cache as vLLM's `kv_cache_usage_perc` reports it: tokens held by running requests
//! (prompt and output, reserved when a request gets its slot) over the cache's size.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub(crate) struct KvCache {
    capacity_tokens: usize,
    used: AtomicUsize,
}

/// Tokens a running request holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct KvHold {
    cache: Arc<KvCache>,
    tokens: usize,
}

impl KvCache {
    pub fn new(capacity_tokens: usize) -> Arc<KvCache> {
        Arc::new(KvCache {
            capacity_tokens: capacity_tokens.max(1),
            used: AtomicUsize::new(0),
        })
    }

    pub fn hold(self: &Arc<Self>, tokens: usize) -> KvHold {
        self.used.fetch_add(tokens, Ordering::Relaxed);
        KvHold {
            cache: self.clone(),
            tokens,
        }
    }

    /// 0..=1; requests beyond the cache's size (the simulator does not preempt) read as full.
    pub fn usage(&self) -> f64 {
        (self.used.load(Ordering::Relaxed) as f64 / self.capacity_tokens as f64).min(1.0)
    }
}

impl Drop for KvHold {
    fn drop(&mut self) {
        self.cache.used.fetch_sub(self.tokens, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_follows_held_tokens() {
        let cache = KvCache::new(1000);
        let a = cache.hold(250);
        let b = cache.hold(500);
        assert_eq!(cache.usage(), 0.75);
        drop(a);
        assert_eq!(cache.usage(), 0.5);
        let _c = cache.hold(2000);
        assert_eq!(cache.usage(), 1.0);
        drop(b);
    }
}
