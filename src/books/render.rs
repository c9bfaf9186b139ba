//! An [`Outcome`] printed: a text table ([`Outcome::render_text`]) or
//! JSON ([`Outcome::to_json`], keys in a fixed order, amounts as decimal
//! strings as the nodes write them).

use serde::Serialize;

use super::ledger::{Absent, Missing, Outcome, Pair, Single};
use super::parse::{Amount, Balance};

impl Outcome {
    /// The outcome as pretty JSON, keys in the order of [`JsonOutcome`]
    /// (amounts as decimal strings, as the nodes write them).
    pub fn to_json(&self) -> String {
        let b = &self.books;
        let not_quiet = b.not_quiet();
        let outcome = JsonOutcome {
            ok: self.is_good(),
            balanced: b.unbalanced().next().is_none(),
            quiet: not_quiet.is_empty(),
            quiet_timed_out: self.quiet_timed_out.is_some(),
            unbalanced: b.unbalanced().map(Pair::name).collect(),
            not_quiet,
            links: b
                .pairs
                .iter()
                .map(|p| JsonPair {
                    link: p.name(),
                    a: &p.a,
                    b: &p.b,
                    sum: p.sum().map(Amount),
                    balanced: p.balances(),
                    settled_agree: p.settled_agree(),
                    quiet: p.is_quiet(),
                    a_for_b: &p.a_for_b,
                    b_for_a: &p.b_for_a,
                })
                .collect(),
            one_end: b
                .one_end
                .iter()
                .map(|(s, why)| JsonSingle::of(s, Some(absent_reason(s, why))))
                .collect(),
            outside: b.outside.iter().map(|s| JsonSingle::of(s, None)).collect(),
            missing: &b.missing,
        };
        serde_json::to_string_pretty(&outcome).expect("derived Serialize with string keys")
    }

    /// The outcome as text: the table of links with both ends, the links
    /// apart, the nodes missing, and the verdict.
    pub fn render_text(&self) -> String {
        let b = &self.books;
        let mut out = String::new();
        if b.pairs.is_empty() {
            out.push_str("No link has both ends among the nodes.\n");
        } else {
            let header = [
                "LINK",
                "A FOR B",
                "B FOR A",
                "SUM",
                "PENDING A IN/OUT",
                "PENDING B IN/OUT",
                "SETTLING A/B",
                "SETTLED A OUT/IN",
                "SETTLED B OUT/IN",
            ];
            let rows: Vec<Vec<String>> = b
                .pairs
                .iter()
                .map(|p| {
                    let (x, y) = (&p.a_for_b, &p.b_for_a);
                    vec![
                        p.name(),
                        x.committed.to_string(),
                        y.committed.to_string(),
                        sum_text(p.sum()),
                        pending(x),
                        pending(y),
                        format!("{}/{}", settling(x), settling(y)),
                        settled(x),
                        settled(y),
                    ]
                })
                .collect();
            out.push_str(&table(&header, &rows, &[1, 2, 3]));
        }
        if !b.one_end.is_empty() {
            out.push_str("\nOne end only (not judged):\n");
            for (s, why) in &b.one_end {
                out.push_str(&format!(
                    "  {}: {}; {}\n",
                    s.name(),
                    absent_reason(s, why),
                    end_text(s)
                ));
            }
        }
        if !b.outside.is_empty() {
            out.push_str("\nTo peers that are no listed node (not judged):\n");
            for s in &b.outside {
                let relation = if s.end.relation.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.end.relation)
                };
                out.push_str(&format!("  {}{relation}: {}\n", s.name(), end_text(s)));
            }
        }
        if !b.missing.is_empty() {
            out.push_str("\nNodes that did not answer (allowed):\n");
            for m in &b.missing {
                out.push_str(&format!("  {}: {}\n", m.node, m.error));
            }
        }
        out.push('\n');
        let not_quiet = b.not_quiet();
        if let Some(wait) = self.quiet_timed_out {
            out.push_str(&format!(
                "NOT QUIET after {wait:?}: {}\n",
                not_quiet.join(", ")
            ));
        } else if !not_quiet.is_empty() {
            out.push_str(&format!(
                "Not quiet (pending or settling), sums may still move: {}\n",
                not_quiet.join(", ")
            ));
        }
        let unbalanced: Vec<&Pair> = b.unbalanced().collect();
        if unbalanced.is_empty() {
            out.push_str(&format!(
                "Books balance: {} link(s) with both ends, every sum zero.\n",
                b.pairs.len()
            ));
        } else {
            out.push_str(&format!(
                "BOOKS DO NOT BALANCE: {} of {} link(s):\n",
                unbalanced.len(),
                b.pairs.len()
            ));
            for p in unbalanced {
                let (a, b, ab, ba) = (&p.a, &p.b, &p.a_for_b, &p.b_for_a);
                match p.sum() {
                    Some(0) => {}
                    Some(s) => out.push_str(&format!(
                        "  {}: sums to {s}, not 0 ({a} for {b}: {}, {b} for {a}: {})\n",
                        p.name(),
                        ab.committed,
                        ba.committed
                    )),
                    None => out.push_str(&format!(
                        "  {}: the sum overflows i128 ({a} for {b}: {}, {b} for {a}: {})\n",
                        p.name(),
                        ab.committed,
                        ba.committed
                    )),
                }
                if !p.settled_agree() {
                    out.push_str(&format!(
                        "  {}: settled totals disagree: {a} paid {b} {}, {b} received {}; \
                         {b} paid {a} {}, {a} received {}\n",
                        p.name(),
                        ab.settled_out,
                        ba.settled_in,
                        ba.settled_out,
                        ab.settled_in
                    ));
                }
            }
        }
        out
    }
}

/// The JSON of an [`Outcome`] (`books --json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonOutcome<'a> {
    /// [`Outcome::is_good`]: the exit code is 0.
    pub ok: bool,
    /// Every link with both ends sums to zero.
    pub balanced: bool,
    /// No link has anything pending or settling.
    pub quiet: bool,
    /// `--wait-quiet` ran out.
    pub quiet_timed_out: bool,
    /// The links whose ends do not sum to zero (`a - b`).
    pub unbalanced: Vec<String>,
    /// The links with something pending or settling.
    pub not_quiet: Vec<String>,
    /// The links with both ends.
    pub links: Vec<JsonPair<'a>>,
    /// The links between listed nodes with one end only.
    pub one_end: Vec<JsonSingle<'a>>,
    /// The links to peers that are no listed node.
    pub outside: Vec<JsonSingle<'a>>,
    /// The nodes that did not answer (`--allow-missing`).
    pub missing: &'a [Missing],
}

/// A link with both ends, in [`JsonOutcome`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonPair<'a> {
    /// `a - b`.
    pub link: String,
    /// The node listed first.
    pub a: &'a str,
    /// The other.
    pub b: &'a str,
    /// A's committed for B plus B's for A; `null` past `i128`.
    pub sum: Option<Amount>,
    /// The sum is zero and the settled totals agree.
    pub balanced: bool,
    /// A's settledOut is B's settledIn, and the other way.
    pub settled_agree: bool,
    /// Nothing pending or settling on either end.
    pub quiet: bool,
    /// A's balance with B.
    pub a_for_b: &'a Balance,
    /// B's balance with A.
    pub b_for_a: &'a Balance,
}

/// A link seen from one end, in [`JsonOutcome`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonSingle<'a> {
    /// `node - peer`.
    pub link: String,
    /// The node that reports it.
    pub node: &'a str,
    /// Its peer.
    pub peer: &'a str,
    /// `peer` or `child`, as reported.
    pub relation: &'a str,
    /// Why the other end is absent (links between listed nodes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its balance.
    pub balance: &'a Balance,
}

impl<'a> JsonSingle<'a> {
    fn of(s: &'a Single, reason: Option<String>) -> Self {
        Self {
            link: s.name(),
            node: &s.node,
            peer: &s.end.peer,
            relation: &s.end.relation,
            reason,
            balance: &s.end.balance,
        }
    }
}

fn absent_reason(s: &Single, why: &Absent) -> String {
    match why {
        Absent::NoAnswer => format!("{} did not answer", s.end.peer),
        Absent::NoLinkBack => format!("{} reports no link to {}", s.end.peer, s.node),
    }
}

fn sum_text(sum: Option<i128>) -> String {
    sum.map_or_else(|| "overflow".to_string(), |s| s.to_string())
}

fn pending(b: &Balance) -> String {
    format!("{}/{}", b.pending_incoming, b.pending_outgoing)
}

fn settling(b: &Balance) -> String {
    b.settling
        .map_or_else(|| "-".to_string(), |s| s.to_string())
}

fn settled(b: &Balance) -> String {
    format!("{}/{}", b.settled_out, b.settled_in)
}

fn end_text(s: &Single) -> String {
    let b = &s.end.balance;
    format!(
        "committed {}, pending in/out {}, settling {}, settled out/in {}",
        b.committed,
        pending(b),
        settling(b),
        settled(b)
    )
}

/// A plain-text table: columns as wide as their widest cell, two spaces
/// apart; the columns in `right` aligned right (numbers).
fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if right.contains(&i) {
                s.push_str(&format!("{cell:>w$}"));
            } else {
                s.push_str(&format!("{cell:<w$}"));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}
