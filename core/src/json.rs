//! A small JSON writer and reader for the records the coordinators keep in their internal topics
//! (`__consumer_offsets`, `__transaction_state`) and for a trace's header line.
//!
//! The model writes those records as JSON so that the classroom can show them as they are. A
//! general JSON library was about a twelfth of the classroom's WebAssembly bundle, and these few
//! shapes need only this. The writer's output is byte for byte what `serde_json::to_string`
//! writes for the same values (the tests compare the two), so records keep their sizes and runs
//! their traces. The reader takes any JSON text whose strings are valid Unicode (a lone
//! surrogate escape is refused), refuses what is not JSON with the place where it stops, and
//! never panics, however deep or broken the input.

use crate::ids::{LeaderEpoch, Offset, ProducerEpoch, ProducerId, TopicName, TopicPartition};
use crate::time::{Duration, Instant};

/// A value the model writes as JSON and reads back.
pub trait Json: Sized {
    /// Appends the value's JSON text.
    fn write(&self, out: &mut String);
    /// The value a JSON value holds, or `None` if it holds something else.
    fn read(value: &Value) -> Option<Self>;
}

/// The value's JSON text.
pub fn to_string<T: Json>(value: &T) -> String {
    let mut out = String::new();
    value.write(&mut out);
    out
}

/// The value that JSON bytes hold, or `None` if they are not JSON or hold something else.
pub fn from_slice<T: Json>(bytes: &[u8]) -> Option<T> {
    T::read(&parse(std::str::from_utf8(bytes).ok()?).ok()?)
}

/// Writes an object's fields in the order given, as serde writes a struct's.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object.
    pub fn new(out: &'a mut String) -> ObjectWriter<'a> {
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    /// Writes one field.
    pub fn field(&mut self, name: &str, value: &impl Json) -> &mut Self {
        self.name(name);
        value.write(self.out);
        self
    }

    /// Writes one string field.
    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.name(name);
        write_str(self.out, value);
        self
    }

    fn name(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_str(self.out, name);
        self.out.push(':');
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push('}');
    }
}

/// Writes a string as serde_json does: `"` and `\` escaped, control characters as their short
/// escape or `\u00xx`, everything else as it is.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[n >> 4]));
                out.push(char::from(HEX[n & 15]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON value as read. Numbers keep their text and are converted when asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object's members in the order written.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An object's member (the first of that name).
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// An object's member read as `T`; `None` if it holds something else. A missing member
    /// reads as `null`, so a missing `Option` is `None`, as serde reads it.
    pub fn field<T: Json>(&self, name: &str) -> Option<T> {
        T::read(self.get(name).unwrap_or(&Value::Null))
    }

    /// The string it holds.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn number<T: std::str::FromStr>(&self) -> Option<T> {
        match self {
            Value::Number(text) => text.parse().ok(),
            _ => None,
        }
    }
}

/// Why a text is not JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Where reading stopped, in characters from 1: the column of a one-line text (a record, a
    /// trace header), the position in a longer one.
    pub column: usize,
    /// What was wrong there.
    pub message: &'static str,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// Reads one JSON value, which may be surrounded by whitespace.
pub fn parse(text: &str) -> Result<Value, Error> {
    let mut reader = Reader { text, at: 0 };
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.at < text.len() {
        return Err(reader.error("text after the value"));
    }
    Ok(value)
}

/// Arrays and objects nest at most this deep, so that hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

struct Reader<'t> {
    text: &'t str,
    /// A byte index, always on a character boundary.
    at: usize,
}

impl Reader<'_> {
    fn error(&self, message: &'static str) -> Error {
        let column = self.text.get(..self.at).map_or(0, |s| s.chars().count()) + 1;
        Error { column, message }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8, message: &'static str) -> Result<(), Error> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.skip_space();
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deep"));
        }
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.skip_space();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                loop {
                    self.skip_space();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a member name"));
                    }
                    let name = self.string()?;
                    self.eat(b':', "expected `:`")?;
                    members.push((name, self.value(depth + 1)?));
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Value::Object(members));
                        }
                        _ => return Err(self.error("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(self.error("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                for (word, value) in [
                    ("null", Value::Null),
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                ] {
                    if self.text[self.at..].starts_with(word) {
                        self.at += word.len();
                        return Ok(value);
                    }
                }
                Err(self.error("expected a value"))
            }
        }
    }

    /// A number as JSON writes it: `-`, an integer without leading zeros, then an optional
    /// fraction and exponent.
    fn number(&mut self) -> Result<Value, Error> {
        let start = self.at;
        let digits = |r: &mut Self| {
            let from = r.at;
            while matches!(r.peek(), Some(b'0'..=b'9')) {
                r.at += 1;
            }
            r.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let leading_zero = self.peek() == Some(b'0');
        match digits(self) {
            0 => return Err(self.error("expected a digit")),
            n if leading_zero && n > 1 => return Err(self.error("a number has a leading zero")),
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("expected a digit after `.`"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        Ok(Value::Number(self.text[start..self.at].to_string()))
    }

    /// A string, at its opening quote.
    fn string(&mut self) -> Result<String, Error> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            // Copy the plain run up to the next quote, backslash or control character.
            let plain = rest
                .find(|c: char| c == '"' || c == '\\' || u32::from(c) < 0x20)
                .unwrap_or(rest.len());
            out.push_str(&rest[..plain]);
            self.at += plain;
            match self.peek() {
                None => return Err(self.error("the string does not end")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            let c = self.unicode_escape()?;
                            out.push(c);
                            continue;
                        }
                        _ => return Err(self.error("not an escape")),
                    };
                    self.at += 1;
                    out.push(escaped);
                }
                Some(_) => return Err(self.error("a control character in a string")),
            }
        }
    }

    /// The character of a `\u` escape (just after the `u`), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.text[self.at..].starts_with("\\u") {
                return Err(self.error("a lone surrogate"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("a lone surrogate"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("a lone surrogate"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("expected four hexadecimal digits"))?;
        let code = u32::from_str_radix(digits, 16).map_err(|_| self.error("not hexadecimal"))?;
        self.at += 4;
        Ok(code)
    }
}

impl Json for String {
    fn write(&self, out: &mut String) {
        write_str(out, self);
    }
    fn read(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_string)
    }
}

impl Json for TopicName {
    fn write(&self, out: &mut String) {
        write_str(out, &self.0);
    }
    fn read(value: &Value) -> Option<Self> {
        value.as_str().map(TopicName::from)
    }
}

impl<T: Json> Json for Option<T> {
    fn write(&self, out: &mut String) {
        match self {
            Some(v) => v.write(out),
            None => out.push_str("null"),
        }
    }
    fn read(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::read(v).map(Some),
        }
    }
}

impl<T: Json> Json for Vec<T> {
    fn write(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            v.write(out);
        }
        out.push(']');
    }
    fn read(value: &Value) -> Option<Self> {
        match value {
            Value::Array(items) => items.iter().map(T::read).collect(),
            _ => None,
        }
    }
}

/// Numbers.
macro_rules! json_number {
    ($($t:ty),*) => {$(
        impl Json for $t {
            fn write(&self, out: &mut String) {
                out.push_str(&self.to_string());
            }
            fn read(value: &Value) -> Option<Self> {
                value.number()
            }
        }
    )*};
}

/// The model's numbers that serde writes as bare numbers (`transparent`).
macro_rules! json_newtype {
    ($($t:ident($inner:ty)),*) => {$(
        impl Json for $t {
            fn write(&self, out: &mut String) {
                self.0.write(out);
            }
            fn read(value: &Value) -> Option<Self> {
                <$inner>::read(value).map($t)
            }
        }
    )*};
}

json_number!(u16, u32, u64, i32);
json_newtype!(
    Instant(u64),
    Duration(u64),
    Offset(u64),
    LeaderEpoch(u32),
    ProducerId(u64),
    ProducerEpoch(u16)
);

/// Writes and reads a struct as serde's derive does: an object of the fields listed, in the
/// order listed, which must be the declaration order (the tests compare the bytes with
/// serde_json's). Reading builds the struct from the same list, so a field left out of it does
/// not compile.
macro_rules! json_struct {
    ($t:ident { $($field:ident),* $(,)? }) => {
        impl $crate::json::Json for $t {
            fn write(&self, out: &mut String) {
                let mut object = $crate::json::ObjectWriter::new(out);
                $(object.field(stringify!($field), &self.$field);)*
                object.end();
            }
            fn read(value: &$crate::json::Value) -> Option<Self> {
                Some($t {
                    $($field: value.field(stringify!($field))?,)*
                })
            }
        }
    };
}
pub(crate) use json_struct;

json_struct!(TopicPartition { topic, partition });

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json writes for a value, and what this module writes.
    fn both<T: Json + serde::Serialize>(value: &T) -> (String, String) {
        (serde_json::to_string(value).unwrap(), to_string(value))
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut text = String::new();
        for c in (0u32..0x80).filter_map(char::from_u32) {
            text.push(c);
        }
        text.push_str("é€😀\u{7f}\u{2028}");
        let (serde, ours) = both(&text);
        assert_eq!(ours, serde);
        assert_eq!(parse(&ours).unwrap(), Value::String(text));
    }

    #[test]
    fn numbers_options_lists_and_partitions_are_written_as_serde_json_writes_them() {
        assert_eq!(both(&u64::MAX).0, both(&u64::MAX).1);
        assert_eq!(both(&i32::MIN).0, both(&i32::MIN).1);
        let tps = vec![
            Some(TopicPartition::new("a\"b", 0)),
            None,
            Some(TopicPartition::new("payments", u32::MAX)),
        ];
        let (serde, ours) = both(&tps);
        assert_eq!(ours, serde);
        assert_eq!(
            from_slice::<Vec<Option<TopicPartition>>>(ours.as_bytes()),
            Some(tps)
        );
        assert_eq!(both(&Offset(41)).1, "41");
        assert_eq!(from_slice::<u64>(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(from_slice::<u64>(b"18446744073709551616"), None);
        assert_eq!(from_slice::<u32>(b"-1"), None);
        assert_eq!(from_slice::<i32>(b"-1"), Some(-1));
        assert_eq!(from_slice::<String>(b"1"), None);
    }

    #[test]
    fn the_reader_reads_any_json() {
        let v = parse(" {\"a\" : [1, -2.5e+3, true, false, null, {}, []], \"b\": \"\\u00e9\\ud83d\\ude00\\/\"} ")
            .unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![
                Value::Number("1".into()),
                Value::Number("-2.5e+3".into()),
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Object(vec![]),
                Value::Array(vec![]),
            ]))
        );
        assert_eq!(v.get("b").and_then(Value::as_str), Some("é😀/"));
        assert_eq!(v.get("c"), None);
        // A missing member reads as null: a missing `Option` is `None`, anything else fails.
        assert_eq!(v.field::<Option<u32>>("c"), Some(None));
        assert_eq!(v.field::<u32>("c"), None);
    }

    #[test]
    fn the_reader_refuses_what_is_not_json_and_says_where() {
        for (text, column, message) in [
            ("", 1, "expected a value"),
            ("{\"a\":1,}", 8, "expected a member name"),
            ("{\"a\" 1}", 6, "expected `:`"),
            ("[1 2]", 4, "expected `,` or `]`"),
            ("\"abc", 5, "the string does not end"),
            ("\"a\\x\"", 4, "not an escape"),
            ("\"\\ud83d\"", 8, "a lone surrogate"),
            ("\"\\u12\"", 4, "expected four hexadecimal digits"),
            ("\"a\tb\"", 3, "a control character in a string"),
            ("01", 3, "a number has a leading zero"),
            ("1.", 3, "expected a digit after `.`"),
            ("-", 2, "expected a digit"),
            ("1e", 3, "expected a digit in the exponent"),
            ("nul", 1, "expected a value"),
            ("{} x", 4, "text after the value"),
            ("\"é\" x", 5, "text after the value"),
        ] {
            assert_eq!(parse(text), Err(Error { column, message }), "{text:?}");
        }
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep).unwrap_err().message, "nested too deep");
        assert_eq!(from_slice::<String>(&[0xff]), None);
    }
}
