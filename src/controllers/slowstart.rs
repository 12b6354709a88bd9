//! Upstream `slowStartBatch` for controllers that create many pods in one
//! sync: batches of 1, 2, 4, ... creations, each sent once the previous
//! batch has all its answers; an error stops the rest. Plus the
//! expectations that hold a key's next action until the informer has seen
//! what it created and deleted (or 5 minutes pass).

use crate::fasthash::HashMap;
use std::collections::{BTreeSet, VecDeque};

use crate::api::{Object, ObjectKey, Pod};
use crate::engine::{SECOND, Time};
use crate::output::Subject;
use crate::sim::msg::Response;
use crate::sim::{Cx, Verb};

use super::{Client, log};

/// Upstream `ExpectationsTimeout`.
pub const EXPECTATIONS_TIMEOUT: Time = 300 * SECOND;

struct Batch {
    pods: VecDeque<Pod>,
    size: usize,
    outstanding: usize,
    failed: bool,
    total: usize,
}

#[derive(Default)]
struct Expect {
    add: i64,
    del: BTreeSet<u64>,
    at: Time,
}

#[derive(Default)]
pub struct SlowStart {
    batches: HashMap<ObjectKey, Batch>,
    pending: HashMap<u64, ObjectKey>,
    expect: HashMap<ObjectKey, Expect>,
}

impl SlowStart {
    /// Whether `key` may act: no batch in flight and its expectations met.
    pub fn ready(&self, key: &ObjectKey, now: Time) -> bool {
        !self.batches.contains_key(key)
            && self.expect.get(key).is_none_or(|e| {
                (e.add <= 0 && e.del.is_empty()) || now >= e.at + EXPECTATIONS_TIMEOUT
            })
    }

    /// Whether a slow-start run of `key`'s creations is in flight.
    pub fn running(&self, key: &ObjectKey) -> bool {
        self.batches.contains_key(key)
    }

    pub fn forget(&mut self, key: &ObjectKey) {
        self.expect.remove(key);
        self.batches.remove(key);
    }

    /// The informer saw a pod of `key` created (`Some(true)`) or deleted.
    pub fn observed(&mut self, key: &ObjectKey, created: bool, uid: u64) {
        if let Some(e) = self.expect.get_mut(key) {
            if created {
                e.add = (e.add - 1).max(0);
            } else {
                e.del.remove(&uid);
            }
        }
    }

    /// Expects the deletion of these pods.
    pub fn expect_deletions(
        &mut self,
        key: &ObjectKey,
        uids: impl Iterator<Item = u64>,
        now: Time,
    ) {
        let e = self.expect.entry(key.clone()).or_default();
        e.del.extend(uids);
        e.at = now;
    }

    /// Starts creating `pods` for `key`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        id: u8,
        name: &str,
        key: &ObjectKey,
        pods: Vec<Pod>,
        client: &mut Client,
        cx: &mut Cx,
    ) {
        if pods.is_empty() {
            return;
        }
        let e = self.expect.entry(key.clone()).or_default();
        e.add += pods.len() as i64;
        e.at = cx.now();
        let total = pods.len();
        self.batches.insert(
            key.clone(),
            Batch {
                pods: pods.into(),
                size: 1,
                outstanding: 0,
                failed: false,
                total,
            },
        );
        self.next(id, name, key, client, cx);
    }

    fn next(&mut self, id: u8, name: &str, key: &ObjectKey, client: &mut Client, cx: &mut Cx) {
        let Some(b) = self.batches.get_mut(key) else {
            return;
        };
        let n = b.size.min(b.pods.len());
        for _ in 0..n {
            let pod = b.pods.pop_front().expect("counted");
            let tag = client.send(id, cx, Verb::Create(Object::Pod(pod)));
            self.pending.insert(tag, key.clone());
        }
        b.outstanding = n;
        let sent = b.total - b.pods.len();
        log(
            cx,
            "slow-start",
            Subject::from(key),
            name,
            &format!(
                "batch of {n} {} ({sent} of {} sent)",
                if n == 1 { "pod" } else { "pods" },
                b.total
            ),
        );
    }

    /// A create's answer; whether it was one of ours. When a run ends its
    /// key is returned, to be synced again, with whether a creation failed
    /// (which fails the sync).
    pub fn on_response(
        &mut self,
        id: u8,
        name: &str,
        resp: &Response,
        client: &mut Client,
        cx: &mut Cx,
    ) -> Option<Option<(ObjectKey, bool)>> {
        let key = self.pending.remove(&resp.tag)?;
        super::log_pod_done(cx, &key, name, resp);
        let Some(b) = self.batches.get_mut(&key) else {
            return Some(None);
        };
        b.outstanding -= 1;
        if resp.result.is_err() {
            b.failed = true;
            if let Some(e) = self.expect.get_mut(&key) {
                e.add = (e.add - 1).max(0);
            }
        }
        if b.outstanding > 0 {
            return Some(None);
        }
        if b.failed || b.pods.is_empty() {
            let (skipped, failed) = (b.pods.len() as i64, b.failed);
            self.batches.remove(&key);
            if let Some(e) = self.expect.get_mut(&key) {
                e.add = (e.add - skipped).max(0);
            }
            return Some(Some((key, failed)));
        }
        b.size = (b.size * 2).min(b.pods.len());
        self.next(id, name, &key, client, cx);
        Some(None)
    }
}
