//! De-duplication by event id: the ids of the last K events delivered.

/// The ids of the last `capacity` events delivered (0: de-duplication off): `insert` returns `false` for an id among
/// them, a duplicate. Crate-private, so its examples are the unit tests below (a doctest cannot reach it).
///
/// A ring over a `Vec` (a `VecDeque` would link its own growth code into every app for this alone).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentIds {
    capacity: usize,
    ids: Vec<String>,
    /// Where the next id goes once the ring is full (the oldest one).
    next: usize,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentIds { capacity, ids: Vec::new(), next: 0 }
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
        if self.ids.len() < self.capacity {
            self.ids.push(id.to_owned());
        } else if let Some(oldest) = self.ids.get_mut(self.next) {
            id.clone_into(oldest);
            self.next = (self.next + 1) % self.capacity;
        }
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
    fn the_window_slides_as_the_ring_wraps_around() {
        let mut recent = RecentIds::new(3);
        for n in 1..=8 {
            assert!(recent.insert(&n.to_string()), "{n} is new");
        }
        // The last three are remembered, the older ones are not.
        for n in [6, 7, 8] {
            assert!(!recent.insert(&n.to_string()), "{n} is a duplicate");
        }
        assert!(recent.insert("5"), "5 left the window");
        assert!(!recent.insert("7") && !recent.insert("8") && !recent.insert("5"));
        assert!(recent.insert("6"), "6 left when 5 came back");
    }

    #[test]
    fn capacity_zero_is_off() {
        let mut recent = RecentIds::new(0);
        assert!(recent.insert("1") && recent.insert("1"));
    }
}
