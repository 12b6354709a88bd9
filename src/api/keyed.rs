//! A map from [`ObjectKey`] to a value that looks keys up by hash and still
//! iterates in key order (etcd's key order).
//!
//! The stores of whole object sets (etcd's, the apiserver's watch cache,
//! the controller manager's informer cache) are read and updated by key far
//! more often than they are created into, deleted from or listed, and a
//! search of an ordered map compares the keys' strings a dozen or more
//! times. Here an update is one hash lookup; only a new or removed key also
//! touches the ordered key set, and a list walks that set.
//!
//! [`LazyKeyedMap`] is the same map for a store that is listed far less
//! often than it is created into (the apiserver's watch cache lists a kind
//! when a watch opens): it keeps no ordered set up to date on every create
//! and delete, only, per kind, a sorted list that the next list of the kind
//! brings up to date, sorting the keys added since and merging them in.

use std::collections::BTreeSet;
use std::ops::Bound;

use super::meta::{Kind, ObjectKey};
use crate::fasthash::HashMap;

#[derive(Debug)]
pub struct KeyedMap<V> {
    values: HashMap<ObjectKey, V>,
    order: BTreeSet<ObjectKey>,
    /// How many keys of each kind (by [`Kind::index`]): a kind's keys are
    /// the run of that many from its least possible key.
    per_kind: [usize; Kind::ALL.len()],
}

/// What a kind with no keys lists from.
static NO_KEYS: BTreeSet<ObjectKey> = BTreeSet::new();

impl<V> Default for KeyedMap<V> {
    fn default() -> Self {
        KeyedMap {
            values: HashMap::default(),
            order: BTreeSet::new(),
            per_kind: [0; Kind::ALL.len()],
        }
    }
}

impl<V> KeyedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&V> {
        self.values.get(key)
    }

    pub fn get_mut(&mut self, key: &ObjectKey) -> Option<&mut V> {
        self.values.get_mut(key)
    }

    pub fn contains_key(&self, key: &ObjectKey) -> bool {
        self.values.contains_key(key)
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: ObjectKey, value: V) -> Option<V> {
        if let Some(slot) = self.values.get_mut(&key) {
            return Some(std::mem::replace(slot, value));
        }
        self.per_kind[key.kind.index()] += 1;
        self.order.insert(key.clone());
        self.values.insert(key, value);
        None
    }

    /// Inserts or replaces, copying the key only when it is new.
    pub fn set(&mut self, key: &ObjectKey, value: V) {
        match self.values.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.per_kind[key.kind.index()] += 1;
                self.order.insert(key.clone());
                self.values.insert(key.clone(), value);
            }
        }
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<V> {
        let v = self.values.remove(key)?;
        self.per_kind[key.kind.index()] -= 1;
        self.order.remove(key);
        Some(v)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &V)> {
        self.order.iter().map(|k| (k, &self.values[k]))
    }

    /// The entries from `from` on, in key order.
    pub fn range_from<'a>(
        &'a self,
        from: &ObjectKey,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a V)> + use<'a, V> {
        self.order
            .range::<ObjectKey, _>((Bound::Included(from), Bound::Unbounded))
            .map(|k| (k, &self.values[k]))
    }

    /// How many entries of one kind there are.
    pub fn count_of_kind(&self, kind: Kind) -> usize {
        self.per_kind[kind.index()]
    }

    /// The entries of one kind, in key order. A kind with none costs no
    /// search (the Priority admission plugin asks for PriorityClasses on
    /// every pod create).
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&ObjectKey, &V)> {
        let n = self.per_kind[kind.index()];
        let (set, from) = if n == 0 {
            (&NO_KEYS, None)
        } else {
            (&self.order, Some(ObjectKey::new(kind, "", "")))
        };
        let range = match &from {
            Some(from) => set.range::<ObjectKey, _>((Bound::Included(from), Bound::Unbounded)),
            None => set.range::<ObjectKey, _>(..),
        };
        range.take(n).map(|k| (k, &self.values[k]))
    }
}

/// The keys of one kind in a [`LazyKeyedMap`].
#[derive(Debug, Default)]
struct KindKeys {
    /// In key order as of the last sort; may still hold keys removed since.
    sorted: Vec<ObjectKey>,
    /// The keys added since the last sort, in insertion order.
    added: Vec<ObjectKey>,
    /// Whether a key of this kind was removed since the last sort (so
    /// `sorted` and `added` may hold removed keys, and a key re-added after
    /// its removal may be in both).
    removed: bool,
    /// How many keys of this kind the map holds.
    count: usize,
}

/// A map from [`ObjectKey`] looked up by hash, whose key order per kind is
/// only sorted when that kind is listed (or when removed keys make up half
/// of what it keeps for the kind, so that a kind never listed does not
/// grow).
#[derive(Debug)]
pub struct LazyKeyedMap<V> {
    values: HashMap<ObjectKey, V>,
    kinds: [KindKeys; Kind::ALL.len()],
}

impl<V> Default for LazyKeyedMap<V> {
    fn default() -> Self {
        LazyKeyedMap {
            values: HashMap::default(),
            kinds: std::array::from_fn(|_| KindKeys::default()),
        }
    }
}

impl<V> LazyKeyedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&V> {
        self.values.get(key)
    }

    pub fn contains_key(&self, key: &ObjectKey) -> bool {
        self.values.contains_key(key)
    }

    /// Inserts or replaces, copying the key only when it is new.
    pub fn set(&mut self, key: &ObjectKey, value: V) {
        match self.values.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.values.insert(key.clone(), value);
                let k = &mut self.kinds[key.kind.index()];
                k.count += 1;
                k.added.push(key.clone());
            }
        }
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<V> {
        let v = self.values.remove(key)?;
        let i = key.kind.index();
        let k = &mut self.kinds[i];
        k.count -= 1;
        k.removed = true;
        // Removed keys linger in the lists until the next sort: sort when
        // they are as many as the live ones.
        if k.sorted.len() + k.added.len() >= 2 * k.count + 64 {
            self.sort_kind(i);
        }
        Some(v)
    }

    /// How many entries of one kind there are.
    pub fn count_of_kind(&self, kind: Kind) -> usize {
        self.kinds[kind.index()].count
    }

    /// Brings kind `i`'s sorted list up to date: the removed keys dropped,
    /// the added ones sorted and merged in, each key once.
    fn sort_kind(&mut self, i: usize) {
        let values = &self.values;
        let k = &mut self.kinds[i];
        if k.removed {
            k.sorted.retain(|key| values.contains_key(key));
            k.added.retain(|key| values.contains_key(key));
        }
        if !k.added.is_empty() {
            k.added.sort_unstable();
            if k.sorted.is_empty() {
                std::mem::swap(&mut k.sorted, &mut k.added);
            } else {
                let old = std::mem::take(&mut k.sorted);
                let mut merged = Vec::with_capacity(old.len() + k.added.len());
                let mut a = old.into_iter().peekable();
                let mut b = k.added.drain(..).peekable();
                while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
                    match x.cmp(y) {
                        std::cmp::Ordering::Less => merged.extend(a.next()),
                        std::cmp::Ordering::Greater => merged.extend(b.next()),
                        std::cmp::Ordering::Equal => {
                            // Removed and added again: one key.
                            merged.extend(a.next());
                            b.next();
                        }
                    }
                }
                merged.extend(a);
                merged.extend(b);
                k.sorted = merged;
            }
        }
        if k.removed {
            // A key removed and re-added more than once was in `added`
            // as many times.
            k.sorted.dedup();
            k.removed = false;
        }
        debug_assert_eq!(k.sorted.len(), k.count);
    }

    /// The entries of one kind, in key order (sorting the kind's keys first
    /// if any were added or removed since it was last sorted).
    pub fn of_kind(&mut self, kind: Kind) -> impl Iterator<Item = (&ObjectKey, &V)> {
        let i = kind.index();
        if self.kinds[i].removed || !self.kinds[i].added.is_empty() {
            self.sort_kind(i);
        }
        let values = &self.values;
        self.kinds[i].sorted.iter().map(move |k| (k, &values[k]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The `i`th key of a scrambled sequence over three kinds, two
    /// namespaces and `names` names.
    fn scrambled_key(i: u32, names: u32) -> ObjectKey {
        let kind = [Kind::Pod, Kind::Node, Kind::Service][(i % 3) as usize];
        ObjectKey::new(
            kind,
            ["b", "a"][(i % 2) as usize],
            &format!("n{}", (i * 7919) % names),
        )
    }

    #[test]
    fn behaves_as_an_ordered_map() {
        // The same operations on a BTreeMap and a KeyedMap give the same
        // contents, in the same order, whatever the insertion order.
        let mut a: BTreeMap<ObjectKey, u32> = BTreeMap::new();
        let mut b: KeyedMap<u32> = KeyedMap::new();
        let key = |i: u32| scrambled_key(i, 101);
        for i in 0..400u32 {
            let k = key(i);
            match i % 5 {
                0..=2 => assert_eq!(a.insert(k.clone(), i), b.insert(k, i)),
                3 => assert_eq!(a.remove(&k), b.remove(&k)),
                4 if i % 2 == 0 => {
                    a.insert(k.clone(), i);
                    b.set(&k, i);
                }
                _ => {
                    if let (Some(x), Some(y)) = (a.get_mut(&k), b.get_mut(&k)) {
                        *x += 1;
                        *y += 1;
                    }
                }
            }
            assert_eq!(a.len(), b.len());
        }
        let (ea, eb): (Vec<_>, Vec<_>) = (a.iter().collect(), b.iter().collect());
        assert_eq!(ea, eb);
        for kind in Kind::ALL {
            let of_a: Vec<_> = a.iter().filter(|(k, _)| k.kind == kind).collect();
            let of_b: Vec<_> = b.of_kind(kind).collect();
            assert_eq!(of_a, of_b);
            assert_eq!(b.count_of_kind(kind), of_a.len());
        }
        let from = ObjectKey::new(Kind::Service, "a", "n5");
        let tail_a: Vec<_> = a.range(from.clone()..).collect();
        let tail_b: Vec<_> = b.range_from(&from).collect();
        assert_eq!(tail_a, tail_b);
    }

    #[test]
    fn the_lazy_map_lists_as_an_ordered_map() {
        // Creates, deletes, re-creates and replacements in a scrambled
        // order, listed now and then: every list is the ordered map's.
        let mut a: BTreeMap<ObjectKey, u32> = BTreeMap::new();
        let mut b: LazyKeyedMap<u32> = LazyKeyedMap::new();
        let key = |i: u32| scrambled_key(i, 211);
        for i in 0..5000u32 {
            let k = key(i);
            match i % 7 {
                0..=3 => {
                    a.insert(k.clone(), i);
                    b.set(&k, i);
                }
                4 | 5 => assert_eq!(a.remove(&k), b.remove(&k)),
                _ => assert_eq!(a.get(&k), b.get(&k)),
            }
            assert_eq!(a.len(), b.len());
            if i % 97 == 0 || i > 4900 {
                for kind in Kind::ALL {
                    let of_a: Vec<_> = a.iter().filter(|(k, _)| k.kind == kind).collect();
                    let of_b: Vec<_> = b.of_kind(kind).collect();
                    assert_eq!(of_a, of_b);
                    assert_eq!(b.count_of_kind(kind), of_a.len());
                }
            }
        }
        // A kind never listed keeps no more than about twice its keys.
        let mut c: LazyKeyedMap<u32> = LazyKeyedMap::new();
        for i in 0..10_000u32 {
            let k = ObjectKey::new(Kind::Pod, "a", &format!("p{i}"));
            c.set(&k, i);
            if i >= 10 {
                c.remove(&ObjectKey::new(Kind::Pod, "a", &format!("p{}", i - 10)));
            }
        }
        let kept = &c.kinds[Kind::Pod.index()];
        assert!(kept.sorted.len() + kept.added.len() <= 2 * 10 + 64);
        let names: Vec<String> = c
            .of_kind(Kind::Pod)
            .map(|(k, _)| k.name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "p9990", "p9991", "p9992", "p9993", "p9994", "p9995", "p9996", "p9997", "p9998",
                "p9999"
            ]
        );
    }
}
