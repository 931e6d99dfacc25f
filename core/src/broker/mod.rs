//! A broker: registration and heartbeats with the controller, the metadata log it replays, the
//! partitions it leads (produce, fetch, high watermark, ISR changes) and follows (the replica
//! fetcher, truncation by diverging epoch), and producer-id blocks.
//!
//! The durable part is [`BrokerDisk`], the logs. Everything else (roles, follower states, the
//! metadata image, parked requests) is rebuilt on `Input::Start` by registering again and
//! replaying the metadata log from the controller; a real KRaft broker keeps a local copy of that
//! log, which only makes its start faster. Sources: `BrokerLifecycleManager`, `Partition.scala`,
//! `ReplicaManager.scala`, `AbstractFetcherThread.scala` (docs/kafka-source-notes.md).

pub mod partition;

use crate::config::{Acks, BrokerConfig};
use crate::error::ErrorCode;
use crate::group::coordinator::{CoordinatorConfig, GroupCoordinator, OffsetsLog};
use crate::group::{OFFSETS_TOPIC, coordinator_topic_partition};
use crate::ids::{
    BrokerEpoch, BrokerId, LeaderEpoch, NodeId, Offset, ProducerEpoch, ProducerId, TopicPartition,
};
use crate::log::cleaner::LogToClean;
use crate::log::{LeaderAppend, PartitionLog};
use crate::map::{VecMap, VecSet};
use crate::metadata::{LeaderRecoveryState, MetadataImage, PartitionRegistration};
use crate::node::{Deadlines, Event, Input, IsrChangeKind, Node, Outbox, Output};
use crate::protocol::*;
use crate::record::ControlMarker;
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::txn::TRANSACTION_STATE_TOPIC;
use crate::txn::coordinator::{TxnCoordinator, TxnCoordinatorConfig, TxnLog};
use partition::{
    LeaderState, Partition, PendingIsr, ReplicaState, Role, may_join_isr, maybe_increment_hw,
    out_of_sync_replicas, update_follower_fetch_state,
};

/// How often a starting broker heartbeats until its metadata has caught up
/// (`BrokerLifecycleManager`, STARTING state).
const STARTING_HEARTBEAT_INTERVAL: Duration = Duration(10);
/// The first retry delay after a failed controller request; it doubles per failure up to
/// `broker.session.timeout.ms`.
const CONTROLLER_RETRY_BACKOFF: Duration = Duration(100);
/// The delay before an AlterPartition or producer-id request is retried after an error.
const CONTROLLER_ERROR_RETRY: Duration = Duration(50);

/// A broker's durable state: one log per partition replica it hosts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerDisk {
    /// The logs.
    pub logs: VecMap<TopicPartition, PartitionLog>,
    /// What the last power loss cost each log: `(partition, records lost, LEO after)`; the broker
    /// reports it when it starts.
    pub lost_on_power_loss: Vec<(TopicPartition, u64, Offset)>,
}

impl BrokerDisk {
    /// A power loss: every log keeps only what was flushed.
    pub fn lose_unflushed(&mut self) {
        for (tp, log) in &mut self.logs {
            let lost = log.lose_unflushed();
            if lost > 0 {
                self.lost_on_power_loss
                    .push((tp.clone(), lost, log.log_end_offset()));
            }
        }
    }

    /// The OS writes dirty pages: everything appended is now durable.
    pub fn flush_all(&mut self) {
        for log in self.logs.values_mut() {
            log.flush();
        }
    }
}

/// `BrokerState` as `BrokerLifecycleManager` moves through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lifecycle {
    /// Not registered with the controller yet.
    Unregistered,
    /// Registered, catching up on metadata (heartbeats every 10 ms).
    Starting,
    /// Caught up, waiting to be unfenced.
    Recovery,
    /// Unfenced at least once; serving.
    Running,
}

/// The one request at a time a broker has with the controller for its lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LifecycleChannel {
    in_flight_deadline: Option<Instant>,
    next_at: Option<Instant>,
    failed_attempts: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MetadataFetcher {
    in_flight: Option<(CorrelationId, Instant)>,
}

/// The fetch state of one partition this broker follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FollowerFetch {
    leader_epoch: LeaderEpoch,
    delayed_until: Option<Instant>,
    /// Fenced by the leader: not fetched until new metadata comes.
    failed: bool,
    /// An append of the leader's records failed: the partition is not fetched until a new
    /// leader epoch restarts its fetcher (`AbstractFetcherThread.markPartitionFailed`).
    append_failed: bool,
}

impl FollowerFetch {
    fn new(leader_epoch: LeaderEpoch) -> FollowerFetch {
        FollowerFetch {
            leader_epoch,
            delayed_until: None,
            failed: false,
            append_failed: false,
        }
    }

    fn stopped(&self) -> bool {
        self.failed || self.append_failed
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct InFlightFetch {
    correlation: CorrelationId,
    deadline: Instant,
    /// The fetch offset and leader epoch each partition was requested with.
    requested: VecMap<TopicPartition, (Offset, LeaderEpoch)>,
}

/// The replica fetcher for one leader (`num.replica.fetchers` = 1: one request covers every
/// partition this broker follows from that leader).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Fetcher {
    partitions: VecMap<TopicPartition, FollowerFetch>,
    in_flight: Option<InFlightFetch>,
}

#[derive(Clone, Debug)]
struct ParkedFetch {
    from: NodeId,
    request: FetchRequest,
    deadline: Instant,
}

#[derive(Clone, Debug)]
struct PendingProduce {
    tp: TopicPartition,
    error: Option<ErrorCode>,
    base_offset: Option<Offset>,
    /// The HW the batch needs (`lastOffset + 1`) while acks=all is not yet satisfied.
    required: Option<Offset>,
}

/// A produce, or a WriteTxnMarkers, waiting for acks=all.
#[derive(Clone, Debug)]
struct ParkedProduce {
    from: NodeId,
    correlation: CorrelationId,
    deadline: Instant,
    partitions: Vec<PendingProduce>,
    /// For a WriteTxnMarkers, the producer of each pending partition's marker, in order: it
    /// is answered as one.
    markers: Option<Vec<ProducerId>>,
}

/// Producer ids handed out by this broker, in blocks from the controller (`RPCProducerIdManager`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ProducerIdBlocks {
    /// `(next, end)` of the current block.
    current: Option<(u64, u64)>,
    /// `(first, end)` of a prefetched block.
    next: Option<(u64, u64)>,
    request_deadline: Option<Instant>,
    retry_at: Option<Instant>,
}

/// This broker's leader logs as a writer. A macro, not a method, so that the writer borrows
/// only the fields it needs and the coordinators and outbox stay free beside it.
macro_rules! leader_writer {
    ($broker:ident, $now:expr) => {
        LeaderWriter {
            now: $now,
            config: &$broker.config,
            image: &$broker.image,
            partitions: &$broker.partitions,
            logs: &mut $broker.disk.logs,
            touched: &mut $broker.touched,
        }
    };
}

/// A broker node.
#[derive(Debug)]
pub struct Broker {
    id: BrokerId,
    config: BrokerConfig,
    disk: BrokerDisk,
    rng: Rng,
    started: bool,
    incarnation: u64,
    lifecycle: Lifecycle,
    broker_epoch: Option<BrokerEpoch>,
    ready_to_unfence: bool,
    is_fenced: bool,
    channel: LifecycleChannel,
    image: MetadataImage,
    metadata_fetcher: MetadataFetcher,
    partitions: VecMap<TopicPartition, Partition>,
    fetchers: VecMap<BrokerId, Fetcher>,
    parked_fetches: Vec<ParkedFetch>,
    parked_produces: Vec<ParkedProduce>,
    producer_ids: ProducerIdBlocks,
    coordinator: GroupCoordinator,
    txn_coordinator: TxnCoordinator,
    /// Partitions whose log end or high watermark moved, or whose role changed, since parked
    /// requests were last checked.
    touched: VecSet<TopicPartition>,
    next_isr_check: Option<Instant>,
    next_hw_checkpoint: Option<Instant>,
    next_flush: Option<Instant>,
    /// The first run of the retention task (`kafka-log-retention`): Kafka runs it at this time
    /// and every `log.retention.check.interval.ms` after. `None` before the broker starts.
    retention_task_start: Option<Instant>,
    /// The run of the retention task that the state before the current input called for (see
    /// `next_retention_check`).
    retention_due: Option<Instant>,
    /// When the log cleaner thread started (`LogCleaner.startup`, with the log manager): it
    /// looks for work then and, whenever it finds none, again `log.cleaner.backoff.ms` later.
    /// `None` before the broker starts or with `log.cleaner.enable=false`.
    cleaner_start: Option<Instant>,
    /// The run of the cleaner that the state before the current input called for (see
    /// `next_cleaner_run`).
    cleaner_due: Option<Instant>,
    next_correlation: CorrelationId,
    /// The time of the last input: deadlines at or before it were handled or are blocked.
    now: Instant,
    outbox: Outbox,
}

impl Broker {
    /// A broker with its id, config, disk and random seed; it does nothing until `Input::Start`.
    pub fn new(id: BrokerId, config: BrokerConfig, disk: BrokerDisk, seed: u64) -> Broker {
        Broker {
            id,
            disk,
            rng: Rng::new(seed),
            started: false,
            incarnation: 0,
            lifecycle: Lifecycle::Unregistered,
            broker_epoch: None,
            ready_to_unfence: false,
            is_fenced: true,
            channel: LifecycleChannel::default(),
            image: MetadataImage::default(),
            metadata_fetcher: MetadataFetcher::default(),
            partitions: VecMap::new(),
            fetchers: VecMap::new(),
            parked_fetches: Vec::new(),
            parked_produces: Vec::new(),
            producer_ids: ProducerIdBlocks::default(),
            coordinator: GroupCoordinator::new(
                CoordinatorConfig::from_broker(&config),
                crate::rng::derive_seed(seed, "group-coordinator"),
            ),
            txn_coordinator: TxnCoordinator::new(TxnCoordinatorConfig::from_broker(&config)),
            config,
            touched: VecSet::new(),
            next_isr_check: None,
            next_hw_checkpoint: None,
            next_flush: None,
            retention_task_start: None,
            retention_due: None,
            cleaner_start: None,
            cleaner_due: None,
            next_correlation: 0,
            now: Instant::ZERO,
            outbox: Outbox::default(),
        }
    }

    /// The group coordinator (the groups of the offsets partitions this broker leads).
    pub fn coordinator(&self) -> &GroupCoordinator {
        &self.coordinator
    }

    /// The transaction coordinator (the transactional ids of the `__transaction_state`
    /// partitions this broker leads).
    pub fn txn_coordinator(&self) -> &TxnCoordinator {
        &self.txn_coordinator
    }

    /// The broker's id.
    pub fn id(&self) -> BrokerId {
        self.id
    }

    /// The durable part, for a crash: everything else is lost.
    pub fn into_disk(self) -> BrokerDisk {
        self.disk
    }

    /// The durable part.
    pub fn disk(&self) -> &BrokerDisk {
        &self.disk
    }

    /// The durable part, for the world's storage faults.
    pub fn disk_mut(&mut self) -> &mut BrokerDisk {
        &mut self.disk
    }

    /// The log of a partition, if hosted.
    pub fn log(&self, tp: &TopicPartition) -> Option<&PartitionLog> {
        self.disk.logs.get(tp)
    }

    /// The broker's view of a hosted partition.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&Partition> {
        self.partitions.get(tp)
    }

    /// Every hosted partition.
    pub fn partitions(&self) -> &VecMap<TopicPartition, Partition> {
        &self.partitions
    }

    /// Whether this broker's replica fetcher stopped fetching a partition after an append it
    /// could not make (Kafka's failed partitions), until a new leader epoch restarts it.
    pub fn fetch_failed(&self, tp: &TopicPartition) -> bool {
        self.fetchers
            .values()
            .any(|f| f.partitions.get(tp).is_some_and(|s| s.append_failed))
    }

    /// The broker's metadata image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Where the broker is in its lifecycle.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Whether the controller said the broker was fenced in its last heartbeat answer.
    pub fn is_fenced(&self) -> bool {
        self.is_fenced
    }

    /// The broker's epoch, once registered.
    pub fn broker_epoch(&self) -> Option<BrokerEpoch> {
        self.broker_epoch
    }

    fn correlation(&mut self) -> CorrelationId {
        self.next_correlation += 1;
        self.next_correlation
    }

    fn start(&mut self, now: Instant) {
        for (tp, lost, leo) in std::mem::take(&mut self.disk.lost_on_power_loss) {
            self.outbox.event(Event::UnflushedRecordsLost {
                topic_partition: tp,
                records: lost,
                log_end_offset: leo,
            });
        }
        for log in self.disk.logs.values_mut() {
            log.recover_on_start();
        }
        self.incarnation = self.rng.next_u64();
        self.started = true;
        self.lifecycle = Lifecycle::Unregistered;
        self.channel = LifecycleChannel {
            next_at: Some(now),
            ..LifecycleChannel::default()
        };
        self.next_isr_check = Some(now + Duration(self.config.replica_lag_time_max.0 / 2));
        self.next_hw_checkpoint =
            Some(now + self.config.replica_high_watermark_checkpoint_interval);
        self.next_flush = self.config.log_flush_interval.map(|d| now + d);
        // `LogManager.startup` schedules the retention task `log.initial.task.delay.ms` after
        // the start, then every `log.retention.check.interval.ms`.
        self.retention_task_start = Some(now + self.config.log_initial_task_delay);
        self.cleaner_start = self.config.log_cleaner_enable.then_some(now);
        if self.cleaner_start.is_some() {
            // The cleaner thread looks for work as soon as it starts: a restarted broker may
            // find logs that were dirty enough before it stopped.
            self.run_cleaner(now);
        }
    }

    // Lifecycle: registration and heartbeats.

    fn drive_lifecycle(&mut self, now: Instant) {
        if self.channel.in_flight_deadline.is_some() || self.channel.next_at.is_none_or(|t| t > now)
        {
            return;
        }
        self.channel.next_at = None;
        // The heartbeat channel gives up after half the session timeout (KAFKA-14392).
        self.channel.in_flight_deadline =
            Some(now + Duration(self.config.broker_session_timeout.0 / 2));
        let message = match self.broker_epoch {
            None => Message::BrokerRegistration(BrokerRegistrationRequest {
                broker_id: self.id,
                incarnation: self.incarnation,
                previous_broker_epoch: None,
            }),
            Some(epoch) => Message::BrokerHeartbeat(BrokerHeartbeatRequest {
                broker_id: self.id,
                broker_epoch: epoch,
                current_metadata_offset: self.image.next_offset,
                want_fence: !self.ready_to_unfence,
            }),
        };
        self.outbox.send(NodeId::Controller, message);
    }

    /// `scheduleNextCommunicationAfterFailure`: exponential backoff from 100 ms, doubling, capped
    /// at `broker.session.timeout.ms`, with 2% jitter.
    fn lifecycle_failed(&mut self, now: Instant) {
        self.channel.in_flight_deadline = None;
        let exp = self.channel.failed_attempts.min(20);
        let base = (CONTROLLER_RETRY_BACKOFF.0 << exp).min(self.config.broker_session_timeout.0);
        let jitter = base / 50;
        let delay = base - jitter + self.rng.below(2 * jitter + 1);
        self.channel.failed_attempts += 1;
        self.channel.next_at = Some(now + Duration(delay));
    }

    fn handle_registration_response(&mut self, now: Instant, r: BrokerRegistrationResponse) {
        // A reply to an earlier incarnation's registration is not ours (see the response's
        // `incarnation`).
        if self.broker_epoch.is_some()
            || self.channel.in_flight_deadline.is_none()
            || r.incarnation != self.incarnation
        {
            return;
        }
        if r.error.is_some() {
            return self.lifecycle_failed(now);
        }
        self.channel.in_flight_deadline = None;
        self.channel.failed_attempts = 0;
        self.broker_epoch = Some(r.broker_epoch);
        self.lifecycle = Lifecycle::Starting;
        self.channel.next_at = Some(now);
    }

    fn handle_heartbeat_response(&mut self, now: Instant, r: BrokerHeartbeatResponse) {
        if self.broker_epoch.is_none() || self.channel.in_flight_deadline.is_none() {
            return;
        }
        if r.error.is_some() {
            // Kafka retries the heartbeat; it never registers again because of an error.
            return self.lifecycle_failed(now);
        }
        self.channel.in_flight_deadline = None;
        self.channel.failed_attempts = 0;
        self.is_fenced = r.is_fenced;
        let interval = self.config.broker_heartbeat_interval;
        self.channel.next_at = Some(match self.lifecycle {
            Lifecycle::Starting if r.is_caught_up => {
                // Caught up: the broker is ready to be unfenced and says so at once.
                self.lifecycle = Lifecycle::Recovery;
                self.ready_to_unfence = true;
                now
            }
            Lifecycle::Starting => now + STARTING_HEARTBEAT_INTERVAL,
            Lifecycle::Recovery => {
                if !r.is_fenced {
                    self.lifecycle = Lifecycle::Running;
                }
                now + interval
            }
            Lifecycle::Running | Lifecycle::Unregistered => now + interval,
        });
    }

    // Metadata.

    fn drive_metadata_fetch(&mut self, now: Instant) {
        if self.metadata_fetcher.in_flight.is_some() {
            return;
        }
        let correlation = self.correlation();
        self.metadata_fetcher.in_flight = Some((
            correlation,
            now + self.config.controller_quorum_request_timeout,
        ));
        self.outbox.send(
            NodeId::Controller,
            Message::FetchMetadata(FetchMetadataRequest {
                correlation,
                fetch_offset: self.image.next_offset,
            }),
        );
    }

    fn handle_metadata_response(&mut self, now: Instant, r: FetchMetadataResponse) {
        if self.metadata_fetcher.in_flight.map(|(c, _)| c) != Some(r.correlation) {
            return;
        }
        self.metadata_fetcher.in_flight = None;
        if r.base_offset != self.image.next_offset || r.records.is_empty() {
            return;
        }
        for record in &r.records {
            self.image.apply(record);
        }
        self.reconcile_partitions(now);
        self.sync_coordinator(now);
    }

    /// Applies the image to the hosted partitions (`ReplicaManager.applyDelta`): a partition
    /// whose partition epoch moved gets `makeLeader` or `makeFollower`.
    fn reconcile_partitions(&mut self, now: Instant) {
        let mine: Vec<(TopicPartition, PartitionRegistration)> = self
            .image
            .partitions()
            .filter(|(_, p)| p.replicas.contains(&self.id))
            .map(|(tp, p)| (tp, p.clone()))
            .collect();
        for (tp, reg) in mine {
            let config = self
                .image
                .topic_config(&tp.topic)
                .cloned()
                .unwrap_or_default();
            if let Some(local) = self.partitions.get_mut(&tp)
                && reg.partition_epoch <= local.partition_epoch
            {
                // Same registration: at most the topic config changed, which Kafka applies to
                // the log without touching the partition's state (no `makeLeader`). A new
                // min.insync.replicas may move the HW gate.
                if local.config != config {
                    local.config = config;
                    let local = self.partitions.get(&tp).expect("present");
                    if let Some(log) = self.disk.logs.get_mut(&tp) {
                        log.set_config(&local.config);
                        maybe_increment_hw(
                            local,
                            log,
                            &self.image,
                            now,
                            self.config.replica_lag_time_max,
                        );
                    }
                    self.touched.insert(tp);
                }
                continue;
            }
            self.disk
                .logs
                .entry(tp.clone())
                .or_insert_with(|| PartitionLog::with_config(&config))
                .set_config(&config);
            if reg.leader == Some(self.id) {
                self.make_leader(now, &tp, &reg, config);
            } else {
                self.make_follower(now, &tp, &reg, config);
            }
        }
    }

    /// `Partition.makeLeader`: the ISR and assignment always come from the registration (a
    /// pending ISR change is dropped); on a new leader epoch the epoch starts at the LEO and
    /// followers' states are reset, their positions unknown if this broker was not leading.
    fn make_leader(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        reg: &PartitionRegistration,
        config: crate::config::TopicConfig,
    ) {
        let Some(log) = self.disk.logs.get_mut(tp) else {
            return;
        };
        let previous = self.partitions.remove(tp);
        let was_leader = previous.as_ref().is_some_and(Partition::is_leader);
        let new_epoch = previous
            .as_ref()
            .is_none_or(|p| reg.leader_epoch > p.leader_epoch);
        let in_isr = |b: &BrokerId| reg.isr.contains(b);
        let role = match (previous.map(|p| p.role), new_epoch) {
            (Some(Role::Leader(mut l)), false) => {
                l.pending = None;
                Role::Leader(l)
            }
            (old, _) => {
                let epoch_start = log.log_end_offset();
                log.assign_epoch_start(reg.leader_epoch);
                let old_replicas = match old {
                    Some(Role::Leader(l)) => l.replicas,
                    _ => VecMap::new(),
                };
                let replicas = reg
                    .replicas
                    .iter()
                    .filter(|&&b| b != self.id)
                    .map(|&b| {
                        let since = in_isr(&b).then_some(now);
                        let state = match (was_leader, old_replicas.get(&b)) {
                            (true, Some(r)) => ReplicaState {
                                log_end_offset: r.log_end_offset,
                                last_fetch_leader_leo: Some(epoch_start),
                                last_fetch_time: since,
                                last_caught_up: since,
                                broker_epoch: r.broker_epoch,
                            },
                            _ => ReplicaState {
                                last_caught_up: since,
                                ..ReplicaState::default()
                            },
                        };
                        (b, state)
                    })
                    .collect();
                self.outbox.event(Event::BecameLeader {
                    topic_partition: tp.clone(),
                    leader_epoch: reg.leader_epoch,
                    log_end_offset: epoch_start,
                    high_watermark: log.high_watermark(),
                });
                Role::Leader(LeaderState {
                    epoch_start_offset: epoch_start,
                    replicas,
                    pending: None,
                })
            }
        };
        // The local recovery of an uncleanly elected leader is immediate (the leader always
        // proposes RECOVERED); the controller learns it from this leader's next AlterPartition
        // (docs/kafka-source-notes.md, question 5).
        let partition = Partition {
            replicas: reg.replicas.clone(),
            isr: reg.isr.clone(),
            leader_epoch: reg.leader_epoch,
            partition_epoch: reg.partition_epoch,
            role,
            config,
        };
        maybe_increment_hw(
            &partition,
            log,
            &self.image,
            now,
            self.config.replica_lag_time_max,
        );
        self.partitions.insert(tp.clone(), partition);
        self.remove_from_fetchers(tp);
        self.touched.insert(tp.clone());
    }

    /// `Partition.makeFollower`: no truncation here (divergence is found by fetching); the
    /// fetcher restarts from the log end only when the leader epoch moved.
    fn make_follower(
        &mut self,
        _now: Instant,
        tp: &TopicPartition,
        reg: &PartitionRegistration,
        config: crate::config::TopicConfig,
    ) {
        let previous = self.partitions.remove(tp);
        let new_epoch = previous
            .as_ref()
            .is_none_or(|p| p.is_leader() || reg.leader_epoch > p.leader_epoch);
        self.partitions.insert(
            tp.clone(),
            Partition {
                replicas: reg.replicas.clone(),
                isr: Vec::new(),
                leader_epoch: reg.leader_epoch,
                partition_epoch: reg.partition_epoch,
                role: Role::Follower { leader: reg.leader },
                config,
            },
        );
        self.touched.insert(tp.clone());
        if !new_epoch {
            return;
        }
        self.remove_from_fetchers(tp);
        if let Some(leader) = reg.leader.filter(|&l| l != self.id) {
            self.fetchers
                .entry(leader)
                .or_default()
                .partitions
                .insert(tp.clone(), FollowerFetch::new(reg.leader_epoch));
        }
        self.outbox.event(Event::BecameFollower {
            topic_partition: tp.clone(),
            leader: reg.leader,
            leader_epoch: reg.leader_epoch,
        });
    }

    fn remove_from_fetchers(&mut self, tp: &TopicPartition) {
        for f in self.fetchers.values_mut() {
            f.partitions.remove(tp);
        }
        self.fetchers
            .retain(|_, f| !f.partitions.is_empty() || f.in_flight.is_some());
    }

    // Follower side: the replica fetcher.

    fn drive_fetchers(&mut self, now: Instant) {
        let Some(epoch) = self.broker_epoch else {
            return;
        };
        let mut sends = Vec::new();
        for (&leader, fetcher) in &mut self.fetchers {
            if fetcher.in_flight.is_some() {
                continue;
            }
            let mut requested = VecMap::new();
            let mut partitions = Vec::new();
            for (tp, state) in &fetcher.partitions {
                if state.stopped() || state.delayed_until.is_some_and(|t| t > now) {
                    continue;
                }
                let Some(log) = self.disk.logs.get(tp) else {
                    continue;
                };
                requested.insert(tp.clone(), (log.log_end_offset(), state.leader_epoch));
                partitions.push(FetchPartition {
                    topic_partition: tp.clone(),
                    fetch_offset: log.log_end_offset(),
                    last_fetched_epoch: log.latest_epoch(),
                    current_leader_epoch: Some(state.leader_epoch),
                });
            }
            if partitions.is_empty() {
                continue;
            }
            self.next_correlation += 1;
            let correlation = self.next_correlation;
            fetcher.in_flight = Some(InFlightFetch {
                correlation,
                deadline: now + self.config.request_timeout,
                requested,
            });
            sends.push((
                leader,
                FetchRequest {
                    correlation,
                    replica: Some((self.id, epoch)),
                    max_wait: self.config.replica_fetch_wait_max,
                    max_bytes: self.config.replica_fetch_max_bytes,
                    isolation_level: IsolationLevel::ReadUncommitted,
                    partitions,
                },
            ));
        }
        for (leader, request) in sends {
            self.outbox
                .send(NodeId::Broker(leader), Message::Fetch(request));
        }
    }

    fn handle_fetch_response(&mut self, now: Instant, from: BrokerId, r: FetchResponse) {
        let Some(fetcher) = self.fetchers.get_mut(&from) else {
            return;
        };
        if fetcher.in_flight.as_ref().map(|f| f.correlation) != Some(r.correlation) {
            return;
        }
        let in_flight = fetcher.in_flight.take().expect("checked above");
        let backoff = self.config.replica_fetch_backoff;
        for pr in r.partitions {
            let tp = pr.topic_partition;
            let Some(state) = fetcher.partitions.get_mut(&tp) else {
                continue;
            };
            let Some(log) = self.disk.logs.get_mut(&tp) else {
                continue;
            };
            let Some(&(requested_offset, requested_epoch)) = in_flight.requested.get(&tp) else {
                continue;
            };
            if requested_offset != log.log_end_offset() || requested_epoch != state.leader_epoch {
                continue; // the partition moved on since; this answer is stale
            }
            if let Some(error) = pr.error {
                if error == ErrorCode::FencedLeaderEpoch {
                    state.failed = true; // wait for metadata with a newer epoch
                } else if error == ErrorCode::OffsetOutOfRange {
                    let changed = out_of_range_reset(
                        log,
                        pr.log_start_offset,
                        pr.log_end_offset,
                        from,
                        &tp,
                        &mut self.outbox,
                    );
                    // Kafka fetches again at once from where the reset left the log. When it
                    // changed nothing (the leader cannot say where this log's last epoch ends),
                    // the model backs off instead of asking again in the same millisecond.
                    if !changed {
                        state.delayed_until = Some(now + backoff);
                    }
                    self.touched.insert(tp);
                } else {
                    state.delayed_until = Some(now + backoff);
                }
                continue;
            }
            if let Some((epoch, end)) = pr.diverging_epoch {
                let from_leo = log.log_end_offset();
                let target = truncation_offset(log, epoch, end);
                log.truncate_to(target);
                self.outbox.event(Event::Truncated {
                    topic_partition: tp.clone(),
                    from: from_leo,
                    to: log.log_end_offset(),
                    diverging_epoch: epoch,
                    leader_end_offset: end,
                });
                self.touched.insert(tp);
                continue;
            }
            let mut appended = false;
            for batch in pr.batches {
                if batch.next_offset() <= log.log_end_offset() {
                    continue;
                }
                let base_offset = batch.base_offset;
                if log.append_as_follower(batch).is_err() {
                    // The leader's batch starts below this log's end: the two logs hold
                    // differently cut batches at the same offsets, which epochs cannot explain.
                    // Kafka's follower throws `UnexpectedAppendOffsetException` and the fetcher
                    // stops fetching the partition (`markPartitionFailed`) until new metadata
                    // restarts it with a new leader epoch.
                    state.append_failed = true;
                    self.outbox.event(Event::ReplicaFetchFailed {
                        topic_partition: tp.clone(),
                        leader: from,
                        leader_epoch: state.leader_epoch,
                        log_end_offset: log.log_end_offset(),
                        last_fetched_epoch: log.latest_epoch(),
                        batch_base_offset: base_offset,
                    });
                    break;
                }
                appended = true;
            }
            // The follower copies the leader's HW, clamped to its own log (it may go down), then
            // its log start offset (`ReplicaFetcherThread.processPartitionData`:
            // `maybeIncrementLogStartOffset(leaderLogStartOffset, LeaderOffsetIncremented)`).
            log.set_high_watermark(pr.high_watermark);
            log.maybe_increment_log_start_offset(pr.log_start_offset);
            if appended && log.unflushed_records() >= self.config.log_flush_interval_messages {
                log.flush();
            }
            self.touched.insert(tp);
        }
    }

    // Leader side: produce.

    fn handle_produce(&mut self, now: Instant, from: NodeId, req: ProduceRequest) {
        let acks = match req.acks {
            0 => Some(Acks::Zero),
            1 => Some(Acks::One),
            -1 => Some(Acks::All),
            _ => None,
        };
        let mut results = Vec::new();
        for batch in &req.batches {
            let tp = &batch.topic_partition;
            let outcome = match acks {
                None => Err(ErrorCode::InvalidRequiredAcks),
                Some(acks) => self.append_to_leader(now, tp, batch, acks),
            };
            results.push(match outcome {
                Ok((first, last)) => PendingProduce {
                    tp: tp.clone(),
                    error: None,
                    base_offset: Some(first),
                    required: (acks == Some(Acks::All)).then_some(last.next()),
                },
                Err(e) => PendingProduce {
                    tp: tp.clone(),
                    error: Some(e),
                    base_offset: None,
                    required: None,
                },
            });
        }
        if acks == Some(Acks::Zero) {
            // acks=0 gets no response. An error closes the connection instead, so that the
            // producer notices and refreshes its metadata (`KafkaApis.handleProduceRequest`).
            if results.iter().any(|r| r.error.is_some()) {
                self.outbox.reset(from, Channel::Client);
            }
            return;
        }
        self.park_produce(ParkedProduce {
            from,
            correlation: req.correlation,
            deadline: now + req.timeout,
            partitions: results,
            markers: None,
        });
    }

    /// Answers a produce or WriteTxnMarkers whose partitions need no more replication, and
    /// parks it otherwise.
    fn park_produce(&mut self, mut parked: ParkedProduce) {
        self.check_produce(&mut parked);
        if parked.partitions.iter().all(|p| p.required.is_none()) {
            self.answer_produce(parked);
        } else {
            self.parked_produces.push(parked);
        }
    }

    /// `KafkaApis.handleWriteTxnMarkersRequest`: each marker is appended to each of its
    /// partitions as leader with acks=all (origin COORDINATOR, after the min-ISR check), and
    /// the answer waits until the high watermarks pass them or `request.timeout.ms` ends.
    fn handle_write_txn_markers(
        &mut self,
        now: Instant,
        from: NodeId,
        req: WriteTxnMarkersRequest,
    ) {
        let mut partitions = Vec::new();
        let mut producers = Vec::new();
        for entry in &req.markers {
            for tp in &entry.partitions {
                let outcome = self.leader_for_append(tp, Acks::All).and_then(|_| {
                    let mut writer = leader_writer!(self, now);
                    writer.append_marker(tp, entry)
                });
                if outcome.is_ok() && tp.topic.as_str() == OFFSETS_TOPIC {
                    // The group coordinator completes the producer's pending offset commits
                    // with the marker (`GroupCoordinator.onTransactionCompleted`).
                    let commit = entry.marker.kind == crate::record::MarkerKind::Commit;
                    self.coordinator.on_marker(
                        tp.partition,
                        entry.producer_id,
                        commit,
                        &mut self.outbox,
                    );
                }
                partitions.push(match outcome {
                    Ok(offset) => PendingProduce {
                        tp: tp.clone(),
                        error: None,
                        base_offset: Some(offset),
                        required: Some(offset.next()),
                    },
                    Err(e) => PendingProduce {
                        tp: tp.clone(),
                        error: Some(e),
                        base_offset: None,
                        required: None,
                    },
                });
                producers.push(entry.producer_id);
            }
        }
        self.park_produce(ParkedProduce {
            from,
            correlation: req.correlation,
            deadline: now + self.config.request_timeout,
            partitions,
            markers: Some(producers),
        });
    }

    /// `Partition.appendRecordsToLeader`: leadership, the min-ISR check for acks=all (before
    /// anything is appended), idempotence, then the append and an HW check.
    fn append_to_leader(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        batch: &ProduceBatch,
        acks: Acks,
    ) -> Result<(Offset, Offset), ErrorCode> {
        self.leader_for_append(tp, acks)?;
        let mut writer = leader_writer!(self, now);
        writer.append(tp, batch.records.clone(), batch.producer)
    }

    /// Whether this broker may append to `tp` as its leader with `acks`: it hosts and leads
    /// it, and for acks=all its ISR is not below `min.insync.replicas`.
    fn leader_for_append(&self, tp: &TopicPartition, acks: Acks) -> Result<(), ErrorCode> {
        let Some(p) = self.partitions.get(tp) else {
            return Err(if self.image.partition(tp).is_some() {
                ErrorCode::NotLeaderOrFollower
            } else {
                ErrorCode::UnknownTopicOrPartition
            });
        };
        if !p.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if acks == Acks::All && p.is_under_min_isr() {
            return Err(ErrorCode::NotEnoughReplicas);
        }
        Ok(())
    }

    /// `checkEnoughReplicasReachOffset` for each pending partition of a parked produce.
    fn check_produce(&self, parked: &mut ParkedProduce) {
        for pp in &mut parked.partitions {
            let Some(required) = pp.required else {
                continue;
            };
            let Some(p) = self.partitions.get(&pp.tp).filter(|p| p.is_leader()) else {
                pp.error = Some(ErrorCode::NotLeaderOrFollower);
                pp.required = None;
                continue;
            };
            let hw = self
                .disk
                .logs
                .get(&pp.tp)
                .map_or(Offset(0), PartitionLog::high_watermark);
            if hw >= required {
                pp.required = None;
                if p.effective_min_isr() > p.maximal_isr().len() {
                    pp.error = Some(ErrorCode::NotEnoughReplicasAfterAppend);
                }
            }
        }
    }

    fn answer_produce(&mut self, parked: ParkedProduce) {
        if let Some(producers) = parked.markers {
            let mut markers: Vec<TxnMarkerResult> = Vec::new();
            for (pp, producer) in parked.partitions.into_iter().zip(producers) {
                let error = pp.error.or(pp.required.map(|_| ErrorCode::RequestTimedOut));
                match markers.last_mut() {
                    Some(m) if m.producer_id == producer => m.partitions.push((pp.tp, error)),
                    _ => markers.push(TxnMarkerResult {
                        producer_id: producer,
                        partitions: vec![(pp.tp, error)],
                    }),
                }
            }
            self.outbox.send(
                parked.from,
                Message::WriteTxnMarkersResponse(WriteTxnMarkersResponse {
                    correlation: parked.correlation,
                    markers,
                }),
            );
            return;
        }
        let partitions = parked
            .partitions
            .into_iter()
            .map(|pp| ProducePartitionResponse {
                topic_partition: pp.tp,
                error: pp.error.or(pp.required.map(|_| ErrorCode::RequestTimedOut)),
                base_offset: if pp.error.is_none() {
                    pp.base_offset
                } else {
                    None
                },
            })
            .collect();
        self.outbox.send(
            parked.from,
            Message::ProduceResponse(ProduceResponse {
                correlation: parked.correlation,
                partitions,
            }),
        );
    }

    // Leader side: fetch.

    fn handle_fetch(&mut self, now: Instant, from: NodeId, req: FetchRequest) {
        let mut responses = Vec::with_capacity(req.partitions.len());
        for fp in &req.partitions {
            responses.push(self.read_partition(
                now,
                req.replica,
                fp,
                (req.max_bytes, req.isolation_level),
                true,
            ));
        }
        let ready = responses
            .iter()
            .any(|r| r.error.is_some() || r.diverging_epoch.is_some() || !r.batches.is_empty());
        if ready || req.max_wait == Duration::ZERO {
            self.outbox.send(
                from,
                Message::FetchResponse(FetchResponse {
                    correlation: req.correlation,
                    partitions: responses,
                }),
            );
        } else {
            let deadline = now + req.max_wait;
            self.parked_fetches.push(ParkedFetch {
                from,
                request: req,
                deadline,
            });
        }
    }

    /// Reads one partition for a fetch: the leader-epoch checks, the follower's divergence
    /// check and state update (when `update` is set), then whole batches below the LEO for a
    /// follower, the HW for a `read_uncommitted` consumer or the LSO for a `read_committed`
    /// one, which also gets the aborted transactions its batches overlap
    /// (`FetchIsolation.TXN_COMMITTED`).
    fn read_partition(
        &mut self,
        now: Instant,
        replica: Option<(BrokerId, BrokerEpoch)>,
        fp: &FetchPartition,
        (max_bytes, isolation): (u64, IsolationLevel),
        update: bool,
    ) -> FetchPartitionResponse {
        let tp = &fp.topic_partition;
        let mut response = FetchPartitionResponse {
            topic_partition: tp.clone(),
            error: None,
            high_watermark: Offset(0),
            log_start_offset: Offset(0),
            log_end_offset: Offset(0),
            last_stable_offset: None,
            aborted_transactions: Vec::new(),
            diverging_epoch: None,
            batches: Vec::new(),
        };
        let fail = |mut r: FetchPartitionResponse, e: ErrorCode| {
            r.error = Some(e);
            r
        };
        let Some(p) = self.partitions.get_mut(tp) else {
            let e = if self.image.partition(tp).is_some() {
                ErrorCode::NotLeaderOrFollower
            } else {
                ErrorCode::UnknownTopicOrPartition
            };
            return fail(response, e);
        };
        if let Some(e) = fp.current_leader_epoch {
            if p.leader_epoch > e {
                return fail(response, ErrorCode::FencedLeaderEpoch);
            }
            if p.leader_epoch < e {
                return fail(response, ErrorCode::UnknownLeaderEpoch);
            }
        }
        let Role::Leader(leader) = &mut p.role else {
            return fail(response, ErrorCode::NotLeaderOrFollower);
        };
        let log = self
            .disk
            .logs
            .get_mut(tp)
            .expect("a hosted partition has a log");
        response.high_watermark = log.high_watermark();
        response.log_start_offset = log.log_start_offset();
        response.log_end_offset = log.log_end_offset();
        if let Some((follower, broker_epoch)) = replica {
            let Some(state) = leader.replicas.get(&follower) else {
                return fail(
                    response,
                    if fp.current_leader_epoch.is_some() {
                        ErrorCode::UnknownLeaderEpoch
                    } else {
                        ErrorCode::NotLeaderOrFollower
                    },
                );
            };
            if state.broker_epoch.is_some_and(|e| broker_epoch < e) {
                return fail(response, ErrorCode::NotLeaderOrFollower);
            }
            if let Some(last) = fp.last_fetched_epoch {
                // `Partition.readRecords`: an undefined epoch, then a fetch offset below the log
                // start ("regardless of whether epochs are diverging"), are out of range; only
                // then does the leader look for a divergence.
                let Some((epoch, end)) = log.end_offset_for_epoch(last) else {
                    return fail(response, ErrorCode::OffsetOutOfRange);
                };
                if fp.fetch_offset < log.log_start_offset() {
                    return fail(response, ErrorCode::OffsetOutOfRange);
                }
                if epoch < last || end < fp.fetch_offset {
                    response.diverging_epoch = Some((epoch, end));
                    return response;
                }
            }
        }
        if fp.fetch_offset > log.log_end_offset() || fp.fetch_offset < log.log_start_offset() {
            return fail(response, ErrorCode::OffsetOutOfRange);
        }
        if let (Some((follower, broker_epoch)), true) = (replica, update) {
            let leader_leo = log.log_end_offset();
            let state = leader.replicas.get_mut(&follower).expect("checked above");
            update_follower_fetch_state(state, fp.fetch_offset, leader_leo, broker_epoch, now);
            let p = self.partitions.get(tp).expect("checked above");
            if may_join_isr(p, log, &self.image, follower)
                && p.leader_state().is_some_and(|l| l.pending.is_none())
            {
                let mut isr = p.isr.clone();
                isr.push(follower);
                self.propose_isr(now, tp, isr, IsrChangeKind::Expand);
            }
            let p = self.partitions.get(tp).expect("checked above");
            let log = self.disk.logs.get_mut(tp).expect("checked above");
            if maybe_increment_hw(p, log, &self.image, now, self.config.replica_lag_time_max)
                .is_some()
            {
                self.touched.insert(tp.clone());
            }
        }
        let log = self.disk.logs.get(tp).expect("checked above");
        let upper = match (replica, isolation) {
            (Some(_), _) => log.log_end_offset(),
            (None, IsolationLevel::ReadUncommitted) => log.high_watermark(),
            (None, IsolationLevel::ReadCommitted) => log.last_stable_offset(),
        };
        response.high_watermark = log.high_watermark();
        response.batches = log.read(fp.fetch_offset, upper, max_bytes);
        let read_committed = replica.is_none() && isolation == IsolationLevel::ReadCommitted;
        if read_committed {
            response.last_stable_offset = Some(log.last_stable_offset());
        }
        if read_committed && let Some(last) = response.batches.last() {
            response.aborted_transactions = log
                .aborted_transactions(fp.fetch_offset, last.next_offset())
                .into_iter()
                .map(|a| AbortedTransaction {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                })
                .collect();
        }
        response
    }

    /// Answers parked fetches and produces whose partitions moved, and those whose wait is over.
    fn complete_parked(&mut self, now: Instant) {
        self.complete_coordinator_writes(now);
        let touched = std::mem::take(&mut self.touched);
        if !self.parked_produces.is_empty() {
            let parked = std::mem::take(&mut self.parked_produces);
            for mut p in parked {
                if p.deadline <= now || p.partitions.iter().any(|pp| touched.contains(&pp.tp)) {
                    self.check_produce(&mut p);
                }
                if p.deadline <= now || p.partitions.iter().all(|pp| pp.required.is_none()) {
                    self.answer_produce(p);
                } else {
                    self.parked_produces.push(p);
                }
            }
        }
        if !self.parked_fetches.is_empty() {
            let parked = std::mem::take(&mut self.parked_fetches);
            for p in parked {
                let relevant = p
                    .request
                    .partitions
                    .iter()
                    .any(|fp| touched.contains(&fp.topic_partition));
                if !relevant && p.deadline > now {
                    self.parked_fetches.push(p);
                    continue;
                }
                let responses: Vec<FetchPartitionResponse> = p
                    .request
                    .partitions
                    .iter()
                    .map(|fp| {
                        self.read_partition(
                            now,
                            p.request.replica,
                            fp,
                            (p.request.max_bytes, p.request.isolation_level),
                            false,
                        )
                    })
                    .collect();
                let ready = responses.iter().any(|r| {
                    r.error.is_some() || r.diverging_epoch.is_some() || !r.batches.is_empty()
                });
                if ready || p.deadline <= now {
                    self.outbox.send(
                        p.from,
                        Message::FetchResponse(FetchResponse {
                            correlation: p.request.correlation,
                            partitions: responses,
                        }),
                    );
                } else {
                    self.parked_fetches.push(p);
                }
            }
        }
    }

    // Leader side: ISR changes.

    /// Proposes an ISR change (`submitAlterPartition`); one at a time per partition.
    fn propose_isr(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        new_isr: Vec<BrokerId>,
        kind: IsrChangeKind,
    ) {
        let Some(epoch) = self.broker_epoch else {
            return;
        };
        let Some(p) = self.partitions.get_mut(tp) else {
            return;
        };
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        if leader.pending.is_some() {
            return;
        }
        self.next_correlation += 1;
        let proposal = self.next_correlation;
        let with_epochs = new_isr
            .iter()
            .map(|&b| {
                (
                    b,
                    if b == self.id {
                        Some(epoch)
                    } else {
                        leader.replicas.get(&b).and_then(|r| r.broker_epoch)
                    },
                )
            })
            .collect();
        let maximal = match kind {
            IsrChangeKind::Expand => new_isr.clone(),
            IsrChangeKind::Shrink | IsrChangeKind::Recovered => p.isr.clone(),
        };
        leader.pending = Some(PendingIsr {
            request: AlterPartitionRequest {
                proposal,
                broker_id: self.id,
                broker_epoch: epoch,
                topic_partition: tp.clone(),
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: with_epochs,
                leader_recovery_state: LeaderRecoveryState::Recovered,
            },
            kind,
            maximal,
            send_at: Some(now),
            deadline: None,
        });
        self.outbox.event(Event::IsrChangeProposed {
            topic_partition: tp.clone(),
            kind,
            isr: new_isr,
        });
    }

    fn drive_alter_partition(&mut self, now: Instant) {
        let mut sends = Vec::new();
        for p in self.partitions.values_mut() {
            if let Role::Leader(LeaderState {
                pending: Some(pending),
                ..
            }) = &mut p.role
                && pending.send_at.is_some_and(|t| t <= now)
            {
                pending.send_at = None;
                pending.deadline = Some(now + self.config.controller_socket_timeout);
                sends.push(pending.request.clone());
            }
        }
        for request in sends {
            self.outbox
                .send(NodeId::Controller, Message::AlterPartition(request));
        }
    }

    /// `handleAlterPartitionUpdate` and `handleAlterPartitionError`.
    fn handle_alter_partition_response(&mut self, now: Instant, r: AlterPartitionResponse) {
        let tp = r.topic_partition.clone();
        let Some(p) = self.partitions.get_mut(&tp) else {
            return;
        };
        let leader_epoch = p.leader_epoch;
        let partition_epoch = p.partition_epoch;
        let Role::Leader(leader) = &mut p.role else {
            return;
        };
        let Some(pending) = &mut leader.pending else {
            return;
        };
        // An answer counts only for the proposal it answers (`submitAlterPartition` ignores it
        // once the partition state moved on), and only once.
        if pending.request.proposal != r.proposal || pending.deadline.is_none() {
            return;
        }
        match r.error {
            None => {
                let Some(state) = r.state else { return };
                if state.leader_epoch != leader_epoch || state.partition_epoch < partition_epoch {
                    return;
                }
                leader.pending = None;
                p.isr = state.isr;
                p.partition_epoch = state.partition_epoch;
                let p = self.partitions.get(&tp).expect("present");
                let log = self
                    .disk
                    .logs
                    .get_mut(&tp)
                    .expect("a hosted partition has a log");
                maybe_increment_hw(p, log, &self.image, now, self.config.replica_lag_time_max);
                self.touched.insert(tp);
            }
            Some(error) => {
                self.outbox.event(Event::IsrChangeRefused {
                    topic_partition: tp.clone(),
                    error,
                });
                match error {
                    // The proposal is dropped; the leader may propose again.
                    ErrorCode::IneligibleReplica => leader.pending = None,
                    // Stuck until new metadata replaces the partition state.
                    ErrorCode::UnknownTopicOrPartition
                    | ErrorCode::FencedLeaderEpoch
                    | ErrorCode::InvalidUpdateVersion
                    | ErrorCode::InvalidRequest => pending.deadline = None,
                    // Anything else (NOT_CONTROLLER, STALE_BROKER_EPOCH): send the same again.
                    _ => {
                        pending.deadline = None;
                        pending.send_at = Some(now + CONTROLLER_ERROR_RETRY);
                    }
                }
            }
        }
    }

    /// The `isr-expiration` task, every `replica.lag.time.max.ms / 2`.
    fn shrink_isrs(&mut self, now: Instant) {
        let lag = self.config.replica_lag_time_max;
        let mut proposals = Vec::new();
        for (tp, p) in &self.partitions {
            let Some(leader) = p.leader_state() else {
                continue;
            };
            if leader.pending.is_some() {
                continue;
            }
            let leo = self
                .disk
                .logs
                .get(tp)
                .map_or(Offset(0), PartitionLog::log_end_offset);
            let out = out_of_sync_replicas(p, leo, now, lag);
            if !out.is_empty() {
                let isr: Vec<BrokerId> =
                    p.isr.iter().copied().filter(|b| !out.contains(b)).collect();
                proposals.push((tp.clone(), isr));
            }
        }
        for (tp, isr) in proposals {
            self.propose_isr(now, &tp, isr, IsrChangeKind::Shrink);
        }
    }

    // Producer ids.

    fn handle_init_producer_id(&mut self, now: Instant, from: NodeId, r: InitProducerIdRequest) {
        let mut reply = InitProducerIdResponse {
            correlation: r.correlation,
            error: None,
            producer_id: ProducerId(0),
            producer_epoch: ProducerEpoch(0),
        };
        match take_producer_id(&mut self.producer_ids) {
            Some(id) => reply.producer_id = id,
            None => reply.error = Some(ErrorCode::CoordinatorLoadInProgress),
        }
        if reply.error.is_some() || self.producer_ids_low() {
            self.request_producer_ids(now);
        }
        self.outbox
            .send(from, Message::InitProducerIdResponse(reply));
    }

    /// Whether the current block is 90% used, when the next one is prefetched.
    fn producer_ids_low(&self) -> bool {
        self.producer_ids.current.is_none_or(|(next, end)| {
            let first = end - crate::controller::PRODUCER_ID_BLOCK_SIZE;
            next >= first + crate::controller::PRODUCER_ID_BLOCK_SIZE * 9 / 10
        })
    }

    fn request_producer_ids(&mut self, now: Instant) {
        if self.producer_ids.request_deadline.is_some() || self.producer_ids.next.is_some() {
            return;
        }
        let Some(epoch) = self.broker_epoch else {
            return;
        };
        self.producer_ids.request_deadline = Some(now + self.config.controller_socket_timeout);
        self.outbox.send(
            NodeId::Controller,
            Message::AllocateProducerIds(AllocateProducerIdsRequest {
                broker_id: self.id,
                broker_epoch: epoch,
            }),
        );
    }

    fn handle_producer_ids(&mut self, now: Instant, r: AllocateProducerIdsResponse) {
        if self.producer_ids.request_deadline.take().is_none() {
            return;
        }
        if r.error.is_some() {
            self.producer_ids.retry_at = Some(now + CONTROLLER_ERROR_RETRY);
            return;
        }
        let block = (r.first.0, r.first.0 + r.len);
        if self
            .producer_ids
            .current
            .is_none_or(|(next, end)| next >= end)
        {
            self.producer_ids.current = Some(block);
        } else {
            self.producer_ids.next = Some(block);
        }
    }

    // Client metadata and offsets.

    fn handle_metadata_request(&mut self, from: NodeId, r: MetadataRequest) {
        let brokers: Vec<BrokerId> = self
            .image
            .brokers
            .iter()
            .filter(|(_, b)| !b.fenced)
            .map(|(&id, _)| id)
            .collect();
        let topics = r
            .topics
            .iter()
            .map(|name| match self.image.topics.get(name) {
                None => TopicMetadata {
                    name: name.clone(),
                    error: Some(ErrorCode::UnknownTopicOrPartition),
                    partitions: Vec::new(),
                },
                Some(t) => TopicMetadata {
                    name: name.clone(),
                    error: None,
                    partitions: t
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| PartitionMetadata {
                            partition: i as u32,
                            // KRaftMetadataCache reports only a live leader.
                            leader: p.leader.filter(|&l| self.image.is_active(l)),
                            leader_epoch: p.leader_epoch,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                        })
                        .collect(),
                },
            })
            .collect();
        self.outbox.send(
            from,
            Message::MetadataResponse(MetadataResponse {
                correlation: r.correlation,
                brokers,
                topics,
            }),
        );
    }

    fn handle_list_offsets(&mut self, from: NodeId, r: ListOffsetsRequest) {
        let partitions = r
            .partitions
            .iter()
            .map(|(tp, spec, epoch)| {
                let Some(p) = self.partitions.get(tp) else {
                    return (tp.clone(), Some(ErrorCode::NotLeaderOrFollower), Offset(0));
                };
                if let Some(e) = epoch {
                    if p.leader_epoch > *e {
                        return (tp.clone(), Some(ErrorCode::FencedLeaderEpoch), Offset(0));
                    }
                    if p.leader_epoch < *e {
                        return (tp.clone(), Some(ErrorCode::UnknownLeaderEpoch), Offset(0));
                    }
                }
                if !p.is_leader() {
                    return (tp.clone(), Some(ErrorCode::NotLeaderOrFollower), Offset(0));
                }
                let log = &self.disk.logs[tp];
                let offset = match (spec, r.isolation_level) {
                    (OffsetSpec::Earliest, _) => log.log_start_offset(),
                    (OffsetSpec::Latest, IsolationLevel::ReadUncommitted) => log.high_watermark(),
                    (OffsetSpec::Latest, IsolationLevel::ReadCommitted) => log.last_stable_offset(),
                };
                (tp.clone(), None, offset)
            })
            .collect();
        self.outbox.send(
            from,
            Message::ListOffsetsResponse(ListOffsetsResponse {
                correlation: r.correlation,
                partitions,
            }),
        );
    }

    /// `FindCoordinator`: the leader of the group's offsets partition, from this broker's
    /// metadata (`KafkaApis.handleFindCoordinatorRequest`).
    fn handle_find_coordinator(&mut self, from: NodeId, r: FindCoordinatorRequest) {
        let tp = match r.key_type {
            CoordinatorType::Group => {
                coordinator_topic_partition(&r.group_id, self.config.offsets_topic_num_partitions)
            }
            CoordinatorType::Transaction => crate::txn::coordinator_topic_partition(
                &r.group_id,
                self.config.transaction_state_log_num_partitions,
            ),
        };
        let leader = self.image.partition(&tp).and_then(|p| p.leader);
        // Kafka's metadata cache answers with the leader as its image has it; a fenced leader
        // loses leadership in the next metadata record anyway.
        let coordinator = leader;
        let error = if r.group_id.is_empty() {
            Some(ErrorCode::InvalidGroupId)
        } else if coordinator.is_none() {
            Some(ErrorCode::CoordinatorNotAvailable)
        } else {
            None
        };
        self.outbox.send(
            from,
            Message::FindCoordinatorResponse(FindCoordinatorResponse {
                correlation: r.correlation,
                error,
                coordinator: if error.is_none() { coordinator } else { None },
            }),
        );
    }

    /// `OffsetsForLeaderEpoch` from a consumer (KIP-320): the leader's end offset for the
    /// largest epoch at or below the asked one.
    fn handle_offsets_for_leader_epoch(&mut self, from: NodeId, r: OffsetsForLeaderEpochRequest) {
        let partitions = r
            .partitions
            .iter()
            .map(|(tp, current, epoch)| {
                let Some(p) = self.partitions.get(tp) else {
                    return (tp.clone(), Some(ErrorCode::NotLeaderOrFollower), None);
                };
                if let Some(c) = current {
                    if p.leader_epoch > *c {
                        return (tp.clone(), Some(ErrorCode::FencedLeaderEpoch), None);
                    }
                    if p.leader_epoch < *c {
                        return (tp.clone(), Some(ErrorCode::UnknownLeaderEpoch), None);
                    }
                }
                if !p.is_leader() {
                    return (tp.clone(), Some(ErrorCode::NotLeaderOrFollower), None);
                }
                (
                    tp.clone(),
                    None,
                    self.disk.logs[tp].end_offset_for_epoch(*epoch),
                )
            })
            .collect();
        self.outbox.send(
            from,
            Message::OffsetsForLeaderEpochResponse(OffsetsForLeaderEpochResponse {
                correlation: r.correlation,
                partitions,
            }),
        );
    }

    /// Loads the offsets partitions this broker now leads into the coordinator and unloads
    /// those it no longer leads (`GroupCoordinator.onElection` / `onResignation`).
    fn sync_coordinator(&mut self, now: Instant) {
        let hosted = self
            .partitions
            .iter()
            .filter(|(tp, _)| tp.topic.as_str() == OFFSETS_TOPIC)
            .map(|(tp, p)| (tp.partition, p.is_leader()));
        let loaded = self.coordinator.shards().keys().map(|&p| (p, false));
        let mut leads: VecMap<u32, bool> = VecMap::new();
        for (partition, leader) in loaded.chain(hosted) {
            *leads.entry(partition).or_default() |= leader;
        }
        for (partition, leads) in leads {
            let loaded = self.coordinator.is_loaded(partition);
            if leads && !loaded {
                let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
                let batches = batches_of(&self.disk.logs, &tp);
                self.coordinator
                    .load(now, partition, batches, &mut self.outbox);
            } else if !leads && loaded {
                self.coordinator.unload(partition, &mut self.outbox);
            }
        }
        self.sync_txn_coordinator(now);
    }

    /// Loads the `__transaction_state` partitions this broker now leads into the transaction
    /// coordinator, in their leader epoch, and unloads those it no longer leads
    /// (`TransactionCoordinator.onElection` / `onResignation`). A partition led again in a
    /// new epoch is loaded again, as Kafka's `onElection` does for a higher coordinator epoch.
    fn sync_txn_coordinator(&mut self, now: Instant) {
        let hosted: Vec<(u32, Option<u32>)> = self
            .partitions
            .iter()
            .filter(|(tp, _)| tp.topic.as_str() == TRANSACTION_STATE_TOPIC)
            .map(|(tp, p)| (tp.partition, p.is_leader().then_some(p.leader_epoch.0)))
            .collect();
        let loaded: Vec<(u32, u32)> = self
            .txn_coordinator
            .shards()
            .iter()
            .map(|(&p, s)| (p, s.coordinator_epoch))
            .collect();
        for (partition, epoch) in loaded {
            let now_leads = hosted
                .iter()
                .find(|(p, _)| *p == partition)
                .and_then(|(_, e)| *e);
            if now_leads != Some(epoch) {
                self.txn_coordinator.unload(partition, &mut self.outbox);
            }
        }
        for (partition, epoch) in hosted {
            let Some(epoch) = epoch else { continue };
            if self.txn_coordinator.is_loaded(partition) {
                continue;
            }
            let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, partition);
            let records = batches_of(&self.disk.logs, &tp).flat_map(|b| b.records.iter());
            self.txn_coordinator
                .load(partition, epoch, records, &mut self.outbox);
            // `loadTransactionsForTxnTopicPartition` hands the prepared transactions to the
            // marker channel at once.
            self.with_txn_coordinator(now, |c, log, out| c.send_markers(now, log, out));
        }
    }

    /// Runs `f` on the transaction coordinator with this broker's leader logs as its writer.
    fn with_txn_coordinator(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut TxnCoordinator, &mut dyn TxnLog, &mut Outbox),
    ) {
        let mut writer = leader_writer!(self, now);
        f(&mut self.txn_coordinator, &mut writer, &mut self.outbox);
    }

    /// InitProducerId: a transactional producer's goes to the transaction coordinator, which
    /// takes a new producer id from this broker's block only for an id it has never seen.
    fn handle_txn_init_producer_id(
        &mut self,
        now: Instant,
        from: NodeId,
        r: InitProducerIdRequest,
    ) {
        let mut ran_out = false;
        let blocks = &mut self.producer_ids;
        let mut new_id = || {
            take_producer_id(blocks).ok_or_else(|| {
                ran_out = true;
                ErrorCode::CoordinatorLoadInProgress
            })
        };
        let mut writer = leader_writer!(self, now);
        self.txn_coordinator.init_producer_id(
            now,
            from,
            &r,
            &mut new_id,
            &mut writer,
            &mut self.outbox,
        );
        if ran_out || self.producer_ids_low() {
            self.request_producer_ids(now);
        }
    }

    /// Runs `f` on the group coordinator with this broker's leader logs as its writer.
    fn with_coordinator(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut GroupCoordinator, &mut dyn OffsetsLog, &mut Outbox),
    ) {
        let mut writer = leader_writer!(self, now);
        f(&mut self.coordinator, &mut writer, &mut self.outbox);
    }

    /// Coordinator writes that the offsets partitions' high watermarks now cover.
    fn complete_coordinator_writes(&mut self, now: Instant) {
        let touched: Vec<(u32, Offset)> = self
            .touched
            .iter()
            .filter(|tp| tp.topic.as_str() == OFFSETS_TOPIC)
            .filter_map(|tp| Some((tp.partition, self.disk.logs.get(tp)?.high_watermark())))
            .collect();
        for (partition, hw) in touched {
            self.coordinator
                .on_high_watermark(now, partition, hw, &mut self.outbox);
        }
        let touched: Vec<(u32, Offset)> = self
            .touched
            .iter()
            .filter(|tp| tp.topic.as_str() == TRANSACTION_STATE_TOPIC)
            .filter_map(|tp| Some((tp.partition, self.disk.logs.get(tp)?.high_watermark())))
            .collect();
        for (partition, hw) in touched {
            self.with_txn_coordinator(now, |c, log, out| {
                c.on_high_watermark(now, partition, hw, log, out)
            });
        }
    }

    /// A broken connection fails the request in flight on it at once.
    /// A broken connection fails the request in flight on it at once; the other connections
    /// with the same node are not affected.
    fn handle_disconnected(&mut self, now: Instant, peer: NodeId, channel: Channel) {
        match (peer, channel) {
            (NodeId::Controller, Channel::Heartbeat)
                if self.channel.in_flight_deadline.is_some() =>
            {
                self.lifecycle_failed(now);
            }
            (NodeId::Controller, Channel::Raft) => self.metadata_fetcher.in_flight = None,
            (NodeId::Controller, Channel::AlterPartition) => {
                for p in self.partitions.values_mut() {
                    if let Role::Leader(LeaderState {
                        pending: Some(pending),
                        ..
                    }) = &mut p.role
                        && pending.deadline.is_some()
                    {
                        pending.deadline = None;
                        pending.send_at = Some(now + CONTROLLER_ERROR_RETRY);
                    }
                }
            }
            (NodeId::Controller, Channel::Forwarding)
                if self.producer_ids.request_deadline.is_some() =>
            {
                self.producer_ids.request_deadline = None;
                self.producer_ids.retry_at = Some(now + CONTROLLER_ERROR_RETRY);
            }
            (NodeId::Broker(leader), Channel::Replication) => {
                // Marker requests share the connection between two brokers with fetches.
                self.txn_coordinator.on_disconnected(now, leader);
                let backoff = self.config.replica_fetch_backoff;
                if let Some(fetcher) = self.fetchers.get_mut(&leader)
                    && fetcher.in_flight.take().is_some()
                {
                    for state in fetcher.partitions.values_mut() {
                        state.delayed_until = Some(now + backoff);
                    }
                }
            }
            _ => {}
        }
    }

    // Timers.

    fn handle_timers(&mut self, now: Instant) {
        // A request that timed out closes its connection (and what else was on it).
        if self.channel.in_flight_deadline.is_some_and(|t| t <= now) {
            self.outbox.reset(NodeId::Controller, Channel::Heartbeat);
            self.lifecycle_failed(now);
        }
        if self
            .metadata_fetcher
            .in_flight
            .is_some_and(|(_, t)| t <= now)
        {
            self.outbox.reset(NodeId::Controller, Channel::Raft);
            self.metadata_fetcher.in_flight = None;
        }
        let backoff = self.config.replica_fetch_backoff;
        for (&leader, fetcher) in self.fetchers.iter_mut() {
            if fetcher
                .in_flight
                .as_ref()
                .is_some_and(|f| f.deadline <= now)
            {
                self.outbox
                    .reset(NodeId::Broker(leader), Channel::Replication);
                // A whole-request failure delays every partition of the fetcher.
                fetcher.in_flight = None;
                for state in fetcher.partitions.values_mut() {
                    state.delayed_until = Some(now + backoff);
                }
            }
        }
        for p in self.partitions.values_mut() {
            if let Role::Leader(LeaderState {
                pending: Some(pending),
                ..
            }) = &mut p.role
                && pending.deadline.is_some_and(|t| t <= now)
            {
                // AlterPartition is retried, on a new connection, until it gets an answer.
                self.outbox
                    .reset(NodeId::Controller, Channel::AlterPartition);
                pending.deadline = None;
                pending.send_at = Some(now);
            }
        }
        if self.producer_ids.request_deadline.is_some_and(|t| t <= now) {
            self.outbox.reset(NodeId::Controller, Channel::Forwarding);
            self.producer_ids.request_deadline = None;
        }
        if self.producer_ids.retry_at.is_some_and(|t| t <= now) {
            self.producer_ids.retry_at = None;
            self.request_producer_ids(now);
        }
        if self.next_isr_check.is_some_and(|t| t <= now) {
            self.next_isr_check = Some(now + Duration(self.config.replica_lag_time_max.0 / 2));
            self.shrink_isrs(now);
        }
        if self.next_hw_checkpoint.is_some_and(|t| t <= now) {
            self.next_hw_checkpoint =
                Some(now + self.config.replica_high_watermark_checkpoint_interval);
            for log in self.disk.logs.values_mut() {
                log.checkpoint_high_watermark();
            }
        }
        if self.coordinator.next_deadline().is_some_and(|t| t <= now) {
            self.with_coordinator(now, |c, log, out| c.on_timers(now, log, out));
        }
        if self
            .txn_coordinator
            .next_deadline()
            .is_some_and(|t| t <= now)
        {
            self.with_txn_coordinator(now, |c, log, out| c.on_timers(now, log, out));
        }
        if self.retention_due.is_some_and(|t| t <= now) {
            self.retention_due = None;
            self.delete_old_segments(now);
        }
        if self.cleaner_due.is_some_and(|t| t <= now) {
            self.cleaner_due = None;
            self.run_cleaner(now);
        }
        if let (Some(t), Some(interval)) = (self.next_flush, self.config.log_flush_interval)
            && t <= now
        {
            self.next_flush = Some(now + interval);
            self.disk.flush_all();
        }
    }

    /// The next run of the retention task after `after` that would delete something, if the
    /// logs stayed as they are. Kafka runs the task at its start time and every
    /// `log.retention.check.interval.ms` after (`LogManager.startup`, `scheduleAtFixedRate`);
    /// the model keeps that schedule but wakes only for a run that would delete a segment
    /// ([`PartitionLog::next_deletion_at`]). A run that deletes nothing changes nothing, so
    /// skipping it is exact, and a run with Kafka's defaults (7 days of retention) adds no
    /// event to a run of minutes. The logs change only at inputs, and every input asks again.
    fn next_retention_check(&self, after: Instant) -> Option<Instant> {
        let start = self.retention_task_start?;
        let due = self
            .disk
            .logs
            .values()
            .filter(|log| !log.config().cleanup_policy.compact)
            .filter_map(PartitionLog::next_deletion_at)
            .min()?;
        let from = due.max(after + Duration(1)).max(start);
        let interval = self.config.log_retention_check_interval.0.max(1);
        let runs = (from - start).0.div_ceil(interval);
        Some(start + Duration(runs.saturating_mul(interval)))
    }

    /// The next run of the log cleaner thread after `after` that would clean a log or delete a
    /// segment of a compacted log, if the logs stayed as they are. The thread wakes at its start
    /// and, finding nothing to do, sleeps `log.cleaner.backoff.ms`; a cleaning takes no virtual
    /// time here, so its wake-ups stay on that grid, and the model wakes only for one that has
    /// work ([`PartitionLog::next_cleanable_at`], [`PartitionLog::next_deletion_at`]).
    fn next_cleaner_run(&self, after: Instant) -> Option<Instant> {
        let start = self.cleaner_start?;
        let first = (after + Duration(1)).max(start);
        let interval = self.config.log_cleaner_backoff.0.max(1);
        self.disk
            .logs
            .values()
            .filter(|log| log.config().cleanup_policy.compact)
            .filter_map(|log| {
                let run = |t: Instant| {
                    let runs = (t.max(start) - start).0.div_ceil(interval);
                    start + Duration(runs.saturating_mul(interval))
                };
                // The first grid point at or after the first moment with work. Cleanability
                // only grows with time, so looking from that grid point is enough.
                let clean = log.next_cleanable_at(run(first)).map(run);
                let delete = log.next_deletion_at().map(|t| run(t.max(first)));
                clean.into_iter().chain(delete).min()
            })
            .min()
    }

    /// One wake-up of the log cleaner thread (`CleanerThread.doWork`): it cleans the dirtiest
    /// cleanable compacted log, again and again until none is left, and after each look (the
    /// last, which found nothing, too) deletes what retention may delete from compacted logs (`LogCleanerManager.deletableLogs`: under
    /// `compact,delete` by time and size, under `compact` only below the log start offset).
    fn run_cleaner(&mut self, now: Instant) {
        loop {
            let filthiest = self
                .disk
                .logs
                .iter()
                .filter_map(|(tp, log)| {
                    let ltc = log.to_clean(now)?;
                    ltc.is_cleanable(log.config().min_cleanable_dirty_ratio)
                        .then_some((tp, ltc))
                })
                .fold(
                    None,
                    |best: Option<(&TopicPartition, LogToClean)>, (tp, ltc)| match best {
                        Some((_, b)) if !ltc.dirtier_than(&b) => best,
                        _ => Some((tp, ltc)),
                    },
                );
            let chosen = filthiest.map(|(tp, ltc)| (tp.clone(), ltc));
            if let Some((tp, ltc)) = &chosen {
                let log = self.disk.logs.get_mut(tp).expect("a log the cleaner chose");
                let cleaning = log.clean(now, ltc);
                self.outbox.event(Event::LogCleaned {
                    topic_partition: tp.clone(),
                    dirty_percent: ltc.dirty_percent(),
                    cleaning,
                });
                self.touched.insert(tp.clone());
            }
            // `cleanFilthiestLog` runs the compacted logs' retention after every look.
            self.delete_old_segments_where(now, true);
            if chosen.is_none() {
                break;
            }
        }
    }

    /// The retention task (`LogManager.cleanupLogs`): `deleteOldSegments` on every log whose
    /// topic is not compacted, leader and follower replicas alike, each against its own HW.
    /// Compacted logs are the log cleaner's. Fetches waiting on a partition whose log start
    /// moved are looked at again: one below it is now out of range.
    fn delete_old_segments(&mut self, now: Instant) {
        self.delete_old_segments_where(now, false);
    }

    /// `deleteOldSegments` on every log whose topic is compacted or not, as `compacted` says.
    fn delete_old_segments_where(&mut self, now: Instant, compacted: bool) {
        for (tp, log) in &mut self.disk.logs {
            if log.config().cleanup_policy.compact != compacted {
                continue;
            }
            let deletions = log.delete_old_segments(now);
            if deletions.is_empty() {
                continue;
            }
            for d in deletions {
                self.outbox.event(Event::SegmentsDeleted {
                    topic_partition: tp.clone(),
                    reason: d.reason,
                    segments: d.segments,
                    bytes: d.bytes,
                    from: d.from,
                    to: d.to,
                    rolled: d.rolled,
                    log_start_offset: log.log_start_offset(),
                });
            }
            self.touched.insert(tp.clone());
        }
    }

    /// Sends whatever is due after an input: controller requests, fetches, ISR proposals, and
    /// answers to parked requests.
    fn drive(&mut self, now: Instant) {
        self.drive_lifecycle(now);
        self.drive_metadata_fetch(now);
        self.drive_alter_partition(now);
        self.complete_parked(now);
        self.drive_fetchers(now);
    }
}

/// The records of a partition's log, oldest first, as a coordinator replays them on load.
fn batches_of<'a>(
    logs: &'a VecMap<TopicPartition, PartitionLog>,
    tp: &TopicPartition,
) -> impl Iterator<Item = &'a crate::record::RecordBatch> {
    logs.get(tp)
        .into_iter()
        .flat_map(|log| log.batches().iter())
}

/// The next producer id of this broker's blocks (`RPCProducerIdManager.generateProducerId`),
/// moving to the prefetched block when the current one is used up.
fn take_producer_id(blocks: &mut ProducerIdBlocks) -> Option<ProducerId> {
    match blocks.current {
        Some((next, end)) if next < end => {
            blocks.current = Some((next + 1, end));
            Some(ProducerId(next))
        }
        _ => {
            let block = blocks.next.take()?;
            blocks.current = Some((block.0 + 1, block.1));
            Some(ProducerId(block.0))
        }
    }
}

/// Appends to logs this broker leads: the produce path and the group coordinator's writes.
struct LeaderWriter<'a> {
    now: Instant,
    config: &'a BrokerConfig,
    image: &'a MetadataImage,
    partitions: &'a VecMap<TopicPartition, Partition>,
    logs: &'a mut VecMap<TopicPartition, PartitionLog>,
    touched: &'a mut VecSet<TopicPartition>,
}

impl LeaderWriter<'_> {
    /// Appends as the leader (the caller checked acks and min ISR), flushes per
    /// `log.flush.interval.messages`, and lets the HW move (a single-replica ISR commits at once).
    fn append(
        &mut self,
        tp: &TopicPartition,
        records: std::sync::Arc<[crate::record::Record]>,
        producer: Option<crate::record::ProducerFields>,
    ) -> Result<(Offset, Offset), ErrorCode> {
        self.with_leader_log(tp, |log, epoch| {
            match log.append_as_leader(records, producer, epoch)? {
                LeaderAppend::Appended { first, last } => Ok((first, last, true)),
                LeaderAppend::Duplicate { first, last } => Ok((first, last, false)),
            }
        })
    }

    /// Appends a transaction marker as the leader (origin COORDINATOR); returns its offset.
    fn append_marker(
        &mut self,
        tp: &TopicPartition,
        entry: &TxnMarkerEntry,
    ) -> Result<Offset, ErrorCode> {
        // `KafkaApis.handleWriteTxnMarkersRequest` builds the control batch with the leader's
        // clock (`MemoryRecords.withEndTransactionMarker(time.milliseconds(), ...)`).
        let marker = ControlMarker {
            timestamp: self.now,
            ..entry.marker
        };
        self.with_leader_log(tp, |log, epoch| {
            let offset = log.append_marker_as_leader(
                entry.producer_id,
                entry.producer_epoch,
                marker,
                epoch,
                entry.transaction_v2,
            )?;
            Ok((offset, offset, true))
        })
        .map(|(offset, _)| offset)
    }

    /// Runs an append on the leader log of `tp` (`append` says whether it appended), then
    /// flushes per `log.flush.interval.messages` and lets the HW move.
    fn with_leader_log(
        &mut self,
        tp: &TopicPartition,
        append: impl FnOnce(&mut PartitionLog, LeaderEpoch) -> Result<(Offset, Offset, bool), ErrorCode>,
    ) -> Result<(Offset, Offset), ErrorCode> {
        let p = self
            .partitions
            .get(tp)
            .filter(|p| p.is_leader())
            .ok_or(ErrorCode::NotLeaderOrFollower)?;
        let log = self
            .logs
            .get_mut(tp)
            .ok_or(ErrorCode::NotLeaderOrFollower)?;
        let (first, last, appended) = append(log, p.leader_epoch)?;
        if appended && log.unflushed_records() >= self.config.log_flush_interval_messages {
            log.flush();
        }
        maybe_increment_hw(
            p,
            log,
            self.image,
            self.now,
            self.config.replica_lag_time_max,
        );
        self.touched.insert(tp.clone());
        Ok((first, last))
    }
}

impl OffsetsLog for LeaderWriter<'_> {
    /// `CoordinatorPartitionWriter.append`: acks=1, so no min-ISR check; the coordinator waits
    /// for the high watermark itself.
    fn append(
        &mut self,
        partition: u32,
        records: Vec<crate::record::Record>,
    ) -> Result<Offset, ErrorCode> {
        if records.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
        LeaderWriter::append(self, &tp, records.into(), None).map(|(_, last)| last.next())
    }

    fn append_transactional(
        &mut self,
        partition: u32,
        records: Vec<crate::record::Record>,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
    ) -> Result<Offset, ErrorCode> {
        if records.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let tp = TopicPartition::new(OFFSETS_TOPIC, partition);
        self.with_leader_log(&tp, |log, epoch| {
            let (first, last) =
                log.append_as_coordinator(records.into(), producer_id, producer_epoch, epoch)?;
            Ok((first, last, true))
        })
        .map(|(_, last)| last.next())
    }
}

impl TxnLog for LeaderWriter<'_> {
    /// `TransactionStateManager.appendTransactionToLog`: acks=all, so the min-ISR check comes
    /// first; the coordinator waits for the high watermark itself.
    fn append(
        &mut self,
        partition: u32,
        record: crate::record::Record,
    ) -> Result<Offset, ErrorCode> {
        let tp = TopicPartition::new(TRANSACTION_STATE_TOPIC, partition);
        if self
            .partitions
            .get(&tp)
            .is_some_and(Partition::is_under_min_isr)
        {
            return Err(ErrorCode::NotEnoughReplicas);
        }
        LeaderWriter::append(self, &tp, std::sync::Arc::from(vec![record]), None)
            .map(|(_, last)| last.next())
    }

    fn leader(&self, tp: &TopicPartition) -> Option<BrokerId> {
        self.image.partition(tp).and_then(|p| p.leader)
    }
}

/// The requests a broker serves to others: every request but those only the controller serves.
fn is_inbound_api(message: &Message) -> bool {
    message.is_request() && !message.is_controller_request()
}

/// `AbstractFetcherThread.fetchOffsetAndTruncate`, after OFFSET_OUT_OF_RANGE: a log that ends
/// beyond the leader's log end is truncated to it (an unclean election left the follower
/// ahead); a log that ends below the leader's log start offset (the follower was away while
/// retention deleted what it lacks) is deleted and starts again empty at the leader's log start.
/// Otherwise the follower fetches again from its own log end. Returns whether the log changed.
fn out_of_range_reset(
    log: &mut PartitionLog,
    leader_log_start: Offset,
    leader_log_end: Offset,
    leader: BrokerId,
    tp: &TopicPartition,
    outbox: &mut Outbox,
) -> bool {
    let leo = log.log_end_offset();
    if leader_log_end < leo {
        log.truncate_to(leader_log_end);
    } else if leader_log_start > leo {
        log.truncate_fully_and_start_at(leader_log_start);
    } else {
        return false;
    }
    outbox.event(Event::ReplicaOutOfRange {
        topic_partition: tp.clone(),
        leader,
        log_end_offset: leo,
        leader_log_start_offset: leader_log_start,
        leader_log_end_offset: leader_log_end,
        log_start_offset_after: log.log_start_offset(),
        log_end_offset_after: log.log_end_offset(),
    });
    true
}

/// Where a follower truncates when the leader reports a diverging epoch (KAFKA.md 3.5 step 3,
/// `AbstractFetcherThread.getOffsetTruncationState`): to `min(leader end, own end of that
/// epoch, LEO)` when the follower knows the epoch; to the end of its largest epoch below it when
/// it does not (KIP-279), after which the next fetch asks again.
fn truncation_offset(log: &PartitionLog, epoch: LeaderEpoch, leader_end: Offset) -> Offset {
    let leo = log.log_end_offset();
    match log.end_offset_for_epoch(epoch) {
        None => leader_end.min(leo),
        Some((own_epoch, own_end)) if own_epoch != epoch => own_end.min(leo),
        Some((_, own_end)) => own_end.min(leader_end).min(leo),
    }
}

impl Node for Broker {
    fn handle(&mut self, now: Instant, input: Input) {
        // Whether the retention task runs at this input is decided by the state before it, the
        // state `poll_timeout` reported the task's next run from.
        self.retention_due = self.next_retention_check(self.now);
        self.cleaner_due = self.next_cleaner_run(self.now);
        self.now = now;
        match input {
            Input::Start => self.start(now),
            _ if !self.started => return,
            Input::Timeout => {}
            Input::Writeback => self.disk.flush_all(),
            Input::Command(_) => {}
            Input::Disconnected { peer, channel } => self.handle_disconnected(now, peer, channel),
            // `BrokerServer.startup` opens the listeners only once the controller has unfenced
            // the broker: before that, clients and other brokers cannot connect at all.
            Input::Message { from, message }
                if self.lifecycle != Lifecycle::Running && is_inbound_api(&message) =>
            {
                self.outbox
                    .reset(from, channel_of(from, NodeId::Broker(self.id), &message));
            }
            Input::Message { from, message } => match message {
                Message::BrokerRegistrationResponse(r) => self.handle_registration_response(now, r),
                Message::BrokerHeartbeatResponse(r) => self.handle_heartbeat_response(now, r),
                Message::FetchMetadataResponse(r) => self.handle_metadata_response(now, r),
                Message::AlterPartitionResponse(r) => self.handle_alter_partition_response(now, r),
                Message::AllocateProducerIdsResponse(r) => self.handle_producer_ids(now, r),
                Message::Produce(r) => self.handle_produce(now, from, r),
                Message::Fetch(r) => self.handle_fetch(now, from, r),
                Message::FetchResponse(r) => {
                    if let NodeId::Broker(leader) = from {
                        self.handle_fetch_response(now, leader, r);
                    }
                }
                Message::Metadata(r) => self.handle_metadata_request(from, r),
                Message::InitProducerId(r) if r.transactional_id.is_some() => {
                    self.handle_txn_init_producer_id(now, from, r)
                }
                Message::InitProducerId(r) => self.handle_init_producer_id(now, from, r),
                Message::AddPartitionsToTxn(r) => self.with_txn_coordinator(now, |c, log, out| {
                    c.add_partitions(now, from, &r, log, out)
                }),
                Message::AddOffsetsToTxn(r) => {
                    let partition = self.coordinator.partition_for(&r.group_id);
                    self.with_txn_coordinator(now, |c, log, out| {
                        c.add_offsets(now, from, &r, partition, log, out)
                    })
                }
                Message::EndTxn(r) => {
                    self.with_txn_coordinator(now, |c, log, out| c.end_txn(now, from, &r, log, out))
                }
                Message::WriteTxnMarkersResponse(r) => self
                    .with_txn_coordinator(now, |c, log, out| {
                        c.on_markers_response(now, &r, log, out)
                    }),
                Message::ListOffsets(r) => self.handle_list_offsets(from, r),
                Message::OffsetsForLeaderEpoch(r) => self.handle_offsets_for_leader_epoch(from, r),
                Message::FindCoordinator(r) => self.handle_find_coordinator(from, r),
                Message::WriteTxnMarkers(r) => self.handle_write_txn_markers(now, from, r),
                m @ (Message::JoinGroup(_)
                | Message::SyncGroup(_)
                | Message::Heartbeat(_)
                | Message::LeaveGroup(_)
                | Message::OffsetCommit(_)
                | Message::TxnOffsetCommit(_)
                | Message::OffsetFetch(_)) => {
                    self.with_coordinator(now, |c, log, out| c.handle(now, from, m, log, out));
                }
                Message::ApiVersions(r) => self.outbox.send(
                    from,
                    Message::ApiVersionsResponse(ApiVersionsResponse {
                        correlation: r.correlation,
                        transaction_version: self.config.transaction_version,
                    }),
                ),
                _ => {} // not a broker API
            },
        }
        self.handle_timers(now);
        self.drive(now);
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
        at(self.channel.next_at);
        at(self.channel.in_flight_deadline);
        at(self.metadata_fetcher.in_flight.map(|(_, d)| d));
        for f in self.fetchers.values() {
            match &f.in_flight {
                Some(i) => at(Some(i.deadline)),
                None => at(f
                    .partitions
                    .values()
                    .filter(|s| !s.stopped())
                    .filter_map(|s| s.delayed_until)
                    .min()),
            }
        }
        at(self.parked_fetches.iter().map(|p| p.deadline).min());
        at(self.parked_produces.iter().map(|p| p.deadline).min());
        for p in self.partitions.values() {
            if let Some(pending) = p.leader_state().and_then(|l| l.pending.as_ref()) {
                at(pending.send_at);
                at(pending.deadline);
            }
        }
        at(self.producer_ids.request_deadline);
        at(self.producer_ids.retry_at);
        at(self.next_isr_check);
        at(self.next_hw_checkpoint);
        at(self.next_flush);
        at(self.next_retention_check(self.now));
        at(self.next_cleaner_run(self.now));
        at(self.coordinator.next_deadline());
        at(self.txn_coordinator.next_deadline());
        d.earliest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::record::{Record, RecordBatch};
    use std::sync::Arc;

    /// A log with one single-record batch per `(epoch, count)` run, as a follower would hold it.
    fn log_with(runs: &[(u32, u64)]) -> PartitionLog {
        let mut log = PartitionLog::new();
        for &(epoch, count) in runs {
            for _ in 0..count {
                let records: Arc<[Record]> = Arc::from(vec![Record {
                    key: None,
                    value: Some(Bytes::from("v")),
                    timestamp: Instant(0),
                }]);
                log.append_as_follower(RecordBatch::new(
                    log.log_end_offset(),
                    LeaderEpoch(epoch),
                    None,
                    records,
                ))
                .unwrap();
            }
        }
        log
    }

    /// The leader's side of divergence detection (`Partition.fetchRecords`): the epoch it reports
    /// for a follower's last fetched epoch, when the follower diverges.
    fn diverging(
        leader: &PartitionLog,
        last_fetched: u32,
        fetch_offset: u64,
    ) -> Option<(LeaderEpoch, Offset)> {
        let (epoch, end) = leader.end_offset_for_epoch(LeaderEpoch(last_fetched))?;
        (epoch < LeaderEpoch(last_fetched) || end < Offset(fetch_offset)).then_some((epoch, end))
    }

    #[test]
    fn kip101_scenario_2_truncates_the_follower_to_where_the_new_epoch_began() {
        // KAFKA.md 3.6: B leads epoch 1 from offset 1; A still has m2 at offset 1 from epoch 0.
        let leader = log_with(&[(0, 1), (1, 1)]);
        let mut follower = log_with(&[(0, 2)]);
        let (e, end) = diverging(&leader, 0, 2).expect("A diverges");
        assert_eq!((e, end), (LeaderEpoch(0), Offset(1)));
        assert_eq!(truncation_offset(&follower, e, end), Offset(1));
        follower.truncate_to(Offset(1));
        assert_eq!(
            diverging(&leader, 0, 1),
            None,
            "after truncating, A fetches normally"
        );
    }

    #[test]
    fn kip279_a_follower_that_does_not_know_the_epoch_truncates_in_steps() {
        // The follower led epoch 3 briefly (offsets 4..6); the leader went through epochs 1 and 4.
        let leader = log_with(&[(0, 2), (1, 4), (4, 2)]);
        let mut follower = log_with(&[(0, 4), (3, 2)]);
        // First exchange: the leader answers with epoch 1, which the follower never saw; the
        // follower cuts to the end of its largest epoch below 1 (epoch 0 ends at 4 for it).
        let (e, end) = diverging(&leader, 3, 6).expect("diverges");
        assert_eq!((e, end), (LeaderEpoch(1), Offset(6)));
        let to = truncation_offset(&follower, e, end);
        assert_eq!(to, Offset(4));
        follower.truncate_to(to);
        assert_eq!(follower.latest_epoch(), Some(LeaderEpoch(0)));
        // Second exchange: epoch 0 ends at 2 on the leader.
        let (e, end) = diverging(&leader, 0, 4).expect("still diverges");
        assert_eq!((e, end), (LeaderEpoch(0), Offset(2)));
        let to = truncation_offset(&follower, e, end);
        assert_eq!(to, Offset(2));
        follower.truncate_to(to);
        assert_eq!(
            diverging(&leader, 0, 2),
            None,
            "now a prefix of the leader's log"
        );
    }

    #[test]
    fn a_follower_that_is_a_prefix_of_the_leader_never_truncates() {
        let leader = log_with(&[(0, 3), (2, 3)]);
        assert_eq!(diverging(&leader, 0, 3), None);
        assert_eq!(diverging(&leader, 2, 5), None);
        assert_eq!(diverging(&leader, 0, 2), None);
    }
}
