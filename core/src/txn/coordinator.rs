//! The transaction coordinator (`TransactionCoordinator`, `TransactionStateManager`,
//! `TransactionMarkerChannelManager`; KAFKA.md 4.2), as every broker runs it for the
//! `__transaction_state` partitions it leads.
//!
//! * **State.** Each transactional id has a [`TxnMetadata`]: its producer id and epoch, its
//!   state and the partitions of its open transaction. A change is written to the id's
//!   `__transaction_state` partition with acks=all, and applied only once the partition's high
//!   watermark passes it (`completeTransitionTo`); meanwhile the id has a transition pending
//!   and answers CONCURRENT_TRANSACTIONS. A write that fails or times out changes nothing.
//! * **InitProducerId** gives a new id a producer id, and bumps the epoch of a known one,
//!   which fences its older producers. If a transaction is open, it is aborted under the
//!   bumped epoch first and the producer is told to retry (CONCURRENT_TRANSACTIONS).
//! * **AddPartitionsToTxn** opens the transaction (Ongoing) and adds partitions to it.
//! * **EndTxn** writes PrepareCommit or PrepareAbort, answers the producer once that is
//!   replicated, then sends WriteTxnMarkers to every partition's leader and, when every marker
//!   is written, writes CompleteCommit or CompleteAbort. Under transaction version 2
//!   (KIP-890 part 2) EndTxn bumps the epoch, so a delayed EndTxn of an earlier transaction
//!   is fenced; under version 1 it is not (KAFKA-17754).
//! * **Timeouts.** Every `transaction.abort.timed.out.transaction.cleanup.interval.ms`,
//!   transactions open longer than their `transaction.timeout.ms` are aborted under a bumped
//!   epoch, which fences the producer that opened them.
//! * **Failover.** A new leader of a `__transaction_state` partition replays it and finishes
//!   the transactions it finds in PrepareCommit or PrepareAbort. Its coordinator epoch is the
//!   partition's leader epoch, which the markers carry so that partitions refuse markers from
//!   an older coordinator.
//!
//! Simplifications, each in `docs/deviations.md`: loading is instant; a producer epoch never
//! overflows into a new producer id; transactional ids never expire; AddPartitionsToTxn is not
//! verified by partition leaders (KIP-890 part 1).

use crate::error::ErrorCode;
use crate::ids::{BrokerId, NodeId, Offset, ProducerEpoch, ProducerId, TopicPartition};
use crate::map::{VecMap, VecSet};
use crate::node::{Event, Outbox};
use crate::protocol::*;
use crate::record::{ControlMarker, MarkerKind, Record};
use crate::time::{Duration, Instant};
use crate::txn::{TxnMetadata, TxnState, coordinator_partition};

/// What the coordinator needs from its broker.
pub trait TxnLog {
    /// Appends `record` to `__transaction_state` partition `partition` as its leader with
    /// acks=all (after the min-ISR check); returns the offset after it.
    fn append(&mut self, partition: u32, record: Record) -> Result<Offset, ErrorCode>;
    /// The leader of a partition in the broker's metadata.
    fn leader(&self, tp: &TopicPartition) -> Option<BrokerId>;
}

/// How long to wait before sending a marker again after a failure (the network client's
/// `retry.backoff.ms`).
const MARKER_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// The coordinator's settings (from the broker's configuration, KAFKA.md 9.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnCoordinatorConfig {
    /// `transaction.state.log.num.partitions`.
    pub partitions: u32,
    /// `transaction.max.timeout.ms`.
    pub max_timeout: Duration,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval: Duration,
    /// `request.timeout.ms`: how long a write to `__transaction_state` may wait.
    pub request_timeout: Duration,
    /// Transaction version 2 (`transaction.version=2`, KIP-890 part 2): EndTxn bumps the epoch.
    pub transaction_v2: bool,
}

impl TxnCoordinatorConfig {
    /// The settings a broker configuration names.
    pub fn from_broker(c: &crate::config::BrokerConfig) -> TxnCoordinatorConfig {
        TxnCoordinatorConfig {
            partitions: c.transaction_state_log_num_partitions,
            max_timeout: c.transaction_max_timeout,
            abort_interval: c.transaction_abort_interval,
            request_timeout: c.request_timeout,
            transaction_v2: c.transaction_version >= 2,
        }
    }
}

/// A transactional id at its coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnEntry {
    /// The state as last replicated (for an id whose first write is still pending, the
    /// state that write will give it).
    pub metadata: TxnMetadata,
    /// Whether any state of the id has been replicated.
    pub written: bool,
    /// Whether a write is in flight (`pendingState`).
    pub pending: bool,
}

/// What to do when a write reaches the high watermark.
#[derive(Clone, Debug)]
enum Then {
    /// Answer an InitProducerId with the new producer id and epoch.
    InitProducerId {
        to: NodeId,
        correlation: CorrelationId,
    },
    /// Answer an AddPartitionsToTxn (an AddOffsetsToTxn when `offsets`).
    AddPartitions {
        to: NodeId,
        correlation: CorrelationId,
        partitions: Vec<TopicPartition>,
        offsets: bool,
    },
    /// A PrepareCommit or PrepareAbort: answer the request that caused it, if any, and write
    /// the markers.
    Prepared { reply: Option<PreparedReply> },
    /// A CompleteCommit or CompleteAbort: the transaction is over.
    Completed,
}

/// A request that adds partitions to a transaction: AddPartitionsToTxn, or AddOffsetsToTxn
/// (`offsets`) with its group's offsets partition.
struct Add<'a> {
    from: NodeId,
    correlation: CorrelationId,
    transactional_id: &'a str,
    producer_id: ProducerId,
    producer_epoch: ProducerEpoch,
    partitions: &'a [TopicPartition],
    offsets: bool,
}

/// The answer to an [`Add`].
fn add_response(
    offsets: bool,
    correlation: CorrelationId,
    partitions: Vec<TopicPartition>,
    error: Option<ErrorCode>,
) -> Message {
    if offsets {
        Message::AddOffsetsToTxnResponse(AddOffsetsToTxnResponse { correlation, error })
    } else {
        Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
            correlation,
            partitions: partitions.into_iter().map(|tp| (tp, error)).collect(),
        })
    }
}

/// Who waits for a PrepareCommit or PrepareAbort.
#[derive(Clone, Copy, Debug)]
enum PreparedReply {
    /// A producer's EndTxn: answered with success and the producer id and epoch.
    EndTxn(NodeId, CorrelationId),
    /// An InitProducerId that found a transaction open and fenced it: answered
    /// CONCURRENT_TRANSACTIONS once the abort is written (`sendRetriableErrorCallback`), so
    /// that the new producer retries.
    InitProducerId(NodeId, CorrelationId),
}

#[derive(Clone, Debug)]
struct PendingWrite {
    required: Offset,
    deadline: Instant,
    transactional_id: String,
    target: TxnMetadata,
    then: Then,
}

/// The transactions of one `__transaction_state` partition.
#[derive(Clone, Debug, Default)]
pub struct TxnShard {
    /// The coordinator epoch: the partition's leader epoch when this broker loaded it.
    pub coordinator_epoch: u32,
    /// The transactional ids, by id.
    pub transactions: VecMap<String, TxnEntry>,
    writes: Vec<PendingWrite>,
}

/// The markers of one ending transaction, until its Complete state is replicated.
#[derive(Clone, Debug)]
struct MarkerJob {
    partition: u32,
    transactional_id: String,
    producer_id: ProducerId,
    producer_epoch: ProducerEpoch,
    marker: ControlMarker,
    /// Partitions still without their marker.
    remaining: VecSet<TopicPartition>,
    /// Of those, the ones a WriteTxnMarkers is out for.
    in_flight: VecSet<TopicPartition>,
    retry_at: Option<Instant>,
    /// The Complete state is being written.
    completing: bool,
}

#[derive(Clone, Debug)]
struct MarkerRequest {
    transactional_id: String,
    broker: BrokerId,
    deadline: Instant,
    /// The partitions it carries.
    partitions: Vec<TopicPartition>,
}

/// The transaction coordinator of one broker.
#[derive(Clone, Debug)]
pub struct TxnCoordinator {
    config: TxnCoordinatorConfig,
    shards: VecMap<u32, TxnShard>,
    markers: Vec<MarkerJob>,
    requests: VecMap<CorrelationId, MarkerRequest>,
    next_correlation: CorrelationId,
    /// When the abort check last ran: the next run is on the next grid point after it, even
    /// when an abort it started could not be written.
    abort_checked_at: Option<Instant>,
}

impl TxnCoordinator {
    /// A coordinator with no partitions loaded.
    pub fn new(config: TxnCoordinatorConfig) -> TxnCoordinator {
        TxnCoordinator {
            config,
            shards: VecMap::new(),
            markers: Vec::new(),
            requests: VecMap::new(),
            next_correlation: 0,
            abort_checked_at: None,
        }
    }

    /// The loaded shards, by `__transaction_state` partition.
    pub fn shards(&self) -> &VecMap<u32, TxnShard> {
        &self.shards
    }

    /// A transactional id this broker coordinates.
    pub fn transaction(&self, transactional_id: &str) -> Option<&TxnEntry> {
        self.shards
            .get(&self.partition_for(transactional_id))?
            .transactions
            .get(transactional_id)
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> u32 {
        coordinator_partition(transactional_id, self.config.partitions)
    }

    /// Whether this broker coordinates `partition`.
    pub fn is_loaded(&self, partition: u32) -> bool {
        self.shards.contains_key(&partition)
    }

    /// Becomes the coordinator of `partition` in `coordinator_epoch`: replays its records and
    /// finishes the transactions left half ended.
    pub fn load<'a>(
        &mut self,
        partition: u32,
        coordinator_epoch: u32,
        records: impl Iterator<Item = &'a Record>,
        out: &mut Outbox,
    ) {
        let mut shard = TxnShard {
            coordinator_epoch,
            ..TxnShard::default()
        };
        for record in records {
            match TxnMetadata::decode(record) {
                Some((id, Some(metadata))) => {
                    shard.transactions.insert(
                        id,
                        TxnEntry {
                            metadata,
                            written: true,
                            pending: false,
                        },
                    );
                }
                Some((id, None)) => {
                    shard.transactions.remove(&id);
                }
                None => {}
            }
        }
        for (id, entry) in &shard.transactions {
            let m = &entry.metadata;
            if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                self.markers
                    .push(marker_job(partition, coordinator_epoch, id, m));
                // The decision holds here now, whether or not the coordinator that wrote it
                // lived to see it replicated: the oracle dates decisions by these events.
                out.event(Event::TxnStateChanged {
                    transactional_id: id.clone(),
                    producer_id: m.producer_id,
                    producer_epoch: m.producer_epoch,
                    state: m.state,
                    partitions: m.partitions.clone(),
                });
            }
        }
        out.event(Event::TxnCoordinatorLoaded {
            partition,
            transactions: shard.transactions.len() as u32,
        });
        self.shards.insert(partition, shard);
    }

    /// Stops coordinating `partition`: pending writes are answered NOT_COORDINATOR and its
    /// markers are no longer sent (the new coordinator sends them again).
    pub fn unload(&mut self, partition: u32, out: &mut Outbox) {
        let Some(shard) = self.shards.remove(&partition) else {
            return;
        };
        for w in shard.writes {
            fail(w.then, ErrorCode::NotCoordinator, out);
        }
        self.markers.retain(|j| j.partition != partition);
        out.event(Event::TxnCoordinatorUnloaded { partition });
    }

    /// The next time a timer fires: a write's deadline, a marker to send again, a marker
    /// request's deadline, or the abort check that finds a timed-out transaction.
    pub fn next_deadline(&self) -> Option<Instant> {
        let writes = self
            .shards
            .values()
            .flat_map(|s| s.writes.iter().map(|w| w.deadline));
        let retries = self.markers.iter().filter_map(|j| j.retry_at);
        let requests = self.requests.values().map(|r| r.deadline);
        writes
            .chain(retries)
            .chain(requests)
            .chain(self.next_abort_check())
            .min()
    }

    /// The first run of the abort check (every `abort_interval` from time zero) at or after
    /// the moment an open transaction times out; none while no transaction is open.
    fn next_abort_check(&self) -> Option<Instant> {
        let interval = self.config.abort_interval.0.max(1);
        self.shards
            .values()
            .flat_map(|s| s.transactions.values())
            .filter(|e| e.metadata.state == TxnState::Ongoing && !e.pending)
            .filter_map(|e| {
                e.metadata
                    .start
                    .map(|s| s + e.metadata.timeout + Duration(1))
            })
            .min()
            .map(|t| {
                t.max(
                    self.abort_checked_at
                        .map_or(Instant::ZERO, |c| c + Duration(1)),
                )
            })
            .map(|t| Instant(t.0.div_ceil(interval).saturating_mul(interval)))
    }

    /// Runs every timer due at `now`.
    pub fn on_timers(&mut self, now: Instant, log: &mut dyn TxnLog, out: &mut Outbox) {
        // Writes that waited too long for the high watermark change nothing.
        let mut expired = Vec::new();
        for shard in self.shards.values_mut() {
            let (late, kept): (Vec<PendingWrite>, Vec<PendingWrite>) =
                std::mem::take(&mut shard.writes)
                    .into_iter()
                    .partition(|w| w.deadline <= now);
            shard.writes = kept;
            for w in &late {
                if let Some(e) = shard.transactions.get_mut(&w.transactional_id) {
                    e.pending = false;
                }
            }
            expired.extend(late);
        }
        for w in expired {
            let error = ErrorCode::CoordinatorNotAvailable;
            self.write_failed(now, &w.transactional_id, w.then, error, out);
        }
        // Marker requests without an answer: send those markers again.
        let expired: Vec<CorrelationId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in expired {
            if let Some(r) = self.requests.remove(&c) {
                self.retry_request(now, &r, None);
            }
        }
        // The abort check: transactions open longer than their timeout are aborted under a
        // bumped epoch (`abortTimedOutTransactions`, `prepareFenceProducerEpoch`).
        if self.next_abort_check().is_some_and(|t| t <= now) {
            self.abort_checked_at = Some(now);
            let timed_out: Vec<(u32, String)> = self
                .shards
                .iter()
                .flat_map(|(p, s)| {
                    s.transactions.iter().filter_map(move |(id, e)| {
                        let m = &e.metadata;
                        (m.state == TxnState::Ongoing
                            && !e.pending
                            && m.start.is_some_and(|s| s + m.timeout < now))
                        .then(|| (*p, id.clone()))
                    })
                })
                .collect();
            for (p, id) in timed_out {
                let m = &self.shards[&p].transactions[&id].metadata;
                out.event(Event::TxnTimedOut {
                    transactional_id: id.clone(),
                    producer_id: m.producer_id,
                    producer_epoch: m.producer_epoch,
                });
                let target = prepare(m, false, self.fence_epoch(m.producer_epoch), now);
                let then = Then::Prepared { reply: None };
                self.write(now, p, &id, target, then, log, out);
            }
        }
        self.send_markers(now, log, out);
    }

    // Requests.

    /// InitProducerId for a transactional id (`handleInitProducerId`). `new_producer_id`
    /// hands out a producer id for an id seen for the first time.
    pub fn init_producer_id(
        &mut self,
        now: Instant,
        from: NodeId,
        r: &InitProducerIdRequest,
        new_producer_id: &mut dyn FnMut() -> Result<ProducerId, ErrorCode>,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let reply = |out: &mut Outbox, error: ErrorCode| {
            out.send(
                from,
                Message::InitProducerIdResponse(InitProducerIdResponse {
                    correlation: r.correlation,
                    error: Some(error),
                    producer_id: ProducerId(0),
                    producer_epoch: ProducerEpoch(0),
                }),
            );
        };
        let Some(id) = r.transactional_id.as_deref() else {
            return reply(out, ErrorCode::InvalidRequest);
        };
        if r.transaction_timeout == Duration::ZERO
            || r.transaction_timeout > self.config.max_timeout
        {
            return reply(out, ErrorCode::InvalidTransactionTimeout);
        }
        let p = self.partition_for(id);
        let Some(shard) = self.shards.get(&p) else {
            return reply(out, ErrorCode::NotCoordinator);
        };
        let then = Then::InitProducerId {
            to: from,
            correlation: r.correlation,
        };
        let target = match shard.transactions.get(id) {
            None => match new_producer_id() {
                Ok(producer_id) => TxnMetadata {
                    producer_id,
                    producer_epoch: ProducerEpoch(0),
                    timeout: r.transaction_timeout,
                    state: TxnState::Empty,
                    partitions: Vec::new(),
                    start: None,
                    last_update: now,
                },
                Err(e) => return reply(out, e),
            },
            Some(e) if e.pending => return reply(out, ErrorCode::ConcurrentTransactions),
            // An id whose first write failed tries the same id and epoch again.
            Some(e) if !e.written => e.metadata.clone(),
            Some(e) => {
                let m = &e.metadata;
                match m.state {
                    TxnState::PrepareCommit | TxnState::PrepareAbort => {
                        return reply(out, ErrorCode::ConcurrentTransactions);
                    }
                    TxnState::Ongoing => {
                        // Fence the open transaction's producer and abort it; the new producer
                        // is told to retry once the abort is written, and retries until the
                        // abort is complete.
                        let target = prepare(m, false, self.fence_epoch(m.producer_epoch), now);
                        let then = Then::Prepared {
                            reply: Some(PreparedReply::InitProducerId(from, r.correlation)),
                        };
                        let id = id.to_string();
                        return self.write(now, p, &id, target, then, log, out);
                    }
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                        TxnMetadata {
                            producer_epoch: bump(m.producer_epoch),
                            timeout: r.transaction_timeout,
                            state: TxnState::Empty,
                            partitions: Vec::new(),
                            start: None,
                            last_update: now,
                            ..m.clone()
                        }
                    }
                }
            }
        };
        let id = id.to_string();
        self.write(now, p, &id, target, then, log, out);
    }

    /// AddPartitionsToTxn (`handleAddPartitionsToTransaction`).
    pub fn add_partitions(
        &mut self,
        now: Instant,
        from: NodeId,
        r: &AddPartitionsToTxnRequest,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let add = Add {
            from,
            correlation: r.correlation,
            transactional_id: &r.transactional_id,
            producer_id: r.producer_id,
            producer_epoch: r.producer_epoch,
            partitions: &r.partitions,
            offsets: false,
        };
        self.add(now, add, log, out);
    }

    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition (`offsets_partition`) joins
    /// the transaction, so that its marker completes the offsets the transaction commits
    /// (`KafkaApis.handleAddOffsetsToTxnRequest`).
    pub fn add_offsets(
        &mut self,
        now: Instant,
        from: NodeId,
        r: &AddOffsetsToTxnRequest,
        offsets_partition: u32,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let partitions = [TopicPartition::new(
            crate::group::OFFSETS_TOPIC,
            offsets_partition,
        )];
        let add = Add {
            from,
            correlation: r.correlation,
            transactional_id: &r.transactional_id,
            producer_id: r.producer_id,
            producer_epoch: r.producer_epoch,
            partitions: &partitions,
            offsets: true,
        };
        self.add(now, add, log, out);
    }

    /// Adds partitions to a producer's transaction, opening it if none is.
    fn add(&mut self, now: Instant, r: Add<'_>, log: &mut dyn TxnLog, out: &mut Outbox) {
        let reply = |out: &mut Outbox, error: Option<ErrorCode>| {
            out.send(
                r.from,
                add_response(r.offsets, r.correlation, r.partitions.to_vec(), error),
            );
        };
        let p = self.partition_for(r.transactional_id);
        let Some(shard) = self.shards.get(&p) else {
            return reply(out, Some(ErrorCode::NotCoordinator));
        };
        let m = match check_producer(shard, r.transactional_id, r.producer_id, r.producer_epoch) {
            Ok(m) => m,
            Err(e) => return reply(out, Some(e)),
        };
        match m.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return reply(out, Some(ErrorCode::ConcurrentTransactions));
            }
            TxnState::Ongoing if r.partitions.iter().all(|tp| m.partitions.contains(tp)) => {
                return reply(out, None);
            }
            _ => {}
        }
        let mut partitions: VecSet<TopicPartition> = m.partitions.iter().cloned().collect();
        for tp in r.partitions {
            partitions.insert(tp.clone());
        }
        let start = match m.state {
            TxnState::Ongoing => m.start,
            _ => Some(now),
        };
        let target = TxnMetadata {
            state: TxnState::Ongoing,
            partitions: partitions.into_iter().collect(),
            start,
            last_update: now,
            ..m.clone()
        };
        let then = Then::AddPartitions {
            to: r.from,
            correlation: r.correlation,
            partitions: r.partitions.to_vec(),
            offsets: r.offsets,
        };
        let id = r.transactional_id.to_owned();
        self.write(now, p, &id, target, then, log, out);
    }

    /// EndTxn from a producer (`handleEndTransaction`).
    pub fn end_txn(
        &mut self,
        now: Instant,
        from: NodeId,
        r: &EndTxnRequest,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let reply = |out: &mut Outbox, error: Option<ErrorCode>, m: Option<&TxnMetadata>| {
            out.send(
                from,
                Message::EndTxnResponse(EndTxnResponse {
                    correlation: r.correlation,
                    error,
                    producer_id: m.map_or(ProducerId(0), |m| m.producer_id),
                    producer_epoch: m.map_or(ProducerEpoch(0), |m| m.producer_epoch),
                }),
            );
        };
        let p = self.partition_for(&r.transactional_id);
        let Some(shard) = self.shards.get(&p) else {
            return reply(out, Some(ErrorCode::NotCoordinator), None);
        };
        let v2 = self.config.transaction_v2;
        let Some(entry) = shard
            .transactions
            .get(&r.transactional_id)
            .filter(|e| e.written)
        else {
            return reply(out, Some(ErrorCode::InvalidProducerIdMapping), None);
        };
        let m = &entry.metadata;
        if m.producer_id != r.producer_id {
            return reply(out, Some(ErrorCode::InvalidProducerIdMapping), None);
        }
        // `endTransactionWithTV1` / `endTransaction` (version 2): which epochs are valid, then
        // the state table. Under version 2 a completed EndTxn bumped the epoch, so its retry
        // carries the epoch before (`retryOnEpochBump`), and the current epoch names the next
        // transaction.
        let retry = v2 && bump(r.producer_epoch) == m.producer_epoch;
        let valid_epoch = if v2 {
            match m.state {
                TxnState::Ongoing | TxnState::Empty => r.producer_epoch == m.producer_epoch,
                TxnState::PrepareCommit | TxnState::PrepareAbort => retry,
                TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    retry || r.producer_epoch == m.producer_epoch
                }
            }
        } else {
            r.producer_epoch == m.producer_epoch
        };
        if !valid_epoch {
            return reply(out, Some(ErrorCode::ProducerFenced), None);
        }
        if entry.pending {
            return reply(out, Some(ErrorCode::ConcurrentTransactions), None);
        }
        let next_epoch = if v2 {
            bump(m.producer_epoch)
        } else {
            m.producer_epoch
        };
        // `Some(commit, keep the partitions)` prepares; `None` answers `error` at once.
        let (prepare_as, error) = match (m.state, r.commit) {
            (TxnState::Ongoing, commit) => (Some((commit, true)), None),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if !v2 || retry => {
                (None, None)
            }
            // Version 2 lets a producer abort with nothing open: an empty PrepareAbort that
            // still bumps the epoch.
            (TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Empty, false)
                if v2 && !retry =>
            {
                (Some((false, false)), None)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                (None, Some(ErrorCode::ConcurrentTransactions))
            }
            _ => (None, Some(ErrorCode::InvalidTxnState)),
        };
        match prepare_as {
            Some((commit, keep_partitions)) => {
                let mut target = prepare(m, commit, next_epoch, now);
                if !keep_partitions {
                    target.partitions.clear();
                }
                let then = Then::Prepared {
                    reply: Some(PreparedReply::EndTxn(from, r.correlation)),
                };
                let id = r.transactional_id.clone();
                self.write(now, p, &id, target, then, log, out);
            }
            None => {
                let m = m.clone();
                reply(out, error, Some(&m));
            }
        }
    }

    /// The epoch a fencing abort carries (`prepareFenceProducerEpoch`, then
    /// `prepareAbortOrCommit`): one bump, and under version 2 the abort's own bump on top.
    fn fence_epoch(&self, epoch: ProducerEpoch) -> ProducerEpoch {
        if self.config.transaction_v2 {
            bump(bump(epoch))
        } else {
            bump(epoch)
        }
    }

    /// A WriteTxnMarkersResponse (`TransactionMarkerRequestCompletionHandler`): written
    /// partitions are done; those whose leader moved, or that could not be replicated in
    /// time, are tried again; a refused marker (an epoch fenced it) is not sent again.
    pub fn on_markers_response(
        &mut self,
        now: Instant,
        r: &WriteTxnMarkersResponse,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let Some(request) = self.requests.remove(&r.correlation) else {
            return;
        };
        let results: Vec<(TopicPartition, Option<ErrorCode>)> = r
            .markers
            .iter()
            .flat_map(|m| m.partitions.iter().cloned())
            .collect();
        self.retry_request(now, &request, Some(&results));
        self.send_markers(now, log, out);
    }

    /// The connection to `broker` broke: its marker requests are sent again.
    pub fn on_disconnected(&mut self, now: Instant, broker: BrokerId) {
        let lost: Vec<CorrelationId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.broker == broker)
            .map(|(c, _)| *c)
            .collect();
        for c in lost {
            if let Some(r) = self.requests.remove(&c) {
                self.retry_request(now, &r, None);
            }
        }
    }

    /// Settles a marker request: with `results`, each partition's outcome; without, every
    /// partition it carried is sent again.
    fn retry_request(
        &mut self,
        now: Instant,
        request: &MarkerRequest,
        results: Option<&[(TopicPartition, Option<ErrorCode>)]>,
    ) {
        let Some(job) = self
            .markers
            .iter_mut()
            .find(|j| j.transactional_id == request.transactional_id)
        else {
            return;
        };
        let mut abort_sending = false;
        for tp in &request.partitions {
            let outcome = results.map(|rs| rs.iter().find(|(t, _)| t == tp).and_then(|(_, e)| *e));
            job.in_flight.remove(tp);
            match outcome {
                Some(None) => {
                    job.remaining.remove(tp);
                }
                Some(Some(ErrorCode::InvalidProducerEpoch))
                | Some(Some(ErrorCode::TransactionCoordinatorFenced)) => abort_sending = true,
                _ => job.retry_at = Some(now + MARKER_RETRY_BACKOFF),
            }
        }
        if abort_sending {
            // `abortSending`: a newer producer epoch or coordinator owns a partition now. The
            // transaction's markers stop and it stays prepared, unfinished, until a coordinator
            // loads its partition again (`removeMarkersForTxn`, no `maybeWriteTxnCompletion`).
            let id = request.transactional_id.clone();
            self.markers.retain(|j| j.transactional_id != id);
            self.requests.retain(|_, r| r.transactional_id != id);
        }
    }

    /// Sends the markers that are due, one WriteTxnMarkers per transaction and leader, and
    /// writes the Complete state of transactions whose markers are all written. The broker
    /// calls it after a load, for the prepared transactions' markers.
    pub fn send_markers(&mut self, now: Instant, log: &mut dyn TxnLog, out: &mut Outbox) {
        let mut complete = Vec::new();
        for i in 0..self.markers.len() {
            let job = &mut self.markers[i];
            if job.retry_at.is_some_and(|t| t > now) || job.completing {
                continue;
            }
            job.retry_at = None;
            if job.remaining.is_empty() {
                if job.in_flight.is_empty() {
                    complete.push(i);
                }
                continue;
            }
            let mut by_leader: VecMap<BrokerId, Vec<TopicPartition>> = VecMap::new();
            for tp in job
                .remaining
                .iter()
                .filter(|tp| !job.in_flight.contains(tp))
            {
                match log.leader(tp) {
                    Some(b) => by_leader.entry(b).or_default().push(tp.clone()),
                    None => job.retry_at = Some(now + MARKER_RETRY_BACKOFF),
                }
            }
            for (broker, partitions) in by_leader {
                self.next_correlation += 1;
                let correlation = self.next_correlation;
                let job = &mut self.markers[i];
                for tp in &partitions {
                    job.in_flight.insert(tp.clone());
                }
                self.requests.insert(
                    correlation,
                    MarkerRequest {
                        transactional_id: job.transactional_id.clone(),
                        partitions: partitions.clone(),
                        broker,
                        deadline: now + self.config.request_timeout + MARKER_RETRY_BACKOFF,
                    },
                );
                out.send(
                    NodeId::Broker(broker),
                    Message::WriteTxnMarkers(WriteTxnMarkersRequest {
                        correlation,
                        markers: vec![TxnMarkerEntry {
                            producer_id: job.producer_id,
                            producer_epoch: job.producer_epoch,
                            marker: job.marker,
                            transaction_v2: self.config.transaction_v2,
                            partitions,
                        }],
                    }),
                );
            }
        }
        for i in complete {
            let job = &mut self.markers[i];
            job.completing = true;
            let (p, id) = (job.partition, job.transactional_id.clone());
            let Some(m) = self
                .shards
                .get(&p)
                .and_then(|s| s.transactions.get(&id))
                .map(|e| e.metadata.clone())
            else {
                continue;
            };
            let state = match m.state {
                TxnState::PrepareCommit => TxnState::CompleteCommit,
                _ => TxnState::CompleteAbort,
            };
            let target = TxnMetadata {
                state,
                partitions: Vec::new(),
                last_update: now,
                ..m
            };
            self.write(now, p, &id, target, Then::Completed, log, out);
        }
    }

    /// Writes a new state for `id`; it applies once the high watermark passes it.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        now: Instant,
        p: u32,
        id: &str,
        target: TxnMetadata,
        then: Then,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let record = target.encode(id, now);
        let deadline = now + self.config.request_timeout;
        let Some(shard) = self.shards.get_mut(&p) else {
            return fail(then, ErrorCode::NotCoordinator, out);
        };
        match log.append(p, record) {
            Ok(required) => {
                let entry = shard
                    .transactions
                    .entry(id.to_string())
                    .or_insert_with(|| TxnEntry {
                        metadata: target.clone(),
                        written: false,
                        pending: false,
                    });
                entry.pending = true;
                shard.writes.push(PendingWrite {
                    required,
                    deadline,
                    transactional_id: id.to_string(),
                    target,
                    then,
                });
            }
            Err(e) => {
                // `TransactionStateManager.appendTransactionToLog`'s error mapping.
                let error = match e {
                    ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
                    _ => ErrorCode::CoordinatorNotAvailable,
                };
                self.write_failed(now, id, then, error, out);
            }
        }
    }

    /// A write failed: the request that caused it is answered `error`; a Complete state is
    /// written again after a backoff (`tryAppendToLog` retries it).
    fn write_failed(
        &mut self,
        now: Instant,
        id: &str,
        then: Then,
        error: ErrorCode,
        out: &mut Outbox,
    ) {
        if let Then::Completed = then
            && let Some(job) = self.markers.iter_mut().find(|j| j.transactional_id == id)
        {
            job.completing = false;
            job.retry_at = Some(now + MARKER_RETRY_BACKOFF);
        }
        fail(then, error, out);
    }

    /// The `__transaction_state` partition's high watermark moved: writes below it apply.
    pub fn on_high_watermark(
        &mut self,
        now: Instant,
        partition: u32,
        hw: Offset,
        log: &mut dyn TxnLog,
        out: &mut Outbox,
    ) {
        let Some(shard) = self.shards.get_mut(&partition) else {
            return;
        };
        if shard.writes.iter().all(|w| w.required > hw) {
            return;
        }
        let (done, kept): (Vec<PendingWrite>, Vec<PendingWrite>) =
            std::mem::take(&mut shard.writes)
                .into_iter()
                .partition(|w| w.required <= hw);
        shard.writes = kept;
        let coordinator_epoch = shard.coordinator_epoch;
        for w in done {
            let shard = self.shards.get_mut(&partition).expect("loaded");
            let entry = shard
                .transactions
                .get_mut(&w.transactional_id)
                .expect("a pending write has its entry");
            entry.metadata = w.target.clone();
            entry.written = true;
            entry.pending = false;
            let m = &w.target;
            out.event(Event::TxnStateChanged {
                transactional_id: w.transactional_id.clone(),
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                state: m.state,
                partitions: m.partitions.clone(),
            });
            match w.then {
                Then::InitProducerId { to, correlation } => out.send(
                    to,
                    Message::InitProducerIdResponse(InitProducerIdResponse {
                        correlation,
                        error: None,
                        producer_id: m.producer_id,
                        producer_epoch: m.producer_epoch,
                    }),
                ),
                Then::AddPartitions {
                    to,
                    correlation,
                    partitions,
                    offsets,
                } => out.send(to, add_response(offsets, correlation, partitions, None)),
                Then::Prepared { reply } => {
                    match reply {
                        Some(PreparedReply::EndTxn(to, correlation)) => out.send(
                            to,
                            Message::EndTxnResponse(EndTxnResponse {
                                correlation,
                                error: None,
                                producer_id: m.producer_id,
                                producer_epoch: m.producer_epoch,
                            }),
                        ),
                        Some(PreparedReply::InitProducerId(to, correlation)) => out.send(
                            to,
                            Message::InitProducerIdResponse(InitProducerIdResponse {
                                correlation,
                                error: Some(ErrorCode::ConcurrentTransactions),
                                producer_id: ProducerId(0),
                                producer_epoch: ProducerEpoch(0),
                            }),
                        ),
                        None => {}
                    }
                    self.markers
                        .retain(|j| j.transactional_id != w.transactional_id);
                    self.markers.push(marker_job(
                        partition,
                        coordinator_epoch,
                        &w.transactional_id,
                        m,
                    ));
                }
                Then::Completed => {
                    self.markers
                        .retain(|j| j.transactional_id != w.transactional_id);
                }
            }
        }
        self.send_markers(now, log, out);
    }
}

/// The producer checks of AddPartitionsToTxn: the id is known, the producer id is its, and
/// the epoch is current; no write may be in flight.
fn check_producer<'a>(
    shard: &'a TxnShard,
    id: &str,
    producer_id: ProducerId,
    epoch: ProducerEpoch,
) -> Result<&'a TxnMetadata, ErrorCode> {
    let entry = shard
        .transactions
        .get(id)
        .filter(|e| e.written)
        .ok_or(ErrorCode::InvalidProducerIdMapping)?;
    let m = &entry.metadata;
    if m.producer_id != producer_id {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if m.producer_epoch != epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    if entry.pending {
        return Err(ErrorCode::ConcurrentTransactions);
    }
    Ok(m)
}

/// The state that ends an open transaction: PrepareCommit or PrepareAbort under `epoch`.
fn prepare(m: &TxnMetadata, commit: bool, epoch: ProducerEpoch, now: Instant) -> TxnMetadata {
    TxnMetadata {
        producer_epoch: epoch,
        state: if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        },
        last_update: now,
        ..m.clone()
    }
}

/// The next producer epoch. The model never reaches Kafka's limit (`Short.MaxValue - 1`),
/// where a new producer id would be handed out.
fn bump(epoch: ProducerEpoch) -> ProducerEpoch {
    ProducerEpoch(epoch.0.saturating_add(1))
}

/// The markers of a transaction in PrepareCommit or PrepareAbort.
fn marker_job(partition: u32, coordinator_epoch: u32, id: &str, m: &TxnMetadata) -> MarkerJob {
    MarkerJob {
        partition,
        transactional_id: id.to_string(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        marker: ControlMarker {
            kind: if m.state == TxnState::PrepareCommit {
                MarkerKind::Commit
            } else {
                MarkerKind::Abort
            },
            coordinator_epoch,
            timestamp: m.last_update,
        },
        remaining: m.partitions.iter().cloned().collect(),
        in_flight: VecSet::new(),
        retry_at: None,
        completing: false,
    }
}

/// Answers a request whose write failed.
fn fail(then: Then, error: ErrorCode, out: &mut Outbox) {
    match then {
        Then::InitProducerId { to, correlation } => out.send(
            to,
            Message::InitProducerIdResponse(InitProducerIdResponse {
                correlation,
                error: Some(error),
                producer_id: ProducerId(0),
                producer_epoch: ProducerEpoch(0),
            }),
        ),
        Then::AddPartitions {
            to,
            correlation,
            partitions,
            offsets,
        } => out.send(
            to,
            add_response(offsets, correlation, partitions, Some(error)),
        ),
        Then::Prepared {
            reply: Some(PreparedReply::EndTxn(to, correlation)),
        } => out.send(
            to,
            Message::EndTxnResponse(EndTxnResponse {
                correlation,
                error: Some(error),
                producer_id: ProducerId(0),
                producer_epoch: ProducerEpoch(0),
            }),
        ),
        Then::Prepared {
            reply: Some(PreparedReply::InitProducerId(to, correlation)),
        } => out.send(
            to,
            Message::InitProducerIdResponse(InitProducerIdResponse {
                correlation,
                error: Some(error),
                producer_id: ProducerId(0),
                producer_epoch: ProducerEpoch(0),
            }),
        ),
        Then::Prepared { reply: None } | Then::Completed => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Output;

    const ID: &str = "pipeline";
    const CLIENT: NodeId = NodeId::Client(crate::ids::ClientId(1));

    /// One `__transaction_state` partition in memory; every data partition is led by broker 2.
    #[derive(Default)]
    struct MemLog {
        records: Vec<Record>,
    }

    impl TxnLog for MemLog {
        fn append(&mut self, _: u32, record: Record) -> Result<Offset, ErrorCode> {
            self.records.push(record);
            Ok(Offset(self.records.len() as u64))
        }

        fn leader(&self, _: &TopicPartition) -> Option<BrokerId> {
            Some(BrokerId(2))
        }
    }

    struct Harness {
        c: TxnCoordinator,
        log: MemLog,
        out: Outbox,
        now: Instant,
        next_pid: u64,
        /// WriteTxnMarkers sent while the harness waited for another answer.
        stash: Vec<WriteTxnMarkersRequest>,
    }

    impl Harness {
        fn new(transaction_v2: bool) -> Harness {
            let mut c = TxnCoordinator::new(TxnCoordinatorConfig {
                partitions: 1,
                max_timeout: Duration::from_millis(900_000),
                abort_interval: Duration::from_millis(10_000),
                request_timeout: Duration::from_millis(30_000),
                transaction_v2,
            });
            let mut out = Outbox::default();
            c.load(0, 7, std::iter::empty(), &mut out);
            Harness {
                c,
                log: MemLog::default(),
                out,
                now: Instant::ZERO,
                next_pid: 1000,
                stash: Vec::new(),
            }
        }

        /// The high watermark catches up with the log.
        fn commit(&mut self) {
            let hw = Offset(self.log.records.len() as u64);
            self.c
                .on_high_watermark(self.now, 0, hw, &mut self.log, &mut self.out);
        }

        fn advance_to(&mut self, t: u64) {
            while let Some(d) = self.c.next_deadline().filter(|d| d.0 <= t) {
                self.now = d.max(self.now);
                self.c.on_timers(self.now, &mut self.log, &mut self.out);
            }
            self.now = Instant(t);
        }

        fn sent(&mut self) -> Vec<(NodeId, Message)> {
            let mut v = Vec::new();
            while let Some(o) = self.out.pop() {
                if let Output::Send { to, message } = o {
                    v.push((to, message));
                }
            }
            v
        }

        fn init(&mut self, timeout: u64) -> InitProducerIdResponse {
            let r = InitProducerIdRequest {
                correlation: 1,
                transactional_id: Some(ID.into()),
                transaction_timeout: Duration::from_millis(timeout),
            };
            let next = &mut self.next_pid;
            let mut new_id = || {
                *next += 1;
                Ok(ProducerId(*next))
            };
            self.c.init_producer_id(
                self.now,
                CLIENT,
                &r,
                &mut new_id,
                &mut self.log,
                &mut self.out,
            );
            self.commit();
            let mut answer = None;
            for (_, m) in self.sent() {
                match m {
                    Message::InitProducerIdResponse(r) => answer = Some(r),
                    Message::WriteTxnMarkers(w) => self.stash.push(w),
                    _ => {}
                }
            }
            answer.expect("an InitProducerId answer")
        }

        fn add(&mut self, pid: ProducerId, epoch: u16, tps: &[u32]) -> Option<ErrorCode> {
            let r = AddPartitionsToTxnRequest {
                correlation: 2,
                transactional_id: ID.into(),
                producer_id: pid,
                producer_epoch: ProducerEpoch(epoch),
                partitions: tps.iter().map(|&p| TopicPartition::new("out", p)).collect(),
            };
            self.c
                .add_partitions(self.now, CLIENT, &r, &mut self.log, &mut self.out);
            self.commit();
            match self.sent().pop() {
                Some((_, Message::AddPartitionsToTxnResponse(r))) => r.partitions[0].1,
                other => panic!("expected an AddPartitionsToTxn answer, got {other:?}"),
            }
        }

        /// Sends an EndTxn and returns its answer (after the Prepare state is replicated) and
        /// the WriteTxnMarkers sent.
        fn end(
            &mut self,
            pid: ProducerId,
            epoch: u16,
            commit: bool,
        ) -> (EndTxnResponse, Vec<WriteTxnMarkersRequest>) {
            let r = EndTxnRequest {
                correlation: 3,
                transactional_id: ID.into(),
                producer_id: pid,
                producer_epoch: ProducerEpoch(epoch),
                commit,
            };
            self.c
                .end_txn(self.now, CLIENT, &r, &mut self.log, &mut self.out);
            self.commit();
            let mut answer = None;
            let mut markers = Vec::new();
            for (to, m) in self.sent() {
                match m {
                    Message::EndTxnResponse(r) => answer = Some(r),
                    Message::WriteTxnMarkers(w) => {
                        assert_eq!(to, NodeId::Broker(BrokerId(2)));
                        markers.push(w);
                    }
                    _ => {}
                }
            }
            (answer.expect("an EndTxn answer"), markers)
        }

        /// The leaders answer every marker request with success.
        fn markers_written(&mut self, requests: &[WriteTxnMarkersRequest]) {
            for w in requests {
                self.markers_answered(w, None);
            }
            self.commit();
        }

        /// The leader answers every partition of a marker request with `error`.
        fn markers_answered(&mut self, w: &WriteTxnMarkersRequest, error: Option<ErrorCode>) {
            let response = WriteTxnMarkersResponse {
                correlation: w.correlation,
                markers: w
                    .markers
                    .iter()
                    .map(|m| TxnMarkerResult {
                        producer_id: m.producer_id,
                        partitions: m.partitions.iter().map(|tp| (tp.clone(), error)).collect(),
                    })
                    .collect(),
            };
            self.c
                .on_markers_response(self.now, &response, &mut self.log, &mut self.out);
        }

        fn state(&self) -> (TxnState, u16) {
            let m = &self.c.transaction(ID).expect("known").metadata;
            (m.state, m.producer_epoch.0)
        }
    }

    #[test]
    fn init_gives_a_new_id_epoch_zero_and_bumps_it_after() {
        let mut h = Harness::new(false);
        let first = h.init(60_000);
        assert_eq!(first.error, None);
        assert_eq!(
            (first.producer_id, first.producer_epoch),
            (ProducerId(1001), ProducerEpoch(0))
        );
        let second = h.init(60_000);
        assert_eq!(
            (second.producer_id, second.producer_epoch),
            (ProducerId(1001), ProducerEpoch(1)),
            "the same id, a bumped epoch: the first producer is fenced"
        );
        assert_eq!(
            h.add(ProducerId(1001), 0, &[0]),
            Some(ErrorCode::ProducerFenced)
        );
        assert_eq!(
            h.init(900_001).error,
            Some(ErrorCode::InvalidTransactionTimeout),
            "above transaction.max.timeout.ms"
        );
    }

    #[test]
    fn a_commit_prepares_answers_writes_markers_then_completes() {
        let mut h = Harness::new(false);
        let pid = h.init(60_000).producer_id;
        assert_eq!(h.add(pid, 0, &[0, 1]), None);
        assert_eq!(h.state(), (TxnState::Ongoing, 0));
        let (answer, markers) = h.end(pid, 0, true);
        assert_eq!(answer.error, None);
        assert_eq!(h.state(), (TxnState::PrepareCommit, 0));
        // One request to the leader of both partitions, carrying the coordinator epoch.
        assert_eq!(markers.len(), 1);
        let entry = &markers[0].markers[0];
        assert_eq!(entry.marker.kind, MarkerKind::Commit);
        assert_eq!(entry.marker.coordinator_epoch, 7);
        assert_eq!(entry.partitions.len(), 2);
        h.markers_written(&markers);
        assert_eq!(h.state(), (TxnState::CompleteCommit, 0));
        // A retried EndTxn of the completed commit succeeds; an abort of it is refused.
        assert_eq!(h.end(pid, 0, true).0.error, None);
        assert_eq!(
            h.end(pid, 0, false).0.error,
            Some(ErrorCode::InvalidTxnState)
        );
    }

    #[test]
    fn a_marker_whose_leader_moved_is_sent_again() {
        let mut h = Harness::new(false);
        let pid = h.init(60_000).producer_id;
        h.add(pid, 0, &[0]);
        let (_, markers) = h.end(pid, 0, false);
        let w = &markers[0];
        h.markers_answered(w, Some(ErrorCode::NotLeaderOrFollower));
        assert_eq!(h.state(), (TxnState::PrepareAbort, 0));
        h.advance_to(100);
        let again: Vec<WriteTxnMarkersRequest> = h
            .sent()
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::WriteTxnMarkers(w) => Some(w),
                _ => None,
            })
            .collect();
        assert_eq!(again.len(), 1, "sent again after the backoff");
        h.markers_written(&again);
        assert_eq!(h.state(), (TxnState::CompleteAbort, 0));
    }

    #[test]
    fn a_new_producer_fences_and_aborts_the_open_transaction() {
        let mut h = Harness::new(false);
        let pid = h.init(60_000).producer_id;
        h.add(pid, 0, &[0]);
        let fenced = h.init(60_000);
        assert_eq!(fenced.error, Some(ErrorCode::ConcurrentTransactions));
        assert_eq!(
            h.state(),
            (TxnState::PrepareAbort, 1),
            "aborted under the bumped epoch"
        );
        let markers = std::mem::take(&mut h.stash);
        assert_eq!(markers[0].markers[0].producer_epoch, ProducerEpoch(1));
        h.markers_written(&markers);
        assert_eq!(h.state(), (TxnState::CompleteAbort, 1));
        // The retry gets the epoch after the fencing one; the zombie cannot end anything.
        assert_eq!(h.init(60_000).producer_epoch, ProducerEpoch(2));
        assert_eq!(h.end(pid, 0, true).0.error, Some(ErrorCode::ProducerFenced));
    }

    #[test]
    fn a_transaction_open_past_its_timeout_is_aborted_at_the_next_check() {
        let mut h = Harness::new(false);
        let pid = h.init(15_000).producer_id;
        h.now = Instant(1_000);
        h.add(pid, 0, &[0]);
        assert_eq!(
            h.c.next_deadline(),
            Some(Instant(20_000)),
            "the check after 16 s"
        );
        h.advance_to(20_000);
        h.commit();
        assert_eq!(h.state(), (TxnState::PrepareAbort, 1));
        let timed_out = std::iter::from_fn(|| h.out.pop()).any(|o| {
            matches!(o, Output::Event(Event::TxnTimedOut { producer_epoch, .. }) if producer_epoch == ProducerEpoch(0))
        });
        assert!(timed_out);
    }

    #[test]
    fn a_delayed_end_txn_commits_the_next_transaction_under_version_1_only() {
        // KAFKA-17754 (KAFKA.md 7.3): the producer's first EndTxn(commit) is delayed; it
        // retries, the commit completes, and it starts a second transaction that it means to
        // abort. The delayed EndTxn arrives then.
        for v2 in [false, true] {
            let mut h = Harness::new(v2);
            let pid = h.init(60_000).producer_id;
            h.add(pid, 0, &[0]);
            let (answer, markers) = h.end(pid, 0, true);
            h.markers_written(&markers);
            let epoch = answer.producer_epoch.0;
            assert_eq!(epoch, if v2 { 1 } else { 0 }, "version 2 bumps at EndTxn");
            assert_eq!(h.add(pid, epoch, &[1]), None);
            // The delayed first EndTxn, with the first transaction's epoch.
            let (late, _) = h.end(pid, 0, true);
            if v2 {
                assert_eq!(late.error, Some(ErrorCode::ProducerFenced));
                assert_eq!(h.state(), (TxnState::Ongoing, 1), "the second stays open");
            } else {
                assert_eq!(late.error, None);
                assert_eq!(
                    h.state().0,
                    TxnState::PrepareCommit,
                    "the delayed EndTxn decided the second transaction"
                );
            }
        }
    }

    #[test]
    fn version_2_tells_a_retried_end_txn_from_the_next_transaction() {
        // `endTransaction` under transaction version 2: while the markers are written, the
        // retry (the epoch before the bump) is told to wait, the bumped epoch is fenced; once
        // complete, the retry succeeds and the bumped epoch may abort with nothing open.
        let mut h = Harness::new(true);
        let pid = h.init(60_000).producer_id;
        h.add(pid, 0, &[0]);
        let (answer, markers) = h.end(pid, 0, true);
        assert_eq!(answer.producer_epoch, ProducerEpoch(1));
        assert_eq!(h.state(), (TxnState::PrepareCommit, 1));
        assert_eq!(
            h.end(pid, 0, true).0.error,
            Some(ErrorCode::ConcurrentTransactions)
        );
        assert_eq!(
            h.end(pid, 0, false).0.error,
            Some(ErrorCode::InvalidTxnState)
        );
        assert_eq!(h.end(pid, 1, true).0.error, Some(ErrorCode::ProducerFenced));
        h.markers_written(&markers);
        assert_eq!(h.state(), (TxnState::CompleteCommit, 1));
        let retried = h.end(pid, 0, true).0;
        assert_eq!(
            (retried.error, retried.producer_epoch),
            (None, ProducerEpoch(1))
        );
        assert_eq!(
            h.end(pid, 1, true).0.error,
            Some(ErrorCode::InvalidTxnState)
        );
        let (empty_abort, markers) = h.end(pid, 1, false);
        assert_eq!(
            (empty_abort.error, empty_abort.producer_epoch),
            (None, ProducerEpoch(2))
        );
        assert!(
            markers.is_empty(),
            "nothing was open: no partition gets a marker"
        );
        h.commit();
        assert_eq!(h.state(), (TxnState::CompleteAbort, 2));
    }

    #[test]
    fn version_2_fences_an_open_transaction_two_epochs_up() {
        // `prepareFenceProducerEpoch` bumps once and version 2's `prepareAbortOrCommit` again.
        let mut h = Harness::new(true);
        let pid = h.init(60_000).producer_id;
        h.add(pid, 0, &[0]);
        assert_eq!(
            h.init(60_000).error,
            Some(ErrorCode::ConcurrentTransactions)
        );
        assert_eq!(h.state(), (TxnState::PrepareAbort, 2));
        // The fenced producer's abort is neither a retry nor current.
        assert_eq!(
            h.end(pid, 0, false).0.error,
            Some(ErrorCode::ProducerFenced)
        );
    }

    #[test]
    fn a_refused_marker_stops_the_transaction_until_a_reload() {
        // `abortSending`: INVALID_PRODUCER_EPOCH from a leader leaves the transaction prepared.
        let mut h = Harness::new(false);
        let pid = h.init(60_000).producer_id;
        h.add(pid, 0, &[0]);
        let (_, markers) = h.end(pid, 0, true);
        h.markers_answered(&markers[0], Some(ErrorCode::InvalidProducerEpoch));
        h.advance_to(60_000);
        h.commit();
        assert_eq!(h.state(), (TxnState::PrepareCommit, 0));
        assert!(
            h.sent()
                .iter()
                .all(|(_, m)| !matches!(m, Message::WriteTxnMarkers(_)))
        );
    }

    #[test]
    fn a_new_coordinator_finishes_a_prepared_transaction() {
        let mut h = Harness::new(false);
        let pid = h.init(60_000).producer_id;
        h.add(pid, 0, &[0]);
        h.end(pid, 0, true);
        let records = h.log.records.clone();
        let mut out = Outbox::default();
        let mut next = TxnCoordinator::new(h.c.config);
        next.load(0, 8, records.iter(), &mut out);
        next.on_timers(Instant(1), &mut h.log, &mut out);
        let resent = std::iter::from_fn(|| out.pop()).find_map(|o| match o {
            Output::Send {
                message: Message::WriteTxnMarkers(w),
                ..
            } => Some(w),
            _ => None,
        });
        let w = resent.expect("the new coordinator sends the markers");
        assert_eq!(w.markers[0].marker.kind, MarkerKind::Commit);
        assert_eq!(w.markers[0].marker.coordinator_epoch, 8);
    }
}
