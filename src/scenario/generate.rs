//! The `generate` action: many Pods (or Deployments) from one template
//! manifest, arriving every fixed interval or as a Poisson process, with
//! requests drawn from a list or a uniform range, and a lifetime after which
//! a Pod completes (the annotation `kubesim.io/run-duration`, which the
//! kubelet honours by reporting Succeeded). Arrivals and draws come from
//! the run's seed, so they are expanded when the run starts, not when the
//! scenario loads.
//!
//! ```yaml
//! - at: 0s
//!   generate:
//!     template: {apiVersion: v1, kind: Pod, metadata: {name: job}, spec: {...}}
//!     count: 500
//!     poisson: {rate: 50/s}          # or every: 100ms
//!     requests:
//!       cpu: [100m, 250m, 500m]      # a list, drawn uniformly
//!       memory: {distribution: uniform, min: 128Mi, max: 1Gi}
//!     lifetime: {distribution: exponential, mean: 60s}   # or a duration
//! ```

use std::collections::BTreeMap;
use std::fmt;

use rand_chacha::rand_core::Rng;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::duration::Duration;
use super::schema::{Count, LatencyValue, ManifestSource};
use super::{Action, ActionOp};
use crate::api::quantity::Quantity;
use crate::api::{Kind, Object};
use crate::engine::dist::Dist;
use crate::engine::{RngStreams, SECOND, Time};

/// The annotation that tells the kubelet how long the containers run
/// before the pod completes.
pub const RUN_DURATION_ANNOTATION: &str = "kubesim.io/run-duration";

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "what to generate, such as `{template: job.yaml, count: 100, every: 100ms}`"
)]
pub(super) struct RawGenerate {
    pub template: ManifestSource,
    pub count: Count,
    pub every: Option<Duration>,
    pub poisson: Option<RawPoisson>,
    #[serde(default)]
    pub requests: BTreeMap<String, RawSizes>,
    pub lifetime: Option<LatencyValue>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a Poisson arrival process such as `{rate: 50/s}`"
)]
pub(super) struct RawPoisson {
    pub rate: Rate,
}

/// An arrival rate, `N/s`, `N/m` or `N/h`: the mean interval in ns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rate(pub Time);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as `50/s`, `300/m` or `10/h`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                let bad = || {
                    E::custom(format!(
                        "invalid rate `{v}`: expected a rate such as `50/s`, `300/m` or `10/h`"
                    ))
                };
                let (n, unit) = v.split_once('/').ok_or_else(bad)?;
                let n: f64 = n.trim().parse().map_err(|_| bad())?;
                let per = match unit.trim() {
                    "s" => SECOND as f64,
                    "m" => 60.0 * SECOND as f64,
                    "h" => 3600.0 * SECOND as f64,
                    _ => return Err(bad()),
                };
                if !(n.is_finite() && n > 0.0) {
                    return Err(E::custom(format!("invalid rate `{v}`: must be positive")));
                }
                Ok(Rate(((per / n).round() as Time).max(1)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Request sizes: a list to draw from, or `{distribution: uniform, min, max}`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "request sizes: a list such as `[100m, 250m]` or `{distribution: uniform, min: 100m, max: 1}`"
)]
pub(super) enum RawSizes {
    List(Vec<Quantity>),
    Range(RawRange),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRange {
    pub distribution: String,
    pub min: Quantity,
    pub max: Quantity,
}

/// How generated objects arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    Every(Time),
    /// Exponential intervals with this mean.
    Poisson(Time),
}

/// Where a resource's request comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Sizes {
    List(Vec<Quantity>),
    /// Uniform between the two, in millis.
    Uniform(i64, i64),
}

/// A loaded `generate` action.
#[derive(Clone, Debug)]
pub struct Generate {
    /// A Pod or a Deployment, namespace defaulted.
    pub template: Object,
    pub count: u64,
    pub arrival: Arrival,
    pub requests: Vec<(String, Sizes)>,
    pub lifetime: Option<Dist>,
}

impl RawGenerate {
    /// Checks what the schema cannot; `template` is the loaded template.
    pub(super) fn build(self, template: Vec<Object>) -> Result<Generate, String> {
        let [template] = <[Object; 1]>::try_from(template).map_err(|v| {
            format!(
                "`generate.template` must be exactly one Pod or Deployment manifest, found {}",
                v.len()
            )
        })?;
        match &template {
            Object::Pod(p)
                if self.lifetime.is_some()
                    && p.spec.restart_policy == Some(crate::api::pod::RestartPolicy::Always) =>
            {
                return Err(
                    "`generate.lifetime` needs a Pod that can complete: its restartPolicy must be \
                     Never or OnFailure (unset means Never here), not Always"
                        .into(),
                );
            }
            _ => {}
        }
        match template.kind() {
            Kind::Pod => {}
            Kind::Deployment if self.lifetime.is_some() => {
                return Err(
                    "`generate.lifetime` applies to Pods only: a Deployment's pods are restarted"
                        .into(),
                );
            }
            Kind::Deployment => {}
            other => {
                return Err(format!(
                    "`generate.template` is a {other}: expected a Pod or a Deployment"
                ));
            }
        }
        let arrival = match (self.every, self.poisson) {
            (Some(e), None) => Arrival::Every(e.0),
            (None, Some(p)) => Arrival::Poisson(p.rate.0),
            (None, None) => Arrival::Every(0),
            (Some(_), Some(_)) => {
                return Err(
                    "`generate` has both `every` and `poisson`: choose one arrival process".into(),
                );
            }
        };
        let mut requests = Vec::new();
        for (name, sizes) in self.requests {
            let s = match sizes {
                RawSizes::List(v) if v.is_empty() => {
                    return Err(format!("`generate.requests.{name}`: the list is empty"));
                }
                RawSizes::List(v) => Sizes::List(v),
                RawSizes::Range(r) if r.distribution != "uniform" => {
                    return Err(format!(
                        "`generate.requests.{name}`: distribution `{}` is not supported: use `uniform` or a list",
                        r.distribution
                    ));
                }
                RawSizes::Range(r) if r.min.milli_value() > r.max.milli_value() => {
                    return Err(format!(
                        "`generate.requests.{name}`: min is larger than max"
                    ));
                }
                RawSizes::Range(r) => Sizes::Uniform(r.min.milli_value(), r.max.milli_value()),
            };
            requests.push((name, s));
        }
        Ok(Generate {
            template,
            count: self.count.0,
            arrival,
            requests,
            lifetime: self.lifetime.map(|l| l.0),
        })
    }
}

/// A Go duration string for `ns` (exact: the largest unit that divides it).
pub fn go_duration(ns: Time) -> String {
    for (unit, size) in [("s", SECOND), ("ms", 1_000_000), ("us", 1_000)] {
        if ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

fn draw(sizes: &Sizes, name: &str, rng: &mut impl Rng) -> Quantity {
    let milli = match sizes {
        Sizes::List(v) => return v[(rng.next_u64() % v.len() as u64) as usize],
        Sizes::Uniform(min, max) => {
            let span = (max - min) as u64 + 1;
            min + (rng.next_u64() % span) as i64
        }
    };
    let text = if name == "cpu" {
        format!("{milli}m")
    } else {
        format!("{}", (milli + 999) / 1000)
    };
    Quantity::parse(&text).expect("a formatted quantity parses")
}

/// The objects of one `generate` action and their creation times.
fn objects(g: &Generate, at: Time, rng: &mut impl Rng) -> Vec<(Time, Object)> {
    let mut out = Vec::with_capacity(g.count as usize);
    let mut t = at;
    let base = g.template.meta().name.clone();
    for k in 0..g.count {
        if k > 0 {
            t += match g.arrival {
                Arrival::Every(e) => e,
                Arrival::Poisson(mean) => Dist::Exponential { mean }.sample(rng),
            };
        }
        let mut obj = g.template.clone();
        obj.meta_mut().name = format!("{base}-{k}").into();
        let containers = match &mut obj {
            Object::Pod(p) => Some(&mut std::sync::Arc::make_mut(&mut p.spec).containers),
            Object::Workload(_, w) => Some(
                &mut std::sync::Arc::make_mut(&mut w.spec)
                    .template
                    .spec
                    .containers,
            ),
            _ => None,
        };
        if let Some(cs) = containers {
            for (name, sizes) in &g.requests {
                let q = draw(sizes, name, rng);
                for c in std::sync::Arc::make_mut(cs).iter_mut() {
                    c.resources.requests.insert(name.clone(), q);
                }
            }
        }
        if let (Some(life), Object::Pod(p)) = (&g.lifetime, &mut obj) {
            // A pod with a lifetime completes: with restartPolicy Always (the
            // default) the kubelet would restart it for ever.
            std::sync::Arc::make_mut(&mut p.spec)
                .restart_policy
                .get_or_insert(crate::api::pod::RestartPolicy::Never);
            let d = life.sample(rng);
            std::sync::Arc::make_mut(&mut p.metadata.annotations)
                .insert(RUN_DURATION_ANNOTATION.to_string(), go_duration(d));
        }
        out.push((t, obj));
    }
    out
}

/// Replaces every `generate` action by the `apply` actions it makes, drawn
/// from the run's seed, keeping actions ordered by time (stable).
pub fn expand(actions: &[Action], rng: &RngStreams) -> Vec<Action> {
    let mut out = Vec::with_capacity(actions.len());
    for (i, a) in actions.iter().enumerate() {
        match &a.op {
            ActionOp::Generate(g) => {
                let mut stream = rng.stream(&format!("client/generate/{i}"));
                for (t, obj) in objects(g, a.at, &mut stream) {
                    out.push(Action {
                        at: t,
                        place: a.place.clone(),
                        op: ActionOp::Apply(vec![obj]),
                    });
                }
            }
            _ => out.push(a.clone()),
        }
    }
    out.sort_by_key(|a| a.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_draws_requests_and_lifetimes_from_the_seed() {
        let template = match serde_yaml::from_str::<crate::api::Manifest>(
            "kind: Pod\nmetadata: {name: job, namespace: default}\nspec: {containers: [{name: c, image: x}]}",
        )
        .unwrap()
        .object
        {
            Some(o) => o,
            None => unreachable!(),
        };
        let g = Generate {
            template,
            count: 50,
            arrival: Arrival::Poisson(100_000_000),
            requests: vec![(
                "cpu".into(),
                Sizes::List(vec![
                    Quantity::parse("100m").unwrap(),
                    Quantity::parse("2").unwrap(),
                ]),
            )],
            lifetime: Some(Dist::Constant(30 * SECOND)),
        };
        let actions = vec![Action {
            at: SECOND,
            place: "s.yaml:1:1".into(),
            op: ActionOp::Generate(Box::new(g)),
        }];
        let run = |seed| expand(&actions, &RngStreams::new(seed));
        let a = run(1);
        assert_eq!(a.len(), 50);
        assert_eq!(a[0].at, SECOND);
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        let mut cpus = std::collections::BTreeSet::new();
        for act in &a {
            let ActionOp::Apply(objs) = &act.op else {
                panic!()
            };
            let Object::Pod(p) = &objs[0] else { panic!() };
            assert_eq!(p.metadata.annotations[RUN_DURATION_ANNOTATION], "30s");
            cpus.insert(p.spec.containers[0].resources.requests["cpu"].milli_value());
        }
        assert_eq!(cpus.into_iter().collect::<Vec<_>>(), vec![100, 2000]);
        // Same seed, same arrivals; another seed, others.
        let times = |v: &[Action]| v.iter().map(|a| a.at).collect::<Vec<_>>();
        assert_eq!(times(&a), times(&run(1)));
        assert_ne!(times(&a), times(&run(2)));
    }

    #[test]
    fn go_durations_are_exact() {
        assert_eq!(go_duration(30 * SECOND), "30s");
        assert_eq!(go_duration(1_500_000_000), "1500ms");
        assert_eq!(go_duration(1_234), "1234ns");
    }
}
