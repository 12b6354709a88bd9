//! Positions in the YAML text of values that parsed without error: where an
//! action or a node group starts, where a manifest file name is written,
//! where each manifest begins (and, for manifests whose kind is skipped,
//! their name and namespace, for the warning).
//!
//! serde_yaml reports positions only in errors: an error raised while a
//! scalar is read carries that scalar's line and column. Reading a scalar
//! consumes it whole, so a deliberate "probe" error raised just after
//! reading a key (or a string value) tells where it is without disturbing
//! the parse: the caller catches the probe and goes on with the next
//! value. The cost is one small error per located map, far below the cost
//! of parsing the map itself.
//!
//! On top of that trick, [`HookSeed`] wraps a `Deserialize` implementation
//! (a derived struct, or the api's `Manifest`) and lets a [`MapHook`] watch
//! the keys of the map it reads and wrap the deserialization of their
//! values, while the wrapped type sees exactly the data it would have seen
//! without the hook.

use std::fmt::{self, Display};
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;

use crate::api::Manifest;

/// A position in a YAML text, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub line: usize,
    pub column: usize,
}

/// The probe's message: no YAML text can make serde produce it.
const PROBE: &str = "\u{0}kubesim location probe\u{0}";

/// A probe error, to return right after reading the scalar to locate.
pub(super) fn probe<E: de::Error>() -> E {
    E::custom(PROBE)
}

/// A value that never exists: the result type of a seed that always
/// answers with a probe.
pub(super) enum Never {}

/// Splits a result into a value, a probe (with the position it found, if
/// the error's text gave one) and a real error.
pub(super) fn catch_probe<T, E: Display>(r: Result<T, E>) -> Result<Result<T, Option<Loc>>, E> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) => {
            let text = e.to_string();
            match text.rfind(PROBE) {
                Some(at) => Ok(Err(parse_suffix(&text[at + PROBE.len()..]))),
                None => Err(e),
            }
        }
    }
}

/// serde_yaml appends " at line L column C" to a message, except at line
/// 1 column 1, where it appends nothing.
fn parse_suffix(rest: &str) -> Option<Loc> {
    if rest.is_empty() {
        return Some(Loc { line: 1, column: 1 });
    }
    let (line, column) = rest.strip_prefix(" at line ")?.split_once(" column ")?;
    Some(Loc {
        line: line.parse().ok()?,
        column: column.parse().ok()?,
    })
}

/// Reads a map key as a string, keeps it in `out` and answers with a probe.
struct KeyProbe<'a> {
    out: &'a mut String,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = Never;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Never, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyProbe<'_> {
    type Value = Never;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Never, E> {
        v.clone_into(self.out);
        Err(probe())
    }
}

/// The next key of a map and its position.
fn next_key_located<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<(String, Option<Loc>)>, A::Error> {
    let mut key = String::new();
    match catch_probe(map.next_key_seed(KeyProbe { out: &mut key }))? {
        Ok(None) => Ok(None),
        Ok(Some(never)) => match never {},
        Err(loc) => Ok(Some((key, loc))),
    }
}

/// Watches the map a [`HookSeed`] reads.
pub(super) trait MapHook {
    /// Whether to locate the first key, at the cost of a probe.
    const LOCATE: bool = true;

    /// The position of the map's first key (for a block mapping, where the
    /// map itself starts).
    fn first_key(&mut self, _loc: Option<Loc>) {}

    /// Each key, before its value is read.
    fn key(&mut self, _key: &str) {}

    /// Reads the value of the last key; the hook may wrap `seed`.
    fn value<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
        &mut self,
        map: &mut A,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        map.next_value_seed(seed)
    }
}

/// Deserializes with `seed`, letting `hook` watch the map it reads.
pub(super) struct HookSeed<S, H> {
    pub seed: S,
    pub hook: H,
}

impl<'de, S: DeserializeSeed<'de>, H: MapHook> DeserializeSeed<'de> for HookSeed<S, H> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(HookDe {
            inner: d,
            hook: self.hook,
        })
    }
}

/// A deserializer that hands a map to its visitor through a [`HookMap`].
/// Only maps are expected; anything else is refused with the visitor's
/// own "expected" text.
struct HookDe<D, H> {
    inner: D,
    hook: H,
}

impl<'de, D: Deserializer<'de>, H: MapHook> Deserializer<'de> for HookDe<D, H> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(HookVisitor {
            outer: visitor,
            hook: self.hook,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            HookVisitor {
                outer: visitor,
                hook: self.hook,
            },
        )
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct HookVisitor<V, H> {
    outer: V,
    hook: H,
}

impl<'de, V: Visitor<'de>, H: MapHook> Visitor<'de> for HookVisitor<V, H> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.outer.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.outer.visit_map(HookMap::new(map, self.hook))
    }
}

/// A map access that shows every key to a hook. The first key is located
/// with a probe and handed on as a plain string; the others go straight to
/// the wrapped type's seed (so that an error about them, say an unknown
/// field, keeps its own position) and are only copied on the way.
pub(super) struct HookMap<A, H> {
    inner: A,
    hook: H,
    first: bool,
    key: String,
}

impl<A, H> HookMap<A, H> {
    pub(super) fn new(inner: A, hook: H) -> Self {
        HookMap {
            inner,
            hook,
            first: true,
            key: String::new(),
        }
    }
}

impl<'de, A: MapAccess<'de>, H: MapHook> MapAccess<'de> for HookMap<A, H> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if H::LOCATE && self.first {
            self.first = false;
            let Some((key, loc)) = next_key_located(&mut self.inner)? else {
                return Ok(None);
            };
            self.hook.first_key(loc);
            self.hook.key(&key);
            let key: de::value::StringDeserializer<A::Error> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        self.key.clear();
        let value = self.inner.next_key_seed(StrSeed {
            seed,
            out: &mut self.key,
        })?;
        if value.is_some() {
            self.hook.key(&self.key);
        }
        Ok(value)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.hook.value(&mut self.inner, seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Deserializes a string with `seed`, keeping a copy in `out`.
struct StrSeed<'a, S> {
    seed: S,
    out: &'a mut String,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(StrDe {
            inner: d,
            out: self.out,
        })
    }
}

struct StrDe<'a, D> {
    inner: D,
    out: &'a mut String,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for StrDe<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_str(StrVisitor {
            outer: visitor,
            out: self.out,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct StrVisitor<'a, V> {
    outer: V,
    out: &'a mut String,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StrVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.outer.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        v.clone_into(self.out);
        self.outer.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        v.clone_into(self.out);
        self.outer.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        v.clone_into(self.out);
        self.outer.visit_string(v)
    }
}

/// A map-shaped value and the position of its first key.
#[derive(Debug)]
pub(super) struct Located<T> {
    pub value: T,
    pub loc: Option<Loc>,
}

struct FirstKey<'a> {
    loc: &'a mut Option<Loc>,
}

impl MapHook for FirstKey<'_> {
    fn first_key(&mut self, loc: Option<Loc>) {
        *self.loc = loc;
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut loc = None;
        let value = HookSeed {
            seed: PhantomData::<T>,
            hook: FirstKey { loc: &mut loc },
        }
        .deserialize(d)?;
        Ok(Located { value, loc })
    }
}

/// What the loader learns about a manifest besides the manifest itself:
/// where it starts, the name and namespace as written (kept even when the
/// kind is not modelled), and the same for each item of a `List`.
#[derive(Clone, Debug, Default)]
pub(super) struct ManifestInfo {
    pub loc: Option<Loc>,
    pub name: String,
    pub namespace: String,
    pub items: Vec<ManifestInfo>,
}

/// One manifest as parsed, with what was learnt about it on the way.
#[derive(Debug)]
pub(super) struct ManifestDoc {
    pub manifest: Manifest,
    pub info: ManifestInfo,
}

impl<'de> Deserialize<'de> for ManifestDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut info = ManifestInfo::default();
        let manifest = HookSeed {
            seed: PhantomData::<Manifest>,
            hook: ManifestHook::new(&mut info),
        }
        .deserialize(d)?;
        Ok(ManifestDoc { manifest, info })
    }
}

impl ManifestDoc {
    /// Reads one manifest from a map whose reading has begun (in a visitor).
    pub(super) fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut info = ManifestInfo::default();
        let access = HookMap::new(map, ManifestHook::new(&mut info));
        let manifest = Manifest::deserialize(de::value::MapAccessDeserializer::new(access))?;
        Ok(ManifestDoc { manifest, info })
    }
}

#[derive(Clone, Copy)]
enum ManifestField {
    Metadata,
    Items,
    Other,
}

struct ManifestHook<'a> {
    info: &'a mut ManifestInfo,
    field: ManifestField,
}

impl<'a> ManifestHook<'a> {
    fn new(info: &'a mut ManifestInfo) -> Self {
        ManifestHook {
            info,
            field: ManifestField::Other,
        }
    }
}

impl MapHook for ManifestHook<'_> {
    fn first_key(&mut self, loc: Option<Loc>) {
        self.info.loc = loc;
    }

    fn key(&mut self, key: &str) {
        self.field = match key {
            "metadata" => ManifestField::Metadata,
            "items" => ManifestField::Items,
            _ => ManifestField::Other,
        };
    }

    fn value<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
        &mut self,
        map: &mut A,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        match self.field {
            ManifestField::Metadata => map.next_value_seed(HookSeed {
                seed,
                hook: MetadataHook {
                    info: &mut *self.info,
                    field: MetadataField::Other,
                },
            }),
            ManifestField::Items => map.next_value_seed(ItemsSeed {
                seed,
                items: &mut self.info.items,
            }),
            ManifestField::Other => map.next_value_seed(seed),
        }
    }
}

#[derive(Clone, Copy)]
enum MetadataField {
    Name,
    Namespace,
    Other,
}

struct MetadataHook<'a> {
    info: &'a mut ManifestInfo,
    field: MetadataField,
}

impl MapHook for MetadataHook<'_> {
    const LOCATE: bool = false;

    fn key(&mut self, key: &str) {
        self.field = match key {
            "name" => MetadataField::Name,
            "namespace" => MetadataField::Namespace,
            _ => MetadataField::Other,
        };
    }

    fn value<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
        &mut self,
        map: &mut A,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        let out = match self.field {
            MetadataField::Name => &mut self.info.name,
            MetadataField::Namespace => &mut self.info.namespace,
            MetadataField::Other => return map.next_value_seed(seed),
        };
        map.next_value_seed(StrSeed { seed, out })
    }
}

/// Reads a List's `items`, giving each item its own [`ManifestHook`].
struct ItemsSeed<'a, S> {
    seed: S,
    items: &'a mut Vec<ManifestInfo>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for ItemsSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(ItemsDe {
            inner: d,
            items: self.items,
        })
    }
}

struct ItemsDe<'a, D> {
    inner: D,
    items: &'a mut Vec<ManifestInfo>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ItemsDe<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_seq(ItemsVisitor {
            outer: visitor,
            items: self.items,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct ItemsVisitor<'a, V> {
    outer: V,
    items: &'a mut Vec<ManifestInfo>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for ItemsVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.outer.expecting(f)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.outer.visit_seq(ItemsAccess {
            inner: seq,
            items: self.items,
        })
    }
}

struct ItemsAccess<'a, A> {
    inner: A,
    items: &'a mut Vec<ManifestInfo>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for ItemsAccess<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let mut info = ManifestInfo::default();
        let element = self.inner.next_element_seed(HookSeed {
            seed,
            hook: ManifestHook::new(&mut info),
        })?;
        if element.is_some() {
            self.items.push(info);
        }
        Ok(element)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;

    #[test]
    fn locates_first_keys_without_changing_the_value() {
        #[derive(Debug, serde::Deserialize)]
        struct Item {
            a: u32,
            #[serde(default)]
            b: String,
        }
        let items: Vec<Located<Item>> =
            serde_yaml::from_str("- a: 1\n  b: x\n-   b: y\n    a: 2\n- {a: 3}\n").unwrap();
        let locs: Vec<_> = items.iter().map(|i| i.loc.unwrap()).collect();
        assert_eq!(
            locs,
            [
                Loc { line: 1, column: 3 },
                Loc { line: 3, column: 5 },
                Loc { line: 5, column: 4 },
            ]
        );
        assert_eq!(items[1].value.a, 2);
        assert_eq!(items[1].value.b, "y");
    }

    #[test]
    fn errors_keep_their_own_positions() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Item {
            a: u32,
            #[serde(default)]
            b: u32,
        }
        let e = serde_yaml::from_str::<Vec<Located<Item>>>("- a: 1\n  c: 2\n").unwrap_err();
        assert_eq!(e.location().map(|l| (l.line(), l.column())), Some((2, 3)));
        let e = serde_yaml::from_str::<Vec<Located<Item>>>("- a: 1\n  b: x\n").unwrap_err();
        assert_eq!(e.location().map(|l| (l.line(), l.column())), Some((2, 6)));
        let e = serde_yaml::from_str::<Vec<Located<Item>>>("- c: 1\n").unwrap_err();
        assert_eq!(e.location().map(|l| (l.line(), l.column())), Some((1, 3)));
    }

    #[test]
    fn manifests_keep_names_of_skipped_kinds_and_list_items() {
        let doc: ManifestDoc = serde_yaml::from_str(
            "apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: cfg, namespace: ns}\n- kind: Pod\n  metadata:\n    name: p\n",
        )
        .unwrap();
        assert_eq!(doc.info.loc, Some(Loc { line: 1, column: 1 }));
        assert_eq!(doc.info.items.len(), 2);
        assert_eq!(doc.info.items[0].name, "cfg");
        assert_eq!(doc.info.items[0].namespace, "ns");
        assert_eq!(doc.info.items[1].loc, Some(Loc { line: 6, column: 3 }));
        assert_eq!(doc.info.items[1].name, "p");
        assert!(doc.manifest.items[0].object.is_none());
        assert!(matches!(doc.manifest.items[1].object, Some(Object::Pod(_))));
    }
}
