//! Record keys and values: immutable, cheaply cloned byte strings.
//!
//! Kafka keys and values are bytes. Workloads use UTF-8 text (`key-7`, `p1-42`), so a value that
//! is valid UTF-8 is written as a JSON string in traces and reports, and anything else as an
//! array of byte values; both forms read back.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// An immutable byte string shared by the producer's batch, every replica's log and the
/// consumer's poll, without copying.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(Arc<[u8]>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes (an empty key is still a key: Kafka hashes it, KAFKA.md 1.2).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes as text, if they are UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl From<&str> for Bytes {
    fn from(s: &str) -> Bytes {
        Bytes(Arc::from(s.as_bytes()))
    }
}

impl From<String> for Bytes {
    fn from(s: String) -> Bytes {
        Bytes(Arc::from(s.into_bytes()))
    }
}

impl From<&[u8]> for Bytes {
    fn from(b: &[u8]) -> Bytes {
        Bytes(Arc::from(b))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(b: Vec<u8>) -> Bytes {
        Bytes(Arc::from(b))
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => write!(f, "{s:?}"),
            None => write!(f, "{:?}", &self.0[..]),
        }
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => {
                f.write_str("0x")?;
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_str() {
            Some(text) => s.serialize_str(text),
            None => self.0.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Raw(Vec<u8>),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Text(s) => Bytes::from(s),
            Repr::Raw(b) => Bytes::from(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip_through_json() {
        let text = Bytes::from("key-7");
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"key-7\"");
        let raw = Bytes::from(vec![0xff, 0x00]);
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(json, "[255,0]");
        assert_eq!(serde_json::from_str::<Bytes>(&json).unwrap(), raw);
        assert_eq!(serde_json::from_str::<Bytes>("\"key-7\"").unwrap(), text);
        assert_eq!(raw.to_string(), "0xff00");
    }
}
