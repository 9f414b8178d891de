//! Residency of LoRA adapters: the `max_loras` most recently used are loaded; using another one
//! evicts the least recently used and pays the load cost.

use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Debug)]
pub(crate) struct LoraCache {
    max: Option<usize>,
    /// Resident adapter indices, least recently used first.
    resident: Mutex<VecDeque<usize>>,
}

impl LoraCache {
    pub fn new(max: Option<usize>) -> LoraCache {
        LoraCache {
            max,
            resident: Mutex::new(VecDeque::new()),
        }
    }

    /// Marks `adapter` as used now; true if it had to be loaded.
    pub fn touch(&self, adapter: usize) -> bool {
        let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = resident.iter().position(|a| *a == adapter) {
            resident.remove(pos);
            resident.push_back(adapter);
            return false;
        }
        if self.max.is_some_and(|max| resident.len() >= max) {
            resident.pop_front();
        }
        resident.push_back(adapter);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_is_evicted() {
        let cache = LoraCache::new(Some(2));
        assert!(cache.touch(1));
        assert!(cache.touch(2));
        assert!(!cache.touch(1));
        assert!(cache.touch(3)); // evicts 2
        assert!(!cache.touch(1));
        assert!(cache.touch(2));
        let unlimited = LoraCache::new(None);
        assert!((0..10).all(|a| unlimited.touch(a)));
        assert!((0..10).all(|a| !unlimited.touch(a)));
    }
}
