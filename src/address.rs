//! ILP addresses (RFC 15): validated strings such as `g.connector-a.receiver`.
//!
//! An address matches
//! `^(g|private|example|peer|self|test[1-3]?|local)([.][a-zA-Z0-9_~-]+)+$` and has
//! at most [`MAX_ADDRESS_LEN`] characters. The check is written by hand.

use std::fmt;
use std::str::FromStr;

/// Most characters an address may have.
pub const MAX_ADDRESS_LEN: usize = 1023;

/// The allocation schemes an address may start with (RFC 15).
pub const SCHEMES: [&str; 10] = [
    "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local",
];

/// A valid ILP address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Why a string is not a valid ILP address. The message names the rule and
/// shows the input (cut short after 80 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The input is empty.
    #[error("invalid ILP address \"\": an address cannot be empty")]
    Empty,
    /// More than [`MAX_ADDRESS_LEN`] characters.
    #[error("invalid ILP address {}: {len} characters, more than the maximum of 1023", shown(.input))]
    TooLong {
        /// The input.
        input: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The first segment is not one of [`SCHEMES`].
    #[error("invalid ILP address {}: scheme {scheme:?} is not one of g, private, example, peer, self, test, test1, test2, test3, local", shown(.input))]
    BadScheme {
        /// The input.
        input: String,
        /// The first segment.
        scheme: String,
    },
    /// Only a scheme, with no segment after it.
    #[error("invalid ILP address {}: needs at least one segment after the scheme (e.g. \"g.alice\")", shown(.input))]
    NoSegment {
        /// The input.
        input: String,
    },
    /// Two dots in a row, or a dot at the start or end.
    #[error("invalid ILP address {}: empty segment at byte {index} (leading, trailing or double '.')", shown(.input))]
    EmptySegment {
        /// The input.
        input: String,
        /// Byte offset of the empty segment.
        index: usize,
    },
    /// A character other than `a-z A-Z 0-9 _ ~ -` in a segment.
    #[error("invalid ILP address {}: character {ch:?} at byte {index} is not allowed (only a-z A-Z 0-9 _ ~ - and '.' between segments)", shown(.input))]
    BadCharacter {
        /// The input.
        input: String,
        /// The offending character.
        ch: char,
        /// Its byte offset.
        index: usize,
    },
}

fn shown(input: &str) -> String {
    const MAX: usize = 80;
    if input.chars().count() <= MAX {
        format!("{input:?}")
    } else {
        let cut: String = input.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}

/// Which bytes may appear in a segment: `a-z A-Z 0-9 _ ~ -`.
const SEGMENT_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'~' || c == b'-';
        b += 1;
    }
    t
};

fn is_segment_char(b: u8) -> bool {
    SEGMENT_CHARS[usize::from(b)]
}

/// The first rule an address breaks, found on its bytes. Every byte the
/// rules accept is ASCII, so bytes with no violation are valid UTF-8 too:
/// the packet path checks a destination in this one pass, and only a
/// rejected one is decoded for its error ([`validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    Empty,
    TooLong,
    /// Byte offset of the empty segment.
    EmptySegment(usize),
    /// Byte offset of the first character not allowed.
    BadCharacter(usize),
    /// The scheme, `bytes[..end]`, is made of segment characters but is not
    /// a scheme.
    BadScheme(usize),
    NoSegment,
}

fn first_violation(bytes: &[u8]) -> Option<Violation> {
    if bytes.is_empty() {
        return Some(Violation::Empty);
    }
    if bytes.len() > MAX_ADDRESS_LEN {
        return Some(Violation::TooLong);
    }
    let scheme_end = bytes.iter().position(|&b| b == b'.').unwrap_or(bytes.len());
    let scheme = &bytes[..scheme_end];
    // `g` first: nearly every address on the packet path is global.
    if scheme != b"g" && !SCHEMES.iter().any(|s| s.as_bytes() == scheme) {
        // Report an empty segment or a bad character before a bad scheme when
        // the "scheme" is not even made of segment characters (".test.alice",
        // "examp*e.alice"). `is_segment_char` is false for every non-ASCII
        // byte, so the first one found starts a character.
        if scheme.is_empty() {
            return Some(Violation::EmptySegment(0));
        }
        if let Some(index) = scheme.iter().position(|&b| !is_segment_char(b)) {
            return Some(Violation::BadCharacter(index));
        }
        return Some(Violation::BadScheme(scheme_end));
    }
    if scheme_end == bytes.len() {
        return Some(Violation::NoSegment);
    }
    let mut segment_len = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(scheme_end + 1) {
        if b == b'.' {
            if segment_len == 0 {
                return Some(Violation::EmptySegment(i));
            }
            segment_len = 0;
        } else if is_segment_char(b) {
            segment_len += 1;
        } else {
            return Some(Violation::BadCharacter(i));
        }
    }
    if segment_len == 0 {
        return Some(Violation::EmptySegment(bytes.len()));
    }
    None
}

/// Checks `s` against the address rules.
fn validate(s: &str) -> Result<(), AddressError> {
    let Some(violation) = first_violation(s.as_bytes()) else {
        return Ok(());
    };
    let input = s.to_owned();
    Err(match violation {
        Violation::Empty => AddressError::Empty,
        Violation::TooLong => AddressError::TooLong {
            input,
            len: s.len(),
        },
        Violation::EmptySegment(index) => AddressError::EmptySegment { input, index },
        Violation::BadCharacter(index) => AddressError::BadCharacter {
            ch: s[index..].chars().next().unwrap_or('\u{fffd}'),
            input,
            index,
        },
        Violation::BadScheme(end) => AddressError::BadScheme {
            scheme: s[..end].to_owned(),
            input,
        },
        Violation::NoSegment => AddressError::NoSegment { input },
    })
}

impl Address {
    /// Validates and wraps an address.
    pub fn new(s: impl Into<String>) -> Result<Address, AddressError> {
        let s = s.into();
        validate(&s)?;
        Ok(Address(s))
    }

    /// Validates raw bytes (as read off the wire) as an address.
    pub fn from_ascii(bytes: &[u8]) -> Result<Address, AddressError> {
        Address::check_ascii(bytes).map(|s| Address(s.to_owned()))
    }

    /// Validates raw bytes (as read off the wire) as an address without
    /// allocating, with the same rules and errors as [`Address::from_ascii`]:
    /// the packet path reads a Prepare's destination in place.
    pub fn check_ascii(bytes: &[u8]) -> Result<&str, AddressError> {
        // One pass accepts the valid addresses (all ASCII, so `from_utf8`
        // takes its fast path); only a rejected input goes through UTF-8
        // decoding and [`validate`] again, for its error.
        if first_violation(bytes).is_none()
            && let Ok(s) = std::str::from_utf8(bytes)
        {
            return Ok(s);
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => validate(s).map(|()| s),
            Err(e) => {
                let lossy = String::from_utf8_lossy(bytes).into_owned();
                let index = e.valid_up_to();
                if bytes.len() > MAX_ADDRESS_LEN {
                    return Err(AddressError::TooLong {
                        len: bytes.len(),
                        input: lossy,
                    });
                }
                Err(AddressError::BadCharacter {
                    input: lossy,
                    ch: '\u{fffd}',
                    index,
                })
            }
        }
    }

    /// Wraps a string [`Address::check_ascii`] has accepted.
    pub(crate) fn from_checked(s: &str) -> Address {
        debug_assert!(validate(s).is_ok());
        Address(s.to_owned())
    }

    /// The address as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Length in bytes (equal to characters: addresses are ASCII).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a valid address is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The dot-separated segments, scheme first.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split('.')
    }

    /// The first segment, e.g. `g` or `test`.
    pub fn scheme(&self) -> &str {
        self.segments().next().unwrap_or_default()
    }

    /// This address with `.segment` appended; fails when `segment` is not a
    /// single valid segment or the result would be too long.
    pub fn with_suffix(&self, segment: &str) -> Result<Address, AddressError> {
        let mut s = String::with_capacity(self.0.len() + 1 + segment.len());
        s.push_str(&self.0);
        s.push('.');
        s.push_str(segment);
        Address::new(s)
    }

    /// Whether this address equals `prefix` or lies under it on a segment
    /// boundary (`g.a.b` is under `g.a`, `g.ab` is not).
    pub fn is_under(&self, prefix: &str) -> bool {
        match self.0.strip_prefix(prefix) {
            Some("") => true,
            Some(rest) => rest.starts_with('.'),
            None => false,
        }
    }

    /// The inner string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Address {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Address {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::new(s)
    }
}

impl TryFrom<&str> for Address {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Address::new(s)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Address::new(s)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.0
    }
}

impl PartialEq<str> for Address {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Address {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Address::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The valid/invalid lists below are transcribed from
    // interledgerjs/interledgerjs packages/ilp-packet/test/parser.spec.ts
    // (isValidIlpAddress), also in interledger/interledger-rs
    // crates/interledger-packet/src/address.rs.
    const VALID: &[&str] = &[
        "test.alice.XYZ.1234.-_~",
        "g.us-fed.ach.0.acmebank.swx0a0.acmecorp.sales.199.~ipr.cdfa5e16-e759-4ba3-88f6-8b9dc83c1868.2",
        "g.A",
        "private.A",
        "example.A",
        "peer.A",
        "self.A",
        "test.A",
        "test1.A",
        "test2.A",
        "test3.A",
        "local.A",
    ];

    const INVALID: &[&str] = &[
        "",
        "test.alice 123",
        "test.alice!123",
        "test.alice/123",
        "test.alic\u{F0}",
        "test",
        "what.alice",
        "test4.alice",
        "test.",
        "test.alice.",
        ".test.alice",
        "test..alice",
    ];

    #[test]
    fn published_valid_and_invalid() {
        for a in VALID {
            let addr = Address::new(*a).unwrap_or_else(|e| panic!("{a}: {e}"));
            assert_eq!(addr.as_str(), *a);
        }
        for a in INVALID {
            assert!(Address::new(*a).is_err(), "{a:?} should be invalid");
        }
    }

    #[test]
    fn length_limit() {
        let mut s = String::from("g.");
        while s.len() < MAX_ADDRESS_LEN {
            s.push('x');
        }
        assert!(Address::new(s.clone()).is_ok());
        s.push('x');
        let err = Address::new(s).unwrap_err();
        assert!(matches!(err, AddressError::TooLong { len: 1024, .. }));
        assert!(err.to_string().contains("1024 characters"), "{err}");
        assert!(
            err.to_string().contains("..."),
            "long inputs are cut short: {err}"
        );
    }

    #[test]
    fn errors_name_the_rule_and_input() {
        let e = Address::new("what.alice").unwrap_err();
        assert!(e.to_string().contains("\"what.alice\""), "{e}");
        assert!(e.to_string().contains("scheme \"what\""), "{e}");
        let e = Address::new("test.alice!123").unwrap_err();
        assert_eq!(
            e,
            AddressError::BadCharacter {
                input: "test.alice!123".into(),
                ch: '!',
                index: 10
            }
        );
        assert!(e.to_string().contains("'!'"), "{e}");
        assert!(matches!(
            Address::new("test").unwrap_err(),
            AddressError::NoSegment { .. }
        ));
        assert!(matches!(
            Address::new("examp*e.alice").unwrap_err(),
            AddressError::BadCharacter {
                ch: '*',
                index: 5,
                ..
            }
        ));
        assert!(matches!(
            Address::new("test..a").unwrap_err(),
            AddressError::EmptySegment { index: 5, .. }
        ));
        assert!(matches!(
            Address::new(".test.a").unwrap_err(),
            AddressError::EmptySegment { index: 0, .. }
        ));
        assert!(matches!(
            Address::new("test.a.").unwrap_err(),
            AddressError::EmptySegment { index: 7, .. }
        ));
        assert_eq!(
            Address::new("").unwrap_err().to_string(),
            "invalid ILP address \"\": an address cannot be empty"
        );
        // Schemes are case-sensitive.
        assert!(Address::new("G.alice").is_err());
        assert!(Address::new("test0.alice").is_err());
    }

    #[test]
    fn from_ascii_rejects_non_utf8() {
        assert!(Address::from_ascii(b"test.alic\xF0").is_err());
        assert_eq!(Address::from_ascii(b"g.a").unwrap(), "g.a");
    }

    #[test]
    fn segments_suffix_and_prefix() {
        let a = Address::new("test.alice.1234.5789").unwrap();
        assert_eq!(
            a.segments().collect::<Vec<_>>(),
            ["test", "alice", "1234", "5789"]
        );
        assert_eq!(a.scheme(), "test");
        let b = Address::new("test.alice")
            .unwrap()
            .with_suffix("1234")
            .unwrap();
        assert_eq!(b.as_str(), "test.alice.1234");
        assert!(
            Address::new("test.alice")
                .unwrap()
                .with_suffix("12 34")
                .is_err()
        );
        assert!(
            Address::new("test.alice")
                .unwrap()
                .with_suffix(".1234")
                .is_err()
        );
        assert!(Address::new("test.alice").unwrap().with_suffix("").is_err());
        assert!(a.is_under("test.alice"));
        assert!(a.is_under("test.alice.1234.5789"));
        assert!(a.is_under("test"));
        assert!(!a.is_under("test.ali"));
        assert!(!a.is_under("test.alice.1234.57"));
        assert!(!a.is_under("test.alice."));
    }

    #[test]
    fn conversions_and_serde() {
        let a: Address = "g.x".parse().unwrap();
        assert_eq!(a.to_string(), "g.x");
        assert_eq!(format!("{a:?}"), "\"g.x\"");
        assert_eq!(AsRef::<str>::as_ref(&a), "g.x");
        assert_eq!(Address::try_from("g.x").unwrap(), a);
        assert_eq!(Address::try_from(String::from("g.x")).unwrap(), a);
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"g.x\"");
        let back: Address = serde_json::from_str("\"g.x\"").unwrap();
        assert_eq!(back, a);
        let err = serde_json::from_str::<Address>("\"g.x \"").unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }

    /// The one-pass check accepts exactly what `from_utf8` + `validate`
    /// accept: every string up to 5 bytes over a small alphabet (dots, segment
    /// and bad characters, UTF-8 lead and continuation bytes), and every
    /// one-byte change, insertion and deletion of addresses of each scheme.
    #[test]
    fn the_one_pass_check_accepts_exactly_what_validate_accepts() {
        fn agree(bytes: &[u8]) {
            let slow = std::str::from_utf8(bytes).is_ok_and(|s| validate(s).is_ok());
            let fast = first_violation(bytes).is_none();
            assert_eq!(fast, slow, "{bytes:?}");
            assert_eq!(Address::check_ascii(bytes).is_ok(), slow, "{bytes:?}");
            if let Ok(s) = Address::check_ascii(bytes) {
                assert_eq!(s.as_bytes(), bytes);
            }
        }
        let alphabet: &[u8] = b"g.a-~_*\x20\xc3\xa9\xff";
        let mut frontier: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for s in &frontier {
                for &b in alphabet {
                    let mut t = s.clone();
                    t.push(b);
                    agree(&t);
                    next.push(t);
                }
            }
            frontier = next;
        }
        let mut seeds: Vec<String> = SCHEMES.iter().map(|s| format!("{s}.alice.b-1_~")).collect();
        seeds.push(format!("g.{}", "a".repeat(MAX_ADDRESS_LEN - 2)));
        let subs: &[u8] = b".gA9*\x00\x7f\x80\xc3\xff";
        for seed in &seeds {
            let seed = seed.as_bytes();
            agree(seed);
            for i in 0..=seed.len() {
                for &b in subs {
                    let mut inserted = seed.to_vec();
                    inserted.insert(i, b);
                    agree(&inserted);
                    if i < seed.len() {
                        let mut changed = seed.to_vec();
                        changed[i] = b;
                        agree(&changed);
                    }
                }
                if i < seed.len() {
                    let mut deleted = seed.to_vec();
                    deleted.remove(i);
                    agree(&deleted);
                }
            }
        }
    }
}
