//! The records the group coordinator writes to `__consumer_offsets`: committed offsets and
//! group metadata, keyed as Kafka keys them (`OffsetCommitKey` by group, topic and partition;
//! `GroupMetadataKey` by group), so that the latest record per key is the state.
//!
//! Kafka encodes them with its own schemas; the model writes the same fields as JSON, which
//! the classroom can show as they are. A coordinator that takes over a partition rebuilds its
//! groups by replaying these records (`GroupMetadataManager.replay`).

use crate::bytes::Bytes;
use crate::ids::{LeaderEpoch, Offset, TopicPartition};
use crate::protocol::GroupProtocol;
use crate::record::Record;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// The key of a `__consumer_offsets` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OffsetsKey {
    /// A committed offset (`OffsetCommitKey`).
    Offset {
        /// The group.
        group: String,
        /// The partition.
        topic_partition: TopicPartition,
    },
    /// A group's metadata (`GroupMetadataKey`).
    Group {
        /// The group.
        group: String,
    },
}

/// A committed offset (`OffsetCommitValue`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetValue {
    /// The next offset to consume.
    pub offset: Offset,
    /// The leader epoch of the last consumed record.
    pub leader_epoch: Option<LeaderEpoch>,
    /// When the coordinator accepted the commit.
    pub commit_time: Instant,
}

/// One member in a group's metadata (`GroupMetadataValue.MemberMetadata`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberValue {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Its rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Its session timeout.
    pub session_timeout: Duration,
    /// Its subscription for the group's protocol.
    pub subscription: Option<GroupProtocol>,
    /// Its assignment.
    pub assignment: Vec<TopicPartition>,
}

/// A group's metadata (`GroupMetadataValue`), written when a generation is completed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupValue {
    /// The protocol type (`consumer`).
    pub protocol_type: Option<String>,
    /// The generation.
    pub generation: i32,
    /// The chosen assignor.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members.
    pub members: Vec<MemberValue>,
}

/// A decoded `__consumer_offsets` record: a value, or a tombstone (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OffsetsRecord {
    /// A committed offset, or its deletion.
    Offset(String, TopicPartition, Option<OffsetValue>),
    /// Group metadata, or the group's deletion.
    Group(String, Option<GroupValue>),
}

impl OffsetsRecord {
    /// The record to append.
    pub fn encode(&self, timestamp: Instant) -> Record {
        let (key, value) = match self {
            OffsetsRecord::Offset(group, tp, value) => (
                OffsetsKey::Offset {
                    group: group.clone(),
                    topic_partition: tp.clone(),
                },
                value.as_ref().map(to_json),
            ),
            OffsetsRecord::Group(group, value) => (
                OffsetsKey::Group {
                    group: group.clone(),
                },
                value.as_ref().map(to_json),
            ),
        };
        Record {
            key: Some(Bytes::from(to_json(&key).into_bytes())),
            value: value.map(|v| Bytes::from(v.into_bytes())),
            timestamp,
        }
    }

    /// Decodes a record; `None` for a record that is not the coordinator's (ignored on load,
    /// as Kafka skips unknown record types).
    pub fn decode(record: &Record) -> Option<OffsetsRecord> {
        let key: OffsetsKey = serde_json::from_slice(record.key.as_ref()?.as_slice()).ok()?;
        let value = record.value.as_ref().map(Bytes::as_slice);
        Some(match key {
            OffsetsKey::Offset {
                group,
                topic_partition,
            } => OffsetsRecord::Offset(
                group,
                topic_partition,
                match value {
                    Some(v) => Some(serde_json::from_slice(v).ok()?),
                    None => None,
                },
            ),
            OffsetsKey::Group { group } => OffsetsRecord::Group(
                group,
                match value {
                    Some(v) => Some(serde_json::from_slice(v).ok()?),
                    None => None,
                },
            ),
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // These types hold only strings, numbers and lists, which always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let offset = OffsetsRecord::Offset(
            "billing".into(),
            TopicPartition::new("orders", 2),
            Some(OffsetValue {
                offset: Offset(41),
                leader_epoch: Some(LeaderEpoch(3)),
                commit_time: Instant(1500),
            }),
        );
        let group = OffsetsRecord::Group(
            "billing".into(),
            Some(GroupValue {
                protocol_type: Some("consumer".into()),
                generation: 2,
                protocol: Some("range".into()),
                leader: Some("c-1".into()),
                members: vec![],
            }),
        );
        for r in [offset, group, OffsetsRecord::Group("g".into(), None)] {
            assert_eq!(OffsetsRecord::decode(&r.encode(Instant(7))), Some(r));
        }
        let foreign = Record {
            key: Some(Bytes::from(b"not json".to_vec())),
            value: None,
            timestamp: Instant(0),
        };
        assert_eq!(OffsetsRecord::decode(&foreign), None);
    }
}
