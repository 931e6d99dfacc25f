//! `gregor replay`: re-executes a trace through the pure core and checks every digest.
//!
//! Replay needs no network and no scheduler: a trace holds every input every node received, in
//! order, so feeding them again must reach the same states. A digest that differs is a
//! determinism bug (or a trace from another version), reported with its line.

use crate::digest::{Digest, digest_node};
use crate::nodes::{AnyNode, Disk, NodeSpec};
use crate::runner::{node_specs, reader_spec};
use crate::scenario::Scenario;
use crate::trace::{Crash, TRACE_FORMAT, TRACE_VERSION, TraceHeader, TraceLine};
use gregor_core::ids::NodeId;
use gregor_core::map::VecMap;
use gregor_core::node::Node;
use std::fmt;

/// A replay that could not finish: the line and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayError {
    /// The trace file.
    pub file: String,
    /// The line, from 1 (0 when the file itself is the problem).
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ReplayError {}

/// What a replay checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplaySummary {
    /// The header.
    pub header: TraceHeader,
    /// Inputs fed.
    pub inputs: u64,
    /// Digests compared (all matched).
    pub digests: u64,
}

enum Slot {
    Up(AnyNode),
    Down(Disk),
}

/// Replays trace text; `file` names it in errors.
pub fn replay(file: &str, text: &str) -> Result<ReplaySummary, ReplayError> {
    let err = |line: usize, message: String| ReplayError {
        file: file.to_string(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Err(err(0, "the trace is empty".into()));
    };
    let header =
        TraceHeader::read(first).map_err(|e| err(1, format!("not a trace header: {e}")))?;
    if header.format != TRACE_FORMAT {
        return Err(err(
            1,
            format!("format is `{}`, expected `{TRACE_FORMAT}`", header.format),
        ));
    }
    if header.version != TRACE_VERSION {
        return Err(err(
            1,
            format!(
                "trace version {} cannot be replayed by this build (version {TRACE_VERSION})",
                header.version
            ),
        ));
    }
    // Both drivers record the same inputs in the same format: what a node received is all the
    // core needs, however the network timed it.
    if !matches!(header.driver.as_str(), "world" | "madsim") {
        return Err(err(
            1,
            format!(
                "driver `{}` traces cannot be replayed by this build (it knows world and madsim)",
                header.driver
            ),
        ));
    }
    let scenario = Scenario::parse(
        &format!("{file} (embedded scenario)"),
        &header.scenario_source,
    )
    .map_err(|e| err(1, e.to_string()))?;
    let mut specs: VecMap<NodeId, NodeSpec> = node_specs(&scenario)
        .into_iter()
        .map(|s| (s.node_id(), s))
        .collect();
    let reader = reader_spec(&scenario);
    specs.insert(reader.node_id(), reader);
    let mut slots: VecMap<NodeId, Slot> = VecMap::new();
    let (mut inputs, mut digests) = (0, 0);
    for (i, raw) in lines {
        let n = i + 1;
        let line: TraceLine =
            serde_json::from_str(raw).map_err(|e| err(n, format!("not a trace line: {e}")))?;
        match line {
            TraceLine::Boot {
                node, incarnation, ..
            } => {
                let spec = specs
                    .get(&node)
                    .ok_or_else(|| err(n, format!("{node} is not a node of the scenario")))?;
                let disk = match slots.remove(&node) {
                    Some(Slot::Down(d)) => d,
                    Some(Slot::Up(_)) => return Err(err(n, format!("{node} boots while running"))),
                    None => Disk::None,
                };
                slots.insert(
                    node,
                    Slot::Up(spec.build(disk, spec.seed(header.seed, incarnation))),
                );
            }
            TraceLine::Input { t, node, input } => {
                let Some(Slot::Up(x)) = slots.get_mut(&node) else {
                    return Err(err(n, format!("input for {node}, which is not running")));
                };
                x.handle(t, input);
                while x.poll_output().is_some() {}
                inputs += 1;
            }
            TraceLine::Crash { node, crash, .. } => {
                let Some(Slot::Up(x)) = slots.remove(&node) else {
                    return Err(err(n, format!("crash of {node}, which is not running")));
                };
                let mut disk = x.into_disk();
                if crash == Crash::PowerLoss
                    && let Disk::Broker(d) = &mut disk
                {
                    d.lose_unflushed();
                }
                slots.insert(node, Slot::Down(disk));
            }
            TraceLine::DiskWriteback { node, .. } => match slots.get_mut(&node) {
                Some(Slot::Down(Disk::Broker(d))) => d.flush_all(),
                _ => {
                    return Err(err(
                        n,
                        format!("a disk writeback for {node}, which is not a stopped broker"),
                    ));
                }
            },
            TraceLine::Digest { t, digest, .. } => {
                let mut d = Digest::default();
                for (id, slot) in &slots {
                    if let Slot::Up(x) = slot {
                        digest_node(&mut d, *id, x);
                    }
                }
                let got = format!("{:016x}", d.finish());
                if got != digest {
                    return Err(err(
                        n,
                        format!(
                            "state digest differs at {t} after {inputs} inputs: the trace says {digest}, replay reached {got}"
                        ),
                    ));
                }
                digests += 1;
            }
        }
    }
    Ok(ReplaySummary {
        header,
        inputs,
        digests,
    })
}
