//! `gregor assign`: runs one of Kafka's classic assignors (`gregor_core::group::assignor`) on a
//! group described in a JSON file, and prints the assignment as JSON.
//!
//! The input:
//!
//! ```json
//! {"topics": {"topic1": 3},
//!  "members": [{"member_id": "consumer1", "instance_id": null, "topics": ["topic1"],
//!               "owned": ["topic1-0"], "generation": 1}]}
//! ```
//!
//! `instance_id`, `owned` and `generation` are optional; `members` is in JoinGroup response
//! order, which is the order Kafka's leader fills its `HashMap` in. The output is
//! `{"assignment": {"consumer1": ["topic1-0", ...]}}`, each list in the order Kafka's assignor
//! returns it.
//!
//! Every mistake is reported with the file, the line and column, and the field
//! (`input.json:3:17: members[1].owned[0]: "topic1x" is not topic-partition`), never a panic.
//! serde_json checks the syntax; a small scanner then walks the same text and keeps the position
//! of every value, so that the checks below can point at the value they reject.
//!
//! Choices about input Kafka would take without complaint:
//! * an owned partition of a topic missing from `topics` is accepted with a warning and ignored,
//!   as Kafka's assignors ignore claims on topics without metadata (a deleted topic);
//! * an owned partition whose number is beyond its topic's count is an error: partition counts
//!   never shrink in Kafka, so no consumer can own one, and Kafka would not ignore it;
//! * a member id, an instance id, a topic of one member's subscription or a partition of one
//!   member's `owned` list given twice is an error, since a group never holds such a thing;
//! * `generation` is `null`, absent or -1 for "unknown" (Kafka's `DEFAULT_GENERATION`).

use gregor_core::group::assignor::{Assignment, AssignorName, MemberSubscription, assign};
use gregor_core::ids::{TopicName, TopicPartition};
use gregor_core::map::VecMap;
use std::fmt;
use std::path::Path;

/// The largest partition count accepted for one topic: it keeps a Java `int` and a run short.
pub const MAX_PARTITIONS: u64 = 1_000_000;

/// A bad input file: where, which field, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignInputError {
    /// The file (as given).
    pub file: String,
    /// The line, from 1 (0 when the file could not be read).
    pub line: usize,
    /// The column, from 1 (0 when the file could not be read).
    pub column: usize,
    /// The field, as a path (`members[1].owned[0]`); empty for the whole file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AssignInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for AssignInputError {}

/// A group read from an input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignInput {
    /// topic -> partition count.
    pub partitions_per_topic: VecMap<TopicName, u32>,
    /// The members, in the file's order.
    pub members: Vec<MemberSubscription>,
    /// Things Kafka accepts but the user may not have meant, each with its place in the file.
    pub warnings: Vec<String>,
}

/// What `gregor assign` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignOutput {
    /// The assignment as JSON, with a final newline.
    pub json: String,
    /// Warnings for stderr.
    pub warnings: Vec<String>,
}

/// Reads `--strategy`: one of the four JoinGroup names.
pub fn parse_strategy(s: &str) -> Result<AssignorName, String> {
    AssignorName::from_protocol_name(s).ok_or_else(|| {
        format!(
            "`{s}` is not an assignor (expected range, roundrobin, sticky or cooperative-sticky)"
        )
    })
}

/// Reads, checks and assigns the group in `path`.
pub fn run_file(strategy: AssignorName, path: &Path) -> Result<AssignOutput, AssignInputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| AssignInputError {
        file: file.clone(),
        line: 0,
        column: 0,
        field: String::new(),
        message: format!("cannot read the input: {e}"),
    })?;
    run(strategy, &file, &text)
}

/// Checks and assigns the group in `text` (read from `file`).
pub fn run(
    strategy: AssignorName,
    file: &str,
    text: &str,
) -> Result<AssignOutput, AssignInputError> {
    let input = parse(file, text)?;
    let assignment = assign(strategy, &input.partitions_per_topic, &input.members);
    Ok(AssignOutput {
        json: render(&assignment),
        warnings: input.warnings,
    })
}

/// The output JSON: `{"assignment": {member: ["topic-partition", ...]}}`, members sorted.
pub fn render(assignment: &Assignment) -> String {
    let members: VecMap<&str, Vec<String>> = assignment
        .members
        .iter()
        .map(|(m, tps)| {
            (
                m.as_str(),
                tps.iter()
                    .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                    .collect(),
            )
        })
        .collect();
    let mut json = serde_json::to_string_pretty(&serde_json::json!({ "assignment": members }))
        .unwrap_or_else(|_| String::from("{}"));
    json.push('\n');
    json
}

/// Parses and checks an input file's text.
pub fn parse(file: &str, text: &str) -> Result<AssignInput, AssignInputError> {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        return Err(AssignInputError {
            file: file.to_string(),
            line: e.line(),
            column: e.column(),
            field: String::new(),
            message: format!("invalid JSON: {}", strip_position(&e.to_string())),
        });
    }
    let root = Scanner { text, pos: 0 }
        .document()
        .ok_or_else(|| AssignInputError {
            file: file.to_string(),
            line: 1,
            column: 1,
            field: String::new(),
            message: "invalid JSON".to_string(),
        })?;
    Checker {
        file,
        text,
        warnings: Vec::new(),
    }
    .check(&root)
}

/// serde_json's messages end in " at line L column C", which the error already carries.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// A JSON value with the byte offset where it starts.
#[derive(Clone, Debug)]
struct Spanned {
    pos: usize,
    value: Json,
}

#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool,
    Number(serde_json::Number),
    String(String),
    Array(Vec<Spanned>),
    /// Keys (with their positions) and values, in the file's order, repeated keys included.
    Object(Vec<(Spanned, Spanned)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// A recursive-descent walk over text serde_json has already accepted, recording positions.
/// It returns `None` rather than panicking if the text is not what it expects; serde_json's
/// recursion limit (128) bounds the depth.
struct Scanner<'t> {
    text: &'t str,
    pos: usize,
}

impl Scanner<'_> {
    fn document(mut self) -> Option<Spanned> {
        let v = self.value()?;
        self.skip_ws();
        (self.pos == self.text.len()).then_some(v)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.skip_ws();
        (self.peek() == Some(c)).then(|| self.pos += 1)
    }

    fn value(&mut self) -> Option<Spanned> {
        self.skip_ws();
        let pos = self.pos;
        let value = match self.peek()? {
            b'{' => {
                self.pos += 1;
                let mut fields = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_ws();
                        let key = self.string()?;
                        self.eat(b':')?;
                        let v = self.value()?;
                        fields.push((key, v));
                        self.skip_ws();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b'}' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Json::Object(fields)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.skip_ws();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                Json::Array(items)
            }
            b'"' => return self.string(),
            b't' => self.word("true", Json::Bool)?,
            b'f' => self.word("false", Json::Bool)?,
            b'n' => self.word("null", Json::Null)?,
            _ => {
                let rest = &self.text[self.pos..];
                let len = rest
                    .find(|c: char| !matches!(c, '0'..='9' | '-' | '+' | '.' | 'e' | 'E'))
                    .unwrap_or(rest.len());
                let n = serde_json::from_str(&rest[..len]).ok()?;
                self.pos += len;
                Json::Number(n)
            }
        };
        Some(Spanned { pos, value })
    }

    fn word(&mut self, w: &str, value: Json) -> Option<Json> {
        self.text[self.pos..].starts_with(w).then(|| {
            self.pos += w.len();
            value
        })
    }

    /// A string, decoded by serde_json from its raw text (escapes included).
    fn string(&mut self) -> Option<Spanned> {
        let pos = self.pos;
        let bytes = self.text.as_bytes();
        if bytes.get(pos) != Some(&b'"') {
            return None;
        }
        let mut i = pos + 1;
        loop {
            match bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        let s: String = serde_json::from_str(self.text.get(pos..=i)?).ok()?;
        self.pos = i + 1;
        Some(Spanned {
            pos,
            value: Json::String(s),
        })
    }
}

/// The semantic checks, each pointing at the value it rejects.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    warnings: Vec<String>,
}

impl Checker<'_> {
    /// Line and column (from 1, in characters) of a byte offset.
    fn place(&self, pos: usize) -> (usize, usize) {
        let before = self.text.get(..pos).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn error(&self, at: &Spanned, field: &str, message: impl Into<String>) -> AssignInputError {
        let (line, column) = self.place(at.pos);
        AssignInputError {
            file: self.file.to_string(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn warn(&mut self, at: &Spanned, field: &str, message: &str) {
        let (line, column) = self.place(at.pos);
        self.warnings.push(format!(
            "{}:{line}:{column}: warning: {field}: {message}",
            self.file
        ));
    }

    /// The fields of an object, refusing repeated and unknown keys and reporting missing ones.
    fn fields<'v>(
        &self,
        v: &'v Spanned,
        field: &str,
        required: &[&str],
        optional: &[&str],
    ) -> Result<VecMap<String, &'v Spanned>, AssignInputError> {
        let Json::Object(entries) = &v.value else {
            return Err(self.error(
                v,
                field,
                format!("expected an object, found {}", v.value.kind()),
            ));
        };
        let mut out: VecMap<String, &Spanned> = VecMap::new();
        for (key, value) in entries {
            let Json::String(name) = &key.value else {
                continue;
            };
            let path = join(field, name);
            if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
                let expected: Vec<String> = required
                    .iter()
                    .chain(optional)
                    .map(|k| format!("`{k}`"))
                    .collect();
                return Err(self.error(
                    key,
                    &path,
                    format!("unknown field, expected one of {}", expected.join(", ")),
                ));
            }
            if out.insert(name.clone(), value).is_some() {
                return Err(self.error(key, &path, "given twice"));
            }
        }
        for name in required {
            if !out.contains_key(*name) {
                return Err(self.error(v, field, format!("missing field `{name}`")));
            }
        }
        Ok(out)
    }

    fn check(mut self, root: &Spanned) -> Result<AssignInput, AssignInputError> {
        let fields = self.fields(root, "", &["topics", "members"], &[])?;
        let partitions_per_topic = self.topics(fields["topics"])?;
        let members = self.members(fields["members"], &partitions_per_topic)?;
        Ok(AssignInput {
            partitions_per_topic,
            members,
            warnings: self.warnings,
        })
    }

    fn topics(&self, v: &Spanned) -> Result<VecMap<TopicName, u32>, AssignInputError> {
        let Json::Object(entries) = &v.value else {
            return Err(self.error(
                v,
                "topics",
                format!(
                    "expected an object of topic -> partition count, found {}",
                    v.value.kind()
                ),
            ));
        };
        let mut out = VecMap::new();
        for (key, value) in entries {
            let Json::String(name) = &key.value else {
                continue;
            };
            let path = join("topics", name);
            if let Err(why) = valid_topic_name(name) {
                return Err(self.error(key, &path, why));
            }
            let count = match &value.value {
                Json::Number(n) => n.as_i64(),
                _ => None,
            };
            let count = match count {
                Some(c) if c >= 1 && (c as u64) <= MAX_PARTITIONS => c as u32,
                Some(c) if c < 1 => {
                    return Err(self.error(
                        value,
                        &path,
                        format!("a topic has at least 1 partition, not {c}"),
                    ));
                }
                Some(c) => {
                    return Err(self.error(
                        value,
                        &path,
                        format!(
                            "{c} partitions is more than the {MAX_PARTITIONS} this command takes"
                        ),
                    ));
                }
                None => {
                    return Err(self.error(
                        value,
                        &path,
                        format!(
                            "expected a whole number of partitions, found {}",
                            describe(value)
                        ),
                    ));
                }
            };
            if out.insert(TopicName::from(name.as_str()), count).is_some() {
                return Err(self.error(key, &path, "given twice"));
            }
        }
        Ok(out)
    }

    fn members(
        &mut self,
        v: &Spanned,
        topics: &VecMap<TopicName, u32>,
    ) -> Result<Vec<MemberSubscription>, AssignInputError> {
        let Json::Array(items) = &v.value else {
            return Err(self.error(
                v,
                "members",
                format!("expected an array of members, found {}", v.value.kind()),
            ));
        };
        let mut out: Vec<MemberSubscription> = Vec::new();
        let mut member_ids: VecMap<String, usize> = VecMap::new();
        let mut instance_ids: VecMap<String, usize> = VecMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("members[{i}]");
            let f = self.fields(
                item,
                &path,
                &["member_id", "topics"],
                &["instance_id", "owned", "generation"],
            )?;

            let id_path = format!("{path}.member_id");
            let member_id = self.string(f["member_id"], &id_path)?;
            if member_id.is_empty() {
                return Err(self.error(f["member_id"], &id_path, "a member id is not empty"));
            }
            if let Some(j) = member_ids.insert(member_id.clone(), i) {
                return Err(self.error(
                    f["member_id"],
                    &id_path,
                    format!("{member_id:?} is already members[{j}].member_id"),
                ));
            }

            let instance_id = match f.get("instance_id") {
                None => None,
                Some(v) if matches!(v.value, Json::Null) => None,
                Some(v) => {
                    let p = format!("{path}.instance_id");
                    let s = self.string(v, &p)?;
                    if s.is_empty() {
                        return Err(self.error(v, &p, "an instance id is not empty (use null)"));
                    }
                    if let Some(j) = instance_ids.insert(s.clone(), i) {
                        return Err(self.error(
                            v,
                            &p,
                            format!("{s:?} is already members[{j}].instance_id"),
                        ));
                    }
                    Some(s)
                }
            };

            let topics_path = format!("{path}.topics");
            let Json::Array(subscribed) = &f["topics"].value else {
                return Err(self.error(
                    f["topics"],
                    &topics_path,
                    format!(
                        "expected an array of topic names, found {}",
                        f["topics"].value.kind()
                    ),
                ));
            };
            let mut member_topics: Vec<TopicName> = Vec::new();
            for (k, t) in subscribed.iter().enumerate() {
                let p = format!("{topics_path}[{k}]");
                let name = self.string(t, &p)?;
                if let Err(why) = valid_topic_name(&name) {
                    return Err(self.error(t, &p, why));
                }
                let name = TopicName::from(name.as_str());
                if member_topics.contains(&name) {
                    return Err(self.error(t, &p, format!("{:?} is listed twice", name.as_str())));
                }
                member_topics.push(name);
            }

            let mut owned: Vec<TopicPartition> = Vec::new();
            if let Some(v) = f.get("owned") {
                let owned_path = format!("{path}.owned");
                let Json::Array(claims) = &v.value else {
                    return Err(self.error(
                        v,
                        &owned_path,
                        format!(
                            "expected an array of \"topic-partition\" strings, found {}",
                            v.value.kind()
                        ),
                    ));
                };
                for (k, c) in claims.iter().enumerate() {
                    let p = format!("{owned_path}[{k}]");
                    let s = self.string(c, &p)?;
                    let Some(tp) = parse_topic_partition(&s) else {
                        return Err(self.error(c, &p, format!("{s:?} is not topic-partition")));
                    };
                    if owned.contains(&tp) {
                        return Err(self.error(c, &p, format!("{s:?} is listed twice")));
                    }
                    match topics.get(&tp.topic) {
                        None => self.warn(
                            c,
                            &p,
                            &format!(
                                "topic {:?} is not in \"topics\"; Kafka ignores this claim",
                                tp.topic.as_str()
                            ),
                        ),
                        Some(&n) if tp.partition >= n => {
                            return Err(self.error(
                                c,
                                &p,
                                format!(
                                    "{s:?} is out of range: {} has {n} partition{}",
                                    tp.topic,
                                    if n == 1 { "" } else { "s" }
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
                    owned.push(tp);
                }
            }

            let generation = match f.get("generation") {
                None => None,
                Some(v) if matches!(v.value, Json::Null) => None,
                Some(v) => {
                    let p = format!("{path}.generation");
                    let g = match &v.value {
                        Json::Number(n) => n.as_i64(),
                        _ => None,
                    };
                    match g {
                        Some(-1) => None,
                        Some(g) if (0..=i64::from(i32::MAX)).contains(&g) => Some(g as i32),
                        _ => {
                            return Err(self.error(
                                v,
                                &p,
                                format!(
                                    "expected a generation from 0 to {} (or null or -1 for unknown), found {}",
                                    i32::MAX,
                                    describe(v)
                                ),
                            ));
                        }
                    }
                }
            };

            out.push(MemberSubscription {
                member_id,
                instance_id,
                topics: member_topics,
                owned,
                generation,
            });
        }
        Ok(out)
    }

    fn string(&self, v: &Spanned, field: &str) -> Result<String, AssignInputError> {
        match &v.value {
            Json::String(s) => Ok(s.clone()),
            other => Err(self.error(
                v,
                field,
                format!("expected a string, found {}", other.kind()),
            )),
        }
    }
}

/// A value for an error message: numbers and strings as written, otherwise their kind.
fn describe(v: &Spanned) -> String {
    match &v.value {
        Json::Number(n) => n.to_string(),
        Json::String(s) => format!("{s:?}"),
        other => other.kind().to_string(),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// Kafka's rules for topic names (`org.apache.kafka.common.internals.Topic.validate`): 1 to 249
/// characters of ASCII letters, digits, '.', '_' and '-', and not "." or "..".
pub fn valid_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a topic name is not empty".to_string());
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid topic name"));
    }
    if name.len() > 249 {
        return Err("a topic name has at most 249 characters".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{name:?} is not a valid topic name ({c:?} is not a letter, digit, '.', '_' or '-')"
        ));
    }
    Ok(())
}

/// `topic-partition`, split at the last '-' because topic names may contain '-'.
pub fn parse_topic_partition(s: &str) -> Option<TopicPartition> {
    let (topic, partition) = s.rsplit_once('-')?;
    if valid_topic_name(topic).is_err()
        || partition.is_empty()
        || !partition.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let partition: u32 = partition.parse().ok()?;
    (partition <= i32::MAX as u32).then(|| TopicPartition::new(topic, partition))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse("in.json", text) {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn topic_partition_splits_at_the_last_dash() {
        assert_eq!(
            parse_topic_partition("a-b-3"),
            Some(TopicPartition::new("a-b", 3))
        );
        assert_eq!(parse_topic_partition("topic1x"), None);
        assert_eq!(parse_topic_partition("topic1-"), None);
        assert_eq!(parse_topic_partition("-1"), None);
        assert_eq!(parse_topic_partition("t-+1"), None);
        assert_eq!(parse_topic_partition("t-99999999999"), None);
    }

    #[test]
    fn a_good_file_parses() {
        let text = r#"{"topics": {"t-1": 2}, "members": [
            {"member_id": "c1", "topics": ["t-1"], "owned": ["t-1-0", "gone-0"], "generation": -1},
            {"member_id": "c2", "instance_id": "i2", "topics": ["t-1"], "generation": 4}]}"#;
        let input = parse("in.json", text).unwrap();
        assert_eq!(input.members[0].generation, None);
        assert_eq!(input.members[1].generation, Some(4));
        assert_eq!(input.members[1].instance_id.as_deref(), Some("i2"));
        assert_eq!(input.warnings.len(), 1);
        assert!(
            input.warnings[0].starts_with("in.json:2:71: warning: members[0].owned[1]:"),
            "{}",
            input.warnings[0]
        );
    }

    #[test]
    fn errors_name_the_place_and_the_field() {
        assert_eq!(
            err("{\"topics\": {\"t\": 0}, \"members\": []}"),
            "in.json:1:18: topics.t: a topic has at least 1 partition, not 0"
        );
        assert_eq!(
            err("{\"topics\": {}, \"members\": [], \"x\": 1}"),
            "in.json:1:31: x: unknown field, expected one of `topics`, `members`"
        );
        assert_eq!(
            err("{\"topics\": {}}"),
            "in.json:1:1: missing field `members`"
        );
        let e = err("{\"topics\": {}, \"members\": [}");
        assert_eq!(e, "in.json:1:28: invalid JSON: expected value");
        assert_eq!(
            err("{\"topics\": {\"t\": 1, \"t\": 2}, \"members\": []}"),
            "in.json:1:21: topics.t: given twice"
        );
        assert_eq!(
            err("{\"topics\": {\"t\": 1}, \"members\": [{\"member_id\": 5, \"topics\": []}]}"),
            "in.json:1:48: members[0].member_id: expected a string, found a number"
        );
    }
}
