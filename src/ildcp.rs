//! ILDCP (RFC 31).
