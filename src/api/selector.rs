//! Label selectors (`matchLabels`, `matchExpressions`) and node selector terms
//! (the node affinity flavour, which adds `Gt` and `Lt`).

use serde::Deserialize;

use super::meta::Labels;

/// The operators of a label selector requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum LabelOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: LabelOperator,
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelectorRequirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            LabelOperator::In => value.is_some_and(|v| self.values.contains(v)),
            LabelOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            LabelOperator::Exists => value.is_some(),
            LabelOperator::DoesNotExist => value.is_none(),
        }
    }

    /// Upstream validation: In/NotIn need values, Exists/DoesNotExist forbid them.
    pub fn validate(&self) -> Result<(), String> {
        match self.operator {
            LabelOperator::In | LabelOperator::NotIn if self.values.is_empty() => Err(format!(
                "key {}: values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                self.key
            )),
            LabelOperator::Exists | LabelOperator::DoesNotExist if !self.values.is_empty() => {
                Err(format!(
                    "key {}: values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    self.key
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A label selector. The empty selector matches everything (as in a
/// Deployment's `spec.selector`); a Service's map selector is a separate type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: Labels,
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelector {
    pub fn from_labels(labels: Labels) -> Self {
        LabelSelector {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

/// Whether every pair of `selector` is among `labels` (a Service's or a
/// nodeSelector's map). The empty map matches everything.
pub fn map_matches(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The operators of a node selector requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: NodeSelectorOperator,
    #[serde(default)]
    pub values: Vec<String>,
}

impl NodeSelectorRequirement {
    fn matches(&self, value: Option<&String>) -> bool {
        use NodeSelectorOperator::*;
        match self.operator {
            In => value.is_some_and(|v| self.values.contains(v)),
            NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Exists => value.is_some(),
            DoesNotExist => value.is_none(),
            Gt | Lt => {
                let (Some(v), [bound]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(b)) if self.operator == Gt => v > b,
                    (Ok(v), Ok(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

/// One node selector term: all its expressions (on labels) and fields (on
/// `metadata.name`, the only field upstream supports) must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    #[serde(default)]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    #[serde(default)]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

impl NodeSelectorTerm {
    /// An empty term matches no node (upstream semantics).
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        let name = node_name.to_string();
        self.match_expressions
            .iter()
            .all(|r| r.matches(labels.get(&r.key)))
            && self
                .match_fields
                .iter()
                .all(|r| r.key == "metadata.name" && r.matches(Some(&name)))
    }
}

/// Terms are ORed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.node_selector_terms
            .iter()
            .any(|t| t.matches(node_name, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel: LabelSelector = serde_yaml::from_str(
            "matchLabels: {app: web}\nmatchExpressions:\n- {key: tier, operator: In, values: [a, b]}\n- {key: canary, operator: DoesNotExist}\n- {key: env, operator: NotIn, values: [prod]}\n- {key: app, operator: Exists}",
        )
        .unwrap();
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "b"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "c")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "a"), ("canary", "1")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "a"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("tier", "a")])));
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn unknown_operator_is_an_error_with_a_place() {
        let err = serde_yaml::from_str::<LabelSelector>(
            "matchExpressions:\n- {key: a, operator: Includes, values: [x]}",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Includes") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn requirement_validation_follows_upstream() {
        let r = LabelSelectorRequirement {
            key: "a".into(),
            operator: LabelOperator::In,
            values: vec![],
        };
        assert!(r.validate().is_err());
        let r = LabelSelectorRequirement {
            key: "a".into(),
            operator: LabelOperator::Exists,
            values: vec!["x".into()],
        };
        assert!(r.validate().is_err());
    }

    #[test]
    fn node_selector_terms_are_ored_and_support_gt_lt_and_fields() {
        let sel: NodeSelector = serde_yaml::from_str(
            "nodeSelectorTerms:\n- matchExpressions: [{key: cores, operator: Gt, values: ['8']}]\n- matchFields: [{key: metadata.name, operator: In, values: [n1]}]",
        )
        .unwrap();
        assert!(sel.matches("n0", &labels(&[("cores", "16")])));
        assert!(!sel.matches("n0", &labels(&[("cores", "8")])));
        assert!(sel.matches("n1", &labels(&[])));
        assert!(!NodeSelectorTerm::default().matches("n1", &labels(&[])));
    }
}
