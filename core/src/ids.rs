//! Identifiers: one newtype per kind of number, so an offset can never be passed as an epoch.
//!
//! Names follow Kafka's (`BrokerId`, `LeaderEpoch`, `ProducerId`, ...). Kafka encodes "none" as
//! -1 in many of these; the model uses `Option` instead and prints `-1`/`none` only at the edges.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_newtype!(
    /// A broker's `node.id`.
    BrokerId(u32)
);
id_newtype!(
    /// The index of a client (producer or consumer) in its run; the world keeps its name.
    ClientId(u32)
);
id_newtype!(
    /// A partition's leader epoch: bumped by the controller on every leader change (KAFKA.md 3.5).
    LeaderEpoch(u32)
);
id_newtype!(
    /// A partition's partition epoch: bumped on every change of the partition's registration.
    PartitionEpoch(u32)
);
id_newtype!(
    /// A broker's epoch: the metadata offset of its registration record, new on each registration.
    BrokerEpoch(u64)
);
id_newtype!(
    /// An idempotent producer's id, handed out by the controller in blocks (KAFKA.md 4.1).
    ProducerId(u64)
);
id_newtype!(
    /// An idempotent producer's epoch.
    ProducerEpoch(u16)
);
id_newtype!(
    /// An offset in a partition's log, or in the cluster metadata log.
    Offset(u64)
);

impl Offset {
    /// The offset after this one.
    pub fn next(self) -> Offset {
        Offset(self.0 + 1)
    }

    /// This offset moved forward by `n`.
    pub fn plus(self, n: u64) -> Offset {
        Offset(self.0 + n)
    }
}

impl LeaderEpoch {
    /// The epoch after this one.
    pub fn next(self) -> LeaderEpoch {
        LeaderEpoch(self.0 + 1)
    }
}

impl PartitionEpoch {
    /// The epoch after this one.
    pub fn next(self) -> PartitionEpoch {
        PartitionEpoch(self.0 + 1)
    }
}

/// A record sequence number of an idempotent producer. Kafka's is a Java `int` that wraps from
/// `Integer.MAX_VALUE` to 0 (KAFKA.md 4.1), which is what `plus` does.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Sequence(pub u32);

impl Sequence {
    /// The largest sequence; the one after it is 0.
    pub const MAX: u32 = i32::MAX as u32;

    /// This sequence moved forward by `n`, wrapping past `Integer.MAX_VALUE` to 0.
    pub fn plus(self, n: u32) -> Sequence {
        let modulus = u64::from(Self::MAX) + 1;
        Sequence(((u64::from(self.0) + u64::from(n)) % modulus) as u32)
    }
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A topic name. Cheap to clone, because partitions and requests carry it everywhere.
///
/// Comparisons first check whether both names are the same allocation: every copy of a name in
/// a run is a clone of one `Arc`, and partition-keyed maps compare names on every lookup.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicName(pub Arc<str>);

impl std::hash::Hash for TopicName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for TopicName {
    fn eq(&self, other: &TopicName) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for TopicName {}

impl PartialOrd for TopicName {
    fn partial_cmp(&self, other: &TopicName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicName {
    fn cmp(&self, other: &TopicName) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            std::cmp::Ordering::Equal
        } else {
            self.0.cmp(&other.0)
        }
    }
}

impl TopicName {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TopicName {
    fn from(s: &str) -> TopicName {
        TopicName(Arc::from(s))
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A partition of a topic, written `topic/partition` in scenarios and `topic-partition` where
/// Kafka's tools print it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// The topic.
    pub topic: TopicName,
    /// The partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// The partition `partition` of `topic`.
    pub fn new(topic: impl Into<TopicName>, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Any node of the simulated cluster: the one active controller, a broker, a client, or the
/// operator (admin commands such as creating a topic or triggering an election).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeId {
    /// The active KRaft controller (one for now; a quorum may come later).
    Controller,
    /// A broker.
    Broker(BrokerId),
    /// A producer or consumer client.
    Client(ClientId),
    /// The operator's admin tool.
    Admin,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::Controller => f.write_str("controller"),
            NodeId::Broker(b) => write!(f, "broker-{b}"),
            NodeId::Client(c) => write!(f, "client-{c}"),
            NodeId::Admin => f.write_str("admin"),
        }
    }
}

/// The error when a node id does not read as `controller`, `broker-N`, `client-N` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNodeIdError(pub String);

impl fmt::Display for ParseNodeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a node id (expected controller, broker-N, client-N or admin)",
            self.0
        )
    }
}

impl std::error::Error for ParseNodeIdError {}

impl FromStr for NodeId {
    type Err = ParseNodeIdError;
    fn from_str(s: &str) -> Result<NodeId, ParseNodeIdError> {
        let err = || ParseNodeIdError(s.to_string());
        match s {
            "controller" => Ok(NodeId::Controller),
            "admin" => Ok(NodeId::Admin),
            _ => {
                if let Some(n) = s.strip_prefix("broker-") {
                    n.parse()
                        .map(|n| NodeId::Broker(BrokerId(n)))
                        .map_err(|_| err())
                } else if let Some(n) = s.strip_prefix("client-") {
                    n.parse()
                        .map(|n| NodeId::Client(ClientId(n)))
                        .map_err(|_| err())
                } else {
                    Err(err())
                }
            }
        }
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_like_a_java_int() {
        assert_eq!(Sequence(Sequence::MAX).plus(1), Sequence(0));
        assert_eq!(Sequence(Sequence::MAX - 1).plus(3), Sequence(1));
        assert_eq!(Sequence(5).plus(4), Sequence(9));
    }

    #[test]
    fn node_ids_round_trip_through_text() {
        for id in [
            NodeId::Controller,
            NodeId::Admin,
            NodeId::Broker(BrokerId(3)),
            NodeId::Client(ClientId(12)),
        ] {
            assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
        }
        assert!("broker-x".parse::<NodeId>().is_err());
        assert!("leader".parse::<NodeId>().is_err());
    }
}
