//! [`Text`]: an immutable string shared by reference count, for the names
//! and namespaces of object metadata.
//!
//! Every write of an object makes a new version with its own metadata
//! (a new resourceVersion, a status, a deletion timestamp), and the
//! versions of one object all carry the same name and namespace. As
//! `String`s, each copy of the metadata allocated and copied them again;
//! as `Text`, a copy is a reference count. The empty text, the usual
//! `generateName`, holds no allocation at all.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

/// An immutable, cheaply copied string. Compares, orders and hashes as
/// the `str` it holds.
#[derive(Clone, Default)]
pub struct Text(Option<Arc<str>>);

impl Text {
    /// The text as a `str`.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Some(s) => s,
            None => "",
        }
    }
}

impl Deref for Text {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text((!s.is_empty()).then(|| Arc::from(s)))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text((!s.is_empty()).then(|| Arc::from(s)))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::from(s.as_str())
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.as_str().to_string()
    }
}

impl PartialEq for Text {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

macro_rules! eq_with {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Text {
            #[inline]
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<Text> for $t {
            #[inline]
            fn eq(&self, other: &Text) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with!(str, &str, String);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn compares_orders_and_hashes_as_its_str() {
        let a = Text::from("web-1");
        let b = Text::from(String::from("web-1"));
        assert_eq!(a, b);
        assert_eq!(a, "web-1");
        assert_eq!("web-1", a);
        assert_eq!(a, String::from("web-1"));
        assert_ne!(a, Text::from("web-2"));
        let (x, y) = (Text::from("a"), Text::from("b"));
        assert_eq!(x.cmp(&y), std::cmp::Ordering::Less);
        assert_eq!(Text::default().cmp(&x), std::cmp::Ordering::Less);
        let set: BTreeSet<Text> = ["b", "", "a"].into_iter().map(Text::from).collect();
        assert!(set.contains("a") && set.contains(""));
        let order: Vec<&str> = set.iter().map(Text::as_str).collect();
        assert_eq!(order, ["", "a", "b"]);
        let hash = |t: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            t(&mut h);
            h.finish()
        };
        assert_eq!(hash(&|h| a.hash(h)), hash(&|h| "web-1".hash(h)));
    }

    #[test]
    fn the_empty_text_holds_nothing_and_equals_every_empty_text() {
        assert!(Text::from("").0.is_none());
        assert!(Text::from(String::new()).0.is_none());
        assert_eq!(Text::from(""), Text::default());
        assert_eq!(Text::default(), "");
        assert_eq!(Text::default().len(), 0);
    }

    #[test]
    fn a_copy_shares_the_text() {
        let a = Text::from("default");
        let b = a.clone();
        match (&a.0, &b.0) {
            (Some(x), Some(y)) => assert!(Arc::ptr_eq(x, y)),
            _ => panic!("not shared"),
        }
    }

    #[test]
    fn deserializes_from_a_yaml_string() {
        let t: Text = serde_yaml::from_str("web-0").unwrap();
        assert_eq!(t, "web-0");
        let e: Text = serde_yaml::from_str("''").unwrap();
        assert_eq!(e, Text::default());
    }
}
