//! De-duplication by event id: the ids of the last K events delivered.

use std::collections::VecDeque;

/// The ids of the last `capacity` events delivered (0: de-duplication off).
///
/// ```ignore
/// let mut recent = RecentIds::new(2);
/// assert!(recent.insert("a") && recent.insert("b"));
/// assert!(!recent.insert("a")); // a duplicate
/// ```
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentIds {
    capacity: usize,
    ids: VecDeque<String>,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentIds { capacity, ids: VecDeque::new() }
    }

    /// Records `id` and returns `true`, or returns `false` if it is among the last `capacity` ids (a duplicate).
    /// Always `true` with capacity 0.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.ids.iter().any(|seen| seen == id) {
            return false;
        }
        if self.ids.len() >= self.capacity {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_a_duplicate_within_the_window_only() {
        let mut recent = RecentIds::new(3);
        for id in ["1", "2", "3"] {
            assert!(recent.insert(id));
        }
        assert!(!recent.insert("1") && !recent.insert("3"));
        assert!(recent.insert("4")); // "1" leaves the window
        assert!(recent.insert("1"));
    }

    #[test]
    fn capacity_zero_is_off() {
        let mut recent = RecentIds::new(0);
        assert!(recent.insert("1") && recent.insert("1"));
    }
}
