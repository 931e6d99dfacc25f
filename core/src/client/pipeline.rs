//! A consume-transform-produce application (KAFKA.md 4.2): one process with a consumer in a
//! group and a transactional producer, the loop Kafka's exactly-once stream processing runs.
//!
//! The consumer polls and processes; for every processed poll the application begins a
//! transaction, sends one output record per input record (the value
//! `{name}-{i}:{topic}/{partition}@{offset}:{input value}`, so the checker can tell which input
//! each output came from), adds the offsets after the processed records with
//! `sendOffsetsToTransaction` and commits. While the transaction runs the application
//! does not poll. When the transaction aborts (the workload aborts every few, or an error made
//! it abortable) or the producer is fenced, the application rewinds the consumer to the
//! committed offsets and consumes those records again; a `read_committed` consumer's
//! OffsetFetch waits (UNSTABLE_OFFSET_COMMIT) until the aborted commit's marker is written.
//!
//! Deliberate simplification (docs/deviations.md): the two clients share one connection per
//! broker, where Kafka's open one each. A connection either half closes fails both halves'
//! requests on it, as if each had its own connection and both broke.

use crate::client::consumer::Consumer;
use crate::client::producer::Producer;
use crate::node::{ClientCommand, Event, Input, Node, Outbox, Output};
use crate::protocol::{Channel, CorrelationId, Message};
use crate::time::Instant;

/// The producer's correlation ids start here, so that an answer finds its client.
pub const PRODUCER_CORRELATIONS: CorrelationId = 1 << 48;

/// A consume-transform-produce node.
#[derive(Debug)]
pub struct Pipeline {
    consumer: Consumer,
    producer: Producer,
    outbox: Outbox,
}

impl Pipeline {
    /// A pipeline from its consumer (commit mode `transactional`) and its transactional
    /// producer (writing the output topic).
    pub fn new(consumer: Consumer, mut producer: Producer) -> Pipeline {
        producer.set_correlation_base(PRODUCER_CORRELATIONS);
        Pipeline {
            consumer,
            producer,
            outbox: Outbox::default(),
        }
    }

    /// The consumer half.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// The producer half.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Whether an answer belongs to the producer.
    fn for_producer(message: &Message) -> bool {
        match message {
            Message::ProduceResponse(_)
            | Message::InitProducerIdResponse(_)
            | Message::AddPartitionsToTxnResponse(_)
            | Message::AddOffsetsToTxnResponse(_)
            | Message::TxnOffsetCommitResponse(_)
            | Message::EndTxnResponse(_) => true,
            Message::ApiVersionsResponse(r) => r.correlation >= PRODUCER_CORRELATIONS,
            Message::MetadataResponse(r) => r.correlation >= PRODUCER_CORRELATIONS,
            Message::FindCoordinatorResponse(r) => r.correlation >= PRODUCER_CORRELATIONS,
            _ => false,
        }
    }

    /// Moves both halves' outputs out and lets the application react until nothing changes:
    /// a closed connection reaches the other half, an ended transaction the consumer, and a
    /// processed poll the producer.
    fn settle(&mut self, now: Instant) {
        // Each round hands one poll to the producer or ends one transaction; the bound keeps
        // one input from spinning.
        for _ in 0..1000 {
            let mut resets: Vec<(bool, crate::ids::NodeId, Channel)> = Vec::new();
            let mut ended = None;
            while let Some(o) = self.producer.poll_output() {
                match &o {
                    Output::Event(Event::TransactionEnded { committed, .. }) => {
                        ended = Some(*committed)
                    }
                    Output::Event(Event::TransactionFailed { .. }) => ended = Some(false),
                    Output::Reset { to, channel } => resets.push((true, *to, *channel)),
                    _ => {}
                }
                self.outbox.push(o);
            }
            while let Some(o) = self.consumer.poll_output() {
                if let Output::Reset { to, channel } = &o {
                    resets.push((false, *to, *channel));
                }
                self.outbox.push(o);
            }
            let mut progressed = !resets.is_empty();
            for (by_producer, peer, channel) in resets {
                let input = Input::Disconnected { peer, channel };
                if by_producer {
                    self.consumer.handle(now, input);
                } else {
                    self.producer.handle(now, input);
                }
            }
            if let Some(committed) = ended {
                self.consumer.transaction_finished(now, committed);
                progressed = true;
            }
            if self.producer.ready_for_transaction()
                && let Some(handoff) = self.consumer.take_handoff()
            {
                self.transform(now, handoff);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    /// One transaction: an output record per input record, the consumed offsets, commit.
    fn transform(&mut self, now: Instant, handoff: crate::client::consumer::Handoff) {
        for (tp, records) in &handoff.records {
            for (offset, value) in records {
                let value = value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v.as_slice()).into_owned())
                    .unwrap_or_default();
                let text = format!("{tp}@{offset}:{value}");
                self.producer.send_in_transaction(now, None, text);
            }
        }
        // Outputs without their offsets would be committed and made again: no offsets, no
        // commit.
        if self
            .producer
            .send_offsets_to_transaction(handoff.offsets, handoff.group)
        {
            self.producer.commit_transaction();
        } else {
            self.producer.abort_transaction();
        }
        // The sender runs now, as `commitTransaction` wakes it.
        self.producer.handle(now, Input::Timeout);
    }
}

impl Node for Pipeline {
    fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Message { from, message } => {
                if Pipeline::for_producer(&message) {
                    self.producer.handle(now, Input::Message { from, message });
                } else {
                    self.consumer.handle(now, Input::Message { from, message });
                }
            }
            // One-off sends are the producer application's; the pipeline writes only what it
            // consumed.
            Input::Command(ClientCommand::Send { .. }) => {}
            Input::Command(c) => self.consumer.handle(now, Input::Command(c)),
            other => {
                self.producer.handle(now, other.clone());
                self.consumer.handle(now, other);
            }
        }
        self.settle(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.consumer.poll_timeout(), self.producer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
