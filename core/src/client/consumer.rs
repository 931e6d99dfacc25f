//! A consumer in assign mode (`KafkaConsumer.assign`): it fetches its partitions from their
//! leaders, only below the high watermark, from a position it resets with `auto.offset.reset`.
//!
//! Every fetch response with records counts as one `poll` returning them, in offset order per
//! partition. Consumer groups, offset commits and the KIP-320 position validation after a
//! leader change come with the consumer-group work; until then a consumer keeps its position
//! across leader changes and relies on `OFFSET_OUT_OF_RANGE` to notice a shorter log.

use crate::client::connections::Connections;
use crate::client::metadata::ClientMetadata;
use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::ErrorCode;
use crate::ids::{BrokerId, ClientId, NodeId, Offset, TopicName, TopicPartition};
use crate::node::{ClientCommand, Deadlines, Event, Input, Node, Outbox, Output};
use crate::protocol::*;
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet};

/// `max.partition.fetch.bytes` (1 MiB).
const MAX_PARTITION_FETCH_BYTES: u64 = 1_048_576;

/// Where the consumer is in one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionPosition {
    /// The next offset to return; `None` until reset.
    pub position: Option<Offset>,
    /// The leader's high watermark from the last fetch.
    pub high_watermark: Option<Offset>,
    /// Not fetched before this time (after an error).
    pub backoff_until: Option<Instant>,
    /// `auto.offset.reset=none` found no valid position: the partition is not consumed.
    pub stuck: bool,
}

#[derive(Clone, Debug)]
enum Pending {
    Metadata {
        broker: BrokerId,
        deadline: Instant,
    },
    Fetch {
        broker: BrokerId,
        deadline: Instant,
        requested: Vec<(TopicPartition, Offset)>,
    },
    ListOffsets {
        broker: BrokerId,
        deadline: Instant,
        partitions: Vec<TopicPartition>,
    },
}

impl Pending {
    fn broker(&self) -> BrokerId {
        match self {
            Pending::Metadata { broker, .. }
            | Pending::Fetch { broker, .. }
            | Pending::ListOffsets { broker, .. } => *broker,
        }
    }

    fn deadline(&self) -> Instant {
        match self {
            Pending::Metadata { deadline, .. }
            | Pending::Fetch { deadline, .. }
            | Pending::ListOffsets { deadline, .. } => *deadline,
        }
    }
}

/// A consumer node in assign mode.
#[derive(Debug)]
pub struct Consumer {
    id: ClientId,
    name: String,
    config: ConsumerConfig,
    topics: Vec<TopicName>,
    positions: BTreeMap<TopicPartition, PartitionPosition>,
    rng: Rng,
    started: bool,
    consuming: bool,
    now: Instant,
    metadata: ClientMetadata,
    pending: BTreeMap<CorrelationId, Pending>,
    connections: Connections,
    polled: u64,
    next_correlation: CorrelationId,
    outbox: Outbox,
}

impl Consumer {
    /// A consumer of `assignment`, bootstrapping from `bootstrap`.
    pub fn new(
        id: ClientId,
        name: impl Into<String>,
        config: ConsumerConfig,
        assignment: Vec<TopicPartition>,
        bootstrap: Vec<BrokerId>,
        seed: u64,
    ) -> Consumer {
        let topics: BTreeSet<TopicName> = assignment.iter().map(|tp| tp.topic.clone()).collect();
        Consumer {
            id,
            name: name.into(),
            config,
            topics: topics.into_iter().collect(),
            positions: assignment
                .into_iter()
                .map(|tp| (tp, PartitionPosition::default()))
                .collect(),
            rng: Rng::new(seed),
            started: false,
            consuming: false,
            now: Instant::ZERO,
            metadata: ClientMetadata::new(bootstrap),
            pending: BTreeMap::new(),
            connections: Connections::default(),
            polled: 0,
            next_correlation: 0,
            outbox: Outbox::default(),
        }
    }

    /// The client id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position and last seen high watermark of each assigned partition.
    pub fn positions(&self) -> &BTreeMap<TopicPartition, PartitionPosition> {
        &self.positions
    }

    /// How many records polls have returned.
    pub fn records_polled(&self) -> u64 {
        self.polled
    }

    fn correlation(&mut self) -> CorrelationId {
        self.next_correlation += 1;
        self.next_correlation
    }

    fn busy(&self, broker: BrokerId) -> bool {
        self.pending
            .values()
            .any(|p| p.broker() == broker && matches!(p, Pending::Fetch { .. }))
    }

    fn drive(&mut self, now: Instant) {
        self.maybe_request_metadata(now);
        if !self.consuming {
            return;
        }
        self.reset_positions(now);
        self.send_fetches(now);
    }

    fn maybe_request_metadata(&mut self, now: Instant) {
        if self
            .pending
            .values()
            .any(|p| matches!(p, Pending::Metadata { .. }))
        {
            return;
        }
        if self.metadata.next_update(self.config.metadata_max_age) > now {
            return;
        }
        // `leastLoadedNode`: ready brokers first, then ones being connected to, then others.
        let connections = &self.connections;
        let pending = &self.pending;
        let load = |b: BrokerId| {
            let penalty = if connections.is_ready(b) {
                0
            } else if connections.is_connecting(b) {
                1000
            } else {
                2000
            };
            pending.values().filter(|p| p.broker() == b).count() + penalty
        };
        let Some(broker) =
            self.metadata
                .least_loaded(load, |b| connections.is_backing_off(b, now), &mut self.rng)
        else {
            return;
        };
        if !self.ensure_connected(broker, now) {
            return;
        }
        let correlation = self.correlation();
        self.pending.insert(
            correlation,
            Pending::Metadata {
                broker,
                deadline: now + self.config.request_timeout,
            },
        );
        self.outbox.send(
            NodeId::Broker(broker),
            Message::Metadata(MetadataRequest {
                correlation,
                topics: self.topics.clone(),
            }),
        );
    }

    /// Partitions with no position ask their leader for the offset `auto.offset.reset` names.
    fn reset_positions(&mut self, now: Instant) {
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => return,
        };
        let resetting: BTreeSet<TopicPartition> = self
            .pending
            .values()
            .flat_map(|p| match p {
                Pending::ListOffsets { partitions, .. } => partitions.clone(),
                _ => Vec::new(),
            })
            .collect();
        let mut by_leader: BTreeMap<BrokerId, Vec<TopicPartition>> = BTreeMap::new();
        for (tp, pos) in &self.positions {
            if pos.position.is_some()
                || pos.stuck
                || resetting.contains(tp)
                || pos.backoff_until.is_some_and(|t| t > now)
            {
                continue;
            }
            if let Some((leader, _)) = self.metadata.leader(tp) {
                by_leader.entry(leader).or_default().push(tp.clone());
            }
        }
        for (broker, partitions) in by_leader {
            if !self.ensure_connected(broker, now) {
                continue;
            }
            let correlation = self.correlation();
            let request = partitions
                .iter()
                .map(|tp| (tp.clone(), spec, self.metadata.leader_epoch(tp)))
                .collect();
            self.pending.insert(
                correlation,
                Pending::ListOffsets {
                    broker,
                    deadline: now + self.config.request_timeout,
                    partitions,
                },
            );
            self.outbox.send(
                NodeId::Broker(broker),
                Message::ListOffsets(ListOffsetsRequest {
                    correlation,
                    partitions: request,
                }),
            );
        }
    }

    /// One fetch at a time per broker, for every partition it leads that has a position.
    fn send_fetches(&mut self, now: Instant) {
        let mut by_leader: BTreeMap<BrokerId, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, pos) in &self.positions {
            let Some(position) = pos.position else {
                continue;
            };
            if pos.backoff_until.is_some_and(|t| t > now) {
                continue;
            }
            let Some((leader, epoch)) = self.metadata.leader(tp) else {
                continue;
            };
            if self.busy(leader) {
                continue;
            }
            by_leader.entry(leader).or_default().push(FetchPartition {
                topic_partition: tp.clone(),
                fetch_offset: position,
                last_fetched_epoch: None,
                current_leader_epoch: Some(epoch),
            });
        }
        for (broker, partitions) in by_leader {
            if !self.ensure_connected(broker, now) {
                continue; // only ready brokers get requests; the fetch waits for the connection
            }
            let correlation = self.correlation();
            let requested = partitions
                .iter()
                .map(|p| (p.topic_partition.clone(), p.fetch_offset))
                .collect();
            // The broker may hold the fetch for fetch.max.wait.ms, so the client waits longer.
            let deadline = now + self.config.request_timeout + self.config.fetch_max_wait;
            self.pending.insert(
                correlation,
                Pending::Fetch {
                    broker,
                    deadline,
                    requested,
                },
            );
            self.outbox.send(
                NodeId::Broker(broker),
                Message::Fetch(FetchRequest {
                    correlation,
                    replica: None,
                    max_wait: self.config.fetch_max_wait,
                    max_bytes: MAX_PARTITION_FETCH_BYTES,
                    partitions,
                }),
            );
        }
    }

    fn partition_error(&mut self, now: Instant, tp: &TopicPartition, error: ErrorCode) {
        self.outbox.event(Event::ConsumerError {
            topic_partition: tp.clone(),
            error,
        });
        let backoff = self.config.retry_backoff;
        let Some(pos) = self.positions.get_mut(tp) else {
            return;
        };
        match error {
            ErrorCode::OffsetOutOfRange => {
                // The position is outside the log: reset it (`auto.offset.reset`), or stop.
                pos.position = None;
                pos.stuck = self.config.auto_offset_reset == OffsetReset::None;
            }
            _ => {
                pos.backoff_until = Some(now + backoff);
                self.metadata.update_requested = true;
            }
        }
    }

    fn handle_fetch_response(
        &mut self,
        now: Instant,
        r: FetchResponse,
        requested: Vec<(TopicPartition, Offset)>,
    ) {
        for pr in r.partitions {
            let tp = pr.topic_partition.clone();
            let Some(&(_, fetched_at)) = requested.iter().find(|(t, _)| *t == tp) else {
                continue;
            };
            if self.positions.get(&tp).and_then(|p| p.position) != Some(fetched_at) {
                continue; // the position moved since the fetch went out
            }
            if let Some(error) = pr.error {
                self.partition_error(now, &tp, error);
                continue;
            }
            let max_records = self.config.max_poll_records as usize;
            let mut records = Vec::new();
            let mut next = fetched_at;
            'batches: for batch in &pr.batches {
                for (i, record) in batch.records.iter().enumerate() {
                    let offset = batch.base_offset.plus(i as u64);
                    if offset < next {
                        continue;
                    }
                    if records.len() >= max_records {
                        break 'batches;
                    }
                    records.push((offset, record.value.clone()));
                    next = offset.next();
                }
            }
            let pos = self.positions.get_mut(&tp).expect("assigned");
            pos.high_watermark = Some(pr.high_watermark);
            if !records.is_empty() {
                pos.position = Some(next);
                self.polled += records.len() as u64;
                self.outbox.event(Event::RecordsPolled {
                    topic_partition: tp,
                    records,
                });
            }
        }
    }

    fn handle_list_offsets(&mut self, now: Instant, r: ListOffsetsResponse) {
        for (tp, error, offset) in r.partitions {
            match error {
                Some(e) => self.partition_error(now, &tp, e),
                None => {
                    if let Some(pos) = self.positions.get_mut(&tp) {
                        pos.position = Some(offset);
                        self.outbox.event(Event::OffsetReset {
                            topic_partition: tp,
                            offset,
                        });
                    }
                }
            }
        }
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

    fn fail_connection(&mut self, now: Instant, broker: BrokerId) {
        self.connections.disconnected(broker, now, &mut self.rng);
        let failed: Vec<CorrelationId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.broker() == broker)
            .map(|(&c, _)| c)
            .collect();
        for c in failed {
            if let Some(Pending::Metadata { .. }) = self.pending.remove(&c) {
                self.metadata.failed(
                    now,
                    (self.config.retry_backoff, Duration(1000)),
                    &mut self.rng,
                );
            }
        }
        self.metadata.update_requested = true;
    }
}

impl Node for Consumer {
    fn handle(&mut self, now: Instant, input: Input) {
        self.now = now;
        match input {
            Input::Start => {
                self.started = true;
                self.consuming = true;
            }
            _ if !self.started => return,
            Input::Timeout | Input::Writeback => {}
            Input::Command(ClientCommand::StartWorkload) => self.consuming = true,
            Input::Command(ClientCommand::StopWorkload) => self.consuming = false,
            Input::Disconnected { peer, .. } => {
                if let NodeId::Broker(b) = peer {
                    self.fail_connection(now, b);
                }
            }
            Input::Message { message, .. } => match message {
                Message::ApiVersionsResponse(r) => {
                    self.connections.connected(r.correlation);
                }
                Message::MetadataResponse(r) => {
                    if let Some(Pending::Metadata { .. }) = self.pending.get(&r.correlation) {
                        self.pending.remove(&r.correlation);
                        self.metadata.update(
                            now,
                            &r,
                            (self.config.retry_backoff, Duration(1000)),
                            &mut self.rng,
                        );
                    }
                }
                Message::FetchResponse(r) => {
                    if let Some(Pending::Fetch { .. }) = self.pending.get(&r.correlation)
                        && let Some(Pending::Fetch { requested, .. }) =
                            self.pending.remove(&r.correlation)
                    {
                        self.handle_fetch_response(now, r, requested);
                    }
                }
                Message::ListOffsetsResponse(r) => {
                    if let Some(Pending::ListOffsets { .. }) = self.pending.get(&r.correlation) {
                        self.pending.remove(&r.correlation);
                        self.handle_list_offsets(now, r);
                    }
                }
                _ => {}
            },
        }
        let timed_out: BTreeSet<BrokerId> = self
            .pending
            .values()
            .filter(|p| p.deadline() <= now)
            .map(Pending::broker)
            .collect();
        for broker in timed_out {
            // request.timeout.ms passed: close the connection and fail what was on it.
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
        for broker in self.connections.expired(now) {
            self.outbox.reset(NodeId::Broker(broker), Channel::Client);
            self.fail_connection(now, broker);
        }
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
        d.all(self.pending.values().map(Pending::deadline));
        d.all(self.positions.values().filter_map(|p| p.backoff_until));
        d.all(self.connections.deadlines());
        if !self
            .pending
            .values()
            .any(|p| matches!(p, Pending::Metadata { .. }))
        {
            d.at(Some(
                self.metadata.next_update(self.config.metadata_max_age),
            ));
        }
        d.earliest()
    }
}
