//! A map from [`ObjectKey`] to a value that looks keys up by hash and still
//! iterates in key order (etcd's key order).
//!
//! The stores of whole object sets (etcd's, the apiserver's watch cache,
//! the controller manager's informer cache) are read and updated by key far
//! more often than they are created into, deleted from or listed, and a
//! search of an ordered map compares the keys' strings a dozen or more
//! times. Here an update is one hash lookup; only a new or removed key also
//! touches the ordered key set, and a list walks that set.

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_an_ordered_map() {
        // The same operations on a BTreeMap and a KeyedMap give the same
        // contents, in the same order, whatever the insertion order.
        let mut a: BTreeMap<ObjectKey, u32> = BTreeMap::new();
        let mut b: KeyedMap<u32> = KeyedMap::new();
        let key = |i: u32| {
            let kind = [Kind::Pod, Kind::Node, Kind::Service][(i % 3) as usize];
            ObjectKey::new(
                kind,
                ["b", "a"][(i % 2) as usize],
                &format!("n{}", (i * 7919) % 101),
            )
        };
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
}
