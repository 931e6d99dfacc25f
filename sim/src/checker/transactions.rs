//! The transactional side of the history oracle (KAFKA.md 4.2, 7.3): what transactional
//! producers committed and aborted, and whether `read_committed` consumers read only committed
//! records.
//!
//! * Committed and aborted: transactions whose EndTxn succeeded, by outcome, with their values.
//!   A transaction whose producer hit a fatal error has an outcome only the coordinator knows;
//!   it is counted apart and judged by nobody.
//! * Aborted reads (Adya's G1a): a poll by a `read_committed` consumer returned a value of an
//!   aborted transaction. Kafka promises there are none (a `read_uncommitted` consumer reads
//!   them by design, so its polls are not judged).
//! * Precommitted reads: a `read_committed` poll returned a value of a transaction before its
//!   coordinator decided to commit it (wrote PrepareCommit), that is while the transaction could
//!   still abort. A transaction's decision is the first PrepareCommit or PrepareAbort of its
//!   transactional id after the value was sent: a transactional id has one transaction open at
//!   a time.

use crate::world::{Logged, WorldEvent};
use gregor_core::bytes::Bytes;
use gregor_core::ids::{ClientId, NodeId};
use gregor_core::map::VecMap;
use gregor_core::node::Event;
use gregor_core::time::Instant;
use gregor_core::txn::TxnState;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many reads of each kind a report lists.
const KEEP: usize = 50;

/// One judged read: of an aborted transaction, or one read before its commit was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JudgedRead {
    /// The consumer (its node name).
    pub consumer: String,
    /// The partition, as `topic/partition`.
    pub partition: String,
    /// The offset.
    pub offset: u64,
    /// The value.
    pub value: String,
    /// When (ms) the poll returned it.
    pub time_ms: u64,
}

/// What the transactional producers did and what `read_committed` consumers saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransactionReport {
    /// Transactions committed.
    pub committed: u64,
    /// Transactions aborted.
    pub aborted: u64,
    /// Transactions whose producer failed before it learned their outcome.
    pub undecided: u64,
    /// Records `read_committed` consumers polled from aborted transactions.
    pub aborted_reads: u64,
    /// The first of them.
    pub aborted_read_examples: Vec<JudgedRead>,
    /// Records `read_committed` consumers polled before their transaction's commit was decided.
    pub precommitted_reads: u64,
    /// The first of them.
    pub precommitted_read_examples: Vec<JudgedRead>,
}

/// Reads a run's log; `read_committed` names the consumers whose polls are judged.
pub fn analyse(log: &[Logged], read_committed: &VecMap<ClientId, String>) -> TransactionReport {
    let mut report = TransactionReport::default();
    // The outcome of each value sent in a transaction: true committed, false aborted.
    let mut outcome: BTreeMap<Bytes, bool> = BTreeMap::new();
    // Each client's transactional id, and each transactional id's decisions in time order.
    let mut txn_id_of: VecMap<ClientId, String> = VecMap::new();
    let mut decisions: BTreeMap<String, Vec<(Instant, bool)>> = BTreeMap::new();
    for entry in log {
        match &entry.event {
            WorldEvent::Node(
                Event::TransactionEnded {
                    transactional_id, ..
                }
                | Event::TransactionFailed {
                    transactional_id, ..
                },
            ) => {
                if let NodeId::Client(c) = entry.node {
                    txn_id_of.insert(c, transactional_id.clone());
                }
            }
            WorldEvent::Node(Event::TxnStateChanged {
                transactional_id,
                state: state @ (TxnState::PrepareCommit | TxnState::PrepareAbort),
                ..
            }) => decisions
                .entry(transactional_id.clone())
                .or_default()
                .push((entry.time, *state == TxnState::PrepareCommit)),
            _ => {}
        }
    }
    // When each transactional value's commit was decided.
    let mut committed_at: BTreeMap<Bytes, Instant> = BTreeMap::new();
    for entry in log {
        let (WorldEvent::Node(Event::RecordSent { value, .. }), NodeId::Client(c)) =
            (&entry.event, entry.node)
        else {
            continue;
        };
        let Some(id) = txn_id_of.get(&c) else {
            continue;
        };
        let decision = decisions
            .get(id)
            .and_then(|d| d.iter().find(|(t, _)| *t > entry.time));
        if let Some(&(t, true)) = decision {
            committed_at.insert(value.clone(), t);
        }
    }
    for entry in log {
        match &entry.event {
            WorldEvent::Node(Event::TransactionEnded {
                committed, values, ..
            }) => {
                if *committed {
                    report.committed += 1;
                } else {
                    report.aborted += 1;
                }
                for v in values {
                    outcome.insert(v.clone(), *committed);
                }
            }
            WorldEvent::Node(Event::TransactionFailed { .. }) => report.undecided += 1,
            _ => {}
        }
    }
    for entry in log {
        let WorldEvent::Node(Event::RecordsPolled {
            topic_partition,
            records,
        }) = &entry.event
        else {
            continue;
        };
        let NodeId::Client(c) = entry.node else {
            continue;
        };
        let Some(name) = read_committed.get(&c) else {
            continue;
        };
        for (offset, value) in records {
            let Some(v) = value else { continue };
            let read = || JudgedRead {
                consumer: name.clone(),
                partition: topic_partition.to_string(),
                offset: offset.0,
                value: String::from_utf8_lossy(v.as_slice()).into_owned(),
                time_ms: entry.time.0,
            };
            if committed_at.get(v).is_some_and(|&t| entry.time < t) {
                report.precommitted_reads += 1;
                if report.precommitted_read_examples.len() < KEEP {
                    report.precommitted_read_examples.push(read());
                }
            }
            if outcome.get(v) == Some(&false) {
                report.aborted_reads += 1;
                if report.aborted_read_examples.len() < KEEP {
                    report.aborted_read_examples.push(read());
                }
            }
        }
    }
    report
}
