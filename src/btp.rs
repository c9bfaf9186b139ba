//! BTP 2.0 frames (RFC 23).
