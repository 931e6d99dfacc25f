//! Configuration with Kafka's names and Kafka's defaults (KAFKA.md 9).
//!
//! A Kafka user reads a scenario without a manual: `min.insync.replicas`, `acks`,
//! `replica.lag.time.max.ms` mean what they mean in Kafka. Each config struct can be set from
//! `name = value` text, and a bad value or an unknown name is an error that names the key.
//! The modelled release is Kafka 4.0 (KRaft); where 4.0 changed a default, the 4.0 value is
//! used and the older one is noted.

use crate::decimal::Rounding;
use crate::protocol::IsolationLevel;
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A configuration error: the key, and what is wrong with its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The config name as written (`min.insync.replicas`).
    pub key: String,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        message: message.into(),
    }
}

fn parse_u64(key: &str, value: &str) -> Result<u64, ConfigError> {
    value.trim().parse().map_err(|_| {
        err(
            key,
            format!("expected a non-negative integer, got `{value}`"),
        )
    })
}

fn parse_i64(key: &str, value: &str) -> Result<i64, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| err(key, format!("expected an integer, got `{value}`")))
}

fn parse_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_u64(key, value).map(Duration::from_millis)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(err(key, format!("expected true or false, got `{value}`"))),
    }
}

fn parse_positive(key: &str, value: &str) -> Result<u64, ConfigError> {
    let v = parse_u64(key, value)?;
    if v == 0 {
        return Err(err(key, "must be at least 1"));
    }
    Ok(v)
}

fn non_empty(key: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(err(key, "must not be empty"));
    }
    Ok(v.to_string())
}

fn parse_positive_u32(key: &str, value: &str) -> Result<u32, ConfigError> {
    u32::try_from(parse_positive(key, value)?).map_err(|_| err(key, "is too large"))
}

/// A broker's (and, in this single-controller model, the controller's) server configuration.
/// It mirrors a KRaft `server.properties` in combined mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerConfig {
    /// `broker.heartbeat.interval.ms` (2000).
    pub broker_heartbeat_interval: Duration,
    /// `broker.session.timeout.ms` (9000): the controller fences a broker silent for this long.
    pub broker_session_timeout: Duration,
    /// `replica.lag.time.max.ms` (30000, KAFKA.md 3.3).
    pub replica_lag_time_max: Duration,
    /// `replica.fetch.wait.max.ms` (500): how long a leader holds an empty follower fetch.
    pub replica_fetch_wait_max: Duration,
    /// `replica.fetch.max.bytes` (1048576).
    pub replica_fetch_max_bytes: u64,
    /// `replica.fetch.backoff.ms` (1000): pause after a fetch error.
    pub replica_fetch_backoff: Duration,
    /// `request.timeout.ms` (30000): a follower gives up on an unanswered fetch (the replica
    /// fetcher's network client uses the broker's request timeout; `replica.socket.timeout.ms`
    /// only bounds connecting).
    pub request_timeout: Duration,
    /// `controller.quorum.request.timeout.ms` (2000): a broker gives up on an unanswered fetch of
    /// the metadata log.
    pub controller_quorum_request_timeout: Duration,
    /// `controller.socket.timeout.ms` (30000): the broker gives up on an unanswered request to
    /// the controller (AlterPartition, registration).
    pub controller_socket_timeout: Duration,
    /// `replica.high.watermark.checkpoint.interval.ms` (5000).
    pub replica_high_watermark_checkpoint_interval: Duration,
    /// `min.insync.replicas` (1): the default for topics that do not set it.
    pub min_insync_replicas: u64,
    /// `unclean.leader.election.enable` (false): the default for topics that do not set it.
    pub unclean_leader_election_enable: bool,
    /// `unclean.leader.election.interval.ms` (300000): the controller's periodic unclean election.
    pub unclean_leader_election_interval: Duration,
    /// `auto.leader.rebalance.enable` (true).
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds` (300), kept in milliseconds.
    pub leader_imbalance_check_interval: Duration,
    /// `log.flush.interval.messages` (Long.MAX_VALUE): fsync after this many appended records.
    pub log_flush_interval_messages: u64,
    /// `log.flush.interval.ms` (unset): fsync a log whose oldest unflushed record is this old.
    pub log_flush_interval: Option<Duration>,
    /// `offsets.topic.num.partitions` (50): partitions of `__consumer_offsets`.
    pub offsets_topic_num_partitions: u32,
    /// `offsets.topic.replication.factor` (3), capped at the number of brokers when the topic
    /// is created.
    pub offsets_topic_replication_factor: u32,
    /// `offsets.commit.timeout.ms` (5000): how long a coordinator write may wait for the
    /// offsets partition's high watermark before the request fails.
    pub offsets_commit_timeout: Duration,
    /// `group.initial.rebalance.delay.ms` (3000).
    pub group_initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms` (6000).
    pub group_min_session_timeout: Duration,
    /// `group.max.session.timeout.ms` (1800000).
    pub group_max_session_timeout: Duration,
    /// The join timeout of a new member (`classicGroupNewMemberJoinTimeoutMs`, 300000): a
    /// member that has never completed a join is removed after this long, whatever its session.
    pub group_new_member_join_timeout: Duration,
    /// `log.segment.bytes` (1073741824): the default `segment.bytes` of topics. Kafka 4.0 refuses
    /// less than 1 MiB here (KIP-1030, KAFKA-16368).
    pub log_segment_bytes: u64,
    /// `log.roll.ms` (unset): the default `segment.ms`; when unset, `log.roll.hours` decides.
    pub log_roll_ms: Option<Duration>,
    /// `log.roll.hours` (168).
    pub log_roll_hours: u64,
    /// `log.retention.ms` (unset): the default `retention.ms`, -1 for unlimited; when unset,
    /// `log.retention.minutes` and then `log.retention.hours` decide.
    pub log_retention_ms: Option<i64>,
    /// `log.retention.minutes` (unset).
    pub log_retention_minutes: Option<i64>,
    /// `log.retention.hours` (168).
    pub log_retention_hours: i64,
    /// `log.retention.bytes` (-1, unlimited): the default `retention.bytes`.
    pub log_retention_bytes: Option<u64>,
    /// `log.cleanup.policy` (delete): the default `cleanup.policy`.
    pub log_cleanup_policy: CleanupPolicy,
    /// `log.retention.check.interval.ms` (300000): how often the retention task looks at every
    /// log (`LogManager`'s `kafka-log-retention` task).
    pub log_retention_check_interval: Duration,
    /// `log.initial.task.delay.ms` (30000, an internal config): how long after its start a broker
    /// waits before the first run of its periodic log tasks, retention among them.
    pub log_initial_task_delay: Duration,
    /// `offsets.topic.segment.bytes` (104857600): `segment.bytes` of `__consumer_offsets`.
    pub offsets_topic_segment_bytes: u64,
    /// `log.cleaner.enable` (true): whether the broker runs its log cleaner.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.backoff.ms` (15000): how long the cleaner sleeps when no log needs cleaning.
    pub log_cleaner_backoff: Duration,
    /// `log.cleaner.delete.retention.ms` (86400000): the default `delete.retention.ms`.
    pub log_cleaner_delete_retention: Duration,
    /// `log.cleaner.min.compaction.lag.ms` (0): the default `min.compaction.lag.ms`.
    pub log_cleaner_min_compaction_lag: Duration,
    /// `log.cleaner.max.compaction.lag.ms` (Long.MAX_VALUE, here `None`): the default
    /// `max.compaction.lag.ms`.
    pub log_cleaner_max_compaction_lag: Option<Duration>,
    /// `log.cleaner.min.cleanable.ratio` (0.5), in millionths: the default
    /// `min.cleanable.dirty.ratio`.
    pub log_cleaner_min_cleanable_ratio: u32,
    /// `transaction.state.log.num.partitions` (50): partitions of `__transaction_state`.
    pub transaction_state_log_num_partitions: u32,
    /// `transaction.state.log.replication.factor` (3), capped at the number of brokers.
    pub transaction_state_log_replication_factor: u32,
    /// `transaction.state.log.min.isr` (2): `min.insync.replicas` of `__transaction_state`.
    pub transaction_state_log_min_isr: u64,
    /// `transaction.state.log.segment.bytes` (104857600).
    pub transaction_state_log_segment_bytes: u64,
    /// `transaction.max.timeout.ms` (900000): the largest `transaction.timeout.ms` a producer
    /// may ask for.
    pub transaction_max_timeout: Duration,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10000): how often the
    /// coordinator aborts transactions open longer than their timeout.
    pub transaction_abort_interval: Duration,
    /// The `transaction.version` feature (2, Kafka 4.0's default for a new cluster): at 2 every
    /// EndTxn bumps the producer epoch (KIP-890 part 2); at 1 it does not (KAFKA-17754). Kafka
    /// sets it with `kafka-features`; the model reads it as a broker setting.
    pub transaction_version: u32,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            broker_heartbeat_interval: Duration::from_millis(2000),
            broker_session_timeout: Duration::from_millis(9000),
            replica_lag_time_max: Duration::from_millis(30_000),
            replica_fetch_wait_max: Duration::from_millis(500),
            replica_fetch_max_bytes: 1_048_576,
            replica_fetch_backoff: Duration::from_millis(1000),
            request_timeout: Duration::from_millis(30_000),
            controller_quorum_request_timeout: Duration::from_millis(2000),
            controller_socket_timeout: Duration::from_millis(30_000),
            replica_high_watermark_checkpoint_interval: Duration::from_millis(5000),
            min_insync_replicas: 1,
            unclean_leader_election_enable: false,
            unclean_leader_election_interval: Duration::from_millis(300_000),
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval: Duration::from_secs(300),
            log_flush_interval_messages: u64::MAX,
            log_flush_interval: None,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            offsets_commit_timeout: Duration::from_millis(5000),
            group_initial_rebalance_delay: Duration::from_millis(3000),
            group_min_session_timeout: Duration::from_millis(6000),
            group_max_session_timeout: Duration::from_millis(1_800_000),
            group_new_member_join_timeout: Duration::from_millis(300_000),
            log_segment_bytes: DEFAULT_SEGMENT_BYTES,
            log_roll_ms: None,
            log_roll_hours: 168,
            log_retention_ms: None,
            log_retention_minutes: None,
            log_retention_hours: 168,
            log_retention_bytes: None,
            log_cleanup_policy: CleanupPolicy::DELETE,
            log_retention_check_interval: Duration::from_millis(300_000),
            log_initial_task_delay: Duration::from_millis(30_000),
            offsets_topic_segment_bytes: 104_857_600,
            log_cleaner_enable: true,
            log_cleaner_backoff: Duration::from_millis(15_000),
            log_cleaner_delete_retention: Duration::from_millis(86_400_000),
            log_cleaner_min_compaction_lag: Duration(0),
            log_cleaner_max_compaction_lag: None,
            log_cleaner_min_cleanable_ratio: 500_000,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_replication_factor: 3,
            transaction_state_log_min_isr: 2,
            transaction_state_log_segment_bytes: 104_857_600,
            transaction_max_timeout: Duration::from_millis(900_000),
            transaction_abort_interval: Duration::from_millis(10_000),
            transaction_version: 2,
        }
    }
}

impl BrokerConfig {
    /// Every key `set` accepts.
    pub const KEYS: &'static [&'static str] = &[
        "broker.heartbeat.interval.ms",
        "broker.session.timeout.ms",
        "replica.lag.time.max.ms",
        "replica.fetch.wait.max.ms",
        "replica.fetch.max.bytes",
        "replica.fetch.backoff.ms",
        "request.timeout.ms",
        "controller.quorum.request.timeout.ms",
        "controller.socket.timeout.ms",
        "replica.high.watermark.checkpoint.interval.ms",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "unclean.leader.election.interval.ms",
        "auto.leader.rebalance.enable",
        "leader.imbalance.check.interval.seconds",
        "log.flush.interval.messages",
        "log.flush.interval.ms",
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
        "offsets.commit.timeout.ms",
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "log.segment.bytes",
        "log.roll.ms",
        "log.roll.hours",
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
        "log.retention.bytes",
        "log.cleanup.policy",
        "log.retention.check.interval.ms",
        "log.initial.task.delay.ms",
        "offsets.topic.segment.bytes",
        "log.cleaner.enable",
        "log.cleaner.backoff.ms",
        "log.cleaner.delete.retention.ms",
        "log.cleaner.min.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        "log.cleaner.min.cleanable.ratio",
        "transaction.state.log.num.partitions",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "transaction.state.log.segment.bytes",
        "transaction.max.timeout.ms",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "transaction.version",
    ];

    /// Sets one config by its Kafka name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "broker.heartbeat.interval.ms" => {
                self.broker_heartbeat_interval = Duration(parse_positive(key, value)?)
            }
            "broker.session.timeout.ms" => {
                self.broker_session_timeout = Duration(parse_positive(key, value)?)
            }
            "replica.lag.time.max.ms" => {
                self.replica_lag_time_max = Duration(parse_positive(key, value)?)
            }
            "replica.fetch.wait.max.ms" => self.replica_fetch_wait_max = parse_ms(key, value)?,
            "replica.fetch.max.bytes" => self.replica_fetch_max_bytes = parse_positive(key, value)?,
            "replica.fetch.backoff.ms" => self.replica_fetch_backoff = parse_ms(key, value)?,
            "request.timeout.ms" => self.request_timeout = Duration(parse_positive(key, value)?),
            "controller.quorum.request.timeout.ms" => {
                self.controller_quorum_request_timeout = Duration(parse_positive(key, value)?)
            }
            "controller.socket.timeout.ms" => {
                self.controller_socket_timeout = Duration(parse_positive(key, value)?)
            }
            "replica.high.watermark.checkpoint.interval.ms" => {
                self.replica_high_watermark_checkpoint_interval =
                    Duration(parse_positive(key, value)?)
            }
            "min.insync.replicas" => self.min_insync_replicas = parse_positive(key, value)?,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = parse_bool(key, value)?
            }
            "unclean.leader.election.interval.ms" => {
                self.unclean_leader_election_interval = Duration(parse_positive(key, value)?)
            }
            "auto.leader.rebalance.enable" => {
                self.auto_leader_rebalance_enable = parse_bool(key, value)?
            }
            "leader.imbalance.check.interval.seconds" => {
                self.leader_imbalance_check_interval =
                    Duration::from_secs(parse_positive(key, value)?)
            }
            "log.flush.interval.messages" => {
                self.log_flush_interval_messages = parse_positive(key, value)?
            }
            "log.flush.interval.ms" => {
                self.log_flush_interval = Some(Duration(parse_positive(key, value)?))
            }
            "offsets.topic.num.partitions" => {
                self.offsets_topic_num_partitions = parse_positive_u32(key, value)?
            }
            "offsets.topic.replication.factor" => {
                self.offsets_topic_replication_factor = parse_positive_u32(key, value)?
            }
            "offsets.commit.timeout.ms" => {
                self.offsets_commit_timeout = Duration(parse_positive(key, value)?)
            }
            "group.initial.rebalance.delay.ms" => {
                self.group_initial_rebalance_delay = parse_ms(key, value)?
            }
            "group.min.session.timeout.ms" => {
                self.group_min_session_timeout = Duration(parse_positive(key, value)?)
            }
            "group.max.session.timeout.ms" => {
                self.group_max_session_timeout = Duration(parse_positive(key, value)?)
            }
            "log.segment.bytes" => {
                let v = parse_u64(key, value)?;
                if v < MIN_BROKER_SEGMENT_BYTES {
                    return Err(err(
                        key,
                        format!(
                            "must be at least {MIN_BROKER_SEGMENT_BYTES} (1 MiB, Kafka 4.0); a topic's segment.bytes may be smaller"
                        ),
                    ));
                }
                self.log_segment_bytes = at_most_int(key, v)?;
            }
            "log.roll.ms" => self.log_roll_ms = Some(Duration(parse_positive(key, value)?)),
            "log.roll.hours" => self.log_roll_hours = parse_positive(key, value)?,
            "log.retention.ms" => self.log_retention_ms = Some(parse_i64(key, value)?),
            "log.retention.minutes" => self.log_retention_minutes = Some(parse_i64(key, value)?),
            "log.retention.hours" => self.log_retention_hours = parse_i64(key, value)?,
            "log.retention.bytes" => self.log_retention_bytes = parse_retention_bytes(key, value)?,
            "log.cleanup.policy" => self.log_cleanup_policy = CleanupPolicy::parse(key, value)?,
            "log.retention.check.interval.ms" => {
                self.log_retention_check_interval = Duration(parse_positive(key, value)?)
            }
            "log.initial.task.delay.ms" => self.log_initial_task_delay = parse_ms(key, value)?,
            "offsets.topic.segment.bytes" => {
                self.offsets_topic_segment_bytes = at_most_int(key, parse_positive(key, value)?)?
            }
            "log.cleaner.enable" => self.log_cleaner_enable = parse_bool(key, value)?,
            "log.cleaner.backoff.ms" => self.log_cleaner_backoff = parse_ms(key, value)?,
            "log.cleaner.delete.retention.ms" => {
                self.log_cleaner_delete_retention = parse_ms(key, value)?
            }
            "log.cleaner.min.compaction.lag.ms" => {
                self.log_cleaner_min_compaction_lag = parse_ms(key, value)?
            }
            "log.cleaner.max.compaction.lag.ms" => {
                self.log_cleaner_max_compaction_lag = parse_max_compaction_lag(key, value)?
            }
            "log.cleaner.min.cleanable.ratio" => {
                self.log_cleaner_min_cleanable_ratio = parse_ratio(key, value)?
            }
            "transaction.state.log.num.partitions" => {
                self.transaction_state_log_num_partitions = parse_positive_u32(key, value)?
            }
            "transaction.state.log.replication.factor" => {
                self.transaction_state_log_replication_factor = parse_positive_u32(key, value)?
            }
            "transaction.state.log.min.isr" => {
                self.transaction_state_log_min_isr = parse_positive(key, value)?
            }
            "transaction.state.log.segment.bytes" => {
                self.transaction_state_log_segment_bytes =
                    at_most_int(key, parse_positive(key, value)?)?
            }
            "transaction.max.timeout.ms" => {
                self.transaction_max_timeout = Duration(parse_positive(key, value)?)
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.transaction_abort_interval = Duration(parse_positive(key, value)?)
            }
            "transaction.version" => {
                self.transaction_version = match value.trim() {
                    "0" | "1" => 1,
                    "2" => 2,
                    _ => return Err(err(key, format!("expected 0, 1 or 2, got `{value}`"))),
                }
            }
            _ => return Err(unknown_key(key, Self::KEYS)),
        }
        Ok(())
    }

    /// The defaults a topic inherits from this broker (`LogConfig`'s server synonyms:
    /// `log.segment.bytes` for `segment.bytes`, `log.roll.ms` or `log.roll.hours` for
    /// `segment.ms`, `log.retention.ms`, `.minutes` or `.hours` for `retention.ms`, ...).
    pub fn topic_defaults(&self) -> TopicConfig {
        let roll = self
            .log_roll_ms
            .unwrap_or(Duration(self.log_roll_hours * 3_600_000));
        // `KafkaConfig.logRetentionTimeMillis`: the most precise setting wins; a negative value
        // means unlimited.
        let retention = self
            .log_retention_ms
            .or(self.log_retention_minutes.map(|m| m.saturating_mul(60_000)))
            .unwrap_or(self.log_retention_hours.saturating_mul(3_600_000));
        TopicConfig {
            min_insync_replicas: self.min_insync_replicas,
            unclean_leader_election_enable: self.unclean_leader_election_enable,
            cleanup_policy: self.log_cleanup_policy,
            segment_bytes: self.log_segment_bytes,
            segment_ms: roll,
            retention_ms: u64::try_from(retention).ok().map(Duration),
            retention_bytes: self.log_retention_bytes,
            delete_retention_ms: self.log_cleaner_delete_retention,
            min_compaction_lag_ms: self.log_cleaner_min_compaction_lag,
            max_compaction_lag_ms: self.log_cleaner_max_compaction_lag,
            min_cleanable_dirty_ratio: self.log_cleaner_min_cleanable_ratio,
        }
    }

    /// The configuration `__consumer_offsets` is created with
    /// (`GroupCoordinatorService.groupMetadataTopicConfigs`): compacted, with segments of
    /// `offsets.topic.segment.bytes`.
    pub fn offsets_topic_config(&self) -> TopicConfig {
        TopicConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            segment_bytes: self.offsets_topic_segment_bytes,
            ..self.topic_defaults()
        }
    }
}

impl BrokerConfig {
    /// The configuration `__transaction_state` is created with (`TransactionLog`'s topic
    /// configs): compacted, `min.insync.replicas` from `transaction.state.log.min.isr`, segments
    /// of `transaction.state.log.segment.bytes`, no unclean elections.
    pub fn transaction_state_topic_config(&self) -> TopicConfig {
        TopicConfig {
            cleanup_policy: CleanupPolicy::COMPACT,
            segment_bytes: self.transaction_state_log_segment_bytes,
            min_insync_replicas: self.transaction_state_log_min_isr,
            unclean_leader_election_enable: false,
            ..self.topic_defaults()
        }
    }
}

/// Kafka's default `segment.bytes` (1 GiB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 1_073_741_824;

/// The smallest `log.segment.bytes` Kafka 4.0 accepts (KIP-1030).
pub const MIN_BROKER_SEGMENT_BYTES: u64 = 1_048_576;

/// The smallest topic `segment.bytes` Kafka 4.0 accepts: `LegacyRecord.RECORD_OVERHEAD_V0`.
/// (4.1 raises it to 1 MiB and adds the internal `internal.segment.bytes` for tests, KAFKA-19080.)
pub const MIN_TOPIC_SEGMENT_BYTES: u64 = 14;

/// Segment sizes are Java `int`s.
fn at_most_int(key: &str, v: u64) -> Result<u64, ConfigError> {
    if v > i32::MAX as u64 {
        return Err(err(key, format!("must be at most {}", i32::MAX)));
    }
    Ok(v)
}

/// `max.compaction.lag.ms`: at least 1; Java's `Long.MAX_VALUE`, the default, is `None`.
fn parse_max_compaction_lag(key: &str, value: &str) -> Result<Option<Duration>, ConfigError> {
    let v = parse_positive(key, value)?;
    Ok((v < i64::MAX as u64).then_some(Duration(v)))
}

/// A ratio between 0 and 1 (`min.cleanable.dirty.ratio`), kept in millionths so that the
/// configuration stays exact and comparable. Java's `Double.parseDouble` reads it in Kafka; here
/// it is read as an exact decimal, rounded to the nearest millionth. As in Kafka's range check,
/// `-0` is 0 and any other negative number is out of range.
fn parse_ratio(key: &str, value: &str) -> Result<u32, ConfigError> {
    let text = value.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // `scaled` takes a `+` of its own, which must not follow our `-`.
    let read = if negative && digits.starts_with('+') {
        None
    } else {
        crate::decimal::scaled(digits, 1_000_000)
    };
    let v = read.ok_or_else(|| {
        err(
            key,
            format!("expected a number between 0 and 1, got `{value}`"),
        )
    })?;
    // 0.9999996 rounds up to a million millionths and is in range; 1.0000001 rounds down to it
    // and is not.
    let above_one = v.value > 1_000_000 || (v.value == 1_000_000 && v.rounding == Rounding::Down);
    let below_zero = negative && (v.value > 0 || v.rounding != Rounding::Exact);
    if above_one || below_zero {
        return Err(err(key, format!("must be between 0 and 1, got `{value}`")));
    }
    Ok(v.value as u32)
}

/// `retention.bytes`: any negative value means unlimited.
fn parse_retention_bytes(key: &str, value: &str) -> Result<Option<u64>, ConfigError> {
    Ok(u64::try_from(parse_i64(key, value)?).ok())
}

/// `cleanup.policy`: `delete`, `compact`, or both (`compact,delete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupPolicy {
    /// Old segments are deleted by time and size (`retention.ms`, `retention.bytes`).
    pub delete: bool,
    /// The log cleaner keeps the latest record of each key.
    pub compact: bool,
}

impl CleanupPolicy {
    /// `delete`, Kafka's default.
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    /// `compact`.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };

    /// Reads a comma-separated list of `delete` and `compact` (`ValidList.in(compact, delete)`).
    pub fn parse(key: &str, value: &str) -> Result<CleanupPolicy, ConfigError> {
        let mut p = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for v in value.split(',').map(|v| v.trim().to_ascii_lowercase()) {
            match v.as_str() {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => {
                    return Err(err(
                        key,
                        format!("expected delete, compact or compact,delete, got `{value}`"),
                    ));
                }
            }
        }
        Ok(p)
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        })
    }
}

fn unknown_key(key: &str, known: &[&str]) -> ConfigError {
    err(key, format!("unknown config (known: {})", known.join(", ")))
}

/// A topic's configuration (the per-topic overrides of KAFKA.md 9.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// `min.insync.replicas` (1). The effective value is capped at the replication factor
    /// (KAFKA.md 3.2, Kafka 3.7+).
    pub min_insync_replicas: u64,
    /// `unclean.leader.election.enable` (false since 0.11).
    pub unclean_leader_election_enable: bool,
    /// `cleanup.policy` (delete, KAFKA.md 6.2).
    pub cleanup_policy: CleanupPolicy,
    /// `segment.bytes` (1073741824): the active segment rolls when an append would take it
    /// past this size (KAFKA.md 6.1).
    pub segment_bytes: u64,
    /// `segment.ms` (604800000, 7 days): the active segment rolls when an append's timestamp is
    /// this much newer than its first batch's.
    pub segment_ms: Duration,
    /// `retention.ms` (604800000, 7 days; -1, here `None`, for unlimited): a segment whose
    /// newest record is older than this may be deleted (KAFKA.md 6.2).
    pub retention_ms: Option<Duration>,
    /// `retention.bytes` (-1, here `None`, for unlimited): the oldest segments are deleted while
    /// the partition stays at least this large without them.
    pub retention_bytes: Option<u64>,
    /// `delete.retention.ms` (86400000, 1 day): how long a tombstone survives after the first
    /// cleaning that kept it (KAFKA.md 6.3).
    pub delete_retention_ms: Duration,
    /// `min.compaction.lag.ms` (0): a segment whose newest record is younger is not cleaned.
    pub min_compaction_lag_ms: Duration,
    /// `max.compaction.lag.ms` (Long.MAX_VALUE, here `None`): a log whose oldest dirty segment
    /// started longer ago is cleaned whatever its dirty ratio.
    pub max_compaction_lag_ms: Option<Duration>,
    /// `min.cleanable.dirty.ratio` (0.5), in millionths: a log is cleaned when its dirty bytes
    /// are more than this share of its bytes.
    pub min_cleanable_dirty_ratio: u32,
}

impl Default for TopicConfig {
    fn default() -> TopicConfig {
        BrokerConfig::default().topic_defaults()
    }
}

impl TopicConfig {
    /// Every key `set` accepts.
    pub const KEYS: &'static [&'static str] = &[
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "cleanup.policy",
        "segment.bytes",
        "segment.ms",
        "retention.ms",
        "retention.bytes",
        "delete.retention.ms",
        "min.compaction.lag.ms",
        "max.compaction.lag.ms",
        "min.cleanable.dirty.ratio",
    ];

    /// Sets one topic config by its Kafka name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "min.insync.replicas" => self.min_insync_replicas = parse_positive(key, value)?,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election_enable = parse_bool(key, value)?
            }
            "cleanup.policy" => self.cleanup_policy = CleanupPolicy::parse(key, value)?,
            "segment.bytes" => {
                let v = parse_u64(key, value)?;
                if v < MIN_TOPIC_SEGMENT_BYTES {
                    return Err(err(
                        key,
                        format!("must be at least {MIN_TOPIC_SEGMENT_BYTES}"),
                    ));
                }
                self.segment_bytes = at_most_int(key, v)?;
            }
            "segment.ms" => self.segment_ms = Duration(parse_positive(key, value)?),
            "retention.ms" => {
                self.retention_ms = match parse_i64(key, value)? {
                    -1 => None,
                    v if v < -1 => return Err(err(key, "must be at least -1 (unlimited)")),
                    v => Some(Duration(v as u64)),
                }
            }
            "retention.bytes" => self.retention_bytes = parse_retention_bytes(key, value)?,
            "delete.retention.ms" => self.delete_retention_ms = parse_ms(key, value)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = parse_ms(key, value)?,
            "max.compaction.lag.ms" => {
                self.max_compaction_lag_ms = parse_max_compaction_lag(key, value)?
            }
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = parse_ratio(key, value)?
            }
            _ => return Err(unknown_key(key, Self::KEYS)),
        }
        Ok(())
    }

    /// `min(min.insync.replicas, replication factor)`: since Kafka 3.7 a min ISR above the
    /// replication factor no longer makes a topic unwritable (KAFKA.md 3.2, KAFKA-15583).
    pub fn effective_min_isr(&self, replication_factor: usize) -> usize {
        (self.min_insync_replicas as usize)
            .min(replication_factor)
            .max(1)
    }

    /// The configs that differ from the broker defaults, as `key=value` (for describe output).
    pub fn overrides(&self, defaults: &TopicConfig) -> Vec<String> {
        let mut out = Vec::new();
        if self.min_insync_replicas != defaults.min_insync_replicas {
            out.push(format!("min.insync.replicas={}", self.min_insync_replicas));
        }
        if self.unclean_leader_election_enable != defaults.unclean_leader_election_enable {
            out.push(format!(
                "unclean.leader.election.enable={}",
                self.unclean_leader_election_enable
            ));
        }
        if self.cleanup_policy != defaults.cleanup_policy {
            out.push(format!("cleanup.policy={}", self.cleanup_policy));
        }
        if self.segment_bytes != defaults.segment_bytes {
            out.push(format!("segment.bytes={}", self.segment_bytes));
        }
        if self.segment_ms != defaults.segment_ms {
            out.push(format!("segment.ms={}", self.segment_ms.0));
        }
        if self.retention_ms != defaults.retention_ms {
            out.push(format!(
                "retention.ms={}",
                self.retention_ms.map_or(-1, |d| d.0 as i64)
            ));
        }
        if self.retention_bytes != defaults.retention_bytes {
            out.push(format!(
                "retention.bytes={}",
                self.retention_bytes.map_or(-1, |b| b as i64)
            ));
        }
        if self.delete_retention_ms != defaults.delete_retention_ms {
            out.push(format!(
                "delete.retention.ms={}",
                self.delete_retention_ms.0
            ));
        }
        if self.min_compaction_lag_ms != defaults.min_compaction_lag_ms {
            out.push(format!(
                "min.compaction.lag.ms={}",
                self.min_compaction_lag_ms.0
            ));
        }
        if self.max_compaction_lag_ms != defaults.max_compaction_lag_ms {
            out.push(format!(
                "max.compaction.lag.ms={}",
                self.max_compaction_lag_ms.map_or(i64::MAX, |d| d.0 as i64)
            ));
        }
        if self.min_cleanable_dirty_ratio != defaults.min_cleanable_dirty_ratio {
            out.push(format!(
                "min.cleanable.dirty.ratio={}",
                crate::decimal::show(u64::from(self.min_cleanable_dirty_ratio), 6)
            ));
        }
        out
    }
}

/// The producer's `acks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Acks {
    /// `acks=0`: no response; nothing is guaranteed.
    #[serde(rename = "0")]
    Zero,
    /// `acks=1`: the leader's own append.
    #[serde(rename = "1")]
    One,
    /// `acks=all` (-1): every member of the ISR, and the ISR at least `min.insync.replicas`.
    #[serde(rename = "all")]
    All,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn wire(self) -> i16 {
        match self {
            Acks::Zero => 0,
            Acks::One => 1,
            Acks::All => -1,
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::Zero => "0",
            Acks::One => "1",
            Acks::All => "all",
        })
    }
}

/// A producer's configuration (KAFKA.md 9.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerConfig {
    /// `acks` (all since 3.0).
    pub acks: Acks,
    /// `enable.idempotence` as set by the user; `None` means left at its default (true).
    pub enable_idempotence: Option<bool>,
    /// `max.in.flight.requests.per.connection` (5).
    pub max_in_flight_requests_per_connection: u64,
    /// `retries` (Integer.MAX_VALUE).
    pub retries: u64,
    /// `delivery.timeout.ms` (120000); `None` means left at its default.
    pub delivery_timeout: Option<Duration>,
    /// `request.timeout.ms` (30000), also the broker-side wait of an acks=all produce.
    pub request_timeout: Duration,
    /// `retry.backoff.ms` (100).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (1000).
    pub retry_backoff_max: Duration,
    /// `linger.ms` (5 since Kafka 4.0, KIP-1030; 0 before).
    pub linger: Duration,
    /// `batch.size` (16384), also the sticky partitioner's switch threshold.
    pub batch_size: u64,
    /// `max.request.size` (1048576).
    pub max_request_size: u64,
    /// `metadata.max.age.ms` (300000).
    pub metadata_max_age: Duration,
    /// `partitioner.ignore.keys` (false).
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable` (true).
    pub partitioner_adaptive_partitioning_enable: bool,
    /// `transactional.id` (none): makes the producer transactional (KAFKA.md 4.2).
    #[serde(default)]
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (60000): how long the coordinator lets a transaction stay open.
    #[serde(default = "default_transaction_timeout")]
    pub transaction_timeout: Duration,
}

fn default_transaction_timeout() -> Duration {
    Duration::from_millis(60_000)
}

impl Default for ProducerConfig {
    fn default() -> ProducerConfig {
        ProducerConfig {
            acks: Acks::All,
            enable_idempotence: None,
            max_in_flight_requests_per_connection: 5,
            retries: i32::MAX as u64,
            delivery_timeout: None,
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            linger: Duration::from_millis(5),
            batch_size: 16_384,
            max_request_size: 1_048_576,
            metadata_max_age: Duration::from_millis(300_000),
            partitioner_ignore_keys: false,
            partitioner_adaptive_partitioning_enable: true,
            transactional_id: None,
            transaction_timeout: default_transaction_timeout(),
        }
    }
}

/// The producer configuration after Kafka's cross-checks
/// (`ProducerConfig.postProcessAndValidateIdempotenceConfigs`, KAFKA.md 4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveProducerConfig {
    /// The configuration as given.
    pub config: ProducerConfig,
    /// Whether idempotence is on after the cross-checks.
    pub idempotence: bool,
    /// `delivery.timeout.ms` after defaulting.
    pub delivery_timeout: Duration,
    /// Why a defaulted idempotence was switched off, if it was (Kafka logs this).
    pub idempotence_disabled_because: Option<String>,
}

impl ProducerConfig {
    /// Every key `set` accepts.
    pub const KEYS: &'static [&'static str] = &[
        "acks",
        "enable.idempotence",
        "max.in.flight.requests.per.connection",
        "retries",
        "delivery.timeout.ms",
        "request.timeout.ms",
        "retry.backoff.ms",
        "retry.backoff.max.ms",
        "linger.ms",
        "batch.size",
        "max.request.size",
        "metadata.max.age.ms",
        "partitioner.ignore.keys",
        "partitioner.adaptive.partitioning.enable",
        "transactional.id",
        "transaction.timeout.ms",
    ];

    /// Sets one producer config by its Kafka name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "acks" => {
                self.acks = match value.trim() {
                    "0" => Acks::Zero,
                    "1" => Acks::One,
                    "all" | "-1" => Acks::All,
                    _ => return Err(err(key, format!("expected 0, 1, all or -1, got `{value}`"))),
                }
            }
            "enable.idempotence" => self.enable_idempotence = Some(parse_bool(key, value)?),
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests_per_connection = parse_positive(key, value)?
            }
            "retries" => self.retries = parse_u64(key, value)?,
            "delivery.timeout.ms" => self.delivery_timeout = Some(parse_ms(key, value)?),
            "request.timeout.ms" => self.request_timeout = Duration(parse_positive(key, value)?),
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, value)?,
            "linger.ms" => self.linger = parse_ms(key, value)?,
            "batch.size" => self.batch_size = parse_u64(key, value)?,
            "max.request.size" => self.max_request_size = parse_positive(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = parse_bool(key, value)?,
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive_partitioning_enable = parse_bool(key, value)?
            }
            "transactional.id" => {
                let id = value.trim();
                if id.is_empty() {
                    return Err(err(key, "must not be empty"));
                }
                self.transactional_id = Some(id.to_string());
            }
            "transaction.timeout.ms" => {
                self.transaction_timeout = Duration(parse_positive(key, value)?)
            }
            _ => return Err(unknown_key(key, Self::KEYS)),
        }
        Ok(())
    }

    /// Applies Kafka's cross-checks. Explicitly enabled idempotence with `retries=0`,
    /// `acks` other than all, or more than 5 requests in flight is a `ConfigException`; a
    /// defaulted idempotence is silently switched off by the same settings. `delivery.timeout.ms`
    /// set below `linger.ms + request.timeout.ms` is an error; left unset, it is 120000 raised to
    /// that sum if needed (`KafkaProducer.configureDeliveryTimeout`).
    pub fn validate(&self) -> Result<EffectiveProducerConfig, ConfigError> {
        let conflicts = {
            let mut c = Vec::new();
            if self.retries == 0 {
                c.push((
                    "retries",
                    "must be greater than 0 when idempotence is on".to_string(),
                ));
            }
            if self.acks != Acks::All {
                c.push(("acks", "must be all when idempotence is on".to_string()));
            }
            if self.max_in_flight_requests_per_connection > 5 {
                c.push((
                    "max.in.flight.requests.per.connection",
                    "must be at most 5 when idempotence is on".to_string(),
                ));
            }
            c
        };
        let (idempotence, disabled_because) = match self.enable_idempotence {
            Some(true) => {
                if let Some((key, message)) = conflicts.into_iter().next() {
                    return Err(err(key, message));
                }
                (true, None)
            }
            Some(false) => (false, None),
            None => match conflicts.first() {
                Some((key, _)) => (
                    false,
                    Some(format!(
                        "{key} conflicts with the default enable.idempotence"
                    )),
                ),
                None => (true, None),
            },
        };
        // `postProcessAndValidateIdempotenceConfigs`: "Cannot set a transactional.id without
        // also enabling idempotence".
        if self.transactional_id.is_some() && !idempotence {
            let key = match self.enable_idempotence {
                Some(false) => "enable.idempotence",
                _ => "transactional.id",
            };
            return Err(err(
                key,
                format!(
                    "a transactional.id needs idempotence{}",
                    disabled_because
                        .as_deref()
                        .map(|b| format!(" ({b})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let floor = self.linger + self.request_timeout;
        let delivery_timeout = match self.delivery_timeout {
            Some(d) if d < floor => {
                return Err(err(
                    "delivery.timeout.ms",
                    format!(
                        "should be equal to or larger than linger.ms + request.timeout.ms ({})",
                        floor.as_millis()
                    ),
                ));
            }
            Some(d) => d,
            None => Duration::from_millis(120_000).max(floor),
        };
        Ok(EffectiveProducerConfig {
            config: self.clone(),
            idempotence,
            delivery_timeout,
            idempotence_disabled_because: disabled_because,
        })
    }
}

/// Where a consumer starts when it has no valid position (`auto.offset.reset`, KAFKA.md 5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The high watermark (not the leader's log end offset).
    Latest,
    /// No reset: the consumer reports an error.
    None,
}

/// A consumer's configuration (KAFKA.md 9.2), for the assign-mode consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerConfig {
    /// `auto.offset.reset` (latest).
    pub auto_offset_reset: OffsetReset,
    /// `fetch.max.wait.ms` (500).
    pub fetch_max_wait: Duration,
    /// `max.poll.records` (500).
    pub max_poll_records: u64,
    /// `request.timeout.ms` (30000).
    pub request_timeout: Duration,
    /// `retry.backoff.ms` (100).
    pub retry_backoff: Duration,
    /// `metadata.max.age.ms` (300000).
    pub metadata_max_age: Duration,
    /// `group.id`: subscribe-mode consumers join this group.
    pub group_id: Option<String>,
    /// `group.instance.id`: makes the member static (KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms` (45000).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (3000).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (300000), also the rebalance timeout it sends.
    pub max_poll_interval: Duration,
    /// `enable.auto.commit` (true when a group id is set).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (5000).
    pub auto_commit_interval: Duration,
    /// `partition.assignment.strategy` (`range, cooperative-sticky`), by Kafka name.
    pub partition_assignment_strategy: Vec<String>,
    /// `default.api.timeout.ms` (60000): how long a synchronous commit keeps retrying.
    pub default_api_timeout: Duration,
    /// `isolation.level` (read_uncommitted): whether to read only committed transactional
    /// records, below the last stable offset (KAFKA.md 4.2).
    #[serde(default)]
    pub isolation_level: IsolationLevel,
}

impl Default for ConsumerConfig {
    fn default() -> ConsumerConfig {
        ConsumerConfig {
            auto_offset_reset: OffsetReset::Latest,
            fetch_max_wait: Duration::from_millis(500),
            max_poll_records: 500,
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            metadata_max_age: Duration::from_millis(300_000),
            group_id: None,
            group_instance_id: None,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3000),
            max_poll_interval: Duration::from_millis(300_000),
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5000),
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            default_api_timeout: Duration::from_millis(60_000),
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

impl ConsumerConfig {
    /// Every key `set` accepts.
    pub const KEYS: &'static [&'static str] = &[
        "auto.offset.reset",
        "fetch.max.wait.ms",
        "max.poll.records",
        "request.timeout.ms",
        "retry.backoff.ms",
        "metadata.max.age.ms",
        "group.id",
        "group.instance.id",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "partition.assignment.strategy",
        "default.api.timeout.ms",
        "isolation.level",
    ];

    /// Sets one consumer config by its Kafka name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "isolation.level" => {
                self.isolation_level = match value.trim() {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(err(
                            key,
                            format!("expected read_uncommitted or read_committed, got `{value}`"),
                        ));
                    }
                };
            }
            "auto.offset.reset" => {
                self.auto_offset_reset = match value.trim() {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    _ => {
                        return Err(err(
                            key,
                            format!("expected earliest, latest or none, got `{value}`"),
                        ));
                    }
                }
            }
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, value)?,
            "max.poll.records" => self.max_poll_records = parse_positive(key, value)?,
            "request.timeout.ms" => self.request_timeout = Duration(parse_positive(key, value)?),
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms(key, value)?,
            "group.id" => self.group_id = Some(non_empty(key, value)?),
            "group.instance.id" => self.group_instance_id = Some(non_empty(key, value)?),
            "session.timeout.ms" => self.session_timeout = Duration(parse_positive(key, value)?),
            "heartbeat.interval.ms" => {
                self.heartbeat_interval = Duration(parse_positive(key, value)?)
            }
            "max.poll.interval.ms" => {
                self.max_poll_interval = Duration(parse_positive(key, value)?)
            }
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(key, value)?,
            "auto.commit.interval.ms" => {
                self.auto_commit_interval = Duration(parse_positive(key, value)?)
            }
            "default.api.timeout.ms" => {
                self.default_api_timeout = Duration(parse_positive(key, value)?)
            }
            "partition.assignment.strategy" => {
                let mut names = Vec::new();
                for raw in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    // Kafka accepts class names too; the simple name decides.
                    let name = match raw.rsplit('.').next().unwrap_or(raw) {
                        "RangeAssignor" | "range" => "range",
                        "RoundRobinAssignor" | "roundrobin" => "roundrobin",
                        "StickyAssignor" | "sticky" => "sticky",
                        "CooperativeStickyAssignor" | "cooperative-sticky" => "cooperative-sticky",
                        other => {
                            return Err(err(
                                key,
                                format!(
                                    "unknown assignor `{other}` (range, roundrobin, sticky, cooperative-sticky)"
                                ),
                            ));
                        }
                    };
                    names.push(name.to_string());
                }
                if names.is_empty() {
                    return Err(err(key, "needs at least one assignor"));
                }
                self.partition_assignment_strategy = names;
            }
            _ => return Err(unknown_key(key, Self::KEYS)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let b = BrokerConfig::default();
        assert_eq!(b.broker_session_timeout, Duration(9000));
        assert_eq!(b.broker_heartbeat_interval, Duration(2000));
        assert_eq!(b.replica_lag_time_max, Duration(30_000));
        assert!(!b.unclean_leader_election_enable);
        let p = ProducerConfig::default().validate().unwrap();
        assert!(p.idempotence);
        assert_eq!(p.config.acks, Acks::All);
        assert_eq!(p.delivery_timeout, Duration(120_000));
    }

    #[test]
    fn effective_min_isr_is_capped_at_the_replication_factor() {
        let mut t = TopicConfig::default();
        t.set("min.insync.replicas", "3").unwrap();
        assert_eq!(t.effective_min_isr(2), 2);
        assert_eq!(t.effective_min_isr(3), 3);
    }

    #[test]
    fn explicit_idempotence_conflicts_are_errors_but_defaulted_ones_disable_it() {
        let mut p = ProducerConfig::default();
        p.set("acks", "1").unwrap();
        let e = p.validate().unwrap();
        assert!(!e.idempotence);
        assert!(e.idempotence_disabled_because.is_some());
        p.set("enable.idempotence", "true").unwrap();
        let error = p.validate().unwrap_err();
        assert_eq!(error.key, "acks");
    }

    #[test]
    fn delivery_timeout_below_linger_plus_request_timeout_is_rejected() {
        let mut p = ProducerConfig::default();
        p.set("delivery.timeout.ms", "1000").unwrap();
        assert_eq!(p.validate().unwrap_err().key, "delivery.timeout.ms");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let mut b = BrokerConfig::default();
        let e = b.set("min.insync.replica", "2").unwrap_err();
        assert_eq!(e.key, "min.insync.replica");
        assert!(e.message.contains("unknown config"));
        let e = b.set("min.insync.replicas", "two").unwrap_err();
        assert!(e.message.contains("integer"), "{e}");
        assert!(b.set("min.insync.replicas", "0").is_err());
    }

    #[test]
    fn ratios_are_read_exactly_and_kept_in_range() {
        let mut t = TopicConfig::default();
        let mut ratio = |text: &str| {
            t.set("min.cleanable.dirty.ratio", text)
                .map(|()| t.min_cleanable_dirty_ratio)
                .map_err(|e| e.message)
        };
        assert_eq!(ratio("0.25"), Ok(250_000));
        assert_eq!(ratio(" 1 "), Ok(1_000_000));
        assert_eq!(ratio("1e-1"), Ok(100_000));
        assert_eq!(ratio("0.0000005"), Ok(1), "rounded half up to a millionth");
        assert_eq!(ratio("-0"), Ok(0), "Kafka's range check takes -0.0");
        assert_eq!(
            ratio("0.9999996"),
            Ok(1_000_000),
            "below 1, rounded up to it"
        );
        assert_eq!(ratio("0.500000000000000000000"), Ok(500_000));
        for out in ["1.0000001", "2", "-0.5", "-0.0000001"] {
            assert_eq!(
                ratio(out),
                Err(format!("must be between 0 and 1, got `{out}`")),
                "{out}"
            );
        }
        for bad in ["half", "", "0.5.1", "NaN", "-+0"] {
            assert!(
                ratio(bad).unwrap_err().contains("expected a number"),
                "{bad}"
            );
        }
        let mut t = TopicConfig::default();
        t.set("min.cleanable.dirty.ratio", "0.125").unwrap();
        let overrides = t.overrides(&TopicConfig::default());
        assert!(
            overrides.contains(&"min.cleanable.dirty.ratio=0.125".to_string()),
            "{overrides:?}"
        );
    }
}
