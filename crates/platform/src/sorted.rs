//! Looking up one sorted map's keys in another, in order.

use std::cmp::Ordering;
use std::iter::Peekable;

/// The entries of a map sorted by key (a `BTreeMap`, or serde_json's `Map` without
/// `preserve_order`), looked up in increasing order of key by walking on, not from the root:
/// a walk of two trees side by side asks for each key of one in the other, in order.
pub struct Ahead<I: Iterator> {
    entries: Peekable<I>,
}

impl<'m, V: 'm, I: Iterator<Item = (&'m String, &'m V)>> Ahead<I> {
    /// Walks `entries`, in increasing order of key.
    pub fn new(entries: I) -> Ahead<I> {
        Ahead {
            entries: entries.peekable(),
        }
    }

    /// The entry of `key` when it is ahead: `None` when the map has none, and also when it was
    /// passed by a key asked before that came after it (asked out of order), so a caller whose
    /// keys may come in any order looks `None`s up.
    pub fn find(&mut self, key: &str) -> Option<(&'m String, &'m V)> {
        // One comparison per entry passed or found.
        while let Some((k, _)) = self.entries.peek() {
            match k.as_str().cmp(key) {
                Ordering::Less => {
                    self.entries.next();
                }
                Ordering::Equal => return self.entries.next(),
                Ordering::Greater => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_asked_in_order_are_found_and_those_passed_are_not() {
        let map: BTreeMap<String, u8> = [("a", 1), ("c", 3), ("e", 5)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let mut ahead = Ahead::new(map.iter());
        assert_eq!(ahead.find("a").map(|e| *e.1), Some(1));
        assert_eq!(ahead.find("b"), None);
        assert_eq!(ahead.find("e").map(|e| *e.1), Some(5));
        // Passed: asked after "e".
        assert_eq!(ahead.find("c"), None);
        assert_eq!(ahead.find("z"), None);
    }
}
