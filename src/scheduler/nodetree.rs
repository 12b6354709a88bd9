//! The order in which the scheduler visits nodes: upstream's node tree
//! (`pkg/scheduler/backend/cache/node_tree.go`). Nodes are grouped by
//! zone (region and zone labels), zones in the order their first node
//! came, nodes within a zone in the order they came; the visiting order
//! takes one node from each zone in turn, so a cycle that stops after a
//! part of the nodes (percentageOfNodesToScore) has seen every zone. The
//! scheduler's snapshot rebuilds its node list from the tree only when a
//! node was added or removed (`UpdateSnapshot`'s `updateAllLists`), so a
//! node whose zone label changes moves in the tree at once but in the
//! visiting order only at the next addition or removal.

use crate::api::node::Node;

/// The zone labels: the beta ones (`failure-domain.beta...`), read first
/// as upstream reads them, and the GA ones read when they are missing.
const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";
const BETA_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
const BETA_REGION: &str = "failure-domain.beta.kubernetes.io/region";

/// A node's zone key (upstream's `GetZoneKey`): region and zone joined
/// by `":\0:"`, or empty when the node has neither label.
pub fn zone_key(node: &Node) -> String {
    let labels = &node.metadata.labels;
    let label = |key: &str, beta: &str| {
        labels
            .get(beta)
            .or_else(|| labels.get(key))
            .map_or("", String::as_str)
            .to_owned()
    };
    let zone = label(ZONE, BETA_ZONE);
    let region = label(REGION, BETA_REGION);
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// Nodes (any identifier: the scheduler's node indices) by zone.
#[derive(Debug, Default)]
pub struct NodeTree<T> {
    /// Each zone's key and its nodes, zones in the order they came.
    zones: Vec<(String, Vec<T>)>,
    len: usize,
}

impl<T: Copy + PartialEq> NodeTree<T> {
    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No node.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `node` at the end of its zone (a new zone comes last).
    pub fn add(&mut self, zone: &str, node: T) {
        match self.zones.iter_mut().find(|(z, _)| z == zone) {
            Some((_, nodes)) => {
                if nodes.contains(&node) {
                    return;
                }
                nodes.push(node);
            }
            None => self.zones.push((zone.to_owned(), vec![node])),
        }
        self.len += 1;
    }

    /// Removes `node` from `zone`, keeping the order of the others; a zone
    /// left empty goes.
    pub fn remove(&mut self, zone: &str, node: T) {
        let Some(z) = self.zones.iter().position(|(k, _)| k == zone) else {
            return;
        };
        let nodes = &mut self.zones[z].1;
        let Some(i) = nodes.iter().position(|&n| n == node) else {
            return;
        };
        nodes.remove(i);
        self.len -= 1;
        if nodes.is_empty() {
            self.zones.remove(z);
        }
    }

    /// The visiting order: the first node of each zone in zone order, then
    /// the second of each, and so on, skipping zones that have run out.
    pub fn list(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for k in 0.. {
            let before = out.len();
            for (_, nodes) in &self.zones {
                if let Some(&n) = nodes.get(k) {
                    out.push(n);
                }
            }
            if out.len() == before {
                break;
            }
        }
        out
    }
}

/// `items` (nodes, in the order they came) in the tree's visiting order:
/// added in that order, they make the same tree, and each one's place in
/// the visiting order is its place among them.
pub fn in_tree_order<I>(items: Vec<I>, zone: impl Fn(&I) -> String) -> Vec<I> {
    let mut tree = NodeTree::default();
    for (k, item) in items.iter().enumerate() {
        tree.add(&zone(item), k);
    }
    let order = tree.list();
    if order.len() != items.len() || order.iter().enumerate().all(|(k, &i)| k == i) {
        return items;
    }
    let mut slots: Vec<Option<I>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|k| slots[k].take().expect("each place once"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_take_turns_in_the_order_they_came() {
        let mut t = NodeTree::default();
        for (zone, n) in [("a", 0), ("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)] {
            t.add(zone, n);
        }
        t.add("a", 1);
        assert_eq!(t.len(), 6);
        assert_eq!(t.list(), [0, 2, 4, 1, 5, 3]);
        // A removal keeps the others' order; an emptied zone goes, and a
        // node of it that comes back comes last.
        t.remove("c", 4);
        t.remove("a", 1);
        assert_eq!(t.list(), [0, 2, 3, 5]);
        t.add("c", 4);
        assert_eq!(t.list(), [0, 2, 4, 3, 5]);
        t.remove("x", 0);
        t.remove("a", 9);
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn items_in_tree_order_make_the_same_tree() {
        let items = ["a0", "a1", "b0", "a2", "c0", "b1"];
        let zone = |s: &&str| s[..1].to_string();
        let ordered = in_tree_order(items.to_vec(), zone);
        assert_eq!(ordered, ["a0", "b0", "c0", "a1", "b1", "a2"]);
        // Added in that order, the visiting order is the order they came.
        let mut t = NodeTree::default();
        for (k, item) in ordered.iter().enumerate() {
            t.add(&zone(item), k);
        }
        assert_eq!(t.list(), (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn the_zone_key_joins_region_and_zone() {
        let node = |labels: &[(&str, &str)]| {
            let mut n = Node::default();
            n.metadata.labels = std::sync::Arc::new(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            n
        };
        assert_eq!(zone_key(&node(&[])), "");
        assert_eq!(zone_key(&node(&[(ZONE, "z")])), ":\0:z");
        assert_eq!(
            zone_key(&node(&[(REGION, "r"), (BETA_ZONE, "z")])),
            "r:\0:z"
        );
        assert_eq!(
            zone_key(&node(&[
                (ZONE, "z"),
                (BETA_ZONE, "old"),
                (BETA_REGION, "r")
            ])),
            "r:\0:old"
        );
    }
}
