//! The modelled time of every hop of the flows: a default for each, which a
//! scenario's `latencies:` may override with a duration or a distribution.
//! Each hop draws from its own random stream.

use rand_chacha::ChaCha8Rng;

use crate::engine::ahead::Ahead;
use crate::engine::dist::{Dist, Prepared};
use crate::engine::{MICROSECOND, MILLISECOND, RngStreams, SECOND, Time};

/// Every modelled delay, by its scenario key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hop {
    /// A request's trip to the apiserver and its handling there (authn,
    /// admission, validation), before the storage write.
    ApiserverRequest,
    /// An etcd write: the raft commit and fsync.
    EtcdWrite,
    /// An etcd quorum read.
    EtcdRead,
    /// One watch event from the apiserver's watch cache to one watcher.
    WatchDelivery,
    /// The fixed part of one scheduling cycle.
    SchedulingCycle,
    /// The part of a scheduling cycle per node evaluated (filters and scores).
    SchedulingPerNode,
    /// From a pod update reaching the kubelet to its pod worker's sync.
    KubeletSync,
    /// Creating the pod sandbox: the pause container and the CNI network.
    PodSandbox,
    /// The fixed part of an image pull (registry round trips); the size over
    /// `imagePullBandwidth` is added.
    ImagePull,
    ContainerCreate,
    ContainerStart,
    /// From containers running to the PLEG relist that notices them (the
    /// generic PLEG relists every second).
    PlegRelist,
    /// The EndpointSlice controller's processing of one Service.
    EndpointsSync,
    /// The fixed part of one kube-proxy rule sync.
    ProxySync,
    /// The part of a kube-proxy sync per endpoint programmed.
    ProxySyncPerEndpoint,
    /// kube-proxy's minSyncPeriod: the least time between two syncs' starts.
    ProxyMinSyncPeriod,
    /// A workload controller's processing of one key of its work queue
    /// (before the requests it sends, which wait on the rate limiter).
    ControllerSync,
    /// An external provisioner's making of a volume (the storage
    /// backend's CreateVolume), from its start to the PersistentVolume's
    /// create.
    VolumeProvision,
}

impl Hop {
    pub const ALL: [Hop; 18] = [
        Hop::ApiserverRequest,
        Hop::EtcdWrite,
        Hop::EtcdRead,
        Hop::WatchDelivery,
        Hop::SchedulingCycle,
        Hop::SchedulingPerNode,
        Hop::KubeletSync,
        Hop::PodSandbox,
        Hop::ImagePull,
        Hop::ContainerCreate,
        Hop::ContainerStart,
        Hop::PlegRelist,
        Hop::EndpointsSync,
        Hop::ProxySync,
        Hop::ProxySyncPerEndpoint,
        Hop::ProxyMinSyncPeriod,
        Hop::ControllerSync,
        Hop::VolumeProvision,
    ];

    /// The scenario key.
    pub fn key(self) -> &'static str {
        match self {
            Hop::ApiserverRequest => "apiserverRequest",
            Hop::EtcdWrite => "etcdWrite",
            Hop::EtcdRead => "etcdRead",
            Hop::WatchDelivery => "watchDelivery",
            Hop::SchedulingCycle => "schedulingCycle",
            Hop::SchedulingPerNode => "schedulingPerNode",
            Hop::KubeletSync => "kubeletSync",
            Hop::PodSandbox => "podSandbox",
            Hop::ImagePull => "imagePull",
            Hop::ContainerCreate => "containerCreate",
            Hop::ContainerStart => "containerStart",
            Hop::PlegRelist => "plegRelist",
            Hop::EndpointsSync => "endpointsSync",
            Hop::ProxySync => "proxySync",
            Hop::ProxySyncPerEndpoint => "proxySyncPerEndpoint",
            Hop::ProxyMinSyncPeriod => "proxyMinSyncPeriod",
            Hop::ControllerSync => "controllerSync",
            Hop::VolumeProvision => "volumeProvision",
        }
    }

    pub fn parse(key: &str) -> Option<Hop> {
        Hop::ALL.into_iter().find(|h| h.key() == key)
    }

    /// The default, realistic for a small, lightly loaded cluster.
    pub fn default_dist(self) -> Dist {
        let ms = MILLISECOND;
        let logn = |median: Time, p99: Time| Dist::LogNormal { median, p99 };
        match self {
            Hop::ApiserverRequest => logn(ms, 10 * ms),
            Hop::EtcdWrite => logn(2 * ms, 15 * ms),
            Hop::EtcdRead => logn(ms / 2, 3 * ms),
            Hop::WatchDelivery => logn(ms / 2, 5 * ms),
            Hop::SchedulingCycle => Dist::Constant(200 * MICROSECOND),
            Hop::SchedulingPerNode => Dist::Constant(4 * MICROSECOND),
            Hop::KubeletSync => logn(5 * ms, 50 * ms),
            Hop::PodSandbox => logn(300 * ms, SECOND),
            Hop::ImagePull => Dist::Constant(500 * ms),
            Hop::ContainerCreate => logn(50 * ms, 250 * ms),
            Hop::ContainerStart => logn(100 * ms, 500 * ms),
            Hop::PlegRelist => Dist::Uniform {
                min: 0,
                max: SECOND,
            },
            Hop::EndpointsSync => logn(ms, 10 * ms),
            Hop::ProxySync => logn(20 * ms, 100 * ms),
            Hop::ProxySyncPerEndpoint => Dist::Constant(5 * MICROSECOND),
            Hop::ProxyMinSyncPeriod => Dist::Constant(SECOND),
            Hop::ControllerSync => logn(ms / 2, 5 * ms),
            Hop::VolumeProvision => logn(2 * SECOND, 10 * SECOND),
        }
    }
}

/// The default image pull bandwidth, bytes per second (50 MiB/s).
pub const DEFAULT_IMAGE_PULL_BANDWIDTH: u64 = 50 * 1024 * 1024;

/// A scenario's latency settings: overrides of the defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyConfig {
    pub overrides: Vec<(Hop, Dist)>,
    /// Bytes per second; `None`: the default.
    pub image_pull_bandwidth: Option<u64>,
}

impl LatencyConfig {
    pub fn dist(&self, hop: Hop) -> Dist {
        self.overrides
            .iter()
            .rev()
            .find(|(h, _)| *h == hop)
            .map_or_else(|| hop.default_dist(), |(_, d)| *d)
    }
}

/// The sampler the components draw their delays from. A clone draws the
/// same delays as the original would from here on (kube-proxy's thread
/// takes one and draws only its own hops), as long as the original draws
/// nothing ahead ([`Latencies::draw_ahead`]).
pub struct Latencies {
    dists: [Prepared; Hop::ALL.len()],
    streams: Vec<ChaCha8Rng>,
    pub image_pull_bandwidth: u64,
    /// The hops drawn on a helper thread (`engine::ahead`).
    ahead: Option<Ahead>,
}

impl Clone for Latencies {
    fn clone(&self) -> Self {
        // A hop drawn ahead has moved on from `streams`.
        assert!(
            self.ahead.is_none(),
            "a sampler that draws ahead is not cloned"
        );
        Latencies {
            dists: self.dists,
            streams: self.streams.clone(),
            image_pull_bandwidth: self.image_pull_bandwidth,
            ahead: None,
        }
    }
}

impl Latencies {
    pub fn new(config: &LatencyConfig, rng: &RngStreams) -> Self {
        Latencies {
            dists: Hop::ALL.map(|h| config.dist(h).prepare()),
            streams: Hop::ALL
                .iter()
                .map(|h| rng.stream(&format!("latency/{}", h.key())))
                .collect(),
            image_pull_bandwidth: config
                .image_pull_bandwidth
                .unwrap_or(DEFAULT_IMAGE_PULL_BANDWIDTH)
                .max(1),
            ahead: None,
        }
    }

    /// From now on, the hops but `except` whose delays are random are
    /// drawn ahead on a helper thread ([`Ahead`]): the same delays in the
    /// same order, without their arithmetic on the caller's thread. The
    /// hops in `except` are drawn here as before (kube-proxy's, which its
    /// own thread draws from a clone).
    pub fn draw_ahead(&mut self, except: &[Hop]) {
        if self.ahead.is_some() {
            return;
        }
        let draws: Vec<_> = Hop::ALL
            .into_iter()
            .filter(|h| !except.contains(h) && self.dists[*h as usize].draws())
            .map(|h| {
                let i = h as usize;
                (i, self.dists[i], self.streams[i].clone())
            })
            .collect();
        if !draws.is_empty() {
            self.ahead = Some(Ahead::start(draws));
        }
    }

    /// Draws the delay of one hop.
    #[inline]
    pub fn sample(&mut self, hop: Hop) -> Time {
        let i = hop as usize;
        if let Some(ahead) = &mut self.ahead
            && let Some(delay) = ahead.next(i)
        {
            return delay;
        }
        self.dists[i].sample(&mut self.streams[i])
    }

    /// The time to transfer `bytes` at the pull bandwidth, rounded up.
    pub fn transfer_time(&self, bytes: u64) -> Time {
        let bw = u128::from(self.image_pull_bandwidth);
        let ns = (u128::from(bytes) * u128::from(SECOND)).div_ceil(bw);
        ns.min(u128::from(u64::MAX)) as Time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sampler that draws ahead gives every hop the delays a direct one
    /// gives, in any interleaving of the hops, with overrides of every
    /// shape (a constant and an empty range draw nothing).
    #[test]
    fn drawing_ahead_gives_the_same_delays() {
        let config = LatencyConfig {
            overrides: vec![
                (Hop::EtcdRead, Dist::Constant(7)),
                (Hop::KubeletSync, Dist::Uniform { min: 5, max: 5 }),
                (Hop::PodSandbox, Dist::Exponential { mean: 1_000_000 }),
                (
                    Hop::ContainerStart,
                    Dist::Normal {
                        mean: 1_000_000,
                        stddev: 200_000,
                    },
                ),
            ],
            image_pull_bandwidth: None,
        };
        let rng = RngStreams::new(3);
        let mut direct = Latencies::new(&config, &rng);
        let mut ahead = Latencies::new(&config, &rng);
        ahead.draw_ahead(&[Hop::ProxySync]);
        assert!(ahead.ahead.is_some());
        for k in 0..30_000usize {
            // Every hop, some far more often than others.
            let hop = Hop::ALL[(k * k + k / 7) % Hop::ALL.len()];
            assert_eq!(ahead.sample(hop), direct.sample(hop), "draw {k}, {hop:?}");
        }
    }
}
