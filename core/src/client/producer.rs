//! The producer: Kafka's `KafkaProducer` reduced to what changes delivery semantics.
//!
//! * A workload calls `send` at a fixed rate: record `i` has value `{name}-{i}` and, when the
//!   workload has keys, key `key-{i mod keys}`. A `Send` command calls `send` once with the
//!   key asked for; its value is `{name}-{i}`, or `{name}-{i}:{text}` with text.
//! * The default partitioner picks the partition (murmur2 for keys, KIP-794 sticky otherwise).
//! * The accumulator batches records per partition until `batch.size` or `linger.ms`.
//! * The sender drains one batch per partition per request to each leader, with at most
//!   `max.in.flight.requests.per.connection` requests in flight per broker, retries retriable
//!   errors with exponential backoff, refreshes metadata on stale-leader errors, and expires
//!   batches after `delivery.timeout.ms`.
//! * Idempotence follows `TransactionManager`: a producer id from any broker, sequences per
//!   partition, retries drained strictly in sequence order, a local epoch bump (KIP-360) when a
//!   sequence gap is real or an expired batch leaves a sequence unresolved.
//!
//! Simplifications, each deliberate: `send` never blocks (records wait in the accumulator while
//! there is no metadata, instead of `max.block.ms`); `buffer.memory` is unbounded; compression is
//! off; the produce response carries no new-leader hint (KIP-951), so the producer learns a new
//! leader from a metadata refresh.

use crate::bytes::Bytes;
use crate::client::connections::Connections;
use crate::client::exponential_backoff;
use crate::client::metadata::ClientMetadata;
use crate::config::{Acks, EffectiveProducerConfig};
use crate::error::ErrorCode;
use crate::ids::{
    BrokerId, ClientId, NodeId, Offset, ProducerEpoch, ProducerId, Sequence, TopicName,
    TopicPartition,
};
use crate::map::{VecMap, VecSet};
use crate::node::{ClientCommand, Deadlines, Event, Input, Node, Outbox, Output};
use crate::partitioner::{
    PartitionLoad, RECORD_BATCH_OVERHEAD, StickyPartitioner, partition_for_key,
    record_size_in_bytes,
};
use crate::protocol::*;
use crate::record::{ProducerFields, Record};
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

mod txn;

pub use txn::{GroupMetadata, TransactionWorkload, TxnPhase};

/// What a producer's application does: `count` records at `rate_per_sec` to `topic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// The topic.
    pub topic: TopicName,
    /// How many distinct keys (`key-0` ...); `None` sends keyless records.
    pub keys: Option<u64>,
    /// Records per second of virtual time.
    pub rate_per_sec: u64,
    /// How many records in all.
    pub count: u64,
    /// For a producer with a `transactional.id`: its transactions. (Always serialised: the
    /// classroom's built-in scenarios use a format that cannot skip fields.)
    #[serde(default)]
    pub transaction: Option<TransactionWorkload>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BatchSequence {
    producer_id: ProducerId,
    epoch: ProducerEpoch,
    base: Sequence,
}

#[derive(Clone, Debug)]
struct Batch {
    id: u64,
    partition: u32,
    records: Vec<Record>,
    frozen: Option<Arc<[Record]>>,
    size: u64,
    created: Instant,
    attempts: u32,
    retry_at: Option<Instant>,
    sequence: Option<BatchSequence>,
    sequence_reset: bool,
    /// Some attempt's outcome is unknown, or the broker appended it before failing the request:
    /// the records may be in the log even if the batch fails.
    maybe_written: bool,
}

impl Batch {
    fn records(&mut self) -> Arc<[Record]> {
        self.frozen
            .get_or_insert_with(|| self.records.iter().cloned().collect())
            .clone()
    }

    fn len(&self) -> u32 {
        self.records.len() as u32
    }

    fn last_sequence(&self) -> Option<Sequence> {
        self.sequence.map(|s| s.base.plus(self.len() - 1))
    }
}

/// The accumulator queue and the idempotence state of one partition (`TxnPartitionEntry`).
#[derive(Clone, Debug, Default)]
struct PartitionState {
    /// Batches waiting to be sent: new ones at the back, retries in sequence order.
    queue: VecDeque<Batch>,
    /// Batches on the wire.
    in_flight: VecMap<u64, Batch>,
    /// The producer id and epoch this partition's sequences belong to.
    producer: Option<(ProducerId, ProducerEpoch)>,
    next_sequence: Sequence,
    last_acked: Option<Sequence>,
    /// The next sequence after a batch that expired while being retried (KIP-360).
    unresolved: Option<Sequence>,
    /// Sequences drained and not yet completed (including batches queued for retry).
    in_flight_sequences: VecSet<(u32, u64)>,
}

impl PartitionState {
    fn first_in_flight_sequence(&self) -> Option<u32> {
        self.in_flight_sequences.first().map(|(s, _)| *s)
    }

    /// `insertInSequenceOrder`: a retried batch goes back in front of new batches, ordered by
    /// sequence among the other retries.
    fn requeue(&mut self, batch: Batch) {
        let seq = batch.sequence.map(|s| s.base.0);
        let pos = self
            .queue
            .iter()
            .position(|b| match (b.sequence, seq) {
                (None, _) => true,
                (Some(other), Some(mine)) => other.base.0 > mine,
                (Some(_), None) => false,
            })
            .unwrap_or(self.queue.len());
        self.queue.insert(pos, batch);
    }
}

#[derive(Clone, Debug)]
struct InFlightRequest {
    broker: BrokerId,
    deadline: Instant,
    batches: Vec<u64>,
}

#[derive(Clone, Copy, Debug)]
enum PendingRequest {
    Metadata {
        broker: BrokerId,
        deadline: Instant,
    },
    InitProducerId {
        broker: BrokerId,
        deadline: Instant,
    },
    /// A request of the transactional producer (to the coordinator, or FindCoordinator).
    Txn {
        broker: BrokerId,
        deadline: Instant,
    },
}

impl PendingRequest {
    fn broker(&self) -> BrokerId {
        match self {
            PendingRequest::Metadata { broker, .. }
            | PendingRequest::InitProducerId { broker, .. }
            | PendingRequest::Txn { broker, .. } => *broker,
        }
    }

    fn deadline(&self) -> Instant {
        match self {
            PendingRequest::Metadata { deadline, .. }
            | PendingRequest::InitProducerId { deadline, .. }
            | PendingRequest::Txn { deadline, .. } => *deadline,
        }
    }
}

/// A producer node.
#[derive(Debug)]
pub struct Producer {
    id: ClientId,
    name: String,
    config: EffectiveProducerConfig,
    workload: Workload,
    rng: Rng,
    started: bool,
    producing: bool,
    created: u64,
    next_record_at: Option<Instant>,
    workload_started_at: Option<Instant>,
    /// Records of the workload sent so far (`created` also counts one-off sends).
    workload_sent: u64,
    /// `workload_sent` when the workload last started: its schedule counts from there.
    resumed_from: u64,
    /// Records asked for one at a time (`ClientCommand::Send`): key and value, waiting for the
    /// topic's metadata as the workload's records do.
    requested: VecDeque<(Option<Bytes>, Bytes)>,
    metadata: ClientMetadata,
    producer_id: Option<(ProducerId, ProducerEpoch)>,
    init_retry_at: Option<Instant>,
    epoch_bump_partitions: VecSet<u32>,
    epoch_bump_required: bool,
    partitions: VecMap<u32, PartitionState>,
    sticky: StickyPartitioner,
    requests: VecMap<CorrelationId, InFlightRequest>,
    pending: VecMap<CorrelationId, PendingRequest>,
    connections: Connections,
    /// The time of the last input: deadlines at or before it were handled or are blocked.
    now: Instant,
    next_batch_id: u64,
    next_correlation: CorrelationId,
    outbox: Outbox,
    /// The transactional state, for a producer with a `transactional.id`.
    txn: Option<txn::Txn>,
}

impl Producer {
    /// A producer with its config (already validated), workload, bootstrap brokers and seed. It
    /// starts producing when started, unless `start_idle` is set (then a `StartWorkload`
    /// command starts it).
    pub fn new(
        id: ClientId,
        name: impl Into<String>,
        config: EffectiveProducerConfig,
        workload: Workload,
        bootstrap: Vec<BrokerId>,
        seed: u64,
    ) -> Producer {
        Producer {
            id,
            name: name.into(),
            rng: Rng::new(seed),
            started: false,
            producing: false,
            created: 0,
            next_record_at: None,
            workload_started_at: None,
            workload_sent: 0,
            resumed_from: 0,
            requested: VecDeque::new(),
            metadata: ClientMetadata::new(bootstrap),
            producer_id: None,
            init_retry_at: None,
            epoch_bump_partitions: VecSet::new(),
            epoch_bump_required: false,
            partitions: VecMap::new(),
            sticky: StickyPartitioner::default(),
            requests: VecMap::new(),
            pending: VecMap::new(),
            connections: Connections::default(),
            now: Instant::ZERO,
            next_batch_id: 0,
            next_correlation: 0,
            outbox: Outbox::default(),
            txn: config.config.transactional_id.clone().map(|id| {
                txn::Txn::new(
                    id,
                    config.config.transaction_timeout,
                    workload.transaction.unwrap_or(TransactionWorkload {
                        records: 1,
                        abort_every: None,
                    }),
                )
            }),
            config,
            workload,
        }
    }

    /// The client id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The producer's name (the prefix of its record values).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The effective configuration.
    pub fn config(&self) -> &EffectiveProducerConfig {
        &self.config
    }

    /// The workload.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// How many records the application has sent so far, counting those of the producer's
    /// earlier incarnations when it continues their numbering ([`Producer::number_values_from`]).
    pub fn records_created(&self) -> u64 {
        self.created
    }

    /// Numbers this producer's values from `first` (`{name}-{first}`, ...) instead of from 0.
    /// The simulation gives a restarted producer the count of values its earlier incarnations
    /// created, so that every value of a run names one send: the application behind a new
    /// session sends new records, and a checker that finds the same value twice in the log
    /// must be finding a record written twice, not two sends that happen to share a number.
    pub fn number_values_from(&mut self, first: u64) {
        self.created = first;
    }

    /// Whether the workload is running.
    pub fn is_producing(&self) -> bool {
        self.producing
    }

    /// The producer id and epoch, once assigned.
    pub fn producer_id(&self) -> Option<(ProducerId, ProducerEpoch)> {
        self.producer_id
    }

    /// Records sent and not yet completed (queued or in flight).
    pub fn records_pending(&self) -> u64 {
        self.partitions
            .values()
            .map(|p| {
                p.queue
                    .iter()
                    .chain(p.in_flight.values())
                    .map(|b| u64::from(b.len()))
                    .sum::<u64>()
            })
            .sum()
    }

    /// Produce requests in flight.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Whether the workload has sent everything and every record completed (and, for a
    /// transactional producer, its last transaction ended).
    pub fn is_done(&self) -> bool {
        self.workload_sent >= self.workload.count
            && self.requested.is_empty()
            && self.records_pending() == 0
            && self.txn.as_ref().is_none_or(|t| {
                !matches!(
                    t.phase,
                    TxnPhase::InTransaction | TxnPhase::Committing | TxnPhase::Aborting
                )
            })
    }

    /// Numbers this producer's requests from `base` on: a pipeline's producer shares its
    /// node with a consumer, and the ranges tell their answers apart.
    pub fn set_correlation_base(&mut self, base: CorrelationId) {
        self.next_correlation = self.next_correlation.max(base);
    }

    fn correlation(&mut self) -> CorrelationId {
        self.next_correlation += 1;
        self.next_correlation
    }

    fn in_flight_to(&self, broker: BrokerId) -> usize {
        self.requests
            .values()
            .filter(|r| r.broker == broker)
            .count()
            + self
                .pending
                .values()
                .filter(|p| p.broker() == broker)
                .count()
    }

    fn start_workload(&mut self, now: Instant) {
        if !self.producing && self.workload_sent < self.workload.count {
            self.producing = true;
            // Record i is sent at start + (i - resumed_from) / rate: counted from where the
            // workload resumes, so a stopped workload picks up its rate at once.
            self.workload_started_at = Some(now);
            self.resumed_from = self.workload_sent;
            self.next_record_at = Some(now);
        }
    }

    fn record_time(&self, i: u64) -> Instant {
        let rate = self.workload.rate_per_sec.max(1);
        let since = i.saturating_sub(self.resumed_from);
        self.workload_started_at.unwrap_or_default() + Duration(since * 1000 / rate)
    }

    /// The application calls `send` once (`ClientCommand::Send`).
    fn request(&mut self, now: Instant, key: Option<String>, text: Option<String>) {
        let i = self.created;
        self.created += 1;
        let value = match text {
            Some(t) => format!("{}-{i}:{t}", self.name),
            None => format!("{}-{i}", self.name),
        };
        self.requested
            .push_back((key.map(Bytes::from), Bytes::from(value)));
        self.send_requested(now);
    }

    /// Sends the records asked for one at a time, once the topic's metadata is known.
    fn send_requested(&mut self, now: Instant) {
        if self.requested.is_empty() {
            return;
        }
        let Some(partitions) = self
            .metadata
            .partitions(&self.workload.topic)
            .map(<[_]>::to_vec)
        else {
            return; // waits for metadata, as the workload does
        };
        while let Some((key, value)) = self.requested.pop_front() {
            if !self.txn_before_send() {
                // A transactional producer sends only inside a transaction.
                self.requested.push_front((key, value));
                return;
            }
            self.send_record(now, &partitions, key, value.clone());
            if let Some(txn) = &mut self.txn {
                txn.sent += 1;
                txn.values.push(value);
            }
        }
    }

    /// The application's `send` calls that are due.
    fn run_workload(&mut self, now: Instant) {
        let mut sent_since_start = 0;
        while self.producing && self.next_record_at.is_some_and(|t| t <= now) {
            let Some(partitions) = self
                .metadata
                .partitions(&self.workload.topic)
                .map(<[_]>::to_vec)
            else {
                return; // waits for metadata (Kafka's send blocks in waitOnMetadata)
            };
            if !self.txn_before_send() {
                return; // the application waits for its transaction to end
            }
            let i = self.created;
            let key = self
                .workload
                .keys
                .map(|k| Bytes::from(format!("key-{}", self.workload_sent % k.max(1))));
            let value = Bytes::from(format!("{}-{}", self.name, i));
            self.send_record(now, &partitions, key, value.clone());
            self.created += 1;
            self.workload_sent += 1;
            sent_since_start += 1;
            self.next_record_at = if self.workload_sent < self.workload.count {
                Some(self.record_time(self.workload_sent))
            } else {
                self.producing = false;
                None
            };
            self.txn_after_send(value, !self.producing);
            if sent_since_start > 100_000 {
                break; // a safety valve: never spin forever inside one input
            }
        }
    }

    /// `KafkaProducer.send`: the partitioner picks the partition, the accumulator takes the
    /// record, and the application learns the record was sent.
    fn send_record(
        &mut self,
        now: Instant,
        partitions: &[PartitionMetadata],
        key: Option<Bytes>,
        value: Bytes,
    ) {
        let partition = match &key {
            Some(k) if !self.config.config.partitioner_ignore_keys => {
                partition_for_key(k.as_slice(), partitions.len() as u32)
            }
            _ => {
                let loads: Vec<PartitionLoad> = partitions
                    .iter()
                    .map(|p| PartitionLoad {
                        partition: p.partition,
                        available: p.leader.is_some(),
                        queue_size: self
                            .partitions
                            .get(&p.partition)
                            .map_or(0, |s| s.queue.len() as u64),
                    })
                    .collect();
                self.sticky.partition(
                    &loads,
                    self.config.config.partitioner_adaptive_partitioning_enable,
                    &mut self.rng,
                )
            }
        };
        let record = Record {
            key: key.clone(),
            value: Some(value.clone()),
            timestamp: now,
        };
        let appended = self.append(now, partition, record);
        if key.is_none() || self.config.config.partitioner_ignore_keys {
            let state = &self.partitions[&partition];
            let last_full = state
                .queue
                .back()
                .is_none_or(|b| b.size >= self.config.config.batch_size || b.frozen.is_some());
            self.sticky
                .record_append(appended, self.config.config.batch_size, last_full);
        }
        self.outbox.event(Event::RecordSent {
            value,
            key,
            topic_partition: TopicPartition {
                topic: self.workload.topic.clone(),
                partition,
            },
        });
    }

    /// `RecordAccumulator.append`: into the open batch of the partition if it fits, else a new
    /// batch. Returns the bytes appended (with the batch overhead for a new batch), which drive
    /// the sticky partitioner.
    fn append(&mut self, now: Instant, partition: u32, record: Record) -> u64 {
        let batch_size = self.config.config.batch_size;
        let state = self.partitions.entry(partition).or_default();
        if let Some(last) = state.queue.back_mut()
            && last.frozen.is_none()
            && last.attempts == 0
        {
            let size = record_size_in_bytes(
                last.records.len() as u64,
                record.timestamp.0 as i64 - last.created.0 as i64,
                record.key.as_ref().map(Bytes::as_slice),
                record.value.as_ref().map(Bytes::as_slice),
            );
            if last.size + size <= batch_size.max(RECORD_BATCH_OVERHEAD + size)
                && last.size < batch_size
            {
                last.size += size;
                last.records.push(record);
                return size;
            }
        }
        let size = RECORD_BATCH_OVERHEAD
            + record_size_in_bytes(
                0,
                0,
                record.key.as_ref().map(Bytes::as_slice),
                record.value.as_ref().map(Bytes::as_slice),
            );
        self.next_batch_id += 1;
        state.queue.push_back(Batch {
            id: self.next_batch_id,
            partition,
            records: vec![record],
            frozen: None,
            size,
            created: now,
            attempts: 0,
            retry_at: None,
            sequence: None,
            sequence_reset: false,
            maybe_written: false,
        });
        size
    }

    fn tp(&self, partition: u32) -> TopicPartition {
        TopicPartition {
            topic: self.workload.topic.clone(),
            partition,
        }
    }

    fn batch_ready(&self, b: &Batch, now: Instant) -> bool {
        match b.retry_at {
            Some(t) => t <= now,
            None => {
                b.size >= self.config.config.batch_size
                    || now >= b.created + self.config.config.linger
            }
        }
    }

    /// `shouldStopDrainBatchesForPartition` for idempotent producers.
    fn must_not_drain(&self, state: &PartitionState, head: &Batch) -> bool {
        if !self.config.idempotence {
            return false;
        }
        if !self.txn_allows_drain(head.partition) {
            return true;
        }
        let Some(current) = self.producer_id else {
            return true;
        };
        match head.sequence {
            None => {
                let stale = state.producer.is_some_and(|p| p != current)
                    && !state.in_flight_sequences.is_empty();
                stale || state.unresolved.is_some()
            }
            Some(seq) => state
                .first_in_flight_sequence()
                .is_some_and(|first| first != seq.base.0),
        }
    }

    /// The sender loop (`Sender.runOnce`).
    fn send(&mut self, now: Instant) {
        if self.txn.is_some() {
            self.drive_txn(now);
        } else if self.config.idempotence {
            if self.producer_id.is_none() {
                self.maybe_init_producer_id(now);
            }
            if self.epoch_bump_required && self.producer_id.is_some() {
                self.bump_epoch();
            }
            self.resolve_sequences();
        }
        self.expire_batches(now);
        self.maybe_request_metadata(now);
        if self.config.idempotence && self.producer_id.is_none() {
            return;
        }
        let leaders: VecMap<u32, BrokerId> = self
            .metadata
            .partitions(&self.workload.topic)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| Some((p.partition, p.leader?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut by_broker: VecMap<BrokerId, Vec<u32>> = VecMap::new();
        let mut to_connect = VecSet::new();
        for (&partition, state) in &self.partitions {
            let Some(head) = state.queue.front() else {
                continue;
            };
            let Some(&leader) = leaders.get(&partition) else {
                continue;
            };
            if !self.batch_ready(head, now) || self.must_not_drain(state, head) {
                continue;
            }
            if self.config.config.max_in_flight_requests_per_connection == 1
                && !state.in_flight.is_empty()
            {
                continue; // guaranteeMessageOrder mutes a partition with a batch in flight
            }
            if !self.connections.is_ready(leader) {
                // `Sender.sendProducerData` drains only to ready nodes: the batch waits.
                to_connect.insert(leader);
                continue;
            }
            by_broker.entry(leader).or_default().push(partition);
        }
        for broker in to_connect {
            self.ensure_connected(broker, now);
        }
        let transactional = self.txn.is_some();
        for (broker, partitions) in by_broker {
            if self.in_flight_to(broker)
                >= self.config.config.max_in_flight_requests_per_connection as usize
            {
                continue;
            }
            let mut batches = Vec::new();
            let mut ids = Vec::new();
            let mut size = 0;
            for partition in partitions {
                let current = self.producer_id;
                let state = self.partitions.get_mut(&partition).expect("listed above");
                let head_size = state.queue.front().map_or(0, |b| b.size);
                if !batches.is_empty() && size + head_size > self.config.config.max_request_size {
                    break;
                }
                let mut batch = state.queue.pop_front().expect("listed above");
                size += batch.size;
                if let Some(current) = current.filter(|_| self.config.idempotence)
                    && batch.sequence.is_none()
                {
                    // maybeUpdateProducerIdAndEpoch: a partition whose old-epoch batches are
                    // all done starts again at sequence 0 under the current epoch.
                    if state.producer != Some(current) && state.in_flight_sequences.is_empty() {
                        state.producer = Some(current);
                        state.next_sequence = Sequence(0);
                        state.last_acked = None;
                    }
                    batch.sequence = Some(BatchSequence {
                        producer_id: current.0,
                        epoch: current.1,
                        base: state.next_sequence,
                    });
                    state.next_sequence = state.next_sequence.plus(batch.len());
                    state
                        .in_flight_sequences
                        .insert((batch.sequence.expect("set").base.0, batch.id));
                }
                batch.attempts += 1;
                batch.retry_at = None;
                let records = batch.records();
                batches.push(ProduceBatch {
                    topic_partition: TopicPartition {
                        topic: self.workload.topic.clone(),
                        partition,
                    },
                    producer: batch.sequence.map(|s| ProducerFields {
                        producer_id: s.producer_id,
                        producer_epoch: s.epoch,
                        base_sequence: s.base,
                        transactional,
                    }),
                    records,
                });
                ids.push(batch.id);
                state.in_flight.insert(batch.id, batch);
            }
            if batches.is_empty() {
                continue;
            }
            let correlation = self.correlation();
            self.outbox.send(
                NodeId::Broker(broker),
                Message::Produce(ProduceRequest {
                    correlation,
                    acks: self.config.config.acks.wire(),
                    timeout: self.config.config.request_timeout,
                    batches,
                }),
            );
            if self.config.config.acks == Acks::Zero {
                // acks=0: the send completes as soon as the request is written, offset unknown.
                for id in ids {
                    self.complete_success(id, None);
                }
            } else {
                self.requests.insert(
                    correlation,
                    InFlightRequest {
                        broker,
                        deadline: now + self.config.config.request_timeout,
                        batches: ids,
                    },
                );
            }
        }
    }

    fn find_batch(&mut self, id: u64) -> Option<(u32, &mut Batch)> {
        self.partitions
            .iter_mut()
            .find_map(|(&p, s)| s.in_flight.get_mut(&id).map(|b| (p, b)))
    }

    fn complete_success(&mut self, id: u64, base_offset: Option<Offset>) {
        let Some((partition, _)) = self.find_batch(id) else {
            return;
        };
        let tp = self.tp(partition);
        let state = self.partitions.get_mut(&partition).expect("found above");
        let batch = state.in_flight.remove(&id).expect("found above");
        if let Some(seq) = batch.sequence {
            state.in_flight_sequences.remove(&(seq.base.0, batch.id));
            if state.producer == Some((seq.producer_id, seq.epoch)) {
                let last = batch.last_sequence().expect("sequenced");
                if state.last_acked.is_none_or(|l| last.0 > l.0) {
                    state.last_acked = Some(last);
                }
            }
        }
        for (i, r) in batch.records.iter().enumerate() {
            self.outbox.event(Event::RecordAcknowledged {
                value: r.value.clone().unwrap_or_else(|| Bytes::from("")),
                topic_partition: tp.clone(),
                offset: base_offset.map(|o| o.plus(i as u64)),
            });
        }
    }

    fn fail_batch(&mut self, mut batch: Batch, error: ErrorCode) {
        let tp = self.tp(batch.partition);
        if let Some(seq) = batch.sequence
            && let Some(state) = self.partitions.get_mut(&batch.partition)
        {
            state.in_flight_sequences.remove(&(seq.base.0, batch.id));
        }
        let definite = !batch.maybe_written;
        for r in batch.records.drain(..) {
            self.outbox.event(Event::RecordFailed {
                value: r.value.unwrap_or_else(|| Bytes::from("")),
                topic_partition: tp.clone(),
                error,
                definite,
            });
        }
    }

    fn request_epoch_bump(&mut self, partition: u32) {
        // A transactional producer never bumps locally: its transaction aborts, and the
        // coordinator bumps the epoch (`txn_batch_failed`).
        if self.config.idempotence && self.txn.is_none() {
            self.epoch_bump_required = true;
            self.epoch_bump_partitions.insert(partition);
        }
    }

    /// `bumpIdempotentProducerEpoch`: a local bump, no request. The partitions that asked for it
    /// renumber their outstanding batches from sequence 0 under the new epoch.
    fn bump_epoch(&mut self) {
        let Some((pid, epoch)) = self.producer_id else {
            return;
        };
        self.epoch_bump_required = false;
        if epoch.0 == i16::MAX as u16 {
            // Epoch exhausted: a new producer id.
            self.producer_id = None;
            return;
        }
        let new = (pid, ProducerEpoch(epoch.0 + 1));
        self.producer_id = Some(new);
        self.outbox.event(Event::ProducerEpochBumped {
            producer_id: pid,
            producer_epoch: new.1,
        });
        for partition in std::mem::take(&mut self.epoch_bump_partitions) {
            let Some(state) = self.partitions.get_mut(&partition) else {
                continue;
            };
            let ids: Vec<u64> = state
                .in_flight_sequences
                .iter()
                .map(|(_, id)| *id)
                .collect();
            state.in_flight_sequences.clear();
            let mut next = Sequence(0);
            let topic_partition = TopicPartition {
                topic: self.workload.topic.clone(),
                partition,
            };
            for id in ids {
                let batch = state
                    .in_flight
                    .get_mut(&id)
                    .or_else(|| state.queue.iter_mut().find(|b| b.id == id));
                if let Some(b) = batch {
                    b.sequence = Some(BatchSequence {
                        producer_id: new.0,
                        epoch: new.1,
                        base: next,
                    });
                    b.sequence_reset = true;
                    state.in_flight_sequences.insert((next.0, id));
                    next = next.plus(b.len());
                    if b.maybe_written {
                        // Under its new identity a batch an earlier attempt wrote is no retry
                        // to the broker: it may be written a second time, as in Kafka.
                        self.outbox.event(Event::InFlightBatchRenumbered {
                            topic_partition: topic_partition.clone(),
                            producer_epoch: new.1,
                            values: b
                                .records
                                .iter()
                                .map(|r| r.value.clone().unwrap_or_else(|| Bytes::from("")))
                                .collect(),
                        });
                    }
                }
            }
            state.producer = Some(new);
            state.next_sequence = next;
            state.last_acked = None;
            state.unresolved = None;
        }
    }

    /// `maybeResolveSequences`: once nothing of a partition with an unresolved sequence is in
    /// flight, it is resolved if a later batch was acknowledged, else the epoch is bumped.
    fn resolve_sequences(&mut self) {
        let mut bump = Vec::new();
        for (&partition, state) in &mut self.partitions {
            let Some(_) = state.unresolved else { continue };
            if !state.in_flight_sequences.is_empty() {
                continue;
            }
            if state.last_acked.map_or(Sequence(0), |l| l.plus(1)) == state.next_sequence {
                state.unresolved = None;
            } else {
                bump.push(partition);
            }
        }
        for p in bump {
            self.request_epoch_bump(p);
        }
    }

    /// `delivery.timeout.ms`: batches waiting in the queue (from the head) and batches on the
    /// wire fail with a timeout; a batch that had been retried leaves its sequence unresolved.
    fn expire_batches(&mut self, now: Instant) {
        let timeout = self.config.delivery_timeout;
        let mut expired = Vec::new();
        for state in self.partitions.values_mut() {
            while state
                .queue
                .front()
                .is_some_and(|b| now >= b.created + timeout)
            {
                expired.push(state.queue.pop_front().expect("checked"));
            }
            let late: Vec<u64> = state
                .in_flight
                .values()
                .filter(|b| now >= b.created + timeout)
                .map(|b| b.id)
                .collect();
            for id in late {
                let mut b = state.in_flight.remove(&id).expect("listed");
                b.maybe_written = true;
                expired.push(b);
            }
        }
        for batch in expired {
            // A batch that had been retried leaves its sequence unresolved (`inRetry`).
            let in_retry = batch.attempts > 1 || (batch.attempts == 1 && batch.retry_at.is_some());
            if in_retry
                && let (Some(last), Some(state)) = (
                    batch.last_sequence(),
                    self.partitions.get_mut(&batch.partition),
                )
            {
                let next = last.plus(1);
                state.unresolved = Some(
                    state
                        .unresolved
                        .map_or(next, |u| if next.0 > u.0 { next } else { u }),
                );
            }
            self.requests
                .values_mut()
                .for_each(|r| r.batches.retain(|&id| id != batch.id));
            self.fail_batch(batch, ErrorCode::DeliveryTimeout);
            self.txn_batch_failed(ErrorCode::DeliveryTimeout);
        }
    }

    /// `leastLoadedNode`: a ready broker with the fewest requests in flight, else one being
    /// connected to, else one that may be connected to; never one in reconnect backoff.
    fn least_loaded(&mut self, now: Instant) -> Option<BrokerId> {
        let loads: VecMap<BrokerId, usize> = self
            .metadata
            .brokers
            .iter()
            .map(|&b| (b, self.in_flight_to(b) + self.connections.load_penalty(b)))
            .collect();
        let connections = &self.connections;
        self.metadata.least_loaded(
            |b| loads.get(&b).copied().unwrap_or(0),
            |b| connections.is_backing_off(b, now),
            &mut self.rng,
        )
    }

    /// Whether `broker` is ready for requests; if not, starts connecting to it when allowed.
    fn ensure_connected(&mut self, broker: BrokerId, now: Instant) -> bool {
        if self.connections.is_ready(broker) {
            return true;
        }
        if self.connections.can_connect(broker, now) {
            let correlation = self.correlation();
            self.connections.connect(broker, now, correlation);
            self.outbox.send(
                NodeId::Broker(broker),
                Message::ApiVersions(ApiVersionsRequest { correlation }),
            );
        }
        false
    }

    fn maybe_request_metadata(&mut self, now: Instant) {
        if self
            .pending
            .values()
            .any(|p| matches!(p, PendingRequest::Metadata { .. }))
        {
            return;
        }
        let leaderless = self
            .partitions
            .iter()
            .any(|(&p, s)| !s.queue.is_empty() && self.metadata.leader(&self.tp(p)).is_none());
        if leaderless {
            self.metadata.update_requested = true;
        }
        if self
            .metadata
            .next_update(self.config.config.metadata_max_age)
            > now
        {
            return;
        }
        let topics = vec![self.workload.topic.clone()];
        self.request_least_loaded(now, |broker, deadline, correlation| {
            (
                PendingRequest::Metadata { broker, deadline },
                Message::Metadata(MetadataRequest {
                    correlation,
                    topics,
                }),
            )
        });
    }

    /// Sends a request to the least loaded ready broker, or starts connecting to one and sends
    /// nothing yet (the request goes out when a later input finds the connection ready).
    fn request_least_loaded(
        &mut self,
        now: Instant,
        make: impl FnOnce(BrokerId, Instant, CorrelationId) -> (PendingRequest, Message),
    ) {
        let Some(broker) = self.least_loaded(now) else {
            return;
        };
        if !self.ensure_connected(broker, now) {
            return;
        }
        let correlation = self.correlation();
        let (pending, message) = make(
            broker,
            now + self.config.config.request_timeout,
            correlation,
        );
        self.pending.insert(correlation, pending);
        self.outbox.send(NodeId::Broker(broker), message);
    }

    fn maybe_init_producer_id(&mut self, now: Instant) {
        if self.init_retry_at.is_some_and(|t| t > now)
            || self
                .pending
                .values()
                .any(|p| matches!(p, PendingRequest::InitProducerId { .. }))
        {
            return;
        }
        self.request_least_loaded(now, |broker, deadline, correlation| {
            (
                PendingRequest::InitProducerId { broker, deadline },
                Message::InitProducerId(InitProducerIdRequest {
                    correlation,
                    transactional_id: None,
                    transaction_timeout: Duration::ZERO,
                }),
            )
        });
    }

    fn backoff(&mut self, attempts: u32) -> Duration {
        exponential_backoff(
            self.config.config.retry_backoff,
            self.config.config.retry_backoff_max,
            attempts.saturating_sub(1),
            20,
            &mut self.rng,
        )
    }

    fn handle_produce_response(&mut self, now: Instant, from: BrokerId, r: ProduceResponse) {
        let Some(request) = self.requests.remove(&r.correlation) else {
            return;
        };
        for pr in r.partitions {
            let Some(&id) = request.batches.iter().find(|&&id| {
                self.partitions
                    .get(&pr.topic_partition.partition)
                    .is_some_and(|s| s.in_flight.contains_key(&id))
            }) else {
                continue;
            };
            match pr.error {
                None => self.complete_success(id, pr.base_offset),
                Some(error) => self.handle_batch_error(now, from, id, error),
            }
        }
    }

    /// `Sender.completeBatch` for an error: retry when Kafka would (`canRetry`), else fail.
    fn handle_batch_error(&mut self, now: Instant, from: BrokerId, id: u64, error: ErrorCode) {
        let Some((partition, _)) = self.find_batch(id) else {
            return;
        };
        let tp = self.tp(partition);
        self.outbox.event(Event::ProduceError {
            topic_partition: tp,
            error,
            broker: from,
        });
        let timeout = self.config.delivery_timeout;
        let retries = self.config.config.retries;
        let idempotent = self.config.idempotence;
        let state = self.partitions.get_mut(&partition).expect("found");
        let mut batch = state.in_flight.remove(&id).expect("found");
        if matches!(
            error,
            ErrorCode::NotEnoughReplicasAfterAppend
                | ErrorCode::RequestTimedOut
                | ErrorCode::NetworkException
                // A leader that loses its leadership while an acks=all write waits for its
                // followers answers NOT_LEADER_OR_FOLLOWER after the append
                // (`Partition.checkEnoughReplicasReachOffset`, `DelayedProduce.tryComplete`):
                // the records may well be in the next leader's log.
                | ErrorCode::NotLeaderOrFollower
        ) {
            batch.maybe_written = true;
        }
        let can_retry_in_time =
            now < batch.created + timeout && u64::from(batch.attempts) <= retries;
        let retry = match error {
            ErrorCode::OutOfOrderSequenceNumber if idempotent => {
                let not_head = batch.sequence_reset
                    || batch.sequence.is_some_and(|s| {
                        Some(s.base) != Some(state.last_acked.map_or(Sequence(0), |l| l.plus(1)))
                    });
                if state.unresolved.is_none() && not_head {
                    can_retry_in_time
                } else {
                    if state.unresolved.is_none()
                        || batch.sequence.map(|s| s.base) == state.unresolved
                    {
                        self.epoch_bump_required = true;
                        self.epoch_bump_partitions.insert(partition);
                    }
                    can_retry_in_time
                }
            }
            e => e.is_retriable() && can_retry_in_time,
        };
        if matches!(
            error,
            ErrorCode::NotLeaderOrFollower
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::NetworkException
        ) {
            self.metadata.update_requested = true;
        }
        if retry {
            batch.retry_at = Some(now + self.backoff(batch.attempts));
            let state = self.partitions.get_mut(&partition).expect("found");
            state.requeue(batch);
        } else {
            if matches!(
                error,
                ErrorCode::InvalidProducerEpoch | ErrorCode::OutOfOrderSequenceNumber
            ) {
                self.request_epoch_bump(partition);
            }
            self.fail_batch(batch, error);
            self.txn_batch_failed(error);
        }
    }

    /// A broken connection or a request timeout: Kafka disconnects, and every request in flight
    /// on that connection fails with a network error (the outcome unknown).
    fn fail_connection(&mut self, now: Instant, broker: BrokerId) {
        self.connections.disconnected(broker, now, &mut self.rng);
        let failed: Vec<CorrelationId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.broker == broker)
            .map(|(&c, _)| c)
            .collect();
        for c in failed {
            let request = self.requests.remove(&c).expect("listed");
            for id in request.batches {
                self.handle_batch_error(now, broker, id, ErrorCode::NetworkException);
            }
        }
        let pending: Vec<CorrelationId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.broker() == broker)
            .map(|(&c, _)| c)
            .collect();
        for c in pending {
            match self.pending.remove(&c) {
                Some(PendingRequest::Metadata { .. }) => {
                    let backoff = (
                        self.config.config.retry_backoff,
                        self.config.config.retry_backoff_max,
                    );
                    self.metadata.failed(now, backoff, &mut self.rng);
                }
                Some(PendingRequest::InitProducerId { .. }) => {
                    self.init_retry_at = Some(now + self.config.config.retry_backoff);
                }
                Some(PendingRequest::Txn { .. }) => self.txn_request_lost(now),
                None => {}
            }
        }
        self.metadata.update_requested = true;
    }

    fn handle_timers(&mut self, now: Instant) {
        let expired: Vec<BrokerId> = self
            .requests
            .values()
            .filter(|r| r.deadline <= now)
            .map(|r| r.broker)
            .collect::<VecSet<_>>()
            .into_iter()
            .collect();
        for broker in expired {
            // request.timeout.ms passed: Kafka closes the connection and fails what was on it.
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
        let timed_out: Vec<BrokerId> = self
            .pending
            .values()
            .filter(|p| p.deadline() <= now)
            .map(PendingRequest::broker)
            .collect();
        for broker in timed_out {
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
        // Connection setups that got no answer (`socket.connection.setup.timeout.ms`).
        for broker in self.connections.expired(now) {
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
    }
}

impl Node for Producer {
    fn handle(&mut self, now: Instant, input: Input) {
        self.now = now;
        match input {
            Input::Start => {
                self.started = true;
                self.start_workload(now);
            }
            _ if !self.started => return,
            Input::Timeout => {}
            Input::Writeback => {}
            Input::Command(ClientCommand::StartWorkload) => self.start_workload(now),
            Input::Command(ClientCommand::StopWorkload) => {
                self.producing = false;
                self.next_record_at = None;
                // The application commits what its open transaction holds before it stops.
                self.end_transaction_by_application();
            }
            Input::Command(ClientCommand::LeaveGroup) => {} // a consumer command
            Input::Command(ClientCommand::Send { key, text }) => self.request(now, key, text),
            Input::Disconnected { peer, .. } => {
                if let NodeId::Broker(b) = peer {
                    self.fail_connection(now, b);
                }
            }
            Input::Message { from, message } => {
                let NodeId::Broker(broker) = from else { return };
                match message {
                    Message::ProduceResponse(r) => self.handle_produce_response(now, broker, r),
                    Message::ApiVersionsResponse(r) => {
                        self.connections.connected(r.correlation);
                        self.txn_connection_ready(r.transaction_version);
                    }
                    Message::MetadataResponse(r) => {
                        if let Some(PendingRequest::Metadata { .. }) =
                            self.pending.get(&r.correlation)
                        {
                            self.pending.remove(&r.correlation);
                            let backoff = (
                                self.config.config.retry_backoff,
                                self.config.config.retry_backoff_max,
                            );
                            self.metadata.update(now, &r, backoff, &mut self.rng);
                        }
                    }
                    m @ (Message::FindCoordinatorResponse(_)
                    | Message::AddPartitionsToTxnResponse(_)
                    | Message::AddOffsetsToTxnResponse(_)
                    | Message::TxnOffsetCommitResponse(_)
                    | Message::EndTxnResponse(_)) => self.handle_txn_response(now, m),
                    m @ Message::InitProducerIdResponse(_) if self.txn.is_some() => {
                        self.handle_txn_response(now, m)
                    }
                    Message::InitProducerIdResponse(r) => {
                        if let Some(PendingRequest::InitProducerId { .. }) =
                            self.pending.get(&r.correlation)
                        {
                            self.pending.remove(&r.correlation);
                            match r.error {
                                None => {
                                    self.producer_id = Some((r.producer_id, r.producer_epoch));
                                    self.outbox.event(Event::ProducerIdAssigned {
                                        producer_id: r.producer_id,
                                        producer_epoch: r.producer_epoch,
                                    });
                                }
                                Some(_) => {
                                    self.init_retry_at =
                                        Some(now + self.config.config.retry_backoff)
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        self.handle_timers(now);
        self.send_requested(now);
        self.run_workload(now);
        self.send(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return None;
        }
        let mut d = Deadlines::after(self.now);
        let mut at = |x: Option<Instant>| d.at(x);
        if self.metadata.partitions(&self.workload.topic).is_some() {
            at(self.next_record_at);
        }
        let timeout = self.config.delivery_timeout;
        for state in self.partitions.values() {
            if let Some(head) = state.queue.front() {
                at(Some(
                    head.retry_at
                        .unwrap_or(head.created + self.config.config.linger),
                ));
                at(Some(head.created + timeout));
            }
            at(state.in_flight.values().map(|b| b.created + timeout).min());
        }
        at(self.requests.values().map(|r| r.deadline).min());
        for p in self.pending.values() {
            at(Some(p.deadline()));
        }
        if let Some(t) = &self.txn {
            at(t.retry_at);
        }
        if !self
            .pending
            .values()
            .any(|p| matches!(p, PendingRequest::Metadata { .. }))
        {
            at(Some(
                self.metadata
                    .next_update(self.config.config.metadata_max_age),
            ));
        }
        if self.config.idempotence && self.producer_id.is_none() {
            at(self.init_retry_at);
        }
        // Every connection deadline, not only the earliest: a backoff that has passed hides
        // nothing behind it (a past deadline is no timer, and the next one must still fire).
        d.all(self.connections.deadlines());
        d.earliest()
    }
}
