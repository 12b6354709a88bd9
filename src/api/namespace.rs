//! Namespaces (`v1`): cluster-scoped objects whose labels an InterPodAffinity
//! term's `namespaceSelector` matches. The apiserver labels every Namespace
//! with its own name (`kubernetes.io/metadata.name`, upstream's
//! `SetDefaults_Namespace`).
//!
//! Simplified: a pod may live in a namespace no Namespace object declares
//! (upstream's NamespaceLifecycle admission would refuse it); such a
//! namespace is picked by no incoming pod's selector but `{}`, and reads as
//! unlabelled to existing pods' terms, as upstream's scheduler treats a
//! namespace its lister cannot find. Deleting a Namespace removes
//! the object alone: the namespace controller's deletion of its contents is
//! not modelled. `spec` and `status` are ignored.

use super::meta::ObjectMeta;

/// The label the apiserver gives every Namespace: its name.
pub const METADATA_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Namespace {
    pub metadata: ObjectMeta,
}
