//! Writing canonical JSON: a serde serializer that writes RFC 8785 form directly.

use super::error::CanonicalError;
use super::order::{utf16_cmp, MAX_DEPTH};
use crate::money::MAX_JSON_INT;
use serde::Serialize;

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
