//! docker, the container runtime of one node: an image cache, image pulls
//! serialized per node (the kubelet's `serializeImagePulls`) following the
//! pull policy, failing for images the scenario marks missing, pod
//! sandboxes with an IP from the node's pod CIDR, container create, start
//! and stop, each taking its own modelled time, and containers that exit by
//! themselves after the run time the kubelet passes on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::api::ObjectKey;
use crate::api::pod::PullPolicy;
use crate::engine::Time;
use crate::output::{Part, Subject};
use crate::sim::msg::{RuntimeCall, RuntimeResult};
use crate::sim::{Cx, Dest, Hop, Msg};

/// The size assumed for an image the scenario's `images:` does not list.
pub const DEFAULT_IMAGE_SIZE: u64 = 50 * 1024 * 1024;

/// What the registry holds: image sizes, and images it does not have.
#[derive(Clone, Debug, Default)]
pub struct ImageCatalog {
    pub sizes: BTreeMap<String, u64>,
    pub missing: BTreeSet<String>,
}

/// A node's container runtime. As a kubelet's (see `Kubelet`), its state
/// is seldom in the cache: the fields most calls read (the index, the
/// sandboxes, the free addresses) come first (`repr(C)`), within the first
/// cache line of a state that starts one.
#[repr(C, align(64))]
pub struct Docker {
    index: u32,
    /// Sandboxes sorted by pod uid (uids grow, so a new one is mostly
    /// appended): the pod, the last octet of its IP and the pod's key
    /// (shared with the kubelet's: the sandbox's `namespace/name`).
    sandboxes: Vec<(u64, u32, ObjectKey)>,
    free_hosts: HostSet,
    /// The images present, sorted (a handful: a vector searched by halves).
    images: Vec<String>,
    sizes: Arc<ImageCatalog>,
    /// The image being pulled, and the images waiting to be, in order.
    pulling: Option<String>,
    pull_queue: VecDeque<(String, bool)>,
    /// Pods waiting for each image.
    waiters: BTreeMap<String, Vec<u64>>,
}

/// The host numbers (2 to 254) of the node's pod CIDR not given to a
/// sandbox, as bits: the lowest free one is given first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HostSet([u64; 4]);

impl HostSet {
    /// Hosts 2 to 254.
    const ALL_FREE: HostSet = HostSet([!0b11, !0, !0, !0 >> 1]);

    fn all_free() -> Self {
        Self::ALL_FREE
    }

    fn insert(&mut self, h: u32) {
        self.0[(h / 64) as usize] |= 1 << (h % 64);
    }

    /// Takes the lowest free host.
    fn pop_first(&mut self) -> Option<u32> {
        let (i, word) = self.0.iter_mut().enumerate().find(|(_, w)| **w != 0)?;
        let bit = word.trailing_zeros();
        *word &= !(1 << bit);
        Some(i as u32 * 64 + bit)
    }
}

impl Docker {
    /// The runtime of node `index`, with `images` already present.
    pub fn new(
        index: u32,
        images: impl IntoIterator<Item = String>,
        sizes: Arc<ImageCatalog>,
    ) -> Self {
        let mut images: Vec<String> = images.into_iter().collect();
        images.sort_unstable();
        images.dedup();
        Docker {
            index,
            images,
            sizes,
            pulling: None,
            pull_queue: VecDeque::new(),
            waiters: BTreeMap::new(),
            sandboxes: Vec::new(),
            free_hosts: HostSet::all_free(),
        }
    }

    /// The node's pod CIDR, `10.X.Y.0/24`, derived from its index.
    pub fn pod_cidr(index: u32) -> String {
        format!("10.{}.{}.0/24", 64 + index / 256, index % 256)
    }

    /// `10.X.Y.host`: the pod CIDR's first three octets (from the node's
    /// index, as [`Docker::pod_cidr`]) and the host.
    fn ip(&self, host: u32) -> String {
        let mut ip = String::with_capacity(15);
        ip.push_str("10.");
        push_octet(&mut ip, 64 + self.index / 256);
        ip.push('.');
        push_octet(&mut ip, self.index % 256);
        ip.push('.');
        push_octet(&mut ip, host);
        ip
    }

    /// Where pod `pod`'s sandbox is in `sandboxes` (`Err`: where it goes).
    fn sandbox_index(&self, pod: u64) -> Result<usize, usize> {
        self.sandboxes.binary_search_by_key(&pod, |s| s.0)
    }

    /// The key of pod `pod`, when it has a sandbox here.
    fn pod_key(&self, pod: u64) -> Option<&ObjectKey> {
        Some(&self.sandboxes[self.sandbox_index(pod).ok()?].2)
    }

    fn has_image(&self, image: &str) -> bool {
        self.images
            .binary_search_by(|i| i.as_str().cmp(image))
            .is_ok()
    }

    fn me(&self) -> Dest {
        Dest::Docker(self.index)
    }

    fn kubelet(&self) -> Dest {
        Dest::Kubelet(self.index)
    }

    pub fn handle(&mut self, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::NodePower { up: false, .. } => {
                // Power off: containers and sandboxes are gone; images on
                // disk stay; a pull in flight completes for nobody.
                self.pull_queue.clear();
                self.waiters.clear();
                self.sandboxes.clear();
                self.free_hosts = HostSet::all_free();
            }
            Msg::Runtime(call) => self.call(*call, cx),
            Msg::PullDone => self.pull_done(cx),
            _ => {}
        }
    }

    fn call(&mut self, call: RuntimeCall, cx: &mut Cx) {
        let me = self.me();
        let kubelet = self.kubelet();
        match call {
            RuntimeCall::RunPodSandbox { pod, key } => {
                // The host, and where a new sandbox goes.
                let (host, new_at) = match self.sandbox_index(pod) {
                    Ok(i) => (self.sandboxes[i].1, None),
                    Err(i) => {
                        let Some(h) = self.free_hosts.pop_first() else {
                            cx.log(
                                me,
                                "sandbox-failed",
                                Subject::from(&key),
                                "pod CIDR exhausted",
                            );
                            return;
                        };
                        (h, Some(i))
                    }
                };
                let ip = self.ip(host);
                cx.log_parts(
                    me,
                    "run-sandbox",
                    Subject::from(&key),
                    &[Part::Text("ip="), Part::Text(&ip)],
                );
                if let Some(i) = new_at {
                    self.sandboxes.insert(i, (pod, host, key));
                }
                let delay = cx.lat.sample(Hop::PodSandbox);
                cx.send(
                    kubelet,
                    delay,
                    Msg::runtime_result(RuntimeResult::SandboxReady { pod, ip }),
                );
            }
            RuntimeCall::PullImage { pod, image, policy } => {
                let always = policy == PullPolicy::Always;
                let present = self.has_image(&image);
                if present && !always {
                    let name = self.pod_key(pod);
                    cx.log(me, "image-present", pod_subject(name), &image);
                    cx.send(
                        kubelet,
                        0,
                        Msg::runtime_result(RuntimeResult::ImageReady {
                            pod,
                            image,
                            pulled: false,
                        }),
                    );
                    return;
                }
                if policy == PullPolicy::Never {
                    let name = self.pod_key(pod);
                    let detail = format!("{image}: not present and pull policy is Never");
                    cx.log(me, "image-absent", pod_subject(name), &detail);
                    cx.send(
                        kubelet,
                        0,
                        Msg::runtime_result(RuntimeResult::ImagePullFailed {
                            pod,
                            image,
                            reason: "ErrImageNeverPull",
                        }),
                    );
                    return;
                }
                let waiting = self.waiters.entry(image.clone()).or_default();
                waiting.push(pod);
                if waiting.len() == 1 {
                    self.pull_queue.push_back((image, always));
                    self.start_pull(cx);
                }
            }
            RuntimeCall::CreateContainer { pod, container } => {
                let delay = cx.lat.sample(Hop::ContainerCreate);
                let name = self.pod_key(pod);
                cx.log_parts(
                    me,
                    "create-container",
                    pod_subject(name),
                    &[Part::Text("container="), Part::Num(container as u64)],
                );
                cx.send(
                    kubelet,
                    delay,
                    Msg::runtime_result(RuntimeResult::ContainerCreated { pod, container }),
                );
            }
            RuntimeCall::StartContainer {
                pod,
                container,
                attempt,
                run,
                exit_lingers,
            } => {
                let delay = cx.lat.sample(Hop::ContainerStart);
                let name = self.pod_key(pod);
                cx.log_parts(
                    me,
                    "start-container",
                    pod_subject(name),
                    &[Part::Text("container="), Part::Num(container as u64)],
                );
                cx.send(
                    kubelet,
                    delay,
                    Msg::runtime_result(RuntimeResult::ContainerStarted { pod, container }),
                );
                if let Some((run_for, exit_code)) = run {
                    let exited = Msg::runtime_result(RuntimeResult::ContainerExited {
                        pod,
                        container,
                        attempt,
                        exit_code,
                    });
                    let at = cx.now() + delay + run_for;
                    cx.send_retry(kubelet, at, exited, exit_lingers);
                }
            }
            RuntimeCall::StopContainer {
                pod,
                container,
                attempt,
                grace,
                shutdown,
            } => {
                // SIGTERM; SIGKILL when the grace period runs out first.
                let (after, exit_code): (Time, i32) = if shutdown <= grace {
                    (shutdown, 0)
                } else {
                    (grace, 137)
                };
                let name = self.pod_key(pod);
                cx.log_parts(
                    me,
                    "stop-container",
                    pod_subject(name),
                    &[
                        Part::Text("container="),
                        Part::Num(container as u64),
                        Part::Text(" exit-code="),
                        Part::Int(exit_code.into()),
                    ],
                );
                cx.send(
                    kubelet,
                    after,
                    Msg::runtime_result(RuntimeResult::ContainerExited {
                        pod,
                        container,
                        attempt,
                        exit_code,
                    }),
                );
            }
            RuntimeCall::StopPodSandbox { pod } => {
                if let Ok(i) = self.sandbox_index(pod) {
                    let (_, h, key) = self.sandboxes.remove(i);
                    self.free_hosts.insert(h);
                    cx.log(me, "stop-sandbox", Subject::from(&key), "");
                }
                cx.send(
                    kubelet,
                    0,
                    Msg::runtime_result(RuntimeResult::SandboxStopped { pod }),
                );
            }
        }
    }

    fn start_pull(&mut self, cx: &mut Cx) {
        if self.pulling.is_some() {
            return;
        }
        let Some((image, always)) = self.pull_queue.pop_front() else {
            return;
        };
        let present = self.has_image(&image);
        let missing = self.sizes.missing.contains(&image);
        let size = self
            .sizes
            .sizes
            .get(&image)
            .copied()
            .unwrap_or(DEFAULT_IMAGE_SIZE);
        // An `Always` pull of a present image only checks the manifest.
        let transfer = if (present && always) || missing {
            0
        } else {
            cx.lat.transfer_time(size)
        };
        let delay = cx.lat.sample(Hop::ImagePull) + transfer;
        let detail = format!("{image} size={size}");
        let first = self.waiters.get(&image).and_then(|w| w.first()).copied();
        let name = first.and_then(|p| self.pod_key(p));
        cx.log(self.me(), "pull", pod_subject(name), &detail);
        self.pulling = Some(image);
        cx.send(self.me(), delay, Msg::PullDone);
    }

    /// The registry has no such image: every waiter's pull fails.
    fn pull_failed(&mut self, image: String, cx: &mut Cx) {
        let detail = format!("{image}: manifest unknown");
        cx.log(self.me(), "pull-failed", Subject::NONE, &detail);
        for pod in self.waiters.remove(&image).unwrap_or_default() {
            cx.send(
                self.kubelet(),
                0,
                Msg::runtime_result(RuntimeResult::ImagePullFailed {
                    pod,
                    image: image.clone(),
                    reason: "ErrImagePull",
                }),
            );
        }
        self.start_pull(cx);
    }

    fn pull_done(&mut self, cx: &mut Cx) {
        let Some(image) = self.pulling.take() else {
            return;
        };
        if self.sizes.missing.contains(&image) {
            return self.pull_failed(image, cx);
        }
        cx.rec.counters.image_pulls += 1;
        cx.log(self.me(), "pulled", Subject::NONE, &image);
        if let Err(i) = self.images.binary_search(&image) {
            self.images.insert(i, image.clone());
        }
        for pod in self.waiters.remove(&image).unwrap_or_default() {
            cx.send(
                self.kubelet(),
                0,
                Msg::runtime_result(RuntimeResult::ImageReady {
                    pod,
                    image: image.clone(),
                    pulled: true,
                }),
            );
        }
        self.start_pull(cx);
    }
}

/// Appends `n` in decimal.
fn push_octet(s: &mut String, n: u32) {
    s.push_str(crate::output::rows::i64_text(n.into(), &mut [0; 20]));
}

/// The subject of a row about a pod: none when it has no sandbox here.
fn pod_subject(key: Option<&ObjectKey>) -> Subject<'_> {
    key.map_or(Subject::NONE, Subject::from)
}

#[cfg(test)]
mod tests {
    use super::{Docker, HostSet, ImageCatalog};

    #[test]
    fn sandbox_ips_are_the_pod_cidr_and_the_host() {
        for index in [0, 7, 255, 256, 4999, 70_000] {
            let d = Docker::new(
                index,
                Vec::new(),
                std::sync::Arc::new(ImageCatalog::default()),
            );
            for host in [2, 9, 10, 99, 100, 254] {
                let want = format!("10.{}.{}.{host}", 64 + index / 256, index % 256);
                assert_eq!(d.ip(host), want);
            }
        }
    }

    #[test]
    fn present_images_are_a_set() {
        let images = ["b:1", "a:1", "c:2", "a:1"].map(String::from);
        let d = Docker::new(3, images, std::sync::Arc::new(ImageCatalog::default()));
        assert_eq!(d.images, ["a:1", "b:1", "c:2"]);
        assert!(d.has_image("a:1") && d.has_image("b:1") && d.has_image("c:2"));
        assert!(!d.has_image("a:2") && !d.has_image("") && !d.has_image("d"));
    }

    #[test]
    fn hosts_are_given_lowest_first_until_none_is_left() {
        let mut built = HostSet([0; 4]);
        for h in 2..255 {
            built.insert(h);
        }
        assert_eq!(HostSet::all_free(), built);
        let mut hosts = HostSet::all_free();
        assert_eq!(hosts.pop_first(), Some(2));
        assert_eq!(hosts.pop_first(), Some(3));
        hosts.insert(2);
        assert_eq!(hosts.pop_first(), Some(2));
        let rest: Vec<u32> = std::iter::from_fn(|| hosts.pop_first()).collect();
        assert_eq!(rest, (4..255).collect::<Vec<u32>>());
        assert_eq!(hosts.pop_first(), None);
        hosts.insert(200);
        hosts.insert(63);
        hosts.insert(64);
        assert_eq!(hosts.pop_first(), Some(63));
        assert_eq!(hosts.pop_first(), Some(64));
        assert_eq!(hosts.pop_first(), Some(200));
    }
}
