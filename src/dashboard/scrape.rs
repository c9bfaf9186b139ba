//! A node's scraped `/metrics` (Prometheus text format 0.0.4), read for the
//! few series the page shows (not the node's own metrics: those are
//! [`crate::metrics`]). Only `ilp_*` samples are kept, at most [`MAX_SAMPLES`];
//! comments, other families and malformed lines are skipped. Pure.
//!
//! A full exposition-format parser would be a dependency for four series;
//! the sample-line grammar read here is `name{label="value",...} value [ts]`.

use std::collections::BTreeMap;

/// Most samples kept from one scrape.
pub const MAX_SAMPLES: usize = 20_000;
/// Packets by link, direction, outcome (counter).
pub const PACKETS_TOTAL: &str = "ilp_packets_total";
/// Packets in flight per link (gauge).
pub const IN_FLIGHT: &str = "ilp_in_flight";
/// Forwarding latency histogram (base name).
pub const FORWARD_LATENCY: &str = "ilp_forward_latency_seconds";
/// Link up (1) or down (0) (gauge).
pub const LINK_UP: &str = "ilp_link_up";

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels in the order given.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// A label's value, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

fn parse_labels(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    // `s` starts after `{`; returns the labels and the rest after `}`.
    let mut labels = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((key, value));
        rest = &rest[end + 1..];
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        v => v.parse().ok(),
    }
}

/// The `ilp_*` samples of a scrape.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with("ilp_") {
            continue;
        }
        if out.len() >= MAX_SAMPLES {
            break;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        let rest = &line[name_end..];
        let (labels, rest) = match rest.strip_prefix('{') {
            Some(r) => match parse_labels(r) {
                Some(x) => x,
                None => continue,
            },
            None => (Vec::new(), rest),
        };
        let Some(value) = rest.split_whitespace().next().and_then(parse_value) else {
            continue;
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

/// Packets through one link, one direction, one outcome.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PacketKey {
    /// Peer id.
    pub link: String,
    /// `incoming` or `outgoing`.
    pub direction: String,
    /// `fulfilled`, `rejected`, `failed`.
    pub outcome: String,
    /// ILP code of a reject, else "".
    pub code: String,
}

fn is_ilp_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 3 && matches!(b[0], b'F' | b'T' | b'R') && b[1..].iter().all(u8::is_ascii_digit)
}

/// What the page takes from one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMetrics {
    /// `ilp_packets_total` by key.
    pub packets: BTreeMap<PacketKey, f64>,
    /// Sum of `ilp_in_flight`, if exported.
    pub in_flight: Option<f64>,
    /// `ilp_forward_latency_seconds` (`_sum`, `_count`), summed over labels.
    pub latency: Option<(f64, f64)>,
    /// `ilp_link_up` by link.
    pub link_up: BTreeMap<String, bool>,
}

impl NodeMetrics {
    /// Extracts the series from a scrape's text.
    pub fn from_text(text: &str) -> NodeMetrics {
        let mut m = NodeMetrics::default();
        let (mut sum, mut count, mut has_latency) = (0.0, 0.0, false);
        for s in parse(text) {
            if !s.value.is_finite() {
                continue;
            }
            match s.name.as_str() {
                PACKETS_TOTAL => {
                    let (mut outcome, mut code) =
                        (s.label("outcome").to_string(), s.label("code").to_string());
                    if is_ilp_code(&outcome) {
                        code = std::mem::replace(&mut outcome, "rejected".into());
                    }
                    let key = PacketKey {
                        link: s.label("link").to_string(),
                        direction: s.label("direction").to_string(),
                        outcome,
                        code,
                    };
                    *m.packets.entry(key).or_default() += s.value;
                }
                IN_FLIGHT => *m.in_flight.get_or_insert(0.0) += s.value,
                LINK_UP => {
                    m.link_up.insert(s.label("link").to_string(), s.value > 0.5);
                }
                n if n.strip_prefix(FORWARD_LATENCY) == Some("_sum") => {
                    sum += s.value;
                    has_latency = true;
                }
                n if n.strip_prefix(FORWARD_LATENCY) == Some("_count") => {
                    count += s.value;
                    has_latency = true;
                }
                _ => {}
            }
        }
        if has_latency {
            m.latency = Some((sum, count));
        }
        m
    }

    /// Packets through `link` so far, both directions, every outcome.
    pub fn link_total(&self, link: &str) -> f64 {
        self.packets
            .iter()
            .filter(|(k, _)| k.link == link)
            .map(|(_, v)| v)
            .sum()
    }

    /// Rejects this node answered on incoming packets so far, by code.
    pub fn incoming_rejects(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.packets {
            if k.direction == "incoming" && k.outcome == "rejected" {
                let code = if k.code.is_empty() { "?" } else { &k.code };
                *out.entry(code.to_string()).or_default() += v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# HELP ilp_packets_total Packets.
# TYPE ilp_packets_total counter
ilp_packets_total{link="node-b",direction="outgoing",outcome="fulfilled"} 10
ilp_packets_total{link="node-b",direction="outgoing",outcome="rejected",code="T01"} 2
ilp_packets_total{direction="incoming",link="sender",outcome="F02"} 3
ilp_packets_total{link="we\"ird,{x}",direction="incoming",outcome="fulfilled"} 1 1712345678000
ilp_in_flight{link="node-b"} 4
ilp_in_flight{link="node-c"} 1
ilp_link_up{link="node-b"} 1
ilp_link_up{link="node-c"} 0
ilp_forward_latency_seconds_bucket{next_hop="node-b",le="+Inf"} 12
ilp_forward_latency_seconds_sum{next_hop="node-b"} 0.024
ilp_forward_latency_seconds_count{next_hop="node-b"} 12
process_cpu_seconds_total 3
ilp_broken{link="x" 5
ilp_packets_total{link="b"} not-a-number
"#;

    #[test]
    fn reads_the_series_and_skips_the_rest() {
        let m = NodeMetrics::from_text(SCRAPE);
        assert_eq!(m.link_total("node-b"), 12.0);
        assert_eq!(m.link_total("we\"ird,{x}"), 1.0);
        assert_eq!(m.in_flight, Some(5.0));
        assert_eq!(m.latency, Some((0.024, 12.0)));
        assert_eq!(m.link_up.get("node-b"), Some(&true));
        assert_eq!(m.link_up.get("node-c"), Some(&false));
        let r = m.incoming_rejects();
        assert_eq!(r.get("F02"), Some(&3.0), "an outcome that is a code");
        assert_eq!(r.get("T01"), None, "outgoing rejects are not ours");
        assert_eq!(parse(SCRAPE).len(), 11);
    }

    #[test]
    fn no_metrics_means_nothing() {
        let m = NodeMetrics::from_text("# nothing\nup 1\n");
        assert_eq!(m, NodeMetrics::default());
    }

    #[test]
    fn sample_count_is_capped() {
        let text = "ilp_in_flight{link=\"a\"} 1\n".repeat(MAX_SAMPLES + 10);
        assert_eq!(parse(&text).len(), MAX_SAMPLES);
    }
}
