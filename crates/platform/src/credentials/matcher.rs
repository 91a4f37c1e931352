//! The credential patterns of a scope compiled once into a trie of folded field names, so that
//! finding the credential fields of a tree is one walk of it, and asking whether a pointer may
//! hold one is one walk of the pointer.
//!
//! Every key is folded once ([`fold`]) and compared by equality with the trie's names, instead
//! of once per pattern and alternative ([`super::folds_to`]). The results are the pattern walk's
//! exactly: the tests below compare both on generated trees and pointers.

use std::borrow::Cow;

use serde_json::Value;

use super::{Pattern, ANY_DEPTH};
use crate::pointer;

/// Returns `key` as Go's `encoding/json` folds it to compare with an ASCII field name: ASCII
/// letters lower-cased, the Kelvin sign (U+212A) as `k` and the long s (U+017F) as `s`; `None`
/// when another non-ASCII character makes it equal to no ASCII name.
pub(crate) fn fold(key: &str) -> Option<Cow<'_, str>> {
    // The common case: a key already as the platform spells its fields.
    if is_folded(key.as_bytes()) {
        return Some(Cow::Borrowed(key));
    }
    if key.is_ascii() {
        return Some(Cow::Owned(key.to_ascii_lowercase()));
    }
    key.chars()
        .map(|c| match c {
            '\u{212A}' => Some('k'),
            '\u{017F}' => Some('s'),
            c if c.is_ascii() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect::<Option<String>>()
        .map(Cow::Owned)
}

/// Whether `key` is ASCII with no upper-case letter, so that it folds to itself: eight bytes
/// at a time, since every key of every tree walked is asked (most are short and lower-case).
fn is_folded(key: &[u8]) -> bool {
    let mut chunks = key.chunks_exact(8);
    let whole = chunks.by_ref().all(|chunk| {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        word_is_folded(u64::from_le_bytes(bytes))
    });
    // The last bytes as one word, padded with zeros (neither high nor upper-case).
    let last = chunks
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |word, &b| (word << 8) | u64::from(b));
    whole && word_is_folded(last)
}

/// Whether eight bytes are ASCII with no upper-case letter.
fn word_is_folded(x: u64) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Each byte below 0x80: adding 0x3F sets its high bit from `A` (0x41) on, adding 0x25
    // from past `Z` (0x5B) on, and neither carries into the next byte.
    let from_a = x.wrapping_add(0x3F3F_3F3F_3F3F_3F3F);
    let past_z = x.wrapping_add(0x2525_2525_2525_2525);
    x & HIGH == 0 && from_a & !past_z & HIGH == 0
}

/// The bit of [`Matcher::lengths`] for a name of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// What a walk calls at each value: the matcher, the value's path, its map key, the value,
/// the trie's nodes it reaches, and whether its key is a name matched anywhere.
trait Visit<'a>: FnMut(&Matcher, &Path<'a>, Option<&str>, &'a Value, &[usize], bool) {}

impl<'a, F: FnMut(&Matcher, &Path<'a>, Option<&str>, &'a Value, &[usize], bool)> Visit<'a> for F {}

/// One key on the way from the root of a walk: a map key or a list index.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    Name(&'a str),
    Index(usize),
}

/// The keys from the root of a walk to a value: made into a pointer only for the values a walk
/// reports, since it visits every value of a tree.
#[derive(Debug)]
pub(crate) struct Path<'a> {
    keys: Vec<Key<'a>>,
}

impl Path<'_> {
    /// Returns the JSON pointer of the value.
    pub(crate) fn pointer(&self) -> String {
        let mut at = String::new();
        for key in &self.keys {
            match key {
                Key::Name(name) => pointer::push(&mut at, name),
                Key::Index(i) => pointer::push(&mut at, &i.to_string()),
            }
        }
        at
    }
}

/// Where the walk of a pointer's keys is after a key ([`OnPaths`]): where the key's text ends
/// in the pointer; whether it is at or below a credential's place (whatever keys follow);
/// else the trie's nodes it reaches, `nodes[from..to]` of [`OnPaths`], and whether a pattern of
/// fixed places still fits.
#[derive(Debug, Clone, Copy)]
struct After {
    end: usize,
    found: bool,
    fixed: bool,
    from: usize,
    to: usize,
}

/// [`Matcher::on_path`] for pointers asked one after the other, such as a plan's changes, which
/// come in tree order: the keys a pointer shares with the one asked before it (its text up to a
/// `/`) are not split, unescaped and walked again. The nodes each key reaches are kept in one
/// list, cut back with the keys: asking allocates nothing once the lists have grown.
#[derive(Debug)]
pub(crate) struct OnPaths<'m> {
    matcher: &'m Matcher,
    /// The pointer asked before.
    before: String,
    /// Where the walk is before the first key.
    start: After,
    /// Where the walk is after each key of `before` walked (none after a key that found a
    /// place: the keys after it change nothing).
    walked: Vec<After>,
    /// The trie's nodes reached: the root's, then each key's of `walked` in turn.
    nodes: Vec<usize>,
}

impl<'m> OnPaths<'m> {
    pub(crate) fn new(matcher: &'m Matcher) -> OnPaths<'m> {
        let root = &matcher.nodes[0];
        let fixed = !root.ends.is_empty() || root.any.is_some() || !root.names.is_empty();
        OnPaths {
            matcher,
            before: String::new(),
            start: After {
                end: 0,
                found: false,
                fixed,
                from: 0,
                to: 1,
            },
            walked: Vec::new(),
            nodes: vec![0],
        }
    }

    /// [`Matcher::on_path`] of `at`.
    pub(crate) fn on_path(&mut self, at: &str) -> Option<bool> {
        if !at.is_empty() && !at.starts_with('/') {
            return None;
        }
        let same = at
            .bytes()
            .zip(self.before.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        // A key is shared when its text, and the `/` or the end after it, are.
        let shared = self
            .walked
            .iter()
            .take_while(|a| a.end <= same && (a.end == at.len() || at.as_bytes()[a.end] == b'/'))
            .count();
        self.walked.truncate(shared);
        let mut after = self.walked.last().copied().unwrap_or(self.start);
        // The nodes of the keys no longer walked were the last ones.
        self.nodes.truncate(after.to.max(self.start.to));
        let answer = loop {
            if after.found || after.end == at.len() {
                break after.found || after.fixed;
            }
            // `at[end]` is the `/` before the next key.
            let rest = &at[after.end + 1..];
            let key = rest.split('/').next().unwrap_or_default();
            let Some(unescaped) = pointer::unescape(key) else {
                self.before.clear();
                self.walked.clear();
                self.nodes.truncate(self.start.to);
                return None;
            };
            after = self.after_key(after, &unescaped, after.end + 1 + key.len());
            self.walked.push(after);
        };
        self.before.clear();
        self.before.push_str(at);
        Some(answer)
    }

    /// Where the walk is after `key`, whose text ends at `end`, from where it was before it;
    /// the nodes it reaches are added to `nodes`.
    fn after_key(&mut self, before: After, key: &str, end: usize) -> After {
        let m = self.matcher;
        let len = self.nodes.len();
        let mut after = After {
            end,
            found: false,
            fixed: false,
            from: len,
            to: len,
        };
        let folded = m.folded(key);
        let states = before.from..before.to;
        if before.found
            || m.anywhere(folded.as_deref())
            || (before.fixed
                && self.nodes[states.clone()]
                    .iter()
                    .any(|&s| !m.nodes[s].ends.is_empty()))
        {
            after.found = true;
            return after;
        }
        if !before.fixed {
            // No pattern of fixed places fits; a name anywhere still may.
            return after;
        }
        for at in states {
            let s = self.nodes[at];
            if let Some(f) = folded.as_deref() {
                self.nodes.extend(m.edge(s, f));
            }
            self.nodes.extend(m.nodes[s].any);
        }
        after.to = self.nodes.len();
        after.fixed = after.to > after.from;
        after
    }
}

/// What a walk of a tree visits ([`Matcher::walk`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Every value.
    All,
    /// The values on the way to a place a pattern may match: where no node is reached and
    /// there are no names matched anywhere, nothing below.
    Matched,
    /// As `Matched`, a list's items matched also by the patterns that matched the list.
    ThroughLists,
}

/// One node of the trie: the names that lead on from it, the edge `*` takes, and the patterns
/// (by index) that end here.
#[derive(Debug, Default)]
struct Node {
    names: Vec<(&'static str, usize)>,
    any: Option<usize>,
    ends: Vec<usize>,
}

/// The credential patterns of one scope: a trie of the patterns of fixed places, and the names
/// that are a credential at any depth (`**/name`).
#[derive(Debug)]
pub(crate) struct Matcher {
    nodes: Vec<Node>,
    anywhere: Vec<&'static str>,
    /// The lengths of the names of `nodes` and `anywhere`: bit `n` for a name of `n` bytes,
    /// bit 63 for any of 63 or more.
    lengths: u64,
}

impl Matcher {
    /// Compiles `patterns`. A pattern starting with `**` must be `**/names` (its names go to
    /// the names matched anywhere); every name must be lower-case ASCII, as the platform's
    /// field names are.
    pub(crate) fn new(patterns: &[Pattern]) -> Matcher {
        let mut matcher = Matcher {
            nodes: vec![Node::default()],
            anywhere: Vec::new(),
            lengths: 0,
        };
        for (index, pattern) in patterns.iter().enumerate() {
            match pattern.as_slice() {
                [first, names] if first.as_slice() == [ANY_DEPTH] => {
                    matcher.anywhere.extend(names.iter().copied());
                }
                _ => matcher.insert(0, pattern, index),
            }
        }
        let names = matcher
            .nodes
            .iter()
            .flat_map(|n| n.names.iter().map(|(name, _)| *name));
        matcher.lengths = names
            .chain(matcher.anywhere.iter().copied())
            .fold(0, |lengths, name| lengths | length_bit(name.len()));
        matcher
    }

    /// `key` folded ([`fold`]) when it may be one of the names; `None` when it may not: an
    /// ASCII key folds to a name of its own length, and none of the names may be that long.
    /// A key that is no name reaches what no key does (a list index aside), so most keys of a
    /// tree need not be folded.
    fn folded<'k>(&self, key: &'k str) -> Option<Cow<'k, str>> {
        let may_name = self.lengths & length_bit(key.len()) != 0 || !key.is_ascii();
        may_name.then(|| fold(key)).flatten()
    }

    /// Adds `pattern` (the `index`th) below node `at`, one path per alternative.
    fn insert(&mut self, at: usize, pattern: &[Vec<&'static str>], index: usize) {
        let Some((first, rest)) = pattern.split_first() else {
            self.nodes[at].ends.push(index);
            return;
        };
        for name in first {
            let next = if *name == "*" {
                self.nodes[at].any
            } else {
                self.edge(at, name)
            };
            let next = next.unwrap_or_else(|| {
                self.nodes.push(Node::default());
                let new = self.nodes.len() - 1;
                if *name == "*" {
                    self.nodes[at].any = Some(new);
                } else {
                    self.nodes[at].names.push((name, new));
                }
                new
            });
            self.insert(next, rest, index);
        }
    }

    fn edge(&self, at: usize, folded: &str) -> Option<usize> {
        self.nodes[at]
            .names
            .iter()
            .find(|(name, _)| *name == folded)
            .map(|(_, next)| *next)
    }

    /// Pushes onto `next` the nodes reached from `states` by a key folded to `folded` (`None`:
    /// a key that is no field name, or a list index when `index`).
    fn step(&self, states: &[usize], folded: Option<&str>, index: bool, next: &mut Vec<usize>) {
        for &s in states {
            if let (false, Some(f)) = (index, folded) {
                next.extend(self.edge(s, f));
            }
            next.extend(self.nodes[s].any);
        }
    }

    /// Whether a key folded to `folded` is a credential at any depth.
    fn anywhere(&self, folded: Option<&str>) -> bool {
        folded.is_some_and(|f| self.anywhere.contains(&f))
    }

    /// Calls `found` with the pointer and value of every place of `tree` a pattern matches,
    /// in no particular order; a place several patterns match may come more than once.
    ///
    /// A list is looked through: its items are matched by the patterns that matched the list,
    /// as well as by those that take them by `*`. The platform holds no list where a pattern
    /// names a key, but a tree from elsewhere (a baseline, an answer) may, and its credentials
    /// must not hide in it (`{"provisioning": [{"identifier_salt": ...}]}`). Places inside a
    /// place found come too: `outermost` keeps the outer one.
    pub(crate) fn find<'a>(&self, tree: &'a Value, found: &mut impl FnMut(String, &'a Value)) {
        self.walk(
            tree,
            Walk::ThroughLists,
            &mut |this, path, _, value, states, anywhere| {
                if anywhere || states.iter().any(|&s| !this.nodes[s].ends.is_empty()) {
                    found(path.pointer(), value);
                }
            },
        );
    }

    /// Calls `found` with the index of the pattern (of those compiled), the pointer and the
    /// value of every place of `tree` a pattern of fixed places matches, once per pattern, in
    /// tree order.
    pub(crate) fn find_each<'a>(
        &self,
        tree: &'a Value,
        found: &mut impl FnMut(usize, String, &'a Value),
    ) {
        self.walk(
            tree,
            Walk::Matched,
            &mut |this, path, _, value, states, _| {
                for &s in states {
                    for &index in &this.nodes[s].ends {
                        found(index, path.pointer(), value);
                    }
                }
            },
        );
    }

    /// Calls `visit` with every value of `tree` in tree order (the root first): its path (the
    /// pointer, made when asked), its map key (`None` for the root and list items), the value,
    /// and whether a pattern matches it there.
    pub(crate) fn visit<'a>(
        &self,
        tree: &'a Value,
        visit: &mut impl FnMut(&Path<'a>, Option<&str>, &'a Value, bool),
    ) {
        self.walk(
            tree,
            Walk::All,
            &mut |this, path, key, value, states, anywhere| {
                let found = anywhere || states.iter().any(|&s| !this.nodes[s].ends.is_empty());
                visit(path, key, value, found);
            },
        );
    }

    /// Calls `visit` with every value of `tree` (the root first) `how` asks for, its path and
    /// map key, the trie's nodes it reaches, and whether its key is a name matched anywhere.
    fn walk<'a>(&self, tree: &'a Value, how: Walk, visit: &mut impl Visit<'a>) {
        let mut path = Path { keys: Vec::new() };
        visit(self, &path, None, tree, &[0], false);
        self.walk_below(tree, how, &[0], &mut path, &mut Vec::new(), visit);
    }

    /// Walks the values below `value`, reached at `states`. `spare` keeps the lists of nodes
    /// of the levels walked before, for the next levels to fill: a walk visits every value of
    /// a tree, and need not allocate a list for each map.
    fn walk_below<'a>(
        &self,
        value: &'a Value,
        how: Walk,
        states: &[usize],
        path: &mut Path<'a>,
        spare: &mut Vec<Vec<usize>>,
        visit: &mut impl Visit<'a>,
    ) {
        let mut below = Below {
            how,
            states,
            next: spare.pop().unwrap_or_default(),
            spare,
        };
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    below.child(self, Key::Name(key), value, path, visit);
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    below.child(self, Key::Index(i), value, path, visit);
                }
            }
            _ => {}
        }
        let next = std::mem::take(&mut below.next);
        below.spare.push(next);
    }

    /// Whether pointer `at` is at, above or below a place a pattern of fixed places matches,
    /// or one of its keys is a name matched anywhere; `None` if `at` is no valid pointer.
    pub(crate) fn on_path(&self, at: &str) -> Option<bool> {
        OnPaths::new(self).on_path(at)
    }

    /// Whether `value` has a map key matched anywhere, at any depth.
    pub(crate) fn has_key(&self, value: &Value) -> bool {
        match value {
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| self.anywhere(self.folded(k).as_deref()) || self.has_key(v)),
            Value::Array(items) => items.iter().any(|v| self.has_key(v)),
            _ => false,
        }
    }
}

/// The walk of one map or list's values ([`Matcher::walk_below`]).
struct Below<'s, 'w> {
    how: Walk,
    /// The trie's nodes the map or list is reached at.
    states: &'s [usize],
    /// The nodes its value being walked reaches.
    next: Vec<usize>,
    spare: &'w mut Vec<Vec<usize>>,
}

impl Below<'_, '_> {
    fn child<'a>(
        &mut self,
        matcher: &Matcher,
        key: Key<'a>,
        child: &'a Value,
        path: &mut Path<'a>,
        visit: &mut impl Visit<'a>,
    ) {
        let name = match key {
            Key::Name(name) => Some(name),
            Key::Index(_) => None,
        };
        let folded = name.and_then(|n| matcher.folded(n));
        let folded = folded.as_deref();
        let next = &mut self.next;
        next.clear();
        matcher.step(self.states, folded, name.is_none(), next);
        if name.is_none() && self.how == Walk::ThroughLists {
            // Each node once: lists in lists would otherwise add a node again per level.
            for &s in self.states {
                if !next.contains(&s) {
                    next.push(s);
                }
            }
        }
        path.keys.push(key);
        let anywhere = matcher.anywhere(folded);
        visit(matcher, path, name, child, next, anywhere);
        // A name matched anywhere may be below any node.
        let below = self.how == Walk::All || !next.is_empty() || !matcher.anywhere.is_empty();
        if below && matches!(child, Value::Object(_) | Value::Array(_)) {
            matcher.walk_below(child, self.how, next, path, self.spare, visit);
        }
        path.keys.pop();
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
