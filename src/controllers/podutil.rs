//! Pod helpers the workload controllers share (upstream
//! `pkg/controller/controller_utils.go` and `pkg/api/v1/pod`): which pods
//! are active and available, the order in which a controller deletes pods
//! when scaling down, and the pod a template stamps out.

use crate::fasthash::HashMap;
use std::cmp::Ordering;

use crate::api::meta::OwnerReference;
use crate::api::pod::{PodConditionType, PodPhase};
use crate::api::workloads::PodTemplateSpec;
use crate::api::{Kind, ObjectMeta, Pod};
use crate::engine::{SECOND, Time};

/// `controller.kubernetes.io/pod-deletion-cost`.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Upstream `IsPodActive`: not terminal and not being deleted.
pub fn is_active(p: &Pod) -> bool {
    !p.status.phase.is_terminal() && p.metadata.deletion_timestamp.is_none()
}

/// A pod's (active, ready) count before and after a watch event, for the
/// rollout tracker: terminal and terminating pods count for nothing.
pub fn counts_across(
    kind: crate::etcd::EventType,
    obj: &crate::api::Object,
    old: Option<&crate::api::Object>,
) -> ((i64, i64), (i64, i64)) {
    let count = |o: Option<&crate::api::Object>| {
        o.and_then(crate::api::Object::as_pod)
            .filter(|p| is_active(p))
            .map_or((0, 0), |p| (1, i64::from(p.status.is_ready())))
    };
    let after = if kind == crate::etcd::EventType::Deleted {
        (0, 0)
    } else {
        count(Some(obj))
    };
    (count(old), after)
}

/// When the pod became Ready, if it is.
pub fn ready_since(p: &Pod) -> Option<Time> {
    p.status
        .condition(PodConditionType::Ready)
        .filter(|c| c.status)
        .map(|c| c.last_transition)
}

/// Upstream `IsPodAvailable`: Ready for at least `min_ready_seconds`.
pub fn is_available(p: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    ready_since(p).is_some_and(|t| t + Time::from(min_ready_seconds.max(0) as u32) * SECOND <= now)
}

/// When a Ready pod that is not available yet becomes available.
pub fn available_at(p: &Pod, min_ready_seconds: i32) -> Option<Time> {
    ready_since(p).map(|t| t + Time::from(min_ready_seconds.max(0) as u32) * SECOND)
}

fn phase_rank(p: PodPhase) -> u8 {
    match p {
        PodPhase::Pending => 0,
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        _ => 3,
    }
}

fn deletion_cost(p: &Pod) -> i64 {
    p.metadata
        .annotations
        .get(POD_DELETION_COST)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What upstream `ActivePodsWithRanks.Less` compares of a pod, read once:
/// a sort compares each pod many times, and reading the conditions and
/// the deletion-cost annotation at every comparison was most of a
/// scale-down's cost.
struct DeletionKey {
    assigned: bool,
    phase: u8,
    ready: bool,
    cost: i64,
    rank: usize,
    ready_since: Option<Time>,
    created: Option<Time>,
    uid: u64,
}

impl DeletionKey {
    fn of(p: &Pod, rank: usize) -> DeletionKey {
        DeletionKey {
            assigned: p.spec.node_name().is_some(),
            phase: phase_rank(p.status.phase),
            ready: p.status.is_ready(),
            cost: deletion_cost(p),
            rank,
            ready_since: ready_since(p),
            created: p.metadata.creation_timestamp,
            uid: p.metadata.uid,
        }
    }

    /// `ActivePodsWithRanks.Less`: the pod to delete first sorts first.
    /// `rank` is the number of related pods on the same node.
    fn order(&self, b: &DeletionKey) -> Ordering {
        let a = self;
        // 1. Unassigned before assigned.
        (a.assigned.cmp(&b.assigned))
            // 2. Pending < Unknown < Running.
            .then(a.phase.cmp(&b.phase))
            // 3. Not ready before ready.
            .then(a.ready.cmp(&b.ready))
            // 4. Lower pod-deletion-cost first.
            .then(a.cost.cmp(&b.cost))
            // 5. Doubled-up pods (higher rank) first.
            .then(b.rank.cmp(&a.rank))
            // 6. Ready for a shorter time first.
            .then_with(|| match (a.ready_since, b.ready_since) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            })
            // 7. (Container restarts are not modelled.) 8. Newer first.
            .then(b.created.cmp(&a.created))
            .then(b.uid.cmp(&a.uid))
    }
}

/// Sorts pods for deletion, ranking each by the pods of the list on its node.
pub fn sort_for_deletion(pods: &mut [&Pod]) {
    let n = pods.len();
    sort_first_for_deletion(pods, n);
}

/// Puts the `n` pods to delete first at the front, in order (the rest in
/// no particular order). Each pod's key is read once; the pods are then
/// ordered by their keys.
pub fn sort_first_for_deletion(pods: &mut [&Pod], n: usize) {
    if n == 0 {
        return;
    }
    let mut per_node: HashMap<&str, usize> = HashMap::default();
    for p in pods.iter() {
        if let Some(n) = p.spec.node_name() {
            *per_node.entry(n).or_default() += 1;
        }
    }
    let mut keyed: Vec<(DeletionKey, &Pod)> = pods
        .iter()
        .map(|&p| {
            let rank = p.spec.node_name().map_or(0, |n| per_node[n]);
            (DeletionKey::of(p, rank), p)
        })
        .collect();
    let order = |a: &(DeletionKey, &Pod), b: &(DeletionKey, &Pod)| a.0.order(&b.0);
    if n < keyed.len() {
        keyed.select_nth_unstable_by(n - 1, order);
    }
    keyed[..n].sort_by(order);
    for (slot, (_, p)) in pods.iter_mut().zip(keyed) {
        *slot = p;
    }
}

/// An owner reference with `controller: true` to a workload.
pub fn controller_ref(kind: Kind, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: kind.api_version().into(),
        kind: kind.as_str().into(),
        name: owner.name.to_string(),
        uid: owner.uid.to_string(),
        controller: Some(true),
    }
}

/// A pod from a template, controlled by `owner`; named `name` or, when
/// empty, generated from `<owner>-`.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    kind: Kind,
    owner: &ObjectMeta,
    name: &str,
) -> Pod {
    pod_with_parts(
        template,
        &SharedParts::new(template, kind, owner),
        owner,
        name,
    )
}

/// What every pod built from one template by one owner shares: the spec
/// and the owner reference, copied once. A pod's spec is only copied when
/// it is written (the apiserver copies it only if defaulting changes it).
pub struct SharedParts {
    spec: std::sync::Arc<crate::api::pod::PodSpec>,
    owner_references: std::sync::Arc<Vec<OwnerReference>>,
    /// `<owner>-`, the generateName of the pods given no name.
    generate_name: crate::api::Text,
}

impl SharedParts {
    pub fn new(template: &PodTemplateSpec, kind: Kind, owner: &ObjectMeta) -> Self {
        SharedParts {
            spec: std::sync::Arc::new(template.spec.clone()),
            owner_references: std::sync::Arc::new(vec![controller_ref(kind, owner)]),
            generate_name: format!("{}-", owner.name).into(),
        }
    }
}

/// [`pod_from_template`] with the parts shared by the owner's pods.
pub fn pod_with_parts(
    template: &PodTemplateSpec,
    parts: &SharedParts,
    owner: &ObjectMeta,
    name: &str,
) -> Pod {
    Pod {
        metadata: ObjectMeta::created_with(
            name.into(),
            if name.is_empty() {
                parts.generate_name.clone()
            } else {
                Default::default()
            },
            owner.namespace.clone(),
            template.metadata.labels.clone(),
            template.metadata.annotations.clone(),
            parts.owner_references.clone(),
        ),
        spec: parts.spec.clone(),
        status: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: PodPhase, ready_at: Option<Time>) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.creation_timestamp = Some(0);
        std::sync::Arc::make_mut(&mut p.spec).node_name = node.map(str::to_string);
        p.status.phase = phase;
        if let Some(t) = ready_at {
            p.status.set_condition(PodConditionType::Ready, true, t, "");
        }
        p
    }

    /// Keyed once per pod, the first `n` pods to delete are those the
    /// comparison of the pods themselves puts first, in the same order:
    /// pods of every shape (unassigned, each phase, ready since different
    /// times or not, deletion costs, doubled up on nodes, equal creation
    /// times).
    #[test]
    fn keyed_sort_is_the_pods_own_order() {
        let mut x: u64 = 7;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let phases = [PodPhase::Pending, PodPhase::Running, PodPhase::Unknown];
        let pods: Vec<Pod> = (0..300u64)
            .map(|i| {
                let node = match next(6) {
                    0 => None,
                    k => Some(format!("n{}", next(k * 3))),
                };
                let ready = (next(3) > 0).then(|| next(5) * SECOND);
                let mut p = pod(
                    &format!("p{i}"),
                    node.as_deref(),
                    phases[next(3) as usize],
                    ready,
                );
                p.metadata.uid = i;
                p.metadata.creation_timestamp = Some(next(4) * SECOND);
                if next(4) == 0 {
                    std::sync::Arc::make_mut(&mut p.metadata.annotations)
                        .insert(POD_DELETION_COST.into(), format!("{}", next(3) as i64 - 1));
                }
                p
            })
            .collect();
        let all: Vec<&Pod> = pods.iter().collect();
        let mut per_node: HashMap<&str, usize> = HashMap::default();
        for p in &all {
            if let Some(n) = p.spec.node_name() {
                *per_node.entry(n).or_default() += 1;
            }
        }
        let rank = |p: &Pod| p.spec.node_name().map_or(0, |n| per_node[n]);
        for n in [1, 2, 17, 150, 299, 300] {
            let mut want = all.clone();
            // The pods compared themselves, their keys read at every
            // comparison.
            let order = |a: &&Pod, b: &&Pod| {
                DeletionKey::of(a, rank(a)).order(&DeletionKey::of(b, rank(b)))
            };
            if n < want.len() {
                want.select_nth_unstable_by(n - 1, order);
            }
            want[..n].sort_by(order);
            let mut got = all.clone();
            sort_first_for_deletion(&mut got, n);
            let uids = |v: &[&Pod]| v[..n].iter().map(|p| p.metadata.uid).collect::<Vec<_>>();
            assert_eq!(uids(&got), uids(&want), "n {n}");
        }
    }

    #[test]
    fn deletion_order_follows_active_pods_with_ranks() {
        let unassigned = pod("u", None, PodPhase::Pending, None);
        let pending = pod("p", Some("n1"), PodPhase::Pending, None);
        let running = pod("r", Some("n1"), PodPhase::Running, None);
        let ready_new = pod("rn", Some("n2"), PodPhase::Running, Some(10 * SECOND));
        let ready_old = pod("ro", Some("n3"), PodPhase::Running, Some(SECOND));
        let mut v = vec![&ready_old, &ready_new, &running, &pending, &unassigned];
        sort_for_deletion(&mut v);
        let names: Vec<&str> = v.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(names, ["u", "p", "r", "rn", "ro"]);
        // Doubled-up pods go first among otherwise equal ones.
        let a = pod("a", Some("n1"), PodPhase::Running, Some(SECOND));
        let b = pod("b", Some("n1"), PodPhase::Running, Some(SECOND));
        let c = pod("c", Some("n2"), PodPhase::Running, Some(SECOND));
        let mut v = vec![&c, &a, &b];
        sort_for_deletion(&mut v);
        assert_eq!(v[2].metadata.name, "c");
    }
}
