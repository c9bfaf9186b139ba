//! The subset of OER (Octet Encoding Rules, canonical form) that Interledger
//! uses, as described by RFC 30: fixed-size big-endian integers, fixed-length
//! octet strings, length determinants, variable-length octet strings and
//! variable-length unsigned integers.
//!
//! Reading is strict: a length determinant must be in its canonical form
//! (short form below 128; long form without leading zero bytes and with a
//! length-of-length of 1 to 8), and a variable-length unsigned integer must use
//! the fewest bytes (1 to 8). Every error names the field being read.

use bytes::{BufMut, Bytes};

/// Why OER input could not be read: the bottom of the codec errors
/// ([`crate::packet::ParseError`] wraps it, and BTP's error wraps that).
/// Every variant names the field being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OerError {
    /// The input ended before the field it names.
    #[error("packet truncated while reading {0}")]
    Truncated(&'static str),
    /// A length prefix was not in canonical OER form.
    #[error("non-canonical length prefix in {0}")]
    NonCanonicalLength(&'static str),
    /// Bytes were left over after the field it names.
    #[error("trailing bytes after {0}")]
    TrailingBytes(&'static str),
    /// A variable-length integer broke the canonical form.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Most bytes a long-form length determinant may use for the length itself.
pub const MAX_LENGTH_OF_LENGTH: usize = 8;

/// A cursor over encoded bytes.
///
/// Built over a [`Bytes`] with [`Reader::from_bytes`], the `*_bytes` methods
/// hand out zero-copy slices of it; built over a plain slice with
/// [`Reader::new`], they copy.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    owner: Option<&'a Bytes>,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a plain slice.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            owner: None,
            pos: 0,
        }
    }

    /// A reader over a [`Bytes`]; the `*_bytes` methods return slices sharing it.
    pub fn from_bytes(buf: &'a Bytes) -> Self {
        Reader {
            buf: buf.as_ref(),
            owner: Some(buf),
            pos: 0,
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes have been read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails with [`OerError::TrailingBytes`] naming `after` unless every byte
    /// has been read.
    pub fn finish(&self, after: &'static str) -> Result<(), OerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(OerError::TrailingBytes(after))
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_fixed(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], OerError> {
        if self.remaining() < n {
            return Err(OerError::Truncated(field));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    /// Reads exactly `N` bytes into an array.
    pub fn read_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], OerError> {
        let s = self.read_fixed(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads exactly `n` bytes as [`Bytes`] (zero-copy when built with
    /// [`Reader::from_bytes`]).
    pub fn read_fixed_bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, OerError> {
        let start = self.pos;
        let s = self.read_fixed(n, field)?;
        Ok(self.share(start, s))
    }

    /// Reads one byte.
    pub fn read_u8(&mut self, field: &'static str) -> Result<u8, OerError> {
        Ok(self.read_array::<1>(field)?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn read_u16(&mut self, field: &'static str) -> Result<u16, OerError> {
        Ok(u16::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a big-endian `u32`.
    pub fn read_u32(&mut self, field: &'static str) -> Result<u32, OerError> {
        Ok(u32::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a big-endian `u64`.
    pub fn read_u64(&mut self, field: &'static str) -> Result<u64, OerError> {
        Ok(u64::from_be_bytes(self.read_array(field)?))
    }

    /// Reads a canonical length determinant.
    ///
    /// Rejects the indefinite form (`0x80`), a length-of-length above
    /// [`MAX_LENGTH_OF_LENGTH`], leading zero bytes in the long form and the long
    /// form for a length below 128. Does not check that the length fits in what
    /// is left; [`Reader::read_var_octets`] does.
    pub fn read_length(&mut self, field: &'static str) -> Result<usize, OerError> {
        let first = self.read_u8(field)?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > MAX_LENGTH_OF_LENGTH {
            return Err(OerError::NonCanonicalLength(field));
        }
        let bytes = self.read_fixed(n, field)?;
        if bytes[0] == 0 {
            return Err(OerError::NonCanonicalLength(field));
        }
        let value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if value < 0x80 {
            return Err(OerError::NonCanonicalLength(field));
        }
        // A length that does not fit in usize can never fit in the input.
        usize::try_from(value).map_err(|_| OerError::Truncated(field))
    }

    /// Reads a variable-length octet string (length determinant, then that many bytes).
    pub fn read_var_octets(&mut self, field: &'static str) -> Result<&'a [u8], OerError> {
        let len = self.read_length(field)?;
        self.read_fixed(len, field)
    }

    /// Reads a variable-length octet string as [`Bytes`] (zero-copy when built
    /// with [`Reader::from_bytes`]).
    pub fn read_var_octets_bytes(&mut self, field: &'static str) -> Result<Bytes, OerError> {
        let len = self.read_length(field)?;
        self.read_fixed_bytes(len, field)
    }

    /// Reads a canonical variable-length unsigned integer: a length determinant
    /// of 1 to 8, then that many big-endian bytes with no leading zero byte
    /// (except the single byte of the value 0).
    pub fn read_var_uint(&mut self, field: &'static str) -> Result<u64, OerError> {
        let len = self.read_length(field)?;
        if len == 0 {
            return Err(OerError::Invalid {
                field,
                reason: "variable-length integer of zero bytes".into(),
            });
        }
        if len > 8 {
            return Err(OerError::Invalid {
                field,
                reason: format!("variable-length integer of {len} bytes does not fit in 64 bits"),
            });
        }
        let bytes = self.read_fixed(len, field)?;
        if len > 1 && bytes[0] == 0 {
            return Err(OerError::Invalid {
                field,
                reason: "variable-length integer has a leading zero byte".into(),
            });
        }
        Ok(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn share(&self, start: usize, s: &[u8]) -> Bytes {
        match self.owner {
            Some(owner) => owner.slice(start..start + s.len()),
            None => Bytes::copy_from_slice(s),
        }
    }
}

/// How many bytes the length determinant of `len` takes.
pub const fn length_prefix_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + uint_len(len as u64)
    }
}

/// How many bytes a variable-length octet string of `len` bytes takes, prefix included.
pub const fn var_octets_len(len: usize) -> usize {
    length_prefix_len(len) + len
}

/// How many bytes `v` takes as a variable-length unsigned integer, prefix included.
pub const fn var_uint_len(v: u64) -> usize {
    1 + uint_len(v)
}

/// Fewest bytes (at least 1) holding `v` big-endian.
const fn uint_len(v: u64) -> usize {
    if v == 0 {
        1
    } else {
        (64 - v.leading_zeros() as usize).div_ceil(8)
    }
}

/// Writes the canonical length determinant of `len`.
pub fn write_length_prefix<B: BufMut + ?Sized>(buf: &mut B, len: usize) {
    if len < 0x80 {
        buf.put_u8(len as u8);
    } else {
        let n = uint_len(len as u64);
        buf.put_u8(0x80 | n as u8);
        buf.put_slice(&(len as u64).to_be_bytes()[8 - n..]);
    }
}

/// Writes a variable-length octet string.
pub fn write_var_octets<B: BufMut + ?Sized>(buf: &mut B, data: &[u8]) {
    write_length_prefix(buf, data.len());
    buf.put_slice(data);
}

/// Writes a canonical variable-length unsigned integer.
pub fn write_var_uint<B: BufMut + ?Sized>(buf: &mut B, v: u64) {
    let n = uint_len(v);
    buf.put_u8(n as u8);
    buf.put_slice(&v.to_be_bytes()[8 - n..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn rfc30_length_examples() {
        // RFC 30, "Length determinant" examples.
        for (enc, val) in [
            ("07", 7u64),
            ("8182", 130),
            ("821234", 4660),
            ("83ABCDEF", 11_259_375),
            ("88AC01055A1DEBAC1E", 12_394_193_534_107_495_454),
        ] {
            let bytes = h(enc);
            let mut r = Reader::new(&bytes);
            match usize::try_from(val) {
                Ok(v) => assert_eq!(r.read_length("len").unwrap(), v, "{enc}"),
                Err(_) => continue,
            }
            assert!(r.is_empty());
            let mut out = Vec::new();
            write_length_prefix(&mut out, val as usize);
            assert_eq!(out, bytes, "{enc}");
            assert_eq!(length_prefix_len(val as usize), bytes.len());
        }
    }

    #[test]
    fn rejects_non_canonical_lengths() {
        for enc in [
            "80",                   // indefinite form
            "8105",                 // long form for a short length
            "817f",                 // long form for 127
            "820080",               // leading zero
            "89010203040506070809", // length-of-length 9
            "ff",                   // length-of-length 127
        ] {
            let bytes = h(enc);
            let err = Reader::new(&bytes).read_length("len").unwrap_err();
            assert_eq!(err, OerError::NonCanonicalLength("len"), "{enc}");
        }
        // 0x81 0x80 is canonical.
        assert_eq!(Reader::new(&h("8180")).read_length("len").unwrap(), 128);
    }

    #[test]
    fn truncated_reads() {
        assert_eq!(
            Reader::new(&[]).read_u8("x").unwrap_err(),
            OerError::Truncated("x")
        );
        assert_eq!(
            Reader::new(&h("82 01")).read_length("x").unwrap_err(),
            OerError::Truncated("x")
        );
        assert_eq!(
            Reader::new(&h("03 0102")).read_var_octets("x").unwrap_err(),
            OerError::Truncated("x")
        );
        assert_eq!(
            Reader::new(&h("00000000000000")).read_u64("x").unwrap_err(),
            OerError::Truncated("x")
        );
        // An absurd long-form length is a truncation, never an allocation.
        assert_eq!(
            Reader::new(&h("88 ffffffffffffffff 00"))
                .read_var_octets("x")
                .unwrap_err(),
            OerError::Truncated("x")
        );
    }

    #[test]
    fn var_uint_round_trips_and_is_canonical() {
        for v in [0u64, 1, 127, 128, 255, 256, 65_535, 65_536, u64::MAX] {
            let mut out = Vec::new();
            write_var_uint(&mut out, v);
            assert_eq!(out.len(), var_uint_len(v));
            let mut r = Reader::new(&out);
            assert_eq!(r.read_var_uint("n").unwrap(), v);
            r.finish("n").unwrap();
        }
        assert_eq!(
            hex::encode({
                let mut o = Vec::new();
                write_var_uint(&mut o, 4);
                o
            }),
            "0104"
        );
        for bad in ["00", "020001", "09010203040506070809", "0200"] {
            let bytes = h(bad);
            assert!(Reader::new(&bytes).read_var_uint("n").is_err(), "{bad}");
        }
    }

    #[test]
    fn var_octets_round_trip_and_share() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let data = vec![0xabu8; len];
            let mut out = Vec::new();
            write_var_octets(&mut out, &data);
            assert_eq!(out.len(), var_octets_len(len));
            let b = Bytes::from(out);
            let mut r = Reader::from_bytes(&b);
            let got = r.read_var_octets_bytes("d").unwrap();
            assert_eq!(&got[..], &data[..]);
            r.finish("d").unwrap();
            if len > 0 {
                // Zero-copy: the slice points into the input.
                let off = got.as_ptr() as usize - b.as_ptr() as usize;
                assert_eq!(off, length_prefix_len(len));
            }
        }
    }

    #[test]
    fn fixed_ints_are_big_endian() {
        // RFC 30, fixed-length unsigned integer examples.
        assert_eq!(Reader::new(&h("1234")).read_u16("x").unwrap(), 4660);
        assert_eq!(
            Reader::new(&h("ABABABAB")).read_u32("x").unwrap(),
            2_880_154_539
        );
        assert_eq!(
            Reader::new(&h("AC01055A1DEBAC1E")).read_u64("x").unwrap(),
            12_394_193_534_107_495_454
        );
        let r = Reader::new(&[1, 2]);
        assert_eq!(r.finish("x").unwrap_err(), OerError::TrailingBytes("x"));
    }
}
