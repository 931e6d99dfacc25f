//! Reads the compact form by hand: the classroom decodes its built-in scenarios, its lessons
//! and a trace's scenario with this instead of serde, whose derived decoders for these types
//! were about 35 KB of the WebAssembly bundle.
//!
//! The form is postcard's, which the native side still writes with serde
//! ([`super::Bundle::encode`], [`super::encode_scenario`]): unsigned integers as LEB128
//! varints, signed ones zigzagged first, `f64` as its eight little-endian bytes, `bool` and an
//! `Option`'s tag as one byte (0 or 1), strings, sequences and maps as a varint length and then
//! their items, an enum as its variant's index (a varint) and then its fields, a struct or
//! tuple as its fields in order, a newtype as what it wraps.
//!
//! The reader keeps its first error instead of returning it from every read: after an error
//! every read gives zero, empty or the first variant, and [`Reader::read_all`] returns the
//! error at the end. So a field is one call, with no early return that would have to drop the
//! fields read before it, which is what makes this small.
//!
//! Each impl below lists its type's fields or variants in declaration order, which is the
//! order serde writes them in. A struct literal names every field, so a field added to a type
//! without its line here does not compile; a field or variant out of order, or a variant
//! missing, fails the tests, which decode every shipped scenario and lesson and compare them
//! with what parsing gives, and read back every variant of every enum as serde writes it.

use super::{Bundle, CompiledLesson};
use crate::lesson::{Compare, Condition, NodeState, Quantity};
use crate::network::NetworkConfig;
use crate::scenario::{
    Action, ClientStart, ConsumerSpec, CountRange, DeliverySemantics, Expectation, Expectations,
    Link, PipelineOutput, ProducerSpec, Scenario, Target, TimedAction, TimedExpectation, TopicSpec,
};
use crate::swarm::{SwarmFault, SwarmSpec};
use gregor_core::client::consumer::{CommitMode, ConsumerWorkload};
use gregor_core::client::producer::{TransactionWorkload, Workload};
use gregor_core::config::{
    Acks, BrokerConfig, CleanupPolicy, ConsumerConfig, EffectiveProducerConfig, OffsetReset,
    ProducerConfig, TopicConfig,
};
use gregor_core::error::ErrorCode;
use gregor_core::ids::{BrokerId, TopicName, TopicPartition};
use gregor_core::map::{VecMap, VecSet};
use gregor_core::protocol::{ElectionType, IsolationLevel};
use gregor_core::time::{Duration, Instant};
use gregor_lessons::{Lesson, Located, Question, Step};
use std::fmt;

/// Why bytes do not read: where, and what was wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The byte offset where reading failed.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for DecodeError {}

/// Bytes being read, front to back, and the first error met.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    error: Option<DecodeError>,
}

impl<'a> Reader<'a> {
    /// Reads a whole `T`, which must use every byte.
    pub fn read_all<T: Decode>(bytes: &'a [u8]) -> Result<T, DecodeError> {
        let mut r = Reader {
            bytes,
            at: 0,
            error: None,
        };
        let value = r.get();
        if r.at != bytes.len() {
            r.fail("bytes left over after the end");
        }
        match r.error {
            None => Ok(value),
            Some(e) => Err(e),
        }
    }

    /// Reads a `T`.
    pub fn get<T: Decode>(&mut self) -> T {
        T::decode(self)
    }

    /// Keeps the first error, and makes every later read find no bytes left.
    #[inline(never)]
    fn fail(&mut self, what: &'static str) {
        if self.error.is_none() {
            self.error = Some(DecodeError { at: self.at, what });
        }
        self.at = self.bytes.len();
    }

    /// The next `n` bytes, or none after an error.
    #[inline(never)]
    fn take(&mut self, n: usize) -> &'a [u8] {
        if n > self.bytes.len() - self.at {
            self.fail("the bytes end too soon");
            return &[];
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        taken
    }

    fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A LEB128 varint: seven bits a byte, least significant first, the top bit set on every
    /// byte but the last; at most ten bytes for 64 bits.
    #[inline(never)]
    fn varint(&mut self) -> u64 {
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte();
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 && (i < 9 || b <= 1) {
                return value;
            }
        }
        self.fail("a varint over 64 bits");
        0
    }

    /// A varint that must fit `T`.
    fn narrow<T: TryFrom<u64> + Default>(&mut self) -> T {
        let v = self.varint();
        T::try_from(v).unwrap_or_else(|_| {
            self.fail("a number out of its type's range");
            T::default()
        })
    }

    /// An enum's variant index, which must be below `count`; 0 after an error.
    #[inline(never)]
    fn variant(&mut self, count: u64) -> u64 {
        let v = self.varint();
        if v >= count {
            self.fail("an unknown enum variant");
            return 0;
        }
        v
    }

    /// A length of items to come, each at least a byte long: 0 after an error.
    #[inline(never)]
    fn len(&mut self) -> usize {
        let len = self.varint();
        // Checked before anything is allocated for it.
        if len > (self.bytes.len() - self.at) as u64 {
            self.fail("a length beyond the end of the bytes");
            return 0;
        }
        len as usize
    }

    /// A flag byte: 0 or 1.
    fn flag(&mut self, what: &'static str) -> bool {
        match self.byte() {
            0 => false,
            1 => true,
            _ => {
                self.fail(what);
                false
            }
        }
    }
}

/// A type the reader can read.
pub trait Decode {
    /// Reads one value (anything, once the reader has met an error).
    fn decode(r: &mut Reader<'_>) -> Self;
}

impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.varint()
    }
}

impl Decode for u32 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.narrow()
    }
}

impl Decode for usize {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.narrow()
    }
}

impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> Self {
        let v = r.varint();
        (v >> 1) as i64 ^ -((v & 1) as i64)
    }
}

impl Decode for f64 {
    fn decode(r: &mut Reader<'_>) -> Self {
        let mut bits = [0; 8];
        if let Ok(bytes) = <[u8; 8]>::try_from(r.take(8)) {
            bits = bytes;
        }
        f64::from_bits(u64::from_le_bytes(bits))
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.flag("a bool that is neither 0 nor 1")
    }
}

impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Self {
        let len = r.len();
        match std::str::from_utf8(r.take(len)) {
            Ok(s) => s.to_string(),
            Err(_) => {
                r.fail("a string that is not UTF-8");
                String::new()
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.flag("an option tag that is neither 0 nor 1")
            .then(|| r.get())
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(r: &mut Reader<'_>) -> Self {
        let len = r.len();
        // The length is checked against the bytes left, but an item may take far more memory
        // than bytes, so the vector grows with what is read instead of being sized up front,
        // and stops at an error.
        let mut items = Vec::with_capacity(len.min(16));
        for _ in 0..len {
            if r.error.is_some() {
                break;
            }
            items.push(r.get());
        }
        items
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode(r: &mut Reader<'_>) -> Self {
        (r.get(), r.get())
    }
}

impl<K: Decode + Ord, V: Decode> Decode for VecMap<K, V> {
    fn decode(r: &mut Reader<'_>) -> Self {
        Vec::<(K, V)>::decode(r).into_iter().collect()
    }
}

impl<T: Decode + Ord> Decode for VecSet<T> {
    fn decode(r: &mut Reader<'_>) -> Self {
        Vec::<T>::decode(r).into_iter().collect()
    }
}

impl Decode for TopicName {
    fn decode(r: &mut Reader<'_>) -> Self {
        TopicName(String::decode(r).into())
    }
}

impl Decode for BrokerId {
    fn decode(r: &mut Reader<'_>) -> Self {
        BrokerId(r.get())
    }
}

impl Decode for ErrorCode {
    fn decode(r: &mut Reader<'_>) -> Self {
        ErrorCode::ALL[r.variant(ErrorCode::ALL.len() as u64) as usize]
    }
}

impl Decode for Bundle {
    fn decode(r: &mut Reader<'_>) -> Self {
        Bundle {
            shipped: r.get(),
            custom: r.get(),
        }
    }
}

impl Decode for Scenario {
    fn decode(r: &mut Reader<'_>) -> Self {
        Scenario {
            file: r.get(),
            source: r.get(),
            name: r.get(),
            description: r.get(),
            seed: r.get(),
            duration: r.get(),
            brokers: r.get(),
            broker_config: r.get(),
            writeback: r.get(),
            network: r.get(),
            topics: r.get(),
            producers: r.get(),
            consumers: r.get(),
            timeline: r.get(),
            expect_at: r.get(),
            expect: r.get(),
            final_heal: r.get(),
            swarm: r.get(),
        }
    }
}

impl Decode for Duration {
    fn decode(r: &mut Reader<'_>) -> Self {
        Duration(r.get())
    }
}

impl Decode for BrokerConfig {
    fn decode(r: &mut Reader<'_>) -> Self {
        BrokerConfig {
            broker_heartbeat_interval: r.get(),
            broker_session_timeout: r.get(),
            replica_lag_time_max: r.get(),
            replica_fetch_wait_max: r.get(),
            replica_fetch_max_bytes: r.get(),
            replica_fetch_backoff: r.get(),
            request_timeout: r.get(),
            controller_quorum_request_timeout: r.get(),
            controller_socket_timeout: r.get(),
            replica_high_watermark_checkpoint_interval: r.get(),
            min_insync_replicas: r.get(),
            unclean_leader_election_enable: r.get(),
            unclean_leader_election_interval: r.get(),
            auto_leader_rebalance_enable: r.get(),
            leader_imbalance_check_interval: r.get(),
            log_flush_interval_messages: r.get(),
            log_flush_interval: r.get(),
            offsets_topic_num_partitions: r.get(),
            offsets_topic_replication_factor: r.get(),
            offsets_commit_timeout: r.get(),
            group_initial_rebalance_delay: r.get(),
            group_min_session_timeout: r.get(),
            group_max_session_timeout: r.get(),
            group_new_member_join_timeout: r.get(),
            log_segment_bytes: r.get(),
            log_roll_ms: r.get(),
            log_roll_hours: r.get(),
            log_retention_ms: r.get(),
            log_retention_minutes: r.get(),
            log_retention_hours: r.get(),
            log_retention_bytes: r.get(),
            log_cleanup_policy: r.get(),
            log_retention_check_interval: r.get(),
            log_initial_task_delay: r.get(),
            offsets_topic_segment_bytes: r.get(),
            log_cleaner_enable: r.get(),
            log_cleaner_backoff: r.get(),
            log_cleaner_delete_retention: r.get(),
            log_cleaner_min_compaction_lag: r.get(),
            log_cleaner_max_compaction_lag: r.get(),
            log_cleaner_min_cleanable_ratio: r.get(),
            transaction_state_log_num_partitions: r.get(),
            transaction_state_log_replication_factor: r.get(),
            transaction_state_log_min_isr: r.get(),
            transaction_state_log_segment_bytes: r.get(),
            transaction_max_timeout: r.get(),
            transaction_abort_interval: r.get(),
            transaction_version: r.get(),
        }
    }
}

impl Decode for CleanupPolicy {
    fn decode(r: &mut Reader<'_>) -> Self {
        CleanupPolicy {
            delete: r.get(),
            compact: r.get(),
        }
    }
}

impl Decode for NetworkConfig {
    fn decode(r: &mut Reader<'_>) -> Self {
        NetworkConfig {
            latency_min: r.get(),
            latency_max: r.get(),
            loss: r.get(),
            duplicate: r.get(),
            reorder: r.get(),
        }
    }
}

impl Decode for TopicSpec {
    fn decode(r: &mut Reader<'_>) -> Self {
        TopicSpec {
            name: r.get(),
            assignment: r.get(),
            config: r.get(),
        }
    }
}

impl Decode for TopicConfig {
    fn decode(r: &mut Reader<'_>) -> Self {
        TopicConfig {
            min_insync_replicas: r.get(),
            unclean_leader_election_enable: r.get(),
            cleanup_policy: r.get(),
            segment_bytes: r.get(),
            segment_ms: r.get(),
            retention_ms: r.get(),
            retention_bytes: r.get(),
            delete_retention_ms: r.get(),
            min_compaction_lag_ms: r.get(),
            max_compaction_lag_ms: r.get(),
            min_cleanable_dirty_ratio: r.get(),
        }
    }
}

impl Decode for ProducerSpec {
    fn decode(r: &mut Reader<'_>) -> Self {
        ProducerSpec {
            name: r.get(),
            workload: r.get(),
            config: r.get(),
            start: r.get(),
        }
    }
}

impl Decode for Workload {
    fn decode(r: &mut Reader<'_>) -> Self {
        Workload {
            topic: r.get(),
            keys: r.get(),
            rate_per_sec: r.get(),
            count: r.get(),
            // #[serde(default)]
            transaction: r.get(),
        }
    }
}

impl Decode for TransactionWorkload {
    fn decode(r: &mut Reader<'_>) -> Self {
        TransactionWorkload {
            records: r.get(),
            // #[serde(default)]
            abort_every: r.get(),
        }
    }
}

impl Decode for EffectiveProducerConfig {
    fn decode(r: &mut Reader<'_>) -> Self {
        EffectiveProducerConfig {
            config: r.get(),
            idempotence: r.get(),
            delivery_timeout: r.get(),
            idempotence_disabled_because: r.get(),
        }
    }
}

impl Decode for ProducerConfig {
    fn decode(r: &mut Reader<'_>) -> Self {
        ProducerConfig {
            acks: r.get(),
            enable_idempotence: r.get(),
            max_in_flight_requests_per_connection: r.get(),
            retries: r.get(),
            delivery_timeout: r.get(),
            request_timeout: r.get(),
            retry_backoff: r.get(),
            retry_backoff_max: r.get(),
            linger: r.get(),
            batch_size: r.get(),
            max_request_size: r.get(),
            metadata_max_age: r.get(),
            partitioner_ignore_keys: r.get(),
            partitioner_adaptive_partitioning_enable: r.get(),
            // #[serde(default)]
            transactional_id: r.get(),
            // #[serde(default = "default_transaction_timeout")]
            transaction_timeout: r.get(),
        }
    }
}

impl Decode for Acks {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(3) {
            0 => Acks::Zero,
            1 => Acks::One,
            _ => Acks::All,
        }
    }
}

impl Decode for ClientStart {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(3) {
            0 => ClientStart::Ready,
            1 => ClientStart::Manual,
            _ => ClientStart::Spare,
        }
    }
}

impl Decode for ConsumerSpec {
    fn decode(r: &mut Reader<'_>) -> Self {
        ConsumerSpec {
            name: r.get(),
            workload: r.get(),
            config: r.get(),
            start: r.get(),
            // #[serde(default)]
            output: r.get(),
        }
    }
}

impl Decode for ConsumerWorkload {
    fn decode(r: &mut Reader<'_>) -> Self {
        ConsumerWorkload {
            assign: r.get(),
            subscribe: r.get(),
            processing_time: r.get(),
            commit: r.get(),
        }
    }
}

impl Decode for TopicPartition {
    fn decode(r: &mut Reader<'_>) -> Self {
        TopicPartition {
            topic: r.get(),
            partition: r.get(),
        }
    }
}

impl Decode for CommitMode {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(5) {
            0 => CommitMode::Auto,
            1 => CommitMode::AfterProcessing,
            2 => CommitMode::BeforeProcessing,
            3 => CommitMode::Never,
            _ => CommitMode::Transactional,
        }
    }
}

impl Decode for ConsumerConfig {
    fn decode(r: &mut Reader<'_>) -> Self {
        ConsumerConfig {
            auto_offset_reset: r.get(),
            fetch_max_wait: r.get(),
            max_poll_records: r.get(),
            request_timeout: r.get(),
            retry_backoff: r.get(),
            metadata_max_age: r.get(),
            group_id: r.get(),
            group_instance_id: r.get(),
            session_timeout: r.get(),
            heartbeat_interval: r.get(),
            max_poll_interval: r.get(),
            enable_auto_commit: r.get(),
            auto_commit_interval: r.get(),
            partition_assignment_strategy: r.get(),
            default_api_timeout: r.get(),
            // #[serde(default)]
            isolation_level: r.get(),
        }
    }
}

impl Decode for OffsetReset {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(3) {
            0 => OffsetReset::Earliest,
            1 => OffsetReset::Latest,
            _ => OffsetReset::None,
        }
    }
}

impl Decode for IsolationLevel {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(2) {
            0 => IsolationLevel::ReadUncommitted,
            _ => IsolationLevel::ReadCommitted,
        }
    }
}

impl Decode for PipelineOutput {
    fn decode(r: &mut Reader<'_>) -> Self {
        PipelineOutput {
            workload: r.get(),
            config: r.get(),
        }
    }
}

impl Decode for TimedAction {
    fn decode(r: &mut Reader<'_>) -> Self {
        TimedAction {
            time: r.get(),
            action: r.get(),
            line: r.get(),
        }
    }
}

impl Decode for Instant {
    fn decode(r: &mut Reader<'_>) -> Self {
        Instant(r.get())
    }
}

impl Decode for Action {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(19) {
            0 => Action::Crash(r.get()),
            1 => Action::PowerLoss(r.get()),
            2 => Action::Restart(r.get()),
            3 => Action::Pause(r.get()),
            4 => Action::Resume(r.get()),
            5 => Action::Isolate(r.get()),
            6 => Action::Cut(r.get()),
            7 => Action::Split(r.get()),
            8 => Action::Heal,
            9 => Action::Clog(r.get()),
            10 => Action::Unclog(r.get()),
            11 => Action::SetTopicConfig {
                topic: r.get(),
                key: r.get(),
                value: r.get(),
            },
            12 => Action::Elect {
                partition: r.get(),
                election: r.get(),
            },
            13 => Action::Start(r.get()),
            14 => Action::Stop(r.get()),
            15 => Action::Leave(r.get()),
            16 => Action::Send {
                producer: r.get(),
                key: r.get(),
                value: r.get(),
            },
            17 => Action::Writeback(r.get()),
            _ => Action::Delay {
                client: r.get(),
                request: r.get(),
                by: r.get(),
            },
        }
    }
}

impl Decode for Target {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(6) {
            0 => Target::Broker(r.get()),
            1 => Target::Controller,
            2 => Target::LeaderOf(r.get()),
            3 => Target::CoordinatorOf(r.get()),
            4 => Target::All,
            _ => Target::Client(r.get()),
        }
    }
}

impl Decode for Link {
    fn decode(r: &mut Reader<'_>) -> Self {
        Link {
            from: r.get(),
            to: r.get(),
            both_ways: r.get(),
        }
    }
}

impl Decode for ElectionType {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(2) {
            0 => ElectionType::Preferred,
            _ => ElectionType::Unclean,
        }
    }
}

impl Decode for TimedExpectation {
    fn decode(r: &mut Reader<'_>) -> Self {
        TimedExpectation {
            time: r.get(),
            expectation: r.get(),
            line: r.get(),
        }
    }
}

impl Decode for Expectation {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(13) {
            0 => Expectation::Leader(r.get(), r.get()),
            1 => Expectation::Isr(r.get(), r.get()),
            2 => Expectation::LeaderEpoch(r.get(), r.get()),
            3 => Expectation::HighWatermark(r.get(), r.get()),
            4 => Expectation::LogStartOffset(r.get(), r.get()),
            5 => Expectation::Segments(r.get(), r.get()),
            6 => Expectation::Records(r.get(), r.get()),
            7 => Expectation::SawError(r.get(), r.get()),
            8 => Expectation::NeverSawError(r.get(), r.get()),
            9 => Expectation::BrokerState(r.get(), r.get()),
            10 => Expectation::GroupState(r.get(), r.get()),
            11 => Expectation::GroupGeneration(r.get(), r.get()),
            _ => Expectation::GroupAssignment(r.get(), r.get()),
        }
    }
}

impl Decode for CountRange {
    fn decode(r: &mut Reader<'_>) -> Self {
        CountRange {
            min: r.get(),
            max: r.get(),
        }
    }
}

impl Decode for Expectations {
    fn decode(r: &mut Reader<'_>) -> Self {
        Expectations {
            lost_acknowledged: r.get(),
            lost_acknowledged_by_producer: r.get(),
            duplicates: r.get(),
            inconsistent_offsets: r.get(),
            producer_errors: r.get(),
            converged: r.get(),
            delivery: r.get(),
            unseen: r.get(),
            duplicates_delivered: r.get(),
            aborted_reads: r.get(),
        }
    }
}

impl Decode for DeliverySemantics {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(2) {
            0 => DeliverySemantics::AtLeastOnce,
            _ => DeliverySemantics::AtMostOnce,
        }
    }
}

impl Decode for SwarmSpec {
    fn decode(r: &mut Reader<'_>) -> Self {
        SwarmSpec {
            faults: r.get(),
            interval: r.get(),
            outage: r.get(),
            max_loss: r.get(),
            max_latency: r.get(),
            max_duplicate: r.get(),
        }
    }
}

impl Decode for SwarmFault {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(11) {
            0 => SwarmFault::Crash,
            1 => SwarmFault::PowerLoss,
            2 => SwarmFault::Pause,
            3 => SwarmFault::Isolate,
            4 => SwarmFault::Cut,
            5 => SwarmFault::Split,
            6 => SwarmFault::Clog,
            7 => SwarmFault::Loss,
            8 => SwarmFault::Delay,
            9 => SwarmFault::Duplicate,
            _ => SwarmFault::LateRequest,
        }
    }
}

impl Decode for CompiledLesson {
    fn decode(r: &mut Reader<'_>) -> Self {
        CompiledLesson {
            lesson: r.get(),
            steps: r.get(),
        }
    }
}

impl Decode for Lesson {
    fn decode(r: &mut Reader<'_>) -> Self {
        Lesson {
            file: r.get(),
            id: r.get(),
            number: r.get(),
            title: r.get(),
            concepts: r.get(),
            sources: r.get(),
            scenario: r.get(),
            seed: r.get(),
            intro: r.get(),
            steps: r.get(),
            remember: r.get(),
        }
    }
}

impl<T: Decode> Decode for Located<T> {
    fn decode(r: &mut Reader<'_>) -> Self {
        Located {
            value: r.get(),
            line: r.get(),
            column: r.get(),
            field: r.get(),
        }
    }
}

impl Decode for Step {
    fn decode(r: &mut Reader<'_>) -> Self {
        Step {
            title: r.get(),
            prose: r.get(),
            instruction: r.get(),
            actions: r.get(),
            check: r.get(),
            within_ms: r.get(),
            questions: r.get(),
        }
    }
}

impl Decode for Question {
    fn decode(r: &mut Reader<'_>) -> Self {
        Question {
            ask: r.get(),
            answer: r.get(),
        }
    }
}

impl Decode for Condition {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(13) {
            0 => Condition::Leader {
                partition: r.get(),
                leader: r.get(),
                negated: r.get(),
            },
            1 => Condition::IsrIs(r.get(), r.get()),
            2 => Condition::IsrIncludes(r.get(), r.get(), r.get()),
            3 => Condition::Node(r.get(), r.get()),
            4 => Condition::Saw(r.get(), r.get()),
            5 => Condition::ConsumerSaw(r.get(), r.get()),
            6 => Condition::Owns(r.get(), r.get()),
            7 => Condition::GroupState(r.get(), r.get()),
            8 => Condition::KeyOn(r.get(), r.get(), r.get()),
            9 => Condition::Number(r.get(), r.get(), r.get()),
            10 => Condition::Grew(r.get(), r.get(), r.get()),
            11 => Condition::Client(r.get(), r.get()),
            _ => Condition::All(r.get()),
        }
    }
}

impl Decode for NodeState {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(6) {
            0 => NodeState::Running,
            1 => NodeState::Paused,
            2 => NodeState::Crashed,
            3 => NodeState::Fenced,
            4 => NodeState::Unfenced,
            _ => NodeState::Isolated,
        }
    }
}

impl Decode for Quantity {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(25) {
            0 => Quantity::HighWatermark(r.get()),
            1 => Quantity::LogEnd(r.get()),
            2 => Quantity::HighWatermarkOn(r.get(), r.get()),
            3 => Quantity::LogEndOn(r.get(), r.get()),
            4 => Quantity::LogStart(r.get()),
            5 => Quantity::Segments(r.get()),
            6 => Quantity::Records(r.get()),
            7 => Quantity::Markers(r.get()),
            8 => Quantity::LastStable(r.get()),
            9 => Quantity::Epoch(r.get()),
            10 => Quantity::IsrSize(r.get()),
            11 => Quantity::Sent(r.get()),
            12 => Quantity::Acknowledged(r.get()),
            13 => Quantity::Failed(r.get()),
            14 => Quantity::Processed(r.get()),
            15 => Quantity::Owned(r.get()),
            16 => Quantity::Generation(r.get()),
            17 => Quantity::Members(r.get()),
            18 => Quantity::Lag(r.get()),
            19 => Quantity::IdleMembers(r.get()),
            20 => Quantity::ProcessedTwice(r.get()),
            21 => Quantity::Duplicated(r.get()),
            22 => Quantity::Lost(r.get()),
            23 => Quantity::AbortedReads,
            _ => Quantity::Time,
        }
    }
}

impl Decode for Compare {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(4) {
            0 => Compare::Is,
            1 => Compare::IsNot,
            2 => Compare::AtLeast,
            _ => Compare::AtMost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn tp() -> TopicPartition {
        TopicPartition::new("orders", 2)
    }

    /// Each sample is one variant of its enum, in declaration order: serde writes each with its
    /// index, the reader reads each back as it was, and it knows no variant past the samples.
    fn every_variant<T: Serialize + Decode + PartialEq + fmt::Debug>(samples: Vec<T>) {
        let count = u8::try_from(samples.len()).unwrap();
        assert!(count < 128, "a one-byte varint");
        for (i, sample) in samples.into_iter().enumerate() {
            let bytes = postcard::to_allocvec(&sample).unwrap();
            assert_eq!(usize::from(bytes[0]), i, "{sample:?} is not variant {i}");
            assert_eq!(Reader::read_all::<T>(&bytes), Ok(sample));
        }
        assert_eq!(
            Reader::read_all::<T>(&[count]).unwrap_err().what,
            "an unknown enum variant",
            "the decoder knows more variants than the samples show"
        );
    }

    /// Every variant of every enum the compact form carries reads back as written. (The shipped
    /// scenarios and lessons, which `the_bundle_gives_what_parsing_gives` reads, use only some.)
    #[test]
    fn every_variant_reads_back() {
        // These matches have no wildcard: a variant added to one of these enums stops the
        // tests compiling here, a reminder to give it a sample below and a line in its decoder
        // (whose count of variants `every_variant` checks against the samples).
        let _ = |a: &Action| match a {
            Action::Crash(_)
            | Action::PowerLoss(_)
            | Action::Restart(_)
            | Action::Pause(_)
            | Action::Resume(_)
            | Action::Isolate(_)
            | Action::Cut(_)
            | Action::Split(_)
            | Action::Heal
            | Action::Clog(_)
            | Action::Unclog(_)
            | Action::SetTopicConfig { .. }
            | Action::Elect { .. }
            | Action::Start(_)
            | Action::Stop(_)
            | Action::Leave(_)
            | Action::Send { .. }
            | Action::Writeback(_)
            | Action::Delay { .. } => (),
        };
        let _ = |t: &Target| match t {
            Target::Broker(_)
            | Target::Controller
            | Target::LeaderOf(_)
            | Target::CoordinatorOf(_)
            | Target::All
            | Target::Client(_) => (),
        };
        let _ = |e: &Expectation| match e {
            Expectation::Leader(..)
            | Expectation::Isr(..)
            | Expectation::LeaderEpoch(..)
            | Expectation::HighWatermark(..)
            | Expectation::LogStartOffset(..)
            | Expectation::Segments(..)
            | Expectation::Records(..)
            | Expectation::SawError(..)
            | Expectation::NeverSawError(..)
            | Expectation::BrokerState(..)
            | Expectation::GroupState(..)
            | Expectation::GroupGeneration(..)
            | Expectation::GroupAssignment(..) => (),
        };
        let _ = |c: &Condition| match c {
            Condition::Leader { .. }
            | Condition::IsrIs(..)
            | Condition::IsrIncludes(..)
            | Condition::Node(..)
            | Condition::Saw(..)
            | Condition::ConsumerSaw(..)
            | Condition::Owns(..)
            | Condition::GroupState(..)
            | Condition::KeyOn(..)
            | Condition::Number(..)
            | Condition::Grew(..)
            | Condition::Client(..)
            | Condition::All(_) => (),
        };
        let _ = |q: &Quantity| match q {
            Quantity::HighWatermark(_)
            | Quantity::LogEnd(_)
            | Quantity::HighWatermarkOn(..)
            | Quantity::LogEndOn(..)
            | Quantity::LogStart(_)
            | Quantity::Segments(_)
            | Quantity::Records(_)
            | Quantity::Markers(_)
            | Quantity::LastStable(_)
            | Quantity::Epoch(_)
            | Quantity::IsrSize(_)
            | Quantity::Sent(_)
            | Quantity::Acknowledged(_)
            | Quantity::Failed(_)
            | Quantity::Processed(_)
            | Quantity::Owned(_)
            | Quantity::Generation(_)
            | Quantity::Members(_)
            | Quantity::Lag(_)
            | Quantity::IdleMembers(_)
            | Quantity::ProcessedTwice(_)
            | Quantity::Duplicated(_)
            | Quantity::Lost(_)
            | Quantity::AbortedReads
            | Quantity::Time => (),
        };
        let _ = |x: (Acks, ClientStart, CommitMode, OffsetReset)| match x {
            (Acks::Zero | Acks::One | Acks::All, ..) => (),
        };
        let _ = |x: (ClientStart, CommitMode, OffsetReset, IsolationLevel)| {
            match x.0 {
                ClientStart::Ready | ClientStart::Manual | ClientStart::Spare => (),
            }
            match x.1 {
                CommitMode::Auto
                | CommitMode::AfterProcessing
                | CommitMode::BeforeProcessing
                | CommitMode::Never
                | CommitMode::Transactional => (),
            }
            match x.2 {
                OffsetReset::Earliest | OffsetReset::Latest | OffsetReset::None => (),
            }
            match x.3 {
                IsolationLevel::ReadUncommitted | IsolationLevel::ReadCommitted => (),
            }
        };
        let _ = |f: SwarmFault| match f {
            SwarmFault::Crash
            | SwarmFault::PowerLoss
            | SwarmFault::Pause
            | SwarmFault::Isolate
            | SwarmFault::Cut
            | SwarmFault::Split
            | SwarmFault::Clog
            | SwarmFault::Loss
            | SwarmFault::Delay
            | SwarmFault::Duplicate
            | SwarmFault::LateRequest => (),
        };
        let _ = |x: (ElectionType, DeliverySemantics, NodeState, Compare)| {
            match x.0 {
                ElectionType::Preferred | ElectionType::Unclean => (),
            }
            match x.1 {
                DeliverySemantics::AtLeastOnce | DeliverySemantics::AtMostOnce => (),
            }
            match x.2 {
                NodeState::Running
                | NodeState::Paused
                | NodeState::Crashed
                | NodeState::Fenced
                | NodeState::Unfenced
                | NodeState::Isolated => (),
            }
            match x.3 {
                Compare::Is | Compare::IsNot | Compare::AtLeast | Compare::AtMost => (),
            }
        };

        let broker = Target::Broker(BrokerId(3));
        let link = Link {
            from: broker.clone(),
            to: Target::Client("p1".into()),
            both_ways: true,
        };
        every_variant(vec![
            Action::Crash(broker.clone()),
            Action::PowerLoss(Target::Controller),
            Action::Restart(Target::LeaderOf(tp())),
            Action::Pause(Target::CoordinatorOf("g".into())),
            Action::Resume(Target::All),
            Action::Isolate(Target::Client("c1".into())),
            Action::Cut(link.clone()),
            Action::Split(vec![vec![broker.clone()], vec![Target::Controller]]),
            Action::Heal,
            Action::Clog(link.clone()),
            Action::Unclog(link),
            Action::SetTopicConfig {
                topic: TopicName::from("orders"),
                key: "min.insync.replicas".into(),
                value: "2".into(),
            },
            Action::Elect {
                partition: tp(),
                election: ElectionType::Unclean,
            },
            Action::Start("p1".into()),
            Action::Stop("p1".into()),
            Action::Leave("c1".into()),
            Action::Send {
                producer: "p1".into(),
                key: Some("k".into()),
                value: None,
            },
            Action::Writeback(broker.clone()),
            Action::Delay {
                client: "p1".into(),
                request: "EndTxn".into(),
                by: Duration(1_500),
            },
        ]);
        every_variant(vec![
            broker,
            Target::Controller,
            Target::LeaderOf(tp()),
            Target::CoordinatorOf("g".into()),
            Target::All,
            Target::Client("p1".into()),
        ]);
        let range = CountRange { min: 1, max: 7 };
        every_variant(vec![
            Expectation::Leader(tp(), Some(BrokerId(2))),
            Expectation::Isr(tp(), VecSet::from([BrokerId(1), BrokerId(3)])),
            Expectation::LeaderEpoch(tp(), range),
            Expectation::HighWatermark(tp(), range),
            Expectation::LogStartOffset(tp(), range),
            Expectation::Segments(tp(), range),
            Expectation::Records(tp(), range),
            Expectation::SawError("p1".into(), ErrorCode::NotEnoughReplicas),
            Expectation::NeverSawError("p1".into(), ErrorCode::NetworkException),
            Expectation::BrokerState(BrokerId(1), "fenced".into()),
            Expectation::GroupState("g".into(), "Stable".into()),
            Expectation::GroupGeneration("g".into(), range),
            Expectation::GroupAssignment(
                "g".into(),
                [("c1".to_string(), VecSet::from([tp()]))]
                    .into_iter()
                    .collect(),
            ),
        ]);
        let quantities = vec![
            Quantity::HighWatermark(tp()),
            Quantity::LogEnd(tp()),
            Quantity::HighWatermarkOn(tp(), BrokerId(2)),
            Quantity::LogEndOn(tp(), BrokerId(2)),
            Quantity::LogStart(tp()),
            Quantity::Segments(tp()),
            Quantity::Records(tp()),
            Quantity::Markers(tp()),
            Quantity::LastStable(tp()),
            Quantity::Epoch(tp()),
            Quantity::IsrSize(tp()),
            Quantity::Sent("p1".into()),
            Quantity::Acknowledged("p1".into()),
            Quantity::Failed("p1".into()),
            Quantity::Processed("c1".into()),
            Quantity::Owned("c1".into()),
            Quantity::Generation("g".into()),
            Quantity::Members("g".into()),
            Quantity::Lag("g".into()),
            Quantity::IdleMembers("g".into()),
            Quantity::ProcessedTwice("g".into()),
            Quantity::Duplicated(tp()),
            Quantity::Lost(Some(tp())),
            Quantity::AbortedReads,
            Quantity::Time,
        ];
        every_variant(quantities.clone());
        every_variant(vec![
            Condition::Leader {
                partition: tp(),
                leader: None,
                negated: true,
            },
            Condition::IsrIs(tp(), vec![BrokerId(1), BrokerId(2)]),
            Condition::IsrIncludes(tp(), BrokerId(2), false),
            Condition::Node(None, NodeState::Fenced),
            Condition::Saw("p1".into(), ErrorCode::NotLeaderOrFollower),
            Condition::ConsumerSaw("c1".into(), ErrorCode::OffsetOutOfRange),
            Condition::Owns("c1".into(), tp()),
            Condition::GroupState("g".into(), "Stable".into()),
            Condition::KeyOn("k".into(), tp(), true),
            Condition::Number(quantities[0].clone(), Compare::AtLeast, 4),
            Condition::Grew(quantities[22].clone(), Compare::AtMost, 0),
            Condition::Client("p1".into(), NodeState::Crashed),
            Condition::All(vec![Condition::Node(
                Some(BrokerId(1)),
                NodeState::Isolated,
            )]),
        ]);
        every_variant(vec![Acks::Zero, Acks::One, Acks::All]);
        every_variant(vec![
            ClientStart::Ready,
            ClientStart::Manual,
            ClientStart::Spare,
        ]);
        every_variant(vec![
            CommitMode::Auto,
            CommitMode::AfterProcessing,
            CommitMode::BeforeProcessing,
            CommitMode::Never,
            CommitMode::Transactional,
        ]);
        every_variant(vec![
            OffsetReset::Earliest,
            OffsetReset::Latest,
            OffsetReset::None,
        ]);
        every_variant(vec![
            IsolationLevel::ReadUncommitted,
            IsolationLevel::ReadCommitted,
        ]);
        every_variant(vec![ElectionType::Preferred, ElectionType::Unclean]);
        every_variant(vec![
            DeliverySemantics::AtLeastOnce,
            DeliverySemantics::AtMostOnce,
        ]);
        every_variant(vec![
            NodeState::Running,
            NodeState::Paused,
            NodeState::Crashed,
            NodeState::Fenced,
            NodeState::Unfenced,
            NodeState::Isolated,
        ]);
        every_variant(vec![
            Compare::Is,
            Compare::IsNot,
            Compare::AtLeast,
            Compare::AtMost,
        ]);
        every_variant(SwarmFault::ALL.to_vec());
        // ErrorCode's variants past the 127th would take two bytes; there are fewer.
        every_variant(ErrorCode::ALL.to_vec());
    }

    /// The numbers read as serde writes them, at the edges of their ranges.
    #[test]
    fn numbers_read_back_at_their_edges() {
        fn same<T: Serialize + Decode + PartialEq + fmt::Debug>(v: T) {
            let bytes = postcard::to_allocvec(&v).unwrap();
            assert_eq!(Reader::read_all::<T>(&bytes), Ok(v));
        }
        for v in [0, 1, 127, 128, 300, u64::MAX / 2, u64::MAX] {
            same(v);
        }
        for v in [0, 1, 127, 128, u32::MAX] {
            same(v);
            same(v as usize);
        }
        for v in [0, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            same(v);
        }
        for v in [0.0, -0.5, 0.001, f64::MAX] {
            same(v);
        }
        same((true, Some("é".to_string())));
        same(Option::<bool>::None);
    }

    /// Malformed bytes are errors that say where and what, never a panic, and a length claims
    /// no memory before its items are read.
    #[test]
    fn malformed_bytes_are_errors() {
        let err = |bytes: &[u8]| Reader::read_all::<(u32, String)>(bytes).unwrap_err();
        assert_eq!(
            err(&[]),
            DecodeError {
                at: 0,
                what: "the bytes end too soon"
            }
        );
        assert_eq!(
            err(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]).what,
            "a varint over 64 bits"
        );
        assert_eq!(
            err(&[0xff, 0xff, 0xff, 0xff, 0x10, 0]),
            DecodeError {
                at: 5,
                what: "a number out of its type's range"
            }
        );
        assert_eq!(
            err(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            DecodeError {
                at: 6,
                what: "a length beyond the end of the bytes"
            }
        );
        assert_eq!(
            err(&[1, 2, 0xc3, 0x28]),
            DecodeError {
                at: 4,
                what: "a string that is not UTF-8"
            }
        );
        assert_eq!(
            err(&[1, 1, b'a', 9]),
            DecodeError {
                at: 3,
                what: "bytes left over after the end"
            }
        );
        assert_eq!(
            Reader::read_all::<Option<bool>>(&[2]).unwrap_err(),
            DecodeError {
                at: 1,
                what: "an option tag that is neither 0 nor 1"
            }
        );
        assert_eq!(
            Reader::read_all::<Action>(&[19]).unwrap_err(),
            DecodeError {
                at: 1,
                what: "an unknown enum variant"
            }
        );
        // A length of a million consumers in a handful of bytes is an error at once, not a
        // million consumers' worth of memory.
        let mut claim = vec![0xc0, 0x84, 0x3d];
        claim.extend([0; 8]);
        assert_eq!(
            Reader::read_all::<Vec<ConsumerSpec>>(&claim).unwrap_err(),
            DecodeError {
                at: 3,
                what: "a length beyond the end of the bytes"
            }
        );
        // A scenario cut short anywhere is an error, and only the first one is reported.
        let scenario = crate::library::scenario("leader-failover").unwrap();
        let bytes = postcard::to_allocvec(&scenario).unwrap();
        assert_eq!(Reader::read_all::<Scenario>(&bytes), Ok(scenario));
        for end in (0..bytes.len()).step_by(7) {
            assert!(
                Reader::read_all::<Scenario>(&bytes[..end]).is_err(),
                "{end}"
            );
        }
    }
}
