//! A bounded set of recent keys (event or message ids), oldest forgotten
//! first: how webhook adapters drop a platform's repeated deliveries.

use std::collections::{HashSet, VecDeque};

/// The last `capacity` keys seen.
#[derive(Debug)]
pub struct Recent {
    capacity: usize,
    /// The keys.
    set: HashSet<String>,
    /// Their order of arrival.
    order: VecDeque<String>,
}

impl Recent {
    /// An empty set that remembers at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` is here.
    pub fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    /// Remember `key`, forgetting the oldest past the capacity.
    pub fn insert(&mut self, key: &str) {
        if self.set.insert(key.to_owned()) {
            self.order.push_back(key.to_owned());
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keys_are_bounded() {
        let mut recent = Recent::new(3);
        for i in 0..=3 {
            recent.insert(&i.to_string());
        }
        assert!(!recent.contains("0"));
        assert!(recent.contains("1") && recent.contains("3"));
        assert_eq!(recent.order.len(), 3);
    }
}
