//! The records the group coordinator writes to `__consumer_offsets`: committed offsets and
//! group metadata, keyed as Kafka keys them (`OffsetCommitKey` by group, topic and partition;
//! `GroupMetadataKey` by group), so that the latest record per key is the state.
//!
//! Kafka encodes them with its own schemas; the model writes the same fields as JSON (with
//! [`crate::json`]), which the classroom can show as they are. A coordinator that takes over a partition rebuilds its
//! groups by replaying these records (`GroupMetadataManager.replay`).

use crate::bytes::Bytes;
use crate::group::Subscription;
use crate::ids::{LeaderEpoch, Offset, TopicPartition};
use crate::json::{self, Json, ObjectWriter, Value, json_struct};
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
                value.as_ref().map(json::to_string),
            ),
            OffsetsRecord::Group(group, value) => (
                OffsetsKey::Group {
                    group: group.clone(),
                },
                value.as_ref().map(json::to_string),
            ),
        };
        Record {
            key: Some(Bytes::from(json::to_string(&key).into_bytes())),
            value: value.map(|v| Bytes::from(v.into_bytes())),
            timestamp,
        }
    }

    /// Decodes a record; `None` for a record that is not the coordinator's (ignored on load,
    /// as Kafka skips unknown record types).
    pub fn decode(record: &Record) -> Option<OffsetsRecord> {
        let key: OffsetsKey = json::from_slice(record.key.as_ref()?.as_slice())?;
        let value = record.value.as_ref().map(Bytes::as_slice);
        Some(match key {
            OffsetsKey::Offset {
                group,
                topic_partition,
            } => OffsetsRecord::Offset(
                group,
                topic_partition,
                match value {
                    Some(v) => Some(json::from_slice(v)?),
                    None => None,
                },
            ),
            OffsetsKey::Group { group } => OffsetsRecord::Group(
                group,
                match value {
                    Some(v) => Some(json::from_slice(v)?),
                    None => None,
                },
            ),
        })
    }
}

// The JSON of each record type: its fields in declaration order, as serde writes them (the
// tests compare the two).

impl Json for OffsetsKey {
    fn write(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        match self {
            OffsetsKey::Offset {
                group,
                topic_partition,
            } => object
                .text("type", "offset")
                .field("group", group)
                .field("topic_partition", topic_partition),
            OffsetsKey::Group { group } => object.text("type", "group").field("group", group),
        }
        .end();
    }
    fn read(value: &Value) -> Option<Self> {
        match value.get("type")?.as_str()? {
            "offset" => Some(OffsetsKey::Offset {
                group: value.field("group")?,
                topic_partition: value.field("topic_partition")?,
            }),
            "group" => Some(OffsetsKey::Group {
                group: value.field("group")?,
            }),
            _ => None,
        }
    }
}

json_struct!(OffsetValue {
    offset,
    leader_epoch,
    commit_time
});
json_struct!(Subscription {
    topics,
    owned,
    generation
});
json_struct!(GroupProtocol { name, metadata });
json_struct!(MemberValue {
    member_id,
    group_instance_id,
    client_id,
    rebalance_timeout,
    session_timeout,
    subscription,
    assignment,
});
json_struct!(GroupValue {
    protocol_type,
    generation,
    protocol,
    leader,
    members,
});

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
        let member = |id: &str, subscription: Option<GroupProtocol>| MemberValue {
            member_id: id.into(),
            group_instance_id: subscription.as_ref().map(|_| "static-1".into()),
            client_id: "c".into(),
            rebalance_timeout: Duration(300_000),
            session_timeout: Duration(45_000),
            subscription,
            assignment: vec![TopicPartition::new("orders", 0)],
        };
        let group = OffsetsRecord::Group(
            "billing".into(),
            Some(GroupValue {
                protocol_type: Some("consumer".into()),
                generation: 2,
                protocol: Some("range".into()),
                leader: Some("c-1".into()),
                members: vec![
                    member("c-1", None),
                    member(
                        "c-2",
                        Some(GroupProtocol {
                            name: "cooperative-sticky".into(),
                            metadata: Subscription {
                                topics: vec!["orders".into()],
                                owned: vec![TopicPartition::new("orders", 1)],
                                generation: Some(-1),
                            },
                        }),
                    ),
                ],
            }),
        );
        let empty = OffsetsRecord::Group(
            "g".into(),
            Some(GroupValue {
                protocol_type: None,
                generation: 0,
                protocol: None,
                leader: None,
                members: vec![],
            }),
        );
        let no_epoch = OffsetsRecord::Offset(
            "g".into(),
            TopicPartition::new("t", 0),
            Some(OffsetValue {
                offset: Offset(0),
                leader_epoch: None,
                commit_time: Instant(0),
            }),
        );
        for r in [
            offset,
            group,
            empty,
            no_epoch,
            OffsetsRecord::Group("g".into(), None),
        ] {
            let record = r.encode(Instant(7));
            // The bytes are what serde writes, so records keep their sizes.
            let (key, value) = match &r {
                OffsetsRecord::Offset(group, tp, v) => (
                    serde_json::to_string(&OffsetsKey::Offset {
                        group: group.clone(),
                        topic_partition: tp.clone(),
                    }),
                    v.as_ref().map(|v| serde_json::to_string(v).unwrap()),
                ),
                OffsetsRecord::Group(group, v) => (
                    serde_json::to_string(&OffsetsKey::Group {
                        group: group.clone(),
                    }),
                    v.as_ref().map(|v| serde_json::to_string(v).unwrap()),
                ),
            };
            assert_eq!(
                record.key.as_ref().unwrap().as_slice(),
                key.unwrap().as_bytes()
            );
            assert_eq!(
                record.value.as_ref().map(|v| v.as_slice().to_vec()),
                value.map(String::into_bytes)
            );
            assert_eq!(OffsetsRecord::decode(&record), Some(r));
        }
        let foreign = Record {
            key: Some(Bytes::from(b"not json".to_vec())),
            value: None,
            timestamp: Instant(0),
        };
        assert_eq!(OffsetsRecord::decode(&foreign), None);
    }
}
