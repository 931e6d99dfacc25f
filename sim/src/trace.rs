//! Traces: a versioned JSON Lines record of everything fed to every node, so a run replays
//! exactly through the pure core.
//!
//! The first line is a [`TraceHeader`] (format, version, seed, driver, scenario name and the
//! scenario's own text, so a trace stands alone). Every following line is a [`TraceLine`]: a node
//! booting (a fresh process over what its disk kept), an input fed to a node, a crash, or a
//! digest of the whole cluster's state that replay must reproduce. Only what reaches a node is
//! recorded: the network's choices (latency, loss, partitions) show up as the inputs they cause.

use gregor_core::ids::NodeId;
use gregor_core::json::{Json, Value};
use gregor_core::node::Input;
#[cfg(feature = "trace")]
use gregor_core::rng::fnv1a;
use gregor_core::time::Instant;
use serde::{Deserialize, Serialize};

/// The format name in every trace header.
pub const TRACE_FORMAT: &str = "gregor-trace";
/// The trace format version this build writes and reads.
pub const TRACE_VERSION: u32 = 1;

/// The first line of a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHeader {
    /// Always `gregor-trace`.
    pub format: String,
    /// The format version.
    pub version: u32,
    /// The run's master seed.
    pub seed: u64,
    /// The driver that produced it (`world` or `madsim`).
    pub driver: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's TOML text.
    pub scenario_source: String,
    /// The scenario as parsed, in the compact form of [`crate::compiled::encode_scenario`], so
    /// that the classroom opens the trace without a TOML parser. Traces written before it
    /// existed lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_compiled: Option<String>,
}

impl TraceHeader {
    /// Reads a header line. It needs no general JSON library ([`gregor_core::json`] reads
    /// it), so the classroom opens traces without one. Errors name the column or the field.
    pub fn read(line: &str) -> Result<TraceHeader, String> {
        let value = gregor_core::json::parse(line).map_err(|e| e.to_string())?;
        if !matches!(value, Value::Object(_)) {
            return Err("not a JSON object".into());
        }
        fn field<T: Json>(value: &Value, name: &str, what: &str) -> Result<T, String> {
            match value.get(name) {
                None => Err(format!("field `{name}`: missing")),
                Some(v) => T::read(v).ok_or_else(|| format!("field `{name}`: not {what}")),
            }
        }
        Ok(TraceHeader {
            format: field(&value, "format", "a string")?,
            version: field(&value, "version", "a version number")?,
            seed: field(&value, "seed", "a seed (a whole number from 0 to 2^64 - 1)")?,
            driver: field(&value, "driver", "a string")?,
            scenario: field(&value, "scenario", "a string")?,
            scenario_source: field(&value, "scenario_source", "a string")?,
            scenario_compiled: match value.get("scenario_compiled") {
                None => None,
                Some(_) => field(&value, "scenario_compiled", "a string or null")?,
            },
        })
    }
}

/// A crash of a node's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crash {
    /// The process dies; the disk keeps everything the OS had.
    Process,
    /// The machine loses power; the disk keeps only what was flushed.
    PowerLoss,
}

/// A line after the header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceLine {
    /// A node's process is built from its spec and what its disk kept (its `incarnation`-th
    /// start); an `Input::Start` follows.
    Boot {
        /// Virtual time in milliseconds.
        t: Instant,
        /// The node.
        node: NodeId,
        /// How many times this node started before.
        incarnation: u32,
    },
    /// An input fed to a node.
    Input {
        /// Virtual time.
        t: Instant,
        /// The node.
        node: NodeId,
        /// The input.
        input: Input,
    },
    /// A node's process died.
    Crash {
        /// Virtual time.
        t: Instant,
        /// The node.
        node: NodeId,
        /// How.
        crash: Crash,
    },
    /// The OS wrote back the dirty pages of a node whose process is down (its machine runs).
    DiskWriteback {
        /// Virtual time.
        t: Instant,
        /// The node.
        node: NodeId,
    },
    /// A digest of every node's state after the inputs so far.
    Digest {
        /// Virtual time.
        t: Instant,
        /// The number of inputs before it.
        inputs: u64,
        /// The digest, as 16 hex digits.
        digest: String,
    },
}

/// Collects a trace in memory and keeps a running hash of it (the trace hash the determinism
/// tests compare).
#[cfg(feature = "trace")]
#[derive(Clone, Debug)]
pub struct TraceRecorder {
    lines: Option<Vec<String>>,
    hash: u64,
    inputs: u64,
    /// A digest line every this many inputs.
    pub digest_every: u64,
}

#[cfg(feature = "trace")]
impl TraceRecorder {
    /// A recorder; `keep_lines` keeps the text (for writing a file), otherwise only the hash.
    pub fn new(header: &TraceHeader, keep_lines: bool) -> TraceRecorder {
        let mut r = TraceRecorder {
            lines: keep_lines.then(Vec::new),
            hash: 0,
            inputs: 0,
            digest_every: 2000,
        };
        r.push_json(&serde_json::to_string(header).expect("a header serializes"));
        r
    }

    fn push_json(&mut self, line: &str) {
        self.hash = fnv1a(line.as_bytes()) ^ self.hash.rotate_left(5);
        if let Some(lines) = &mut self.lines {
            lines.push(line.to_string());
        }
    }

    /// Records a line.
    pub fn record(&mut self, line: &TraceLine) {
        if matches!(line, TraceLine::Input { .. }) {
            self.inputs += 1;
        }
        let text = serde_json::to_string(line).expect("trace lines serialize");
        self.push_json(&text);
    }

    /// Whether a digest is due after the inputs so far.
    pub fn digest_due(&self) -> bool {
        self.inputs > 0 && self.inputs.is_multiple_of(self.digest_every)
    }

    /// The number of inputs recorded.
    pub fn inputs(&self) -> u64 {
        self.inputs
    }

    /// The running hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The lines, if kept.
    pub fn lines(&self) -> Option<&[String]> {
        self.lines.as_deref()
    }
}

/// Without the `trace` feature (the classroom's build: the page records no traces) no recorder
/// can exist. The type has no values, so every `Option<TraceRecorder>` in the drivers is `None`
/// and the compiler drops the recording, the JSON writer and the state digests behind it from
/// the WebAssembly bundle, while the drivers compile unchanged.
#[cfg(not(feature = "trace"))]
#[derive(Clone, Debug)]
pub struct TraceRecorder {
    never: std::convert::Infallible,
}

#[cfg(not(feature = "trace"))]
impl TraceRecorder {
    /// Panics: this build cannot record (build gregor-sim with its `trace` feature).
    pub fn new(_header: &TraceHeader, _keep_lines: bool) -> TraceRecorder {
        panic!("this build of gregor-sim records no traces (its `trace` feature is off)")
    }

    /// Never called: no recorder exists.
    pub fn record(&mut self, _line: &TraceLine) {
        match self.never {}
    }

    /// Never called: no recorder exists.
    pub fn digest_due(&self) -> bool {
        match self.never {}
    }

    /// Never called: no recorder exists.
    pub fn inputs(&self) -> u64 {
        match self.never {}
    }

    /// Never called: no recorder exists.
    pub fn hash(&self) -> u64 {
        match self.never {}
    }

    /// Never called: no recorder exists.
    pub fn lines(&self) -> Option<&[String]> {
        match self.never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> TraceHeader {
        TraceHeader {
            format: TRACE_FORMAT.into(),
            version: TRACE_VERSION,
            seed: u64::MAX,
            driver: "world".into(),
            scenario: "leader-failover".into(),
            scenario_source: "name = \"a \\\"quoted\\\" name\"\n[cluster]\tbrokers = 3\n".into(),
            scenario_compiled: Some("00ff".into()),
        }
    }

    /// The header reader reads what serde writes, with or without the compiled scenario.
    #[test]
    fn a_header_reads_back() {
        let h = header();
        assert_eq!(
            TraceHeader::read(&serde_json::to_string(&h).unwrap()),
            Ok(h.clone())
        );
        let old = TraceHeader {
            scenario_compiled: None,
            ..h
        };
        let text = serde_json::to_string(&old).unwrap();
        assert!(!text.contains("scenario_compiled"));
        assert_eq!(TraceHeader::read(&text), Ok(old.clone()));
        let null = text.replace("}", ",\"scenario_compiled\":null}");
        assert_eq!(TraceHeader::read(&null), Ok(old));
    }

    #[test]
    fn a_bad_header_is_refused_with_the_field_or_column() {
        let text = serde_json::to_string(&header()).unwrap();
        for (bad, why) in [
            (
                text.replace("\"seed\":", "\"Seed\":"),
                "field `seed`: missing",
            ),
            (
                text.replace(&format!("{}", u64::MAX), "-1"),
                "field `seed`: not a seed (a whole number from 0 to 2^64 - 1)",
            ),
            (
                text.replace("\"world\"", "7"),
                "field `driver`: not a string",
            ),
            (
                text.replace("\"00ff\"", "[]"),
                "field `scenario_compiled`: not a string or null",
            ),
            ("[1]".to_string(), "not a JSON object"),
            ("{\"format\": }".to_string(), "column 12: expected a value"),
        ] {
            assert_eq!(TraceHeader::read(&bad), Err(why.to_string()), "{bad}");
        }
    }
}
