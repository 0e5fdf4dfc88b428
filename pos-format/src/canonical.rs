//! RFC 8785 canonical JSON, restricted to integers, for record bodies.
//!
//! A body is encoded once, at append, and its bytes are what is stored, hashed and signed. A
//! verifier never re-encodes a live struct: it checks that the stored bytes are already in
//! canonical form (parsing them and canonicalizing the parsed *JSON value*, which is independent
//! of any Rust type) and hashes the stored bytes as they are.
//!
//! Numbers must be integers of magnitude at most 2^53 - 1 (see [`crate::money::MAX_JSON_INT`]):
//! every JSON reader handles those exactly, and RFC 8785 then prints them as plain digits.

use crate::money::MAX_JSON_INT;
use serde::Serialize;
use serde_json::Value;

/// Why a body is not canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// The bytes are not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The top level is not an object.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// A number is fractional, has an exponent, or is outside +/-(2^53 - 1).
    #[error("body holds a number that is not an integer within +/-(2^53 - 1)")]
    NotAnInteger,
    /// Valid JSON, but not in RFC 8785 form (key order, spacing, escapes).
    #[error("body is not in RFC 8785 canonical form")]
    NotCanonical,
    /// A value could not be encoded.
    #[error("body cannot be encoded: {0}")]
    Encode(String),
}

/// Encodes `value` as canonical JSON bytes, checking the integer rule.
///
/// A serde serializer that writes the canonical form directly: no `serde_json::Value` tree is
/// built (that tree, a map and a string per field, was a third of an append's own work). An
/// object's members are written as they come, then put in key order in place.
pub fn to_canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let mut encoder = Encoder {
        out: Vec::with_capacity(1024),
        scratch: Vec::new(),
        depth: 0,
    };
    value.serialize(&mut encoder)?;
    match encoder.out.first() {
        Some(b'{') => Ok(encoder.out),
        _ => Err(CanonicalError::NotAnObject),
    }
}

impl serde::ser::Error for CanonicalError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CanonicalError::Encode(msg.to_string())
    }
}

struct Encoder {
    out: Vec<u8>,
    /// Where an object's members are reordered.
    scratch: Vec<u8>,
    depth: usize,
}

impl Encoder {
    fn integer(&mut self, negative: bool, magnitude: u64) -> Result<(), CanonicalError> {
        write_integer(negative, magnitude, &mut self.out)
            .then_some(())
            .ok_or(CanonicalError::NotAnInteger)
    }

    fn enter(&mut self) -> Result<(), CanonicalError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CanonicalError::Encode("nested too deep".into()));
        }
        Ok(())
    }
}

/// An array being written.
struct Seq<'a> {
    encoder: &'a mut Encoder,
    first: bool,
}

/// An object being written: its members' spans in `out`, sorted at the end.
struct Object<'a> {
    encoder: &'a mut Encoder,
    start: usize,
    /// (member start, key end, member end): the key is the member's first bytes.
    members: Vec<(usize, usize, usize)>,
    /// The pending member's start and key end (maps give the key and the value separately).
    pending: Option<(usize, usize)>,
    /// A map wrapping a variant (`{"Variant": ...}`): one more `}` at the end.
    variant: bool,
}

impl Seq<'_> {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CanonicalError> {
        if !self.first {
            self.encoder.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.encoder)
    }

    fn close(self, variant: bool) -> Result<(), CanonicalError> {
        self.encoder.out.push(b']');
        if variant {
            self.encoder.out.push(b'}');
        }
        self.encoder.depth -= 1;
        Ok(())
    }
}

impl Object<'_> {
    fn key_str(&mut self, key: &str) {
        if !self.members.is_empty() {
            self.encoder.out.push(b',');
        }
        let start = self.encoder.out.len();
        write_string(key, &mut self.encoder.out);
        let key_end = self.encoder.out.len();
        self.encoder.out.push(b':');
        self.pending = Some((start, key_end));
    }

    fn value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CanonicalError> {
        let (start, key_end) = self
            .pending
            .take()
            .ok_or_else(|| CanonicalError::Encode("a map value without its key".into()))?;
        value.serialize(&mut *self.encoder)?;
        self.members.push((start, key_end, self.encoder.out.len()));
        Ok(())
    }

    fn close(self) -> Result<(), CanonicalError> {
        let Object {
            encoder,
            start,
            mut members,
            variant,
            ..
        } = self;
        let out = &encoder.out;
        // Keys are compared as written (RFC 8785 escapes), through their decoded UTF-16 units.
        let key = |m: &(usize, usize, usize)| &out[m.0 + 1..m.1 - 1];
        let sorted = members
            .windows(2)
            .all(|w| utf16_cmp(key(&w[0]), key(&w[1])).is_lt());
        if !sorted {
            members.sort_by(|a, b| utf16_cmp(key(a), key(b)));
            // RFC 8785 objects have unique keys (a map and a flattened field could collide).
            if members
                .windows(2)
                .any(|w| utf16_cmp(key(&w[0]), key(&w[1])).is_eq())
            {
                return Err(CanonicalError::Encode("duplicate object key".into()));
            }
            let scratch = &mut encoder.scratch;
            scratch.clear();
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    scratch.push(b',');
                }
                scratch.extend_from_slice(&encoder.out[m.0..m.2]);
            }
            encoder.out.truncate(start);
            encoder.out.extend_from_slice(&encoder.scratch);
        }
        encoder.out.push(b'}');
        if variant {
            encoder.out.push(b'}');
        }
        encoder.depth -= 1;
        Ok(())
    }
}

impl<'a> serde::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), CanonicalError> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), CanonicalError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), CanonicalError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), CanonicalError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), CanonicalError> {
        self.integer(v < 0, v.unsigned_abs())
    }
    fn serialize_i128(self, v: i128) -> Result<(), CanonicalError> {
        let magnitude =
            u64::try_from(v.unsigned_abs()).map_err(|_| CanonicalError::NotAnInteger)?;
        self.integer(v < 0, magnitude)
    }
    fn serialize_u8(self, v: u8) -> Result<(), CanonicalError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), CanonicalError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), CanonicalError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), CanonicalError> {
        self.integer(false, v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), CanonicalError> {
        self.integer(
            false,
            u64::try_from(v).map_err(|_| CanonicalError::NotAnInteger)?,
        )
    }
    fn serialize_f32(self, _: f32) -> Result<(), CanonicalError> {
        Err(CanonicalError::NotAnInteger)
    }
    fn serialize_f64(self, _: f64) -> Result<(), CanonicalError> {
        Err(CanonicalError::NotAnInteger)
    }
    fn serialize_char(self, v: char) -> Result<(), CanonicalError> {
        write_string(v.encode_utf8(&mut [0; 4]), &mut self.out);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), CanonicalError> {
        write_string(v, &mut self.out);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CanonicalError> {
        // As serde_json does: an array of numbers.
        use serde::ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), CanonicalError> {
        self.serialize_unit()
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CanonicalError> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CanonicalError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), CanonicalError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        use serde::ser::SerializeMap;
        let mut object = self.serialize_map(Some(1))?;
        object.serialize_entry(variant, value)?;
        object.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, CanonicalError> {
        self.enter()?;
        self.out.push(b'[');
        Ok(Seq {
            encoder: self,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Seq<'a>, CanonicalError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a>, CanonicalError> {
        // `{"Variant":[...]}`: one member, so no ordering to do.
        self.enter()?;
        self.out.push(b'{');
        write_string(variant, &mut self.out);
        self.out.extend_from_slice(b":[");
        Ok(Seq {
            encoder: self,
            first: true,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Object<'a>, CanonicalError> {
        self.enter()?;
        self.out.push(b'{');
        let start = self.out.len();
        Ok(Object {
            encoder: self,
            start,
            members: Vec::with_capacity(len.unwrap_or(8)),
            pending: None,
            variant: false,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Object<'a>, CanonicalError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'a>, CanonicalError> {
        self.enter()?;
        self.out.push(b'{');
        write_string(variant, &mut self.out);
        self.out.extend_from_slice(b":{");
        let start = self.out.len();
        Ok(Object {
            encoder: self,
            start,
            members: Vec::with_capacity(len),
            pending: None,
            variant: true,
        })
    }
}

impl serde::ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_element<T: ?Sized + Serialize>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close(false)
    }
}

impl serde::ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_element<T: ?Sized + Serialize>(
        &mut self,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close(false)
    }
}

impl serde::ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close(false)
    }
}

impl serde::ser::SerializeTupleVariant for Seq<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.element(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close(true)
    }
}

impl serde::ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), CanonicalError> {
        let key = key.serialize(MapKey)?;
        self.key_str(&key);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CanonicalError> {
        self.value(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close()
    }
}

impl serde::ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.key_str(key);
        self.value(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close()
    }
}

impl serde::ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), CanonicalError> {
        self.key_str(key);
        self.value(value)
    }
    fn end(self) -> Result<(), CanonicalError> {
        self.close()
    }
}

/// Map keys: strings, or integers written as strings (as serde_json does); nothing else.
struct MapKey;

impl serde::Serializer for MapKey {
    type Ok = String;
    type Error = CanonicalError;
    type SerializeSeq = serde::ser::Impossible<String, CanonicalError>;
    type SerializeTuple = serde::ser::Impossible<String, CanonicalError>;
    type SerializeTupleStruct = serde::ser::Impossible<String, CanonicalError>;
    type SerializeTupleVariant = serde::ser::Impossible<String, CanonicalError>;
    type SerializeMap = serde::ser::Impossible<String, CanonicalError>;
    type SerializeStruct = serde::ser::Impossible<String, CanonicalError>;
    type SerializeStructVariant = serde::ser::Impossible<String, CanonicalError>;

    fn serialize_str(self, v: &str) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, CanonicalError> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, CanonicalError> {
        value.serialize(self)
    }
    fn serialize_i8(self, v: i8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, CanonicalError> {
        Ok(v.to_string())
    }
    fn serialize_bool(self, _: bool) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_f32(self, _: f32) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_f64(self, _: f64) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, CanonicalError> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CanonicalError> {
        Err(key_must_be_a_string())
    }
}

fn key_must_be_a_string() -> CanonicalError {
    CanonicalError::Encode("object keys must be strings".into())
}

/// The encoder before [`to_canonical`]: through a `serde_json::Value` tree. Kept as the
/// reference the tests compare with.
#[cfg(test)]
fn to_canonical_via_value<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let tree = serde_json::to_value(value).map_err(|e| CanonicalError::Encode(e.to_string()))?;
    if !tree.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    check_integers(&tree)?;
    let mut out = Vec::with_capacity(1024);
    write_canonical(&tree, &mut out);
    Ok(out)
}

/// Writes `v` in RFC 8785 form. Every number must already be an integer (see
/// [`check_integers`]), which RFC 8785 prints as plain digits.
///
/// `serde_json_canonicalizer` gives the same bytes, but it re-parses every object key to sort
/// it and buffers every value, which made encoding cost more than signing on the append path.
#[cfg(test)]
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let text = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(u)) => u.to_string(),
                _ => n.to_string(),
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Keys in UTF-16 code-unit order. The map iterates in UTF-8 byte order (or in
            // insertion order with serde_json's `preserve_order`), so sort unless already sorted.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if !entries.is_sorted_by(|a, b| utf16_str_cmp(a.0, b.0).is_le()) {
                entries.sort_by(|a, b| utf16_str_cmp(a.0, b.0));
            }
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
    }
}

/// Compares two strings by their UTF-16 code units.
#[cfg(test)]
fn utf16_str_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Writes a string as RFC 8785 does: `"` and `\` escaped, control characters as short escapes
/// or `\u00xx`, everything else as itself.
/// Writes an integer in canonical form (no `-0`); `false`, writing nothing, outside
/// +/-(2^53 - 1).
pub(crate) fn write_integer(negative: bool, magnitude: u64, out: &mut Vec<u8>) -> bool {
    if magnitude > MAX_JSON_INT as u64 {
        return false;
    }
    if negative && magnitude != 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut m = magnitude;
    loop {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    true
}

/// Writes `s` as a canonical JSON string (RFC 8785: only `"`, `\\` and control characters
/// escaped).
pub(crate) fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    let mut unicode = *b"\\u0000";
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0a => b"\\n",
            0x0c => b"\\f",
            0x0d => b"\\r",
            0x00..=0x1f => {
                unicode[4] = HEX[usize::from(b >> 4)];
                unicode[5] = HEX[usize::from(b & 0xf)];
                &unicode
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        out.extend_from_slice(escape);
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

/// Checks that `bytes` are a JSON object in canonical form with integers only, and returns the
/// parsed value.
pub fn check_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let tree: Value =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
    if !tree.is_object() {
        return Err(CanonicalError::NotAnObject);
    }
    check_integers(&tree)?;
    let again = serde_json_canonicalizer::to_vec(&tree)
        .map_err(|e| CanonicalError::Encode(e.to_string()))?;
    if again != bytes {
        return Err(CanonicalError::NotCanonical);
    }
    Ok(tree)
}

/// Checks that `bytes` are a JSON object in canonical form with integers only, like
/// [`check_canonical`], without building a tree.
///
/// The verifier runs this on every record, where parsing into a [`Value`] and encoding it again
/// cost more than everything else but the signature check. A single scan, without allocating,
/// accepts exactly the canonical bodies; anything it does not accept (a tampered record, rare)
/// goes through [`check_canonical`], so that the error reported is the same.
pub fn validate_canonical(bytes: &[u8]) -> Result<(), CanonicalError> {
    if is_surely_canonical(bytes) {
        Ok(())
    } else {
        check_canonical(bytes).map(|_| ())
    }
}

/// Whether `bytes` are, beyond doubt, an object in canonical form with integers in range: the
/// parse-and-re-encode check accepts every input this accepts. It may refuse more (it does not
/// try to tell why an input is wrong): callers fall back to that check when it says no.
pub fn is_surely_canonical(bytes: &[u8]) -> bool {
    // Checking UTF-8 up front lets the scanner take every non-ASCII byte of a string as part of
    // a valid character, written as itself as canonical form wants.
    if std::str::from_utf8(bytes).is_err() || bytes.first() != Some(&b'{') {
        return false;
    }
    let mut v = Scanner { bytes, pos: 0 };
    v.value(0).is_some() && v.pos == bytes.len()
}

/// Nesting depth at which `serde_json` refuses an input; the scanner stops before it.
const MAX_DEPTH: usize = 127;

/// A scanner of canonical JSON: no whitespace, keys sorted by UTF-16 code units and unique,
/// integers within +/-(2^53 - 1) in plain digits, strings with only the escapes RFC 8785 writes.
/// Each step returns `None` on the first thing that is not so.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => self.integer(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.pos..]
            .starts_with(word)
            .then(|| self.pos += word.len())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut previous: Option<&'a [u8]> = None;
        loop {
            let key = self.string()?;
            // Strictly increasing: equal keys (duplicates) are not canonical either.
            if let Some(prev) = previous {
                if utf16_cmp(prev, key) != std::cmp::Ordering::Less {
                    return None;
                }
            }
            previous = Some(key);
            self.eat(b':')?;
            self.value(depth)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Scans a string; returns its raw content (between the quotes, escapes undecoded).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let bytes: &'a [u8] = self.bytes;
        let start = self.pos;
        loop {
            self.skip_plain();
            match *bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(&bytes[start..self.pos - 1]);
                }
                0x00..=0x1f => return None,
                b'\\' => {
                    let escape = bytes.get(self.pos + 1..)?;
                    self.pos += match *escape.first()? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        // Canonical form uses `\u` only for the control characters without a
                        // short escape, in lowercase hex.
                        b'u' => match escape.get(1..5)? {
                            [b'0', b'0', b'0', b'0'..=b'7' | b'b' | b'e' | b'f']
                            | [b'0', b'0', b'1', b'0'..=b'9' | b'a'..=b'f'] => 6,
                            _ => return None,
                        },
                        _ => return None,
                    };
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips the bytes of a string that stand for themselves, eight at a time: string contents
    /// are most of a body, and a byte-by-byte loop made this check cost a third of decoding.
    fn skip_plain(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // A lane of `x` is flagged if it is zero; flags may also appear above a flagged lane,
        // which only sends that word to the byte-by-byte loop.
        let zero_lane = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        while let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
            let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            let special = zero_lane(x ^ (ONES * u64::from(b'"')))
                | zero_lane(x ^ (ONES * u64::from(b'\\')))
                | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
            if special != 0 {
                break;
            }
            self.pos += 8;
        }
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return;
            }
            self.pos += 1;
        }
    }

    /// An integer in plain digits within +/-(2^53 - 1), and not `-0` (a float to JSON readers).
    fn integer(&mut self) -> Option<()> {
        let negative = self.eat(b'-').is_some();
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let digits = &self.bytes[start..self.pos];
        let plain = match digits {
            [b'0'] => !negative,
            [b'1'..=b'9', ..] => digits.len() <= 16,
            _ => false,
        };
        if !plain || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        (value <= MAX_JSON_INT).then_some(())
    }
}

/// Compares two raw JSON string contents (escapes undecoded, both already scanned as valid) by
/// their UTF-16 code units, as RFC 8785 orders object keys.
fn utf16_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    // The common case, plain keys: byte order is code-unit order for ASCII.
    let plain = |s: &[u8]| s.iter().all(|&c| c != b'\\' && c.is_ascii());
    if plain(a) && plain(b) {
        return a.cmp(b);
    }
    Utf16Units::new(a).cmp(Utf16Units::new(b))
}

/// The UTF-16 code units of a scanned JSON string's raw content.
struct Utf16Units<'a> {
    rest: &'a [u8],
    pending: Option<u16>,
}

impl<'a> Utf16Units<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Utf16Units {
            rest: raw,
            pending: None,
        }
    }

    fn hex(digits: &[u8]) -> u16 {
        digits.iter().fold(0u16, |n, &d| {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                _ => d.wrapping_sub(b'A').wrapping_add(10),
            };
            n << 4 | u16::from(v)
        })
    }
}

impl Iterator for Utf16Units<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if let Some(u) = self.pending.take() {
            return Some(u);
        }
        let (&first, _) = self.rest.split_first()?;
        if first == b'\\' {
            let e = *self.rest.get(1)?;
            let (unit, len) = match e {
                b'b' => (0x08, 2),
                b'f' => (0x0c, 2),
                b'n' => (0x0a, 2),
                b'r' => (0x0d, 2),
                b't' => (0x09, 2),
                b'u' => (Self::hex(self.rest.get(2..6)?), 6),
                other => (u16::from(other), 2),
            };
            self.rest = &self.rest[len..];
            return Some(unit);
        }
        // A whole UTF-8 character (the input was checked to be UTF-8).
        let len = match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        let c = std::str::from_utf8(self.rest.get(..len)?)
            .ok()?
            .chars()
            .next()?;
        self.rest = &self.rest[len..];
        let mut buf = [0u16; 2];
        let units = c.encode_utf16(&mut buf);
        if units.len() == 2 {
            self.pending = Some(units[1]);
        }
        Some(units[0])
    }
}

fn check_integers(v: &Value) -> Result<(), CanonicalError> {
    match v {
        Value::Number(n) => {
            let ok = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() <= MAX_JSON_INT as u64,
                (None, Some(u)) => u <= MAX_JSON_INT as u64,
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(CanonicalError::NotAnInteger)
            }
        }
        Value::Array(items) => items.iter().try_for_each(check_integers),
        Value::Object(map) => map.values().try_for_each(check_integers),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_keys_and_drops_spaces() {
        let v = serde_json::json!({"b": 1, "a": [true, null, "é\n"], "A": {"z": -3}});
        let bytes = to_canonical(&v).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"A":{"z":-3},"a":[true,null,"é\n"],"b":1}"#
        );
        check_canonical(&bytes).unwrap();
    }

    /// The scanner accepts exactly what the parse-and-re-encode check accepts, and the validator
    /// reports the same error kind.
    fn same_verdict(bytes: &[u8]) {
        let reference = check_canonical(bytes).map(|_| ());
        assert_eq!(
            is_surely_canonical(bytes),
            reference.is_ok(),
            "scanner on {:?}: reference says {reference:?}",
            String::from_utf8_lossy(bytes)
        );
        assert_eq!(validate_canonical(bytes), reference);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn encoder_matches_reference_canonicalizer(
            fields in prop::collection::btree_map(json_string(), json_value(), 0..6),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            match to_canonical(&object) {
                Ok(bytes) => {
                    prop_assert_eq!(&bytes, &serde_json_canonicalizer::to_vec(&object).unwrap());
                    prop_assert!(is_surely_canonical(&bytes));
                }
                Err(e) => prop_assert_eq!(check_integers(&object), Err(e)),
            }
        }
    }

    fn text() -> impl Strategy<Value = String> {
        // Quotes, backslashes, control characters, non-ASCII and astral characters.
        "[a-zA-Z0-9 \"\\\\\u{1}\u{1f}\n\té€\u{10000}\u{1f950}]{1,12}"
    }

    fn sale_text() -> impl Strategy<Value = String> {
        // What a ticket accepts: no control characters, no blank text.
        "[a-zA-Z0-9][a-zA-Z0-9 \"\\\\é€\u{10000}\u{1f950}]{0,10}[a-zA-Z0-9]"
    }

    proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The direct encoder writes the same bytes as the encoder through a `Value` tree, on
        /// the structs the journal stores (sales with every kind of text, events with maps).
        #[test]
        fn direct_encoder_matches_the_value_tree_on_bodies(
            operator in sale_text(),
            lines in prop::collection::vec(
                (sale_text(), sale_text(), 1i64..5000, 0i64..100_000, 0usize..5),
                1..5,
            ),
            discount in 0i64..50,
            details in prop::collection::btree_map(text(), text(), 0..4),
            code_operator in prop::option::of(text()),
        ) {
            use crate::ticket::*;
            use crate::money::*;
            let rates = crate::sample::FRENCH_VAT_RATES;
            let input = SaleInput {
                operator,
                lines: lines
                    .iter()
                    .map(|(sku, label, q, price, rate)| LineInput {
                        sku: sku.clone(),
                        label: label.clone(),
                        quantity: Qty(*q),
                        unit: if q % 2 == 0 { Unit::Kg } else { Unit::Piece },
                        unit_price: Cents(*price),
                        vat_rate: rates[*rate],
                        discount: Cents::ZERO,
                    })
                    .collect(),
                ticket_discount: Cents(discount),
                payments: vec![Payment { method: PaymentMethod::Cash, amount: Cents(10_000_000) }],
            };
            let body = compute_sale(&input, &rates);
            prop_assert!(body.is_ok() || discount > 0, "{:?}", body);
            if let Ok(body) = body {
                let direct = to_canonical(&body).unwrap();
                prop_assert_eq!(&direct, &to_canonical_via_value(&body).unwrap());
                prop_assert!(validate_canonical(&direct).is_ok());
            }
            let event = crate::body::EventBody {
                code: "configuration_changed".into(),
                message: "réglage \"x\"".into(),
                operator: code_operator,
                details,
            };
            prop_assert_eq!(to_canonical(&event).unwrap(), to_canonical_via_value(&event).unwrap());
        }
    }

    #[test]
    fn direct_encoder_errors_like_the_value_tree() {
        #[derive(Serialize)]
        struct Big {
            n: u64,
        }
        #[derive(Serialize)]
        struct Float {
            x: f64,
        }
        let too_big = Big {
            n: MAX_JSON_INT as u64 + 1,
        };
        assert_eq!(to_canonical(&too_big), Err(CanonicalError::NotAnInteger));
        assert_eq!(to_canonical(&too_big), to_canonical_via_value(&too_big));
        assert_eq!(
            to_canonical(&Float { x: 1.0 }),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(to_canonical(&[1, 2]), Err(CanonicalError::NotAnObject));
        assert_eq!(to_canonical(&"text"), Err(CanonicalError::NotAnObject));
        assert_eq!(
            to_canonical(&-(MAX_JSON_INT)),
            Err(CanonicalError::NotAnObject)
        );
        let mut by_number = std::collections::BTreeMap::new();
        by_number.insert(10u32, "ten");
        by_number.insert(9u32, "nine");
        // Integer keys become strings, ordered as strings ("10" before "9").
        assert_eq!(
            to_canonical(&by_number).unwrap(),
            br#"{"10":"ten","9":"nine"}"#
        );
        assert_eq!(to_canonical(&by_number), to_canonical_via_value(&by_number));
        // A flattened map repeating a field's key is not an RFC 8785 object.
        #[derive(Serialize)]
        struct Clash {
            a: u8,
            #[serde(flatten)]
            more: std::collections::BTreeMap<String, u8>,
        }
        let clash = Clash {
            a: 1,
            more: [("a".to_string(), 2)].into_iter().collect(),
        };
        assert!(matches!(
            to_canonical(&clash),
            Err(CanonicalError::Encode(_))
        ));
    }

    #[test]
    fn encoder_output_takes_the_fast_path() {
        let opening = to_canonical(&crate::sample::sample_opening()).unwrap();
        assert!(is_surely_canonical(&opening));
        let escapes =
            to_canonical(&serde_json::json!({"a": "\u{1}\u{b}\u{1f}\"\\\n\t/é"})).unwrap();
        assert!(is_surely_canonical(&escapes));
    }

    #[test]
    fn scanner_finds_special_bytes_at_every_offset() {
        // Long strings take the eight-bytes-at-a-time path; put each kind of special byte at
        // every offset of a word, as text and as raw bytes.
        for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '\u{7f}', '😀'] {
            for len in 0..40 {
                for at in 0..=len {
                    let mut text: String = "x".repeat(len);
                    text.insert(at, special);
                    let body = to_canonical(&serde_json::json!({ "k": text })).unwrap();
                    assert!(is_surely_canonical(&body), "{text:?}");
                    let mut raw = br#"{"k":""#.to_vec();
                    raw.extend(std::iter::repeat_n(b'x', at));
                    let mut utf8 = [0; 4];
                    raw.extend_from_slice(special.encode_utf8(&mut utf8).as_bytes());
                    raw.extend(std::iter::repeat_n(b'x', len - at));
                    raw.extend_from_slice(br#""}"#);
                    same_verdict(&raw);
                }
            }
        }
    }

    #[test]
    fn validator_agrees_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"",
            b" ",
            b"{}",
            b" {}",
            b"{} ",
            b"{}x",
            b"[]",
            b"1",
            b"\"a\"",
            b"null",
            b"{\"a\":-0}",
            b"{\"a\":0}",
            b"{\"a\":-1}",
            b"{\"a\":01}",
            b"{\"a\":-}",
            b"{\"a\":1.}",
            b"{\"a\":1e5}",
            b"{\"a\":1E+5}",
            b"{\"a\":1e400}",
            b"{\"a\":-1e400}",
            b"{\"a\":9007199254740991}",
            b"{\"a\":-9007199254740991}",
            b"{\"a\":9007199254740992}",
            b"{\"a\":123456789012345678901234567890}",
            b"{\"a\":1,\"a\":1}",
            b"{\"a\":1,\"a\":2}",
            b"{\"b\":1,\"a\":2}",
            b"{\"a\":\"\\/\"}",
            b"{\"a\":\"/\"}",
            b"{\"a\":\"\\u001f\"}",
            b"{\"a\":\"\\u001F\"}",
            b"{\"a\":\"\\u000a\"}",
            b"{\"a\":\"\\n\"}",
            b"{\"a\":\"\\u00e9\"}",
            b"{\"a\":\"\\ud83d\\ude00\"}",
            b"{\"a\":\"\\ud83d\"}",
            b"{\"a\":\"\\ude00\"}",
            b"{\"a\":\"\\ud83d\\u0041\"}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\x7f\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":tru}",
            b"{\"a\":true,}",
            b"{\"a\":[1,]}",
            b"{\"a\":[1 ,2]}",
            b"{\"a\"\n:1}",
            b"{\"\\u0041\":1}",
            b"{\"\\u0061\":1,\"b\":2}",
            // U+E000 sorts after U+1F600 in UTF-8 order but before it in UTF-16 order.
            "{\"\u{e000}\":1,\"\u{1f600}\":2}".as_bytes(),
            "{\"\u{1f600}\":1,\"\u{e000}\":2}".as_bytes(),
            b"{\"a\":1}\n",
            b"{\"a\":1.5,\"b\" :1}",
            b"[1.5]",
            b"{\"b\":1.5,\"a\":1}",
        ];
        for case in cases {
            same_verdict(case);
        }
        let deep = |n: usize| {
            let mut v = b"{\"a\":".to_vec();
            v.extend(std::iter::repeat_n(b'[', n));
            v.extend(std::iter::repeat_n(b']', n));
            v.push(b'}');
            v
        };
        for n in [125, 126, 127, 128, 200] {
            same_verdict(&deep(n));
        }
    }

    fn json_string() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            '"',
            '\\',
            '/',
            '\u{0}',
            '\u{8}',
            '\t',
            '\n',
            '\u{c}',
            '\r',
            '\u{1f}',
            '\u{7f}',
            'a',
            'b',
            'A',
            'é',
            '\u{2028}',
            '\u{e000}',
            '\u{ffff}',
            '\u{10000}',
            '\u{1f600}',
        ]);
        prop::collection::vec(prop_oneof![special, any::<char>()], 0..6).prop_map(String::from_iter)
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-(MAX_JSON_INT + 2)..=MAX_JSON_INT + 2).prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            prop::sample::select(vec![0.5, -0.0, 1e300, -2.5e-7]).prop_map(Value::from),
            json_string().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(json_string(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn validator_agrees_with_reencoding(
            fields in prop::collection::btree_map(json_string(), json_value(), 0..6),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, prop::sample::select(
                b" \t\n\\\"/,:{}[]0123-.eEu+AafF\x01\x1f\xc3\xa9".to_vec())), 0..4),
        ) {
            let object = Value::Object(fields.into_iter().collect());
            let canonical = serde_json_canonicalizer::to_vec(&object).unwrap();
            same_verdict(&canonical);
            // serde_json's own encodings: keys in UTF-8 order, and with whitespace.
            same_verdict(&serde_json::to_vec(&object).unwrap());
            same_verdict(&serde_json::to_vec_pretty(&object).unwrap());
            // Small edits of the canonical bytes: most break something, some do not.
            let mut bytes = canonical;
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 => bytes.insert(i, byte),
                    1 if i < bytes.len() => { bytes.remove(i); }
                    2 if i < bytes.len() => bytes[i] = byte,
                    3 if i + 1 < bytes.len() => bytes.swap(i, i + 1),
                    _ => {}
                }
                same_verdict(&bytes);
            }
        }
    }

    #[test]
    fn rejects_non_canonical_and_floats() {
        assert_eq!(
            check_canonical(br#"{"b":1,"a":2}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a": 2}"#),
            Err(CanonicalError::NotCanonical)
        );
        assert_eq!(
            check_canonical(br#"{"a":1.5}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(
            check_canonical(br#"{"a":9007199254740992}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(
            check_canonical(br#"{"a":-9223372036854775808}"#),
            Err(CanonicalError::NotAnInteger)
        );
        assert_eq!(check_canonical(b"[1]"), Err(CanonicalError::NotAnObject));
        assert!(matches!(
            check_canonical(b"{"),
            Err(CanonicalError::NotJson(_))
        ));
        assert!(to_canonical(&serde_json::json!({"x": 0.5})).is_err());
    }
}
