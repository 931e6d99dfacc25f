//! State digests: a stable hash of what each node holds, written into traces so that replay can
//! prove it reached the same state at the same point.
//!
//! A digest covers what matters to Kafka's behaviour (roles, epochs, offsets, ISRs, positions),
//! not every byte; it is cheap enough to take every few thousand inputs.

use crate::nodes::AnyNode;
use gregor_core::broker::partition::Role;
use gregor_core::ids::NodeId;

/// FNV-1a, fed with integers.
#[derive(Clone, Copy, Debug)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// Adds an integer.
    pub fn u64(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Adds a string.
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Adds one node's state to a digest.
pub fn digest_node(d: &mut Digest, id: NodeId, node: &AnyNode) {
    d.str(&id.to_string());
    match node {
        AnyNode::Controller(c) => {
            d.u64(c.disk().log.len() as u64);
            for (b, reg) in &c.image().brokers {
                d.u64(u64::from(b.0));
                d.u64(reg.epoch.0);
                d.u64(u64::from(reg.fenced));
            }
        }
        AnyNode::Broker(b) => {
            d.u64(b.lifecycle() as u64);
            d.u64(b.broker_epoch().map_or(u64::MAX, |e| e.0));
            d.u64(b.image().next_offset.0);
            for (tp, p) in b.partitions() {
                d.str(tp.topic.as_str());
                d.u64(u64::from(tp.partition));
                d.u64(u64::from(p.leader_epoch.0));
                d.u64(u64::from(p.partition_epoch.0));
                d.u64(u64::from(matches!(p.role, Role::Leader(_))));
                for i in &p.isr {
                    d.u64(u64::from(i.0));
                }
            }
            for (tp, log) in &b.disk().logs {
                d.u64(u64::from(tp.partition));
                d.u64(log.log_start_offset().0);
                d.u64(log.segments().len() as u64);
                d.u64(log.log_end_offset().0);
                d.u64(log.high_watermark().0);
                d.u64(log.recovery_point().0);
                d.u64(log.latest_epoch().map_or(u64::MAX, |e| u64::from(e.0)));
            }
        }
        AnyNode::Producer(p) => producer_digest(d, p),
        AnyNode::Consumer(c) => consumer_digest(d, c),
        AnyNode::Pipeline(p) => {
            consumer_digest(d, p.consumer());
            producer_digest(d, p.producer());
        }
    }
}

fn producer_digest(d: &mut Digest, p: &gregor_core::client::producer::Producer) {
    d.u64(p.records_created());
    d.u64(p.records_pending());
    d.u64(
        p.producer_id()
            .map_or(u64::MAX, |(id, e)| id.0 * 65536 + u64::from(e.0)),
    );
}

fn consumer_digest(d: &mut Digest, c: &gregor_core::client::consumer::Consumer) {
    d.u64(c.records_polled());
    for (tp, pos) in c.positions() {
        d.u64(u64::from(tp.partition));
        d.u64(pos.position.map_or(u64::MAX, |o| o.0));
    }
}
