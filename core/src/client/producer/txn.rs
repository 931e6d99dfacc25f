//! The transactional producer (`TransactionManager`'s transactional half, KAFKA.md 4.2).
//!
//! A producer with a `transactional.id` finds its transaction coordinator, gets its producer id
//! and epoch there (InitProducerId, which fences older instances), and then runs its workload
//! in transactions of `records` records: the first send of a transaction begins it, a
//! partition's batches are drained only once AddPartitionsToTxn has added the partition, and
//! after the last record the application commits (or, every `abort_every`th transaction,
//! aborts): EndTxn goes out once every batch of the transaction is complete. One request to
//! the coordinator is in flight at a time; a coordinator that moved is found again and the
//! request sent again, as `TransactionManager` does.
//!
//! A batch that fails for good makes the transaction abortable: the application aborts it, and
//! its unsent batches fail. A fencing error (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH from
//! the coordinator) is fatal: the application closes the producer and starts a new one with
//! the same transactional id, which is modelled by forgetting every batch and the producer id
//! and initialising again. Sequence errors abort the transaction and then bump the epoch with
//! InitProducerId (KIP-360).

use super::{PendingRequest, Producer};
use crate::bytes::Bytes;
use crate::error::ErrorCode;
use crate::ids::{
    BrokerId, LeaderEpoch, NodeId, Offset, ProducerEpoch, ProducerId, TopicPartition,
};
use crate::map::VecSet;
use crate::node::Event;
use crate::protocol::*;
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// How a producer's workload uses transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionWorkload {
    /// Records per transaction (the last transaction may hold fewer).
    pub records: u64,
    /// Every `abort_every`th transaction is aborted instead of committed.
    #[serde(default)]
    pub abort_every: Option<u64>,
}

/// Where the producer's transaction stands (`TransactionManager.State`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnPhase {
    /// No producer id yet: the coordinator is looked up and InitProducerId sent.
    Initializing,
    /// Initialised, no transaction open.
    Ready,
    /// A transaction is open.
    InTransaction,
    /// The application committed: EndTxn(commit) goes out once every batch is complete.
    Committing,
    /// The application aborted: unsent batches fail, EndTxn(abort) follows the rest.
    Aborting,
}

/// A coordinator request in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TxnRequest {
    FindCoordinator,
    InitProducerId,
    AddPartitions(Vec<u32>),
    /// AddOffsetsToTxn, to the transaction coordinator.
    AddOffsets,
    /// FindCoordinator(GROUP) for the group whose offsets the transaction commits.
    FindGroupCoordinator,
    /// TxnOffsetCommit, to the group coordinator.
    TxnOffsetCommit,
    EndTxn {
        commit: bool,
    },
}

/// The consumer's group, as `sendOffsetsToTransaction` hands it to the producer
/// (`ConsumerGroupMetadata`): the group coordinator fences a zombie by it (KIP-447).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation the consumer is in (-1 outside one).
    pub generation_id: i32,
    /// The consumer's member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
}

/// The offsets the open transaction commits (`sendOffsetsToTransaction`): AddOffsetsToTxn
/// adds the group's offsets partition to the transaction, then TxnOffsetCommit writes them at
/// the group coordinator; EndTxn waits for both.
#[derive(Clone, Debug)]
pub(super) struct TxnOffsets {
    group: GroupMetadata,
    offsets: Vec<(TopicPartition, Offset, Option<LeaderEpoch>)>,
    added: bool,
    coordinator: Option<BrokerId>,
    committed: bool,
}

/// The transactional state of a producer.
#[derive(Clone, Debug)]
pub(super) struct Txn {
    pub(super) id: String,
    pub(super) timeout: Duration,
    pub(super) workload: TransactionWorkload,
    pub(super) phase: TxnPhase,
    pub(super) coordinator: Option<BrokerId>,
    /// The request in flight, if any, by correlation id.
    pub(super) request: Option<(CorrelationId, TxnRequest)>,
    pub(super) retry_at: Option<Instant>,
    /// Partitions the coordinator added to the open transaction.
    pub(super) added: VecSet<u32>,
    /// Records sent in the open transaction, and their values.
    pub(super) sent: u64,
    pub(super) values: Vec<Bytes>,
    /// Transactions begun so far.
    pub(super) begun: u64,
    /// Why the open transaction must abort, if it must.
    pub(super) abortable: Option<ErrorCode>,
    /// The epoch must be bumped with InitProducerId once the abort completes (KIP-360).
    pub(super) bump_after_abort: bool,
    /// The next request waits for a connection: `retry_at` is only a fallback, and the
    /// connection becoming ready sends it at once.
    pub(super) awaiting_connection: bool,
    /// Offsets the open transaction commits, once the application sends them.
    pub(super) offsets: Option<TxnOffsets>,
    /// The cluster's finalized `transaction.version`, from the last ApiVersions answer (unknown
    /// before the first one).
    pub(super) transaction_version: Option<u32>,
}

impl Txn {
    pub(super) fn new(id: String, timeout: Duration, workload: TransactionWorkload) -> Txn {
        Txn {
            id,
            timeout,
            workload,
            phase: TxnPhase::Initializing,
            coordinator: None,
            request: None,
            retry_at: None,
            added: VecSet::new(),
            sent: 0,
            values: Vec::new(),
            begun: 0,
            abortable: None,
            bump_after_abort: false,
            awaiting_connection: false,
            offsets: None,
            transaction_version: None,
        }
    }

    /// Whether the application may send now: a transaction is open, or may begin.
    pub(super) fn may_send(&self) -> bool {
        matches!(self.phase, TxnPhase::Ready | TxnPhase::InTransaction)
    }
}

/// Backoff after CONCURRENT_TRANSACTIONS on AddPartitionsToTxn
/// (`TransactionManager.ADD_PARTITIONS_RETRY_BACKOFF_MS`).
const ADD_PARTITIONS_RETRY_BACKOFF: Duration = Duration::from_millis(20);

impl Producer {
    /// The transaction's phase, for a transactional producer.
    pub fn transaction_phase(&self) -> Option<TxnPhase> {
        self.txn.as_ref().map(|t| t.phase)
    }

    /// Whether the application may begin a transaction now: the producer is initialised, none
    /// is open, and the topic's metadata is known, so that every `send` of the transaction
    /// goes into the accumulator at once (Kafka's `send` blocks in `waitOnMetadata`).
    pub fn ready_for_transaction(&self) -> bool {
        self.producer_id.is_some()
            && self.transaction_phase() == Some(TxnPhase::Ready)
            && self.metadata.partitions(&self.workload.topic).is_some()
    }

    /// The application of a consume-transform-produce loop sends one record in its open
    /// transaction, beginning one if none is open; the value is `{name}-{i}:{text}`, as a
    /// `Send` command's. Returns false when no transaction may take it now.
    pub fn send_in_transaction(&mut self, now: Instant, key: Option<String>, text: String) -> bool {
        if !self.txn_before_send() {
            return false;
        }
        self.request(now, key, Some(text));
        true
    }

    /// `sendOffsetsToTransaction`: the open transaction also commits `offsets` for the
    /// consumer's `group`. Returns false when no transaction is open.
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: Vec<(TopicPartition, Offset, Option<LeaderEpoch>)>,
        group: GroupMetadata,
    ) -> bool {
        let Some(txn) = &mut self.txn else {
            return false;
        };
        if txn.phase != TxnPhase::InTransaction || offsets.is_empty() {
            return false;
        }
        txn.offsets = Some(TxnOffsets {
            group,
            offsets,
            added: false,
            coordinator: None,
            committed: false,
        });
        true
    }

    /// `commitTransaction`: the open transaction commits once everything in it is written (or
    /// aborts, when an error made it abortable or the workload aborts every few).
    pub fn commit_transaction(&mut self) {
        self.end_transaction_by_application();
    }

    /// `abortTransaction`: the open transaction aborts.
    pub fn abort_transaction(&mut self) {
        if let Some(txn) = &mut self.txn
            && txn.phase == TxnPhase::InTransaction
        {
            txn.phase = TxnPhase::Aborting;
        }
    }

    /// The application's `send` is about to run under a transaction: `beginTransaction` when
    /// none is open. Returns false when it may not send now.
    pub(super) fn txn_before_send(&mut self) -> bool {
        let Some(txn) = &mut self.txn else {
            return true;
        };
        if !txn.may_send() || self.producer_id.is_none() {
            return false;
        }
        if txn.phase == TxnPhase::Ready {
            txn.phase = TxnPhase::InTransaction;
            txn.begun += 1;
        }
        true
    }

    /// The application sent a record in the open transaction; after the transaction's last
    /// record it commits, or aborts every `abort_every`th transaction.
    pub(super) fn txn_after_send(&mut self, value: Bytes, last_of_workload: bool) {
        let Some(txn) = &mut self.txn else { return };
        txn.sent += 1;
        txn.values.push(value);
        if txn.sent >= txn.workload.records || last_of_workload {
            self.end_transaction_by_application();
        }
    }

    /// The application ends the open transaction: it commits, unless this transaction is one
    /// the workload aborts or an error made it abortable.
    pub(super) fn end_transaction_by_application(&mut self) {
        let Some(txn) = &mut self.txn else { return };
        if txn.phase != TxnPhase::InTransaction {
            return;
        }
        let abort = txn.abortable.is_some()
            || txn
                .workload
                .abort_every
                .is_some_and(|k| k > 0 && txn.begun % k == 0);
        txn.phase = if abort {
            TxnPhase::Aborting
        } else {
            TxnPhase::Committing
        };
    }

    /// A batch of the open transaction failed for good: the transaction can only abort.
    pub(super) fn txn_batch_failed(&mut self, error: ErrorCode) {
        let Some(txn) = &mut self.txn else { return };
        if matches!(txn.phase, TxnPhase::InTransaction | TxnPhase::Committing) {
            txn.abortable.get_or_insert(error);
            // `handleFailedBatch`: below transaction version 2 the client bumps its epoch after
            // the abort of any failed batch (`needToTriggerEpochBumpFromClient`), which fences
            // a copy of the batch still on the wire; at 2 the EndTxn bumps it anyway. The
            // sequence and epoch errors need the bump to reset sequences under either.
            if matches!(
                error,
                ErrorCode::OutOfOrderSequenceNumber
                    | ErrorCode::UnknownProducerId
                    | ErrorCode::InvalidProducerEpoch
            ) || txn.transaction_version.is_some_and(|v| v < 2)
            {
                txn.bump_after_abort = true;
            }
            txn.phase = TxnPhase::Aborting;
        }
    }

    /// Whether a partition's batches may be drained: its partition is in the transaction
    /// (`isSendToPartitionAllowed`).
    pub(super) fn txn_allows_drain(&self, partition: u32) -> bool {
        self.txn.as_ref().is_none_or(|t| {
            t.added.contains(&partition)
                && matches!(t.phase, TxnPhase::InTransaction | TxnPhase::Committing)
        })
    }

    /// The transactional half of the sender loop: the next coordinator request, if one is due.
    /// A transaction that ends without a request lets the application go on at once.
    pub(super) fn drive_txn(&mut self, now: Instant) {
        // Each round ends a transaction the coordinator never heard of; the workload's count
        // bounds them, and the bound keeps one input from spinning.
        for _ in 0..1000 {
            if !self.drive_txn_once(now) {
                return;
            }
            self.run_workload(now);
        }
    }

    /// One step of [`Producer::drive_txn`]; true when a transaction ended locally.
    fn drive_txn_once(&mut self, now: Instant) -> bool {
        let Some(txn) = &self.txn else { return false };
        if txn.request.is_some() || txn.retry_at.is_some_and(|t| t > now) {
            return false;
        }
        if txn.phase == TxnPhase::Aborting {
            self.abort_undrained_batches();
        }
        let txn = self.txn.as_ref().expect("transactional");
        // The offsets step: AddOffsetsToTxn, the group coordinator, then TxnOffsetCommit. An
        // application that aborts on its own still flushes what `sendOffsetsToTransaction`
        // queued, as the requests wait in `TransactionManager`'s queue ahead of EndTxn; after
        // an abortable error they fail instead (`nextRequest`).
        let offsets_step = txn
            .offsets
            .as_ref()
            .filter(|o| !o.committed)
            .filter(|_| txn.phase != TxnPhase::Aborting || txn.abortable.is_none())
            .map(|o| {
                if !o.added {
                    TxnRequest::AddOffsets
                } else if o.coordinator.is_none() {
                    TxnRequest::FindGroupCoordinator
                } else {
                    TxnRequest::TxnOffsetCommit
                }
            });
        let next = match txn.phase {
            TxnPhase::Initializing => Some(TxnRequest::InitProducerId),
            TxnPhase::Ready => None,
            TxnPhase::InTransaction | TxnPhase::Committing => {
                let new: Vec<u32> = self
                    .partitions
                    .iter()
                    .filter(|(p, s)| !s.queue.is_empty() && !txn.added.contains(p))
                    .map(|(&p, _)| p)
                    .collect();
                if !new.is_empty() {
                    Some(TxnRequest::AddPartitions(new))
                } else if offsets_step.is_some() {
                    offsets_step
                } else if txn.phase == TxnPhase::Committing
                    && self.records_pending() == 0
                    && self.requested.is_empty()
                {
                    Some(TxnRequest::EndTxn { commit: true })
                } else {
                    None
                }
            }
            TxnPhase::Aborting => {
                let in_flight = self.partitions.values().any(|s| !s.in_flight.is_empty());
                offsets_step.or((!in_flight).then_some(TxnRequest::EndTxn { commit: false }))
            }
        };
        let Some(request) = next else { return false };
        if matches!(request, TxnRequest::EndTxn { .. })
            && txn.added.is_empty()
            && txn.offsets.as_ref().is_none_or(|o| !o.added)
        {
            // No partition joined the transaction: the coordinator knows nothing of it, and
            // `TransactionManager` completes it without an EndTxn (`transactionStarted`).
            let commit = request == TxnRequest::EndTxn { commit: true };
            let (pid, epoch) = self.producer_id.expect("initialised");
            self.transaction_ended(commit, pid, epoch);
            return true;
        }
        if request == TxnRequest::FindGroupCoordinator {
            let group = txn
                .offsets
                .as_ref()
                .expect("offsets")
                .group
                .group_id
                .clone();
            self.find_coordinator(now, group, CoordinatorType::Group);
        } else if txn.coordinator.is_none() {
            let id = txn.id.clone();
            self.find_coordinator(now, id, CoordinatorType::Transaction);
        } else {
            self.send_txn_request(now, request);
        }
        false
    }

    /// `FindCoordinator` to the least loaded broker: of the transaction, or of the group whose
    /// offsets the transaction commits.
    fn find_coordinator(&mut self, now: Instant, key: String, key_type: CoordinatorType) {
        let mut sent = None;
        self.request_least_loaded(now, |broker, deadline, correlation| {
            sent = Some(correlation);
            (
                PendingRequest::Txn { broker, deadline },
                Message::FindCoordinator(FindCoordinatorRequest {
                    correlation,
                    group_id: key,
                    key_type,
                }),
            )
        });
        let backoff = self.config.config.retry_backoff;
        let txn = self.txn.as_mut().expect("transactional");
        let request = match key_type {
            CoordinatorType::Group => TxnRequest::FindGroupCoordinator,
            CoordinatorType::Transaction => TxnRequest::FindCoordinator,
        };
        match sent {
            Some(c) => txn.request = Some((c, request)),
            // No broker was ready: try again after a backoff, or when one is.
            None => {
                txn.retry_at = Some(now + backoff);
                txn.awaiting_connection = true;
            }
        }
    }

    fn send_txn_request(&mut self, now: Instant, request: TxnRequest) {
        let txn = self.txn.as_ref().expect("transactional");
        let coordinator = match request {
            TxnRequest::TxnOffsetCommit => txn.offsets.as_ref().and_then(|o| o.coordinator),
            _ => txn.coordinator,
        }
        .expect("known");
        if !self.ensure_connected(coordinator, now) {
            // The request goes out once the connection is ready; look again after a backoff,
            // as the sender loop would, so that nothing waits on an input that never comes.
            let backoff = self.config.config.retry_backoff;
            let txn = self.txn.as_mut().expect("transactional");
            txn.retry_at = Some(now + backoff);
            txn.awaiting_connection = true;
            return;
        }
        let correlation = self.correlation();
        let txn = self.txn.as_ref().expect("transactional");
        let (pid, epoch) = self
            .producer_id
            .unwrap_or((ProducerId(0), ProducerEpoch(0)));
        let message = match &request {
            TxnRequest::FindCoordinator | TxnRequest::FindGroupCoordinator => return,
            TxnRequest::AddOffsets => Message::AddOffsetsToTxn(AddOffsetsToTxnRequest {
                correlation,
                transactional_id: txn.id.clone(),
                producer_id: pid,
                producer_epoch: epoch,
                group_id: txn
                    .offsets
                    .as_ref()
                    .expect("offsets")
                    .group
                    .group_id
                    .clone(),
            }),
            TxnRequest::TxnOffsetCommit => {
                let o = txn.offsets.as_ref().expect("offsets");
                Message::TxnOffsetCommit(TxnOffsetCommitRequest {
                    correlation,
                    transactional_id: txn.id.clone(),
                    group_id: o.group.group_id.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    generation_id: o.group.generation_id,
                    member_id: o.group.member_id.clone(),
                    group_instance_id: o.group.group_instance_id.clone(),
                    offsets: o.offsets.clone(),
                })
            }
            TxnRequest::InitProducerId => Message::InitProducerId(InitProducerIdRequest {
                correlation,
                transactional_id: Some(txn.id.clone()),
                transaction_timeout: txn.timeout,
            }),
            TxnRequest::AddPartitions(partitions) => {
                Message::AddPartitionsToTxn(AddPartitionsToTxnRequest {
                    correlation,
                    transactional_id: txn.id.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    partitions: partitions.iter().map(|&p| self.tp(p)).collect(),
                })
            }
            TxnRequest::EndTxn { commit } => Message::EndTxn(EndTxnRequest {
                correlation,
                transactional_id: txn.id.clone(),
                producer_id: pid,
                producer_epoch: epoch,
                commit: *commit,
            }),
        };
        let deadline = now + self.config.config.request_timeout;
        self.pending.insert(
            correlation,
            PendingRequest::Txn {
                broker: coordinator,
                deadline,
            },
        );
        self.txn.as_mut().expect("transactional").request = Some((correlation, request));
        self.outbox.send(NodeId::Broker(coordinator), message);
    }

    /// `abortUndrainedBatches`: batches of an aborting transaction not yet sent fail.
    fn abort_undrained_batches(&mut self) {
        // Records the application sent that never reached the accumulator go with them.
        self.requested.clear();
        let queued: Vec<_> = self
            .partitions
            .values_mut()
            .flat_map(|s| s.queue.drain(..).collect::<Vec<_>>())
            .collect();
        for batch in queued {
            self.fail_batch(batch, ErrorCode::TransactionAborted);
        }
    }

    /// A connection became ready, in a cluster of this `transaction.version`: a request that
    /// waited for one goes out now.
    pub(super) fn txn_connection_ready(&mut self, transaction_version: u32) {
        let Some(txn) = &mut self.txn else { return };
        txn.transaction_version = Some(transaction_version);
        if std::mem::take(&mut txn.awaiting_connection) {
            txn.retry_at = None;
        }
    }

    /// A coordinator request failed before an answer (a broken connection or a timeout): the
    /// coordinator is looked up again and the request sent again.
    pub(super) fn txn_request_lost(&mut self, now: Instant) {
        let backoff = self.config.config.retry_backoff;
        if let Some(txn) = &mut self.txn {
            let lost = txn.request.take().map(|(_, r)| r);
            if matches!(
                lost,
                Some(TxnRequest::TxnOffsetCommit | TxnRequest::FindGroupCoordinator)
            ) {
                if let Some(o) = &mut txn.offsets {
                    o.coordinator = None;
                }
            } else {
                txn.coordinator = None;
            }
            txn.retry_at = Some(now + backoff);
        }
    }

    /// An answer from the coordinator (or to the FindCoordinator).
    pub(super) fn handle_txn_response(&mut self, now: Instant, message: Message) {
        let correlation = match &message {
            Message::FindCoordinatorResponse(r) => r.correlation,
            Message::InitProducerIdResponse(r) => r.correlation,
            Message::AddPartitionsToTxnResponse(r) => r.correlation,
            Message::AddOffsetsToTxnResponse(r) => r.correlation,
            Message::TxnOffsetCommitResponse(r) => r.correlation,
            Message::EndTxnResponse(r) => r.correlation,
            _ => return,
        };
        let Some(txn) = &mut self.txn else { return };
        let Some((c, request)) = txn.request.take() else {
            return;
        };
        if c != correlation {
            txn.request = Some((c, request));
            return;
        }
        self.pending.remove(&correlation);
        let error = match message {
            Message::FindCoordinatorResponse(r) => {
                if r.error.is_none() {
                    match (&request, &mut txn.offsets) {
                        (TxnRequest::FindGroupCoordinator, Some(o)) => {
                            o.coordinator = r.coordinator
                        }
                        _ => txn.coordinator = r.coordinator,
                    }
                }
                r.error
            }
            Message::AddOffsetsToTxnResponse(r) => {
                if r.error.is_none()
                    && let Some(o) = &mut txn.offsets
                {
                    o.added = true;
                }
                r.error
            }
            Message::TxnOffsetCommitResponse(r) => {
                let error = r.partitions.iter().find_map(|(_, e)| *e);
                if error.is_none()
                    && let Some(o) = &mut txn.offsets
                {
                    o.committed = true;
                }
                error
            }
            Message::InitProducerIdResponse(r) => {
                if r.error.is_none() {
                    self.producer_id = Some((r.producer_id, r.producer_epoch));
                    txn.phase = TxnPhase::Ready;
                    self.outbox.event(Event::ProducerIdAssigned {
                        producer_id: r.producer_id,
                        producer_epoch: r.producer_epoch,
                    });
                }
                r.error
            }
            Message::AddPartitionsToTxnResponse(r) => {
                let error = r.partitions.iter().find_map(|(_, e)| *e);
                if error.is_none()
                    && let TxnRequest::AddPartitions(partitions) = &request
                {
                    for &p in partitions {
                        txn.added.insert(p);
                    }
                }
                error
            }
            Message::EndTxnResponse(r) => {
                if r.error.is_none() {
                    let commit = matches!(request, TxnRequest::EndTxn { commit: true });
                    self.transaction_ended(commit, r.producer_id, r.producer_epoch);
                }
                r.error
            }
            _ => None,
        };
        if let Some(e) = error {
            self.txn_error(now, &request, e);
        }
    }

    /// EndTxn succeeded: the transaction is over. Under transaction version 2 the answer
    /// carries the bumped epoch, which the next transaction uses from sequence 0.
    fn transaction_ended(&mut self, commit: bool, pid: ProducerId, epoch: ProducerEpoch) {
        let txn = self.txn.as_mut().expect("transactional");
        let values = std::mem::take(&mut txn.values);
        txn.sent = 0;
        txn.added.clear();
        txn.offsets = None;
        txn.abortable = None;
        txn.phase = if std::mem::take(&mut txn.bump_after_abort) {
            TxnPhase::Initializing
        } else {
            TxnPhase::Ready
        };
        let (old_pid, old_epoch) = self.producer_id.unwrap_or((pid, epoch));
        self.outbox.event(Event::TransactionEnded {
            transactional_id: txn.id.clone(),
            producer_id: old_pid,
            producer_epoch: old_epoch,
            committed: commit,
            values,
        });
        self.producer_id = Some((pid, epoch));
    }

    /// A coordinator error (`TransactionManager`'s handlers): a coordinator that moved is
    /// found again, a busy one asked again after a backoff; fencing is fatal.
    fn txn_error(&mut self, now: Instant, request: &TxnRequest, error: ErrorCode) {
        let backoff = self.config.config.retry_backoff;
        let txn = self.txn.as_mut().expect("transactional");
        if matches!(
            request,
            TxnRequest::TxnOffsetCommit | TxnRequest::FindGroupCoordinator
        ) {
            return self.txn_offset_commit_error(now, request, error);
        }
        match error {
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                txn.coordinator = None;
                txn.retry_at = Some(now + backoff);
            }
            ErrorCode::ConcurrentTransactions
                if matches!(request, TxnRequest::AddPartitions(_)) =>
            {
                txn.retry_at = Some(now + ADD_PARTITIONS_RETRY_BACKOFF);
            }
            ErrorCode::ConcurrentTransactions | ErrorCode::CoordinatorLoadInProgress => {
                txn.retry_at = Some(now + backoff);
            }
            // `AddPartitionsToTxnHandler` and `AddOffsetsToTxnHandler` make these abortable
            // where they can (`abortableErrorIfPossible`): the abort is followed by an epoch
            // bump.
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping
                if matches!(
                    request,
                    TxnRequest::AddOffsets | TxnRequest::AddPartitions(_)
                ) =>
            {
                txn.abortable.get_or_insert(error);
                txn.bump_after_abort = true;
                txn.phase = TxnPhase::Aborting;
            }
            ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::InvalidTxnState
            | ErrorCode::InvalidProducerIdMapping => self.txn_fatal(now, error),
            _ if matches!(
                request,
                TxnRequest::FindCoordinator | TxnRequest::InitProducerId
            ) =>
            {
                txn.retry_at = Some(now + backoff);
            }
            _ => self.txn_fatal(now, error),
        }
    }

    /// An error from the group coordinator, or finding it (`TxnOffsetCommitHandler`): a moved
    /// coordinator is found again, a retriable error retried; a consumer whose generation is
    /// gone makes the transaction abortable (`CommitFailedException`); fencing is fatal.
    fn txn_offset_commit_error(&mut self, now: Instant, request: &TxnRequest, error: ErrorCode) {
        let backoff = self.config.config.retry_backoff;
        let txn = self.txn.as_mut().expect("transactional");
        let o = txn.offsets.as_mut().expect("offsets");
        match error {
            ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::RequestTimedOut => {
                o.coordinator = None;
                txn.retry_at = Some(now + backoff);
            }
            ErrorCode::UnknownMemberId
            | ErrorCode::IllegalGeneration
            | ErrorCode::FencedInstanceId => {
                txn.abortable.get_or_insert(error);
                txn.phase = TxnPhase::Aborting;
            }
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                self.txn_fatal(now, ErrorCode::ProducerFenced)
            }
            _ if error.is_retriable() || *request == TxnRequest::FindGroupCoordinator => {
                txn.retry_at = Some(now + backoff);
            }
            _ => self.txn_fatal(now, error),
        }
    }

    /// A fatal error: the application closes this producer and starts another with the same
    /// transactional id. Every batch fails, the open transaction's fate is the coordinator's
    /// (it aborts unless its commit was already decided), and the new instance initialises.
    fn txn_fatal(&mut self, now: Instant, error: ErrorCode) {
        let backoff = self.config.config.retry_backoff;
        let txn = self.txn.as_mut().expect("transactional");
        let values = std::mem::take(&mut txn.values);
        let id = txn.id.clone();
        *txn = Txn::new(id.clone(), txn.timeout, txn.workload);
        txn.retry_at = Some(now + backoff);
        self.outbox.event(Event::TransactionFailed {
            transactional_id: id,
            error,
            values,
        });
        let batches: Vec<_> = self
            .partitions
            .values_mut()
            .flat_map(|s| {
                let mut all: Vec<_> = s.queue.drain(..).collect();
                all.extend(std::mem::take(&mut s.in_flight).into_values().map(|mut b| {
                    b.maybe_written = true;
                    b
                }));
                all
            })
            .collect();
        self.partitions.clear();
        self.requests.clear();
        self.requested.clear();
        self.producer_id = None;
        for batch in batches {
            self.fail_batch(batch, error);
        }
    }
}
