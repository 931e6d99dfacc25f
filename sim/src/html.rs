//! Offline HTML reports: a run's page (charts drawn as inline SVG with plotters, the event
//! timeline, every finding in words) and a sweep's summary page.
//!
//! A page is one self-contained document: inline CSS in a `<style>` block, charts as inline
//! `<svg>`, no scripts, no fonts and nothing fetched from anywhere, so a report can be mailed,
//! archived next to a trace, or opened from a CI artefact years later. Plotters draws without a
//! font crate: it estimates text widths for its layout and the browser renders the `<text>`
//! elements with the page's font stack.
//!
//! Pages are pure functions of their inputs: no clock, no hash-map iteration, no float printed
//! from a platform-dependent source, so the same report gives the same bytes (a report can be
//! diffed, and a test can pin it).
//!
//! What this module does not do: decide anything. Verdicts, findings and their explanations come
//! from the runner and the checkers; the page only lays them out. It writes no files either
//! (the `gregor` command does).

use crate::checker::delivery::{finding_runs, listed_in_part};
use crate::metrics::{Ack, Charts, Mark, MarkKind};
use crate::runner::{Check, RunReport, StoryKind, StoryLine};
use crate::sweep::SweepSummary;
use gregor_core::map::VecMap;
use gregor_core::time::Instant;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A run's report page: a complete, self-contained HTML document (no external resources: no
/// scripts or styles or fonts fetched from anywhere; inline CSS only; inline `<svg>` charts).
pub fn run_page(report: &RunReport, charts: &Charts) -> String {
    let mut body = String::new();
    run_header(&mut body, report);
    checks_section(&mut body, &report.checks);
    findings_section(&mut body, report);
    charts_section(&mut body, report, charts);
    timeline_section(&mut body, &report.story);
    end_state_section(&mut body, report);
    let title = format!(
        "{} (seed {}): {}",
        report.scenario, report.seed, report.verdict
    );
    page(&title, &body)
}

/// A sweep's summary page. `links` maps a failing seed to the relative URL of its run report
/// (for example "seed-42/index.html"); seeds without a link are listed without one.
pub fn sweep_page(summary: &SweepSummary, links: &BTreeMap<u64, String>) -> String {
    let mut b = String::new();
    let failed = summary.failed.len();
    let (class, badge) = if failed == 0 {
        ("pass", "all passed".to_string())
    } else {
        ("fail", format!("{failed} failed"))
    };
    let _ = write!(
        b,
        "<header><p class=\"kicker\">Gregor seed sweep</p><h1>{} <span class=\"badge {class}\">{}</span></h1>",
        escape(&summary.scenario),
        escape(&badge)
    );
    let shards = if summary.shards.is_empty() {
        "unsharded".to_string()
    } else {
        summary.shards.join(", ")
    };
    b.push_str("<dl class=\"facts\">");
    fact(
        &mut b,
        "Scenario file",
        &format!("<code>{}</code>", escape(&summary.file)),
    );
    fact(&mut b, "Driver", &escape(&summary.driver));
    fact(
        &mut b,
        "Seeds",
        &format!("<code>{}</code>", escape(&summary.seeds)),
    );
    fact(&mut b, "Shards", &escape(&shards));
    fact(&mut b, "Seeds run", &thousands(summary.seeds_run));
    fact(&mut b, "Passed", &thousands(summary.passed));
    fact(&mut b, "Failed", &thousands(failed as u64));
    fact(
        &mut b,
        "Seeds per second",
        &format!(
            "{:.1} <span class=\"muted\">(wall time: the one figure that depends on the machine)</span>",
            summary.seeds_per_second
        ),
    );
    b.push_str("</dl></header>");

    b.push_str("<h2 id=\"failing\">Failing seeds</h2>");
    if failed == 0 {
        let _ = write!(
            b,
            "<p class=\"allgood\">No seed failed: all {} seeds passed every check.</p>",
            thousands(summary.seeds_run)
        );
    } else {
        b.push_str(
            "<table><thead><tr><th class=\"num\">Seed</th><th>Class</th><th>Check</th><th>Finding</th><th>Reproduce</th></tr></thead><tbody>",
        );
        for f in &summary.failed {
            let seed = match links.get(&f.seed) {
                Some(url) => format!("<a href=\"{}\">{}</a>", escape(url), f.seed),
                None => f.seed.to_string(),
            };
            let _ = write!(
                b,
                "<tr><td class=\"num\">{seed}</td><td><span class=\"tag {}\">{}</span></td><td>{}</td><td>{}</td><td><code class=\"cmd\">{}</code></td></tr>",
                class_tag(&f.verdict),
                escape(&f.verdict),
                escape(&f.check),
                escape(&f.finding),
                escape(&f.reproduce)
            );
        }
        b.push_str("</tbody></table>");
    }

    b.push_str("<h2 id=\"distribution\">Distribution of findings</h2>");
    if failed == 0 {
        b.push_str("<p>No findings to distribute.</p>");
    } else {
        let mut by_class: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_check: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &summary.failed {
            *by_class.entry(&f.verdict).or_default() += 1;
            *by_check.entry(&f.check).or_default() += 1;
        }
        b.push_str("<div class=\"grid\">");
        for (title, counts, color, head) in [
            (
                "Failing seeds by verdict class",
                &by_class,
                class_color as fn(&str) -> RGBColor,
                "Class",
            ),
            (
                "Failing seeds by check",
                &by_check,
                |_: &str| SERIES[0],
                "Check",
            ),
        ] {
            // Most frequent first; ties keep the name order of the map.
            let mut items: Vec<(String, u64)> =
                counts.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
            gregor_core::sort::sort_by_key(&mut items, |(_, n)| std::cmp::Reverse(*n));
            let _ = write!(
                b,
                "<figure class=\"chart\">{}<table><thead><tr><th>{head}</th><th class=\"num\">Seeds</th><th class=\"num\">Share</th></tr></thead><tbody>",
                bar_chart(title, &items, color)
            );
            for (name, n) in &items {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td class=\"num\">{n}</td><td class=\"num\">{}</td></tr>",
                    escape(name),
                    percent(*n, failed as u64)
                );
            }
            b.push_str("</tbody></table></figure>");
        }
        b.push_str("</div>");
    }
    let title = format!("sweep of {}: {badge}", summary.scenario);
    page(&title, &b)
}

// ---------------------------------------------------------------------------------------------
// HTML helpers
// ---------------------------------------------------------------------------------------------

/// Escapes text for HTML element content and attribute values alike. Every string that comes
/// from a report goes through here: record values, keys and scenario names are user data.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colours of the page's stylesheet and of the charts are one palette: series colours
/// avoid red, orange and purple, which stand for faults, elections and unclean elections.
const CSS: &str = "
:root{--fg:#1c2430;--muted:#5d6773;--line:#d8dde3;--head:#eef1f5;--zebra:#f6f8fa;--pass:#1b7f3b;--fail:#c62828;
--fault:#d62728;--election:#ff7f0e;--unclean:#9467bd;--accent:#1f5fa8;--warn:#fff4d6;--bad:#fdecea}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",\"DejaVu Sans\",sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 32px 64px}
h1{font-size:1.8rem;margin:.1em 0 .4em;line-height:1.25}
h2{font-size:1.35rem;margin:2.2em 0 .7em;padding-bottom:.25em;border-bottom:2px solid var(--line)}
h3{font-size:1.08rem;margin:1.4em 0 .5em}
a{color:var(--accent)}
nav{font-size:.95rem;margin:.6em 0 0}nav a{margin-right:1.2em}
.kicker{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.08em;font-size:.8rem;font-weight:600}
.muted{color:var(--muted)}
.badge{display:inline-block;vertical-align:middle;padding:.15em .8em;border-radius:999px;color:#fff;font-size:.95rem;font-weight:700;letter-spacing:.06em;text-transform:uppercase}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 20px;margin:.8em 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,\"DejaVu Sans Mono\",monospace;font-size:.88em}
pre.cmd{margin:.3em 0 1em;padding:10px 14px;background:#f3f5f8;border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;white-space:pre-wrap;word-break:break-all;user-select:all}
code.cmd{user-select:all;word-break:break-all}
table{width:100%;border-collapse:collapse;margin:.4em 0 1.2em;font-size:.92rem}
th,td{padding:5px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
th{background:var(--head);font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:var(--zebra)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.time{white-space:nowrap;font-variant-numeric:tabular-nums;color:var(--muted)}
tr.bad td{background:var(--bad)}tr.bad td:first-child{box-shadow:inset 4px 0 var(--fail)}
tr.warn td{background:var(--warn)}
.ok{color:var(--pass);font-weight:600}.failed{color:var(--fail);font-weight:700}
tr.fault td:first-child{box-shadow:inset 4px 0 var(--fault)}
tr.election td:first-child{box-shadow:inset 4px 0 var(--election)}
tr.unclean td:first-child{box-shadow:inset 4px 0 var(--unclean)}
table.timeline tr.fault td:last-child{color:#a01c1c;font-weight:600}
table.timeline tr.unclean td:last-child{color:#6a3d9a;font-weight:600}
table.timeline tr.loss td{background:var(--warn)}tr.loss td:first-child{box-shadow:inset 4px 0 #c98a00}
tr.checkfailed td{background:var(--bad);color:var(--fail);font-weight:700}
.tag{display:inline-block;padding:0 .5em;border-radius:4px;font-size:.85em;font-weight:600;color:#fff;background:#6b7683;white-space:nowrap}
.tag.fault,.tag.safety,.tag.crash{background:var(--fault)}.tag.election,.tag.liveness{background:var(--election)}.tag.unclean,.tag.expectation{background:var(--unclean)}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:.6em 0 1em}
.tile{flex:1 1 0;border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:7.5em}
.tile b{display:block;font-size:1.35rem;font-variant-numeric:tabular-nums}
.tile span{font-size:.82rem;color:var(--muted)}
.tile.hot{border-color:var(--fail);background:var(--bad)}.tile.hot b{color:var(--fail)}
.none,.allgood{font-size:1.1rem;font-weight:600;color:var(--pass)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(470px,1fr));gap:16px}
figure.chart{margin:0 0 16px;padding:8px 10px;border:1px solid var(--line);border-radius:8px;background:#fff}
figure.chart figcaption{font-size:.88rem;color:var(--muted);margin-top:4px}
figure svg{display:block;width:100%;height:auto}
svg text{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,\"DejaVu Sans\",sans-serif}
.nodata{padding:28px 12px;text-align:center;color:var(--muted);font-style:italic;background:var(--zebra);border-radius:6px}
.key{display:inline-block;margin-right:1.1em;white-space:nowrap}
.swatch{display:inline-block;width:22px;margin-right:5px;vertical-align:middle;border-top:3px solid}
.swatch.dashed{border-top-style:dashed}.swatch.block{height:10px;border-top:0}
details{margin:.4em 0 1em}summary{cursor:pointer;color:var(--accent);font-weight:600}
ul.findings li{margin:.35em 0}
td code{white-space:nowrap}
";

/// A whole document around a body.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// One `<dt>`/`<dd>` pair; `html` is already escaped.
fn fact(out: &mut String, name: &str, html: &str) {
    let _ = write!(out, "<dt>{}</dt><dd>{html}</dd>", escape(name));
}

/// Virtual time as the story prints it: `12.345s`.
fn at(ms: u64) -> String {
    Instant(ms).to_string()
}

/// `1234567` as `1,234,567`, for counts a reader compares by eye.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share in whole percent (`n` of `total`), for the sweep's distribution.
fn percent(n: u64, total: u64) -> String {
    if total == 0 {
        return "-".into();
    }
    format!("{}%", (n * 100 + total / 2) / total)
}

/// The colour of a verdict class in the sweep's chart, the same as its tag on the page.
fn class_color(class: &str) -> RGBColor {
    match class {
        "safety" | "crash" => FAULT,
        "liveness" => ELECTION,
        "expectation" => UNCLEAN,
        _ => SERIES[5],
    }
}

/// The CSS class of a verdict class (`safety`, `liveness`, `expectation`, `crash`).
fn class_tag(class: &str) -> &'static str {
    match class {
        "safety" => "safety",
        "liveness" => "liveness",
        "expectation" => "expectation",
        "crash" => "crash",
        _ => "",
    }
}

/// A `<div>` that stands where a chart would be when there is nothing to draw.
fn no_data(text: &str) -> String {
    format!("<div class=\"nodata\">{}</div>", escape(text))
}

// ---------------------------------------------------------------------------------------------
// The run page's sections
// ---------------------------------------------------------------------------------------------

fn run_header(b: &mut String, r: &RunReport) {
    let (class, word) = if r.passed() {
        ("pass", "pass")
    } else {
        ("fail", "fail")
    };
    let _ = write!(
        b,
        "<header><p class=\"kicker\">Gregor run report</p><h1>{} <span class=\"badge {class}\">{word}</span></h1>",
        escape(&r.scenario)
    );
    let held = r.checks.iter().filter(|c| c.ok).count();
    b.push_str("<dl class=\"facts\">");
    fact(
        b,
        "Scenario file",
        &format!("<code>{}</code>", escape(&r.file)),
    );
    fact(b, "Seed", &r.seed.to_string());
    fact(
        b,
        "Verdict",
        &format!(
            "<span class=\"{}\">{}</span>",
            if r.passed() { "ok" } else { "failed" },
            escape(&r.verdict)
        ),
    );
    fact(b, "Checks", &format!("{held} of {} held", r.checks.len()));
    fact(b, "Virtual time", &at(r.virtual_time_ms));
    fact(b, "Events", &thousands(r.events));
    if let Some(hash) = &r.trace_hash {
        fact(b, "Trace hash", &format!("<code>{}</code>", escape(hash)));
    }
    b.push_str("</dl>");
    let _ = write!(
        b,
        "<p class=\"muted\" style=\"margin-bottom:0\">Reproduce this run:</p><pre class=\"cmd\"><code>{}</code></pre>",
        escape(&r.reproduce)
    );
    b.push_str("<nav><a href=\"#checks\">Checks</a><a href=\"#findings\">Findings</a><a href=\"#charts\">Charts</a><a href=\"#timeline\">Timeline</a><a href=\"#end-state\">End state</a></nav></header>");
}

/// Every check, failing ones first (their order among themselves kept).
fn checks_section(b: &mut String, checks: &[Check]) {
    b.push_str("<h2 id=\"checks\">Checks</h2>");
    if checks.is_empty() {
        b.push_str("<p>No checks ran.</p>");
        return;
    }
    let mut sorted: Vec<&Check> = checks.iter().collect();
    gregor_core::sort::sort_by_key(&mut sorted, |c| c.ok);
    b.push_str(
        "<table><thead><tr><th>Result</th><th>Check</th><th>Detail</th></tr></thead><tbody>",
    );
    for c in sorted {
        let (row, cell) = if c.ok {
            ("", "<span class=\"ok\">&#10003; ok</span>")
        } else {
            (
                " class=\"bad\"",
                "<span class=\"failed\">&#10007; FAIL</span>",
            )
        };
        let _ = write!(
            b,
            "<tr{row}><td>{cell}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.detail)
        );
    }
    b.push_str("</tbody></table>");
}

/// A story line the runner wrote for a failed per-step check.
fn is_check_failed(line: &StoryLine) -> bool {
    line.kind == StoryKind::CheckFailed
}

/// Counts, then every finding in words: failed checks, lost records, inconsistent offsets,
/// duplicates, and the consumer side. Whether a finding fails the run is the checks' business
/// (an unclean election is allowed to lose records); the page shows them all.
fn findings_section(b: &mut String, r: &RunReport) {
    let h = &r.history;
    let d = &r.delivery;
    b.push_str("<h2 id=\"findings\">Findings</h2>");
    let _ = write!(
        b,
        "<p>History: {} sent, {} acknowledged, {} failed ({} with an unknown outcome); the final read found {} record(s){}.</p>",
        thousands(h.sent),
        thousands(h.acknowledged),
        thousands(h.failed),
        thousands(h.failed_indefinite),
        thousands(h.read),
        if h.final_read_complete {
            " and reached every high watermark"
        } else {
            " but did not reach every high watermark"
        }
    );
    let mut tiles = vec![
        ("lost acknowledged", h.lost_acknowledged),
        ("duplicates", h.duplicates),
        ("inconsistent offsets", h.inconsistent_offsets),
        ("nonmonotonic sends", h.nonmonotonic_sends),
        ("failed yet present", h.failed_but_present),
    ];
    if h.compacted_away > 0 {
        tiles.push(("compacted away", h.compacted_away));
    }
    if h.deleted_by_retention > 0 {
        tiles.push(("deleted by retention", h.deleted_by_retention));
    }
    if !d.delivery_by_group.is_empty() {
        tiles.extend([
            ("unseen by a group", d.unseen),
            ("processed twice", d.duplicates_delivered),
            ("nonmonotonic polls", d.nonmonotonic_polls),
            ("poll skips", d.poll_skips),
        ]);
    }
    b.push_str("<div class=\"tiles\">");
    for (name, n) in tiles {
        let _ = write!(
            b,
            "<div class=\"tile{}\"><b>{}</b><span>{name}</span></div>",
            if n > 0 { " hot" } else { "" },
            thousands(n)
        );
    }
    b.push_str("</div>");
    if !d.delivery_by_group.is_empty() {
        b.push_str("<table><thead><tr><th>Group</th><th class=\"num\">Processed</th><th class=\"num\">Unseen</th><th class=\"num\">Processed twice</th><th class=\"num\">Nonmonotonic polls</th><th class=\"num\">Poll skips</th></tr></thead><tbody>");
        for g in &d.delivery_by_group {
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&g.group),
                thousands(g.consumed),
                thousands(g.unseen),
                thousands(g.duplicates_delivered),
                thousands(g.nonmonotonic_polls),
                thousands(g.poll_skips)
            );
        }
        b.push_str("</tbody></table>");
    }

    let failed_lines: Vec<&StoryLine> = r.story.iter().filter(|l| is_check_failed(l)).collect();
    let any = !failed_lines.is_empty()
        || !h.lost_groups.is_empty()
        || !h.lost.is_empty()
        || h.lost_acknowledged > 0
        || !h.inconsistent.is_empty()
        || h.inconsistent_offsets > 0
        || !h.duplicated.is_empty()
        || h.duplicates > 0
        || h.nonmonotonic_sends > 0
        || h.failed_but_present > 0
        || !d.delivery_findings.is_empty();
    if !any {
        b.push_str("<p class=\"none\">No findings.</p>");
        return;
    }
    b.push_str("<p class=\"muted\">Whether a finding fails the run is up to the checks above: an unclean election, acks=1 or at-most-once delivery may allow it.</p>");

    if !failed_lines.is_empty() {
        b.push_str("<h3>Checks that failed during the run</h3><ul class=\"findings\">");
        for l in failed_lines {
            let _ = write!(
                b,
                "<li><span class=\"muted\">{}</span> <span class=\"failed\">{}</span></li>",
                at(l.time_ms),
                escape(&l.text)
            );
        }
        b.push_str("</ul>");
    }
    lost_findings(b, r);
    if !h.inconsistent.is_empty() || h.inconsistent_offsets > 0 {
        let _ = write!(
            b,
            "<h3>Inconsistent offsets</h3><p>{} offset(s) held a different record than the one acknowledged or polled there.</p>",
            thousands(h.inconsistent_offsets)
        );
        let mut rows = String::new();
        for i in &h.inconsistent {
            let values: Vec<String> = i
                .values
                .iter()
                .map(|v| format!("<code>{}</code>", escape(v)))
                .collect();
            let _ = write!(
                rows,
                "<tr><td>{}/{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&i.topic),
                i.partition,
                i.offset,
                values.join(" vs ")
            );
        }
        listing(
            b,
            &format!(
                "{} of {} inconsistent offsets",
                h.inconsistent.len(),
                thousands(h.inconsistent_offsets)
            ),
            h.inconsistent.len(),
            "<tr><th>Partition</th><th class=\"num\">Offset</th><th>Records seen there</th></tr>",
            &rows,
        );
    }
    if !h.duplicated.is_empty() || h.duplicates > 0 {
        let _ = write!(
            b,
            "<h3>Duplicated records</h3><p>{} record(s) are in the log at more than one offset{}.</p>",
            thousands(h.duplicates),
            by_producer(&h.duplicates_by_producer)
        );
        let mut rows = String::new();
        for (value, offsets) in &h.duplicated {
            let offsets: Vec<String> = offsets.iter().map(ToString::to_string).collect();
            let _ = write!(
                rows,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(value),
                offsets.join(", ")
            );
        }
        listing(
            b,
            &format!(
                "{} of {} duplicated records",
                h.duplicated.len(),
                thousands(h.duplicates)
            ),
            h.duplicated.len(),
            "<tr><th>Record</th><th>Offsets</th></tr>",
            &rows,
        );
    }
    if h.nonmonotonic_sends > 0 {
        let _ = write!(
            b,
            "<h3>Nonmonotonic sends</h3><p>{} record(s) were acknowledged at a lower offset of their partition than a record their producer sent earlier{}.</p>",
            thousands(h.nonmonotonic_sends),
            by_producer(&h.nonmonotonic_by_producer)
        );
    }
    if h.failed_but_present > 0 {
        let _ = write!(
            b,
            "<h3>Failed sends present</h3><p>{} record(s) whose send failed with a definite error are in the log anyway.</p>",
            thousands(h.failed_but_present)
        );
    }
    delivery_findings(b, r);
}

/// ` (p1: 3, p2: 1)`, or nothing for an empty map.
fn by_producer(counts: &VecMap<String, u64>) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(p, n)| format!("{}: {n}", escape(p)))
        .collect();
    format!(" ({})", parts.join(", "))
}

/// A table of findings; more than ten rows fold away under a summary, so that one kind of
/// finding cannot push the rest of the page out of sight.
fn listing(b: &mut String, what: &str, rows: usize, head: &str, body: &str) {
    let table = format!("<table><thead>{head}</thead><tbody>{body}</tbody></table>");
    if rows == 0 {
        return;
    }
    if rows > 10 {
        let _ = write!(
            b,
            "<details><summary>Show {}</summary>{table}</details>",
            escape(what)
        );
    } else {
        b.push_str(&table);
    }
}

/// Lost acknowledged records: each group as a sentence (which records, who acknowledged them,
/// what happened afterwards), then the individual records.
fn lost_findings(b: &mut String, r: &RunReport) {
    let h = &r.history;
    if h.lost_groups.is_empty() && h.lost.is_empty() && h.lost_acknowledged == 0 {
        return;
    }
    let _ = write!(
        b,
        "<h3>Lost acknowledged records</h3><p>{} acknowledged record(s) are missing from the final read{}.</p>",
        thousands(h.lost_acknowledged),
        by_producer(&h.lost_by_producer)
    );
    if !h.lost_groups.is_empty() {
        b.push_str("<ul class=\"findings\">");
        for g in &h.lost_groups {
            let offsets = match (g.first_offset, g.last_offset) {
                (Some(a), Some(z)) if a == z => {
                    format!("offset {a} (<code>{}</code>)", escape(&g.first_value))
                }
                (Some(a), Some(z)) => format!(
                    "offsets {a} to {z} (<code>{}</code> &hellip; <code>{}</code>)",
                    escape(&g.first_value),
                    escape(&g.last_value)
                ),
                _ => format!(
                    "acks=0 records (<code>{}</code> &hellip; <code>{}</code>)",
                    escape(&g.first_value),
                    escape(&g.last_value)
                ),
            };
            let when = if g.from_ms == g.to_ms {
                format!("at {}", at(g.from_ms))
            } else {
                format!("from {} to {}", at(g.from_ms), at(g.to_ms))
            };
            let _ = write!(
                b,
                "<li><b>{} record(s) of {}/{}</b>, {offsets}, acknowledged {when} {}; {}.</li>",
                thousands(g.count),
                escape(&g.topic),
                g.partition,
                escape(&g.acknowledged_by),
                escape(&g.cause)
            );
        }
        b.push_str("</ul>");
    }
    if !h.lost.is_empty() {
        // An explanation reads "acknowledged at offset N of t/p at T by leader B in epoch E;
        // then ...": the part before the first "; " repeats the row's columns, the rest is the
        // cause, which a run of records shares. The cause is printed in full once and the rows
        // below it say so, which keeps the table scannable.
        let cause = |e: &'_ str| e.split_once("; ").map_or(e, |(_, c)| c).to_string();
        let mut rows = String::new();
        let mut previous: Option<String> = None;
        for l in &h.lost {
            let this = cause(&l.explanation);
            let explanation = if previous.as_deref() == Some(this.as_str()) {
                "<span class=\"muted\">same cause as above</span>".to_string()
            } else {
                escape(&l.explanation)
            };
            previous = Some(this);
            let _ = write!(
                rows,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}/{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{explanation}</td></tr>",
                escape(&l.value),
                l.key.as_deref().map_or_else(
                    || "<span class=\"muted\">none</span>".to_string(),
                    |k| format!("<code>{}</code>", escape(k))
                ),
                escape(&l.producer),
                escape(&l.topic),
                l.partition,
                l.offset.map_or_else(|| "-".to_string(), |o| o.to_string()),
                l.leader_epoch
                    .map_or_else(|| "-".to_string(), |e| e.to_string()),
                at(l.acknowledged_at_ms)
            );
        }
        listing(
            b,
            &format!(
                "{} of {} lost records, one by one",
                h.lost.len(),
                thousands(h.lost_acknowledged)
            ),
            h.lost.len(),
            "<tr><th>Value</th><th>Key</th><th>Producer</th><th>Partition</th><th class=\"num\">Offset</th><th class=\"num\">Leader epoch</th><th>Acknowledged</th><th>Why it is gone</th></tr>",
            &rows,
        );
    }
}

/// The consumer side: consecutive findings of one kind on one partition with the same members
/// are one row (the way `gregor run` prints them), so a skipped batch is one line, not fifty.
fn delivery_findings(b: &mut String, r: &RunReport) {
    let d = &r.delivery;
    if d.delivery_findings.is_empty() {
        return;
    }
    let runs = finding_runs(&d.delivery_findings);
    b.push_str("<h3>Consumer side</h3>");
    let notes: Vec<String> = listed_in_part(d)
        .into_iter()
        .map(|(kind, listed, total)| format!("the first {listed} of {total} {kind} findings"))
        .collect();
    if !notes.is_empty() {
        let _ = write!(
            b,
            "<p class=\"muted\">Listed: {}.</p>",
            escape(&notes.join("; "))
        );
    }
    let mut rows = String::new();
    for (first, last) in &runs {
        let offsets = if first.offset == last.offset {
            first.offset.to_string()
        } else {
            format!(
                "{} to {} ({} records)",
                first.offset,
                last.offset,
                last.offset - first.offset + 1
            )
        };
        let value = match (&first.value, &last.value) {
            (Some(a), Some(z)) if first.offset != last.offset => {
                format!(
                    "<code>{}</code> &hellip; <code>{}</code>",
                    escape(a),
                    escape(z)
                )
            }
            (Some(a), _) => format!("<code>{}</code>", escape(a)),
            _ => "<span class=\"muted\">-</span>".into(),
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}/{}</td><td class=\"num\">{offsets}</td><td>{value}</td><td>{}</td><td class=\"time\">{}</td><td>{}</td></tr>",
            escape(&first.kind),
            escape(&first.group),
            escape(&first.topic),
            first.partition,
            escape(&first.members.join(", ")),
            first.time_ms.map_or_else(String::new, at),
            if first.offset == last.offset {
                escape(&first.detail)
            } else {
                format!(
                    "<span class=\"muted\">the first:</span> {}",
                    escape(&first.detail)
                )
            }
        );
    }
    listing(
        b,
        &format!("{} consumer-side findings", runs.len()),
        runs.len(),
        "<tr><th>Kind</th><th>Group</th><th>Partition</th><th class=\"num\">Offsets</th><th>Records</th><th>Members</th><th>When</th><th>What happened</th></tr>",
        &rows,
    );
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

/// The font family plotters writes into the SVG; the page's CSS replaces it with its own stack.
const FONT: &str = "sans-serif";

/// Colours for data series: blues, greens, browns and greys, never red, orange or purple (those
/// mark faults and elections). The classroom's live charts use them too.
pub const SERIES: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
    RGBColor(0, 110, 110),
    RGBColor(140, 86, 75),
];
/// A fault or an operator action.
const FAULT: RGBColor = RGBColor(214, 39, 40);
/// A clean leader election.
const ELECTION: RGBColor = RGBColor(255, 127, 14);
/// A leader elected from outside the ISR.
const UNCLEAN: RGBColor = RGBColor(148, 103, 189);
/// Axis labels and captions.
const INK: RGBColor = RGBColor(40, 48, 60);

/// The size of one small-multiple chart and of one full-width chart (SVG user units; the page
/// scales them to the column).
const SMALL: (u32, u32) = (600, 270);
const WIDE: (u32, u32) = (1180, 320);

/// Up to this many partitions each get their own offsets chart; beyond it one chart per topic
/// holds all of its partitions. Six small multiples fit three rows of two on a laptop screen,
/// and one partition per chart shows the gap between log end offset and high watermark that a
/// bundle of twenty lines would hide.
const PER_PARTITION_UP_TO: usize = 6;

fn mark_color(kind: MarkKind) -> RGBColor {
    match kind {
        MarkKind::Fault => FAULT,
        MarkKind::Election => ELECTION,
        MarkKind::UncleanElection => UNCLEAN,
    }
}

fn mark_class(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Fault => "fault",
        MarkKind::Election => "election",
        MarkKind::UncleanElection => "unclean",
    }
}

fn mark_name(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Fault => "fault or action",
        MarkKind::Election => "election",
        MarkKind::UncleanElection => "unclean election",
    }
}

/// Which marks matter more when several share one label: an unclean election, then a fault.
fn severity(kind: MarkKind) -> u8 {
    match kind {
        MarkKind::UncleanElection => 2,
        MarkKind::Fault => 1,
        MarkKind::Election => 0,
    }
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A colour darkened towards black, for a partition's high watermark next to its log end.
fn darker(c: RGBColor) -> RGBColor {
    let f = |v: u8| (u16::from(v) * 55 / 100) as u8;
    RGBColor(f(c.0), f(c.1), f(c.2))
}

/// Whether a mark's text names a partition (`orders/1`, not `orders/10` nor `xorders/1`).
/// Election marks name their partition; this is how each chart keeps only its own elections.
fn mentions(text: &str, partition: &str) -> bool {
    let mut from = 0;
    while let Some(i) = text[from..].find(partition) {
        let start = from + i;
        let end = start + partition.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let boundary_before =
            before.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'));
        let boundary_after = after.is_none_or(|c| !c.is_ascii_digit());
        if boundary_before && boundary_after {
            return true;
        }
        from = end;
    }
    false
}

/// The numbered marks a chart of some partitions draws: every fault and action, and the
/// elections of those partitions (`None`: every election, for charts about the whole cluster).
fn marks_for<'m>(marks: &'m [Mark], partitions: Option<&[&str]>) -> Vec<(usize, &'m Mark)> {
    marks
        .iter()
        .enumerate()
        .filter(|(_, m)| match (m.kind, partitions) {
            (MarkKind::Fault, _) | (_, None) => true,
            (_, Some(ps)) => ps.iter().any(|p| mentions(&m.text, p)),
        })
        .map(|(i, m)| (i + 1, m))
        .collect()
}

/// A legend entry, drawn in HTML under the chart so that it never covers a line.
struct Key {
    label: String,
    color: RGBColor,
    style: KeyStyle,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyStyle {
    Solid,
    Dashed,
    Block,
}

fn keys_html(keys: &[Key]) -> String {
    let mut out = String::new();
    for k in keys {
        let class = match k.style {
            KeyStyle::Solid => "swatch",
            KeyStyle::Dashed => "swatch dashed",
            KeyStyle::Block => "swatch block",
        };
        let style = match k.style {
            KeyStyle::Block => format!("background:{}", hex(k.color)),
            _ => format!("border-color:{}", hex(k.color)),
        };
        let _ = write!(
            out,
            "<span class=\"key\"><span class=\"{class}\" style=\"{style}\"></span>{}</span>",
            escape(&k.label)
        );
    }
    out
}

/// A chart with its HTML legend and caption (`caption` is HTML, written by this module).
fn figure(svg: &str, keys: &[Key], caption: &str) -> String {
    let legend = keys_html(keys);
    let sep = if !legend.is_empty() && !caption.is_empty() {
        "<br>"
    } else {
        ""
    };
    format!("<figure class=\"chart\">{svg}<figcaption>{legend}{sep}{caption}</figcaption></figure>")
}

/// One line of a time chart: points in (seconds, value), `None` for a gap.
struct Line {
    color: RGBColor,
    width: u32,
    dashed: bool,
    points: Vec<Option<(f64, f64)>>,
}

/// One bar of a time chart, in chart coordinates.
struct Bar {
    x: (f64, f64),
    y: (f64, f64),
    color: RGBColor,
}

/// A chart over virtual time with vertical marks.
struct TimeChart<'m> {
    title: String,
    y_desc: &'static str,
    size: (u32, u32),
    end_s: f64,
    y_max: f64,
    /// Only whole numbers on the y axis (ISR sizes).
    integer_y: bool,
    lines: Vec<Line>,
    bars: Vec<Bar>,
    marks: Vec<(usize, &'m Mark)>,
}

/// A mark's invisible hover target, added to the SVG after plotters is done with it.
struct Hover {
    x: i32,
    y: (i32, i32),
    title: String,
}

/// The unbroken runs of a line with gaps.
fn segments(points: &[Option<(f64, f64)>]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for p in points {
        match p {
            Some(p) => current.push(*p),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A value held until the next sample: each sample's value runs flat to the next sample's
/// time, then steps. A gap stays a gap.
fn steps(points: &[Option<(f64, f64)>]) -> Vec<Option<(f64, f64)>> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, p) in points.iter().enumerate() {
        out.push(*p);
        if let (Some((_, v)), Some(Some((t, _)))) = (p, points.get(i + 1)) {
            out.push(Some((*t, *v)));
        }
    }
    out
}

/// A number on an axis with at most two decimals and no trailing zeros: `10`, `2.5`.
fn short_number(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// A count on an axis, with a `k` or `M` suffix once it is long.
fn count_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1_000_000.0 {
        format!("{}M", short_number(v / 1_000_000.0))
    } else if a >= 10_000.0 {
        format!("{}k", short_number(v / 1_000.0))
    } else {
        format!("{v:.0}")
    }
}

/// The SVG a drawing function writes, or a note saying why there is none. The string backend
/// cannot fail on I/O; this only keeps a page coming out if plotters ever rejects a range.
fn svg_or_note(draw: impl FnOnce(&mut String) -> Result<(), String>) -> String {
    let mut svg = String::new();
    match draw(&mut svg) {
        Ok(()) => svg,
        Err(e) => no_data(&format!("The chart could not be drawn: {e}")),
    }
}

/// Plotters' errors, in words, for [`svg_or_note`].
fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws a chart's title at the top and returns the area below it. The title is drawn apart
/// from the chart (not as plotters' caption, which goes inside the margins) so that the margin
/// between title and plot is free for the marks' numbers.
fn titled<'a>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    title: &str,
) -> Result<DrawingArea<SVGBackend<'a>, plotters::coord::Shift>, String> {
    root.margin(8, 0, 0, 0)
        .titled(title, (FONT, 21).into_font().color(&INK))
        .map_err(err)
}

impl TimeChart<'_> {
    fn svg(&self) -> String {
        let mut hovers = Vec::new();
        let mut svg = svg_or_note(|svg| self.draw(svg, &mut hovers));
        // Hover targets: a wide invisible line over each mark with a <title>, which browsers
        // show as a tooltip. Plotters has no element for it, so it goes in after the fact.
        if let Some(end) = svg.rfind("</svg>") {
            let mut extra = String::from("<g class=\"marks\">\n");
            for h in &hovers {
                let _ = writeln!(
                    extra,
                    "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#000\" stroke-opacity=\"0\" stroke-width=\"9\"><title>{}</title></line>",
                    h.y.0,
                    h.y.1,
                    escape(&h.title),
                    x = h.x
                );
            }
            extra.push_str("</g>\n");
            svg.insert_str(end, &extra);
        }
        svg
    }

    fn draw(&self, svg: &mut String, hovers: &mut Vec<Hover>) -> Result<(), String> {
        let root = SVGBackend::with_string(svg, self.size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let area = titled(&root, &self.title)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .margin_right(22)
            // Room between the title and the plot for the marks' numbers.
            .margin_top(if self.marks.is_empty() { 8 } else { 22 })
            .x_label_area_size(46)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..self.end_s, 0f64..self.y_max)
            .map_err(err)?;
        let integer = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        let count = |v: &f64| count_label(*v);
        let secs = |v: &f64| short_number(*v);
        let y_fmt: &dyn Fn(&f64) -> String = if self.integer_y { &integer } else { &count };
        chart
            .configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc(self.y_desc)
            .label_style((FONT, 16).into_font().color(&INK))
            .axis_desc_style((FONT, 16).into_font().color(&INK))
            .axis_style(RGBColor(150, 156, 165))
            .bold_line_style(RGBColor(226, 229, 233))
            .max_light_lines(0)
            .x_labels(10)
            .y_labels(if self.integer_y { 5 } else { 6 })
            .x_label_formatter(&secs)
            .y_label_formatter(y_fmt)
            .draw()
            .map_err(err)?;

        // Marks first, so that data is drawn over them.
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let mut labels: Vec<(i32, Vec<usize>, MarkKind)> = Vec::new();
        for (n, m) in &self.marks {
            let x = m.time_ms as f64 / 1000.0;
            let style = ShapeStyle {
                color: mark_color(m.kind).mix(0.85),
                filled: false,
                stroke_width: 2,
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, self.y_max)],
                    style,
                )))
                .map_err(err)?;
            let px = chart.backend_coord(&(x, 0.0)).0;
            hovers.push(Hover {
                x: px,
                y: (yr.start, yr.end),
                title: format!(
                    "#{n} at {}: {} ({})",
                    at(m.time_ms),
                    m.text,
                    mark_name(m.kind)
                ),
            });
            // Marks closer than a label's width share one label.
            match labels.last_mut() {
                Some((x0, ns, kind)) if px - *x0 < 10 + 8 * label_text(ns).len() as i32 => {
                    ns.push(*n);
                    if severity(m.kind) > severity(*kind) {
                        *kind = m.kind;
                    }
                }
                _ => labels.push((px, vec![*n], m.kind)),
            }
        }
        for (px, ns, kind) in &labels {
            let color = mark_color(*kind);
            let style = TextStyle::from((FONT, 15).into_font())
                .color(&color)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            let px = (*px).clamp(xr.start + 6, xr.end - 6);
            root.draw(&Text::new(label_text(ns), (px, yr.start - 3), style))
                .map_err(err)?;
        }

        chart
            .draw_series(
                self.bars
                    .iter()
                    .map(|b| Rectangle::new([(b.x.0, b.y.0), (b.x.1, b.y.1)], b.color.filled())),
            )
            .map_err(err)?;
        for line in &self.lines {
            for seg in segments(&line.points) {
                let style = line.color.stroke_width(line.width);
                if seg.len() == 1 {
                    chart
                        .draw_series(std::iter::once(Circle::new(seg[0], 2, line.color.filled())))
                        .map_err(err)?;
                } else if line.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(seg, 7, 5, style))
                        .map_err(err)?;
                } else {
                    chart
                        .draw_series(LineSeries::new(seg, style))
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
        Ok(())
    }
}

/// The label of marks that share a place: `3`, `3,4`, or `3–7` for more.
fn label_text(ns: &[usize]) -> String {
    match ns {
        [] => String::new(),
        [n] => n.to_string(),
        [a, b] => format!("{a},{b}"),
        [a, .., z] => format!("{a}\u{2013}{z}"),
    }
}

/// The topic of a `topic/p` name.
fn topic_of(partition: &str) -> &str {
    partition.rsplit_once('/').map_or(partition, |(t, _)| t)
}

/// The partitions grouped into charts: one each when there are few, else one chart per topic
/// (topics in the scenario's order).
fn panels(partitions: &[String], per_partition: bool) -> Vec<(String, Vec<usize>)> {
    if per_partition {
        return partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), vec![i]))
            .collect();
    }
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, p) in partitions.iter().enumerate() {
        let topic = topic_of(p);
        match out.iter_mut().find(|(t, _)| t == topic) {
            Some((_, v)) => v.push(i),
            None => out.push((topic.to_string(), vec![i])),
        }
    }
    out
}

/// The charts section: offsets, ISR, acknowledgements, latency, lag, then the marks' legend.
fn charts_section(b: &mut String, r: &RunReport, charts: &Charts) {
    b.push_str("<h2 id=\"charts\">Charts</h2>");
    // Every time chart shares one x axis, so that a reader can line them up by eye.
    let end_ms = [
        Some(r.virtual_time_ms),
        charts.samples.last().map(|s| s.time_ms),
        charts.acks.iter().map(|a| a.acked_ms).max(),
        charts.marks.last().map(|m| m.time_ms),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    let end_s = (end_ms as f64 / 1000.0).max(1.0);
    let names: Vec<&str> = charts.partitions.iter().map(String::as_str).collect();

    b.push_str("<h3>Log end offset and high watermark</h3>");
    b.push_str(&offset_charts(charts, end_s));
    b.push_str("<h3>ISR size</h3>");
    b.push_str(&isr_charts(charts, end_s));
    b.push_str("<h3>Producer acknowledgements</h3><div class=\"grid\">");
    b.push_str(&ack_chart(charts, &names, end_s));
    b.push_str(&latency_chart(&charts.acks));
    b.push_str("</div>");
    if !charts.groups.is_empty() {
        b.push_str("<h3>Consumer lag</h3>");
        b.push_str(&lag_chart(charts, end_s));
    }
    marks_legend(b, &charts.marks);
}

/// The note for charts of samples when there are none.
const NO_SAMPLES: &str = "No samples: the run was not sampled, or ended before the first sample.";

fn offset_charts(charts: &Charts, end_s: f64) -> String {
    if charts.samples.is_empty() || charts.partitions.is_empty() {
        return no_data(NO_SAMPLES);
    }
    let per_partition = charts.partitions.len() <= PER_PARTITION_UP_TO;
    let panels = panels(&charts.partitions, per_partition);
    let size = if panels.len() == 1 { WIDE } else { SMALL };
    let mut out = String::from(if panels.len() > 1 {
        "<div class=\"grid\">"
    } else {
        "<div>"
    });
    for (name, members) in &panels {
        let mut lines = Vec::new();
        let mut keys = Vec::new();
        let mut y_max = 0u64;
        for (k, &i) in members.iter().enumerate() {
            let color = SERIES[k % SERIES.len()];
            let mut leo = Vec::new();
            let mut hw = Vec::new();
            for s in &charts.samples {
                let p = s.partitions.get(i);
                let t = s.time_ms as f64 / 1000.0;
                let l = p.and_then(|p| p.log_end_offset);
                let h = p.and_then(|p| p.high_watermark);
                y_max = y_max.max(l.unwrap_or(0)).max(h.unwrap_or(0));
                leo.push(l.map(|v| (t, v as f64)));
                hw.push(h.map(|v| (t, v as f64)));
            }
            // The log end offset first, the high watermark dashed and darker over it: where they
            // agree the line shows both, where they part the gap is the uncommitted tail.
            lines.push(Line {
                color,
                width: 3,
                dashed: false,
                points: leo,
            });
            lines.push(Line {
                color: darker(color),
                width: 2,
                dashed: true,
                points: hw,
            });
            if members.len() == 1 {
                keys.push(Key {
                    label: "log end offset".into(),
                    color,
                    style: KeyStyle::Solid,
                });
                keys.push(Key {
                    label: "high watermark".into(),
                    color: darker(color),
                    style: KeyStyle::Dashed,
                });
            } else {
                keys.push(Key {
                    label: charts.partitions[i].clone(),
                    color,
                    style: KeyStyle::Solid,
                });
            }
        }
        let ps: Vec<&str> = members
            .iter()
            .map(|&i| charts.partitions[i].as_str())
            .collect();
        let chart = TimeChart {
            title: format!("Offsets of {name}"),
            y_desc: "offset",
            size,
            end_s,
            y_max: (y_max as f64 * 1.08).max(10.0),
            integer_y: false,
            lines,
            bars: Vec::new(),
            marks: marks_for(&charts.marks, Some(&ps)),
        };
        let caption = if members.len() == 1 {
            ""
        } else {
            "Solid lines: log end offset; dashed, darker lines of the same colour: high watermark."
        };
        out.push_str(&figure(&chart.svg(), &keys, caption));
    }
    out.push_str("</div>");
    out
}

/// ISR size per partition, one chart per topic. Partitions of a topic usually share their ISR
/// size, so each partition's line is nudged by a fraction of a replica; otherwise the last one
/// drawn would hide the others.
fn isr_charts(charts: &Charts, end_s: f64) -> String {
    if charts.samples.is_empty() || charts.partitions.is_empty() {
        return no_data(NO_SAMPLES);
    }
    let panels = panels(&charts.partitions, false);
    let size = if panels.len() == 1 { WIDE } else { SMALL };
    let mut out = String::from(if panels.len() > 1 {
        "<div class=\"grid\">"
    } else {
        "<div>"
    });
    for (topic, members) in &panels {
        let n = members.len();
        let spread = if n > 1 {
            (0.36 / (n - 1) as f64).min(0.08)
        } else {
            0.0
        };
        let mut y_max = 1usize;
        let mut lines = Vec::new();
        let mut keys = Vec::new();
        for (k, &i) in members.iter().enumerate() {
            let color = SERIES[k % SERIES.len()];
            let nudge = (k as f64 - (n - 1) as f64 / 2.0) * spread;
            let points: Vec<Option<(f64, f64)>> = charts
                .samples
                .iter()
                .map(|s| {
                    // A gap while the controller is down: nobody holds the ISR then.
                    let size = s.partitions.get(i)?.isr_size?;
                    y_max = y_max.max(size);
                    Some((s.time_ms as f64 / 1000.0, size as f64 + nudge))
                })
                .collect();
            lines.push(Line {
                color,
                width: 2,
                dashed: false,
                points: steps(&points),
            });
            keys.push(Key {
                label: charts.partitions[i].clone(),
                color,
                style: KeyStyle::Solid,
            });
        }
        let ps: Vec<&str> = members
            .iter()
            .map(|&i| charts.partitions[i].as_str())
            .collect();
        let chart = TimeChart {
            title: format!("ISR size of {topic}"),
            y_desc: "replicas in ISR",
            size,
            end_s,
            y_max: y_max as f64 + 0.6,
            integer_y: true,
            lines,
            bars: Vec::new(),
            marks: marks_for(&charts.marks, Some(&ps)),
        };
        let caption = if n > 1 {
            "Lines of partitions with the same ISR size are drawn slightly apart."
        } else {
            ""
        };
        out.push_str(&figure(&chart.svg(), &keys, caption));
    }
    out.push_str("</div>");
    out
}

/// Acknowledgements per second of virtual time, stacked by producer.
fn ack_chart(charts: &Charts, partitions: &[&str], end_s: f64) -> String {
    if charts.acks.is_empty() {
        return format!(
            "<figure class=\"chart\">{}</figure>",
            no_data("No acknowledgements: no producer had a record acknowledged.")
        );
    }
    let mut per: BTreeMap<&str, BTreeMap<u64, u64>> = BTreeMap::new();
    for a in &charts.acks {
        *per.entry(&a.producer)
            .or_default()
            .entry(a.acked_ms / 1000)
            .or_default() += 1;
    }
    let mut stacked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut bars = Vec::new();
    let mut keys = Vec::new();
    for (k, (producer, seconds)) in per.iter().enumerate() {
        let color = SERIES[k % SERIES.len()];
        for (s, n) in seconds {
            let base = stacked.entry(*s).or_default();
            bars.push(Bar {
                x: (*s as f64 + 0.1, *s as f64 + 0.9),
                y: (*base as f64, (*base + n) as f64),
                color,
            });
            *base += n;
        }
        keys.push(Key {
            label: (*producer).to_string(),
            color,
            style: KeyStyle::Block,
        });
    }
    let top = stacked.values().copied().max().unwrap_or(1);
    let chart = TimeChart {
        title: "Acknowledgements per second".into(),
        y_desc: "records / s",
        size: SMALL,
        end_s,
        y_max: (top as f64 * 1.1).max(5.0),
        integer_y: false,
        lines: Vec::new(),
        bars,
        marks: marks_for(&charts.marks, Some(partitions)),
    };
    let total = charts.acks.len() as u64;
    figure(
        &chart.svg(),
        &keys,
        &format!(
            "{} acknowledgements in one-second bins of virtual time.",
            thousands(total)
        ),
    )
}

/// The latency bins: 0, 1, 2, 5, 10, 20, 50 ms and so on. Latencies span from a network hop to
/// a whole failover, so equal-width bins would put nearly everything in the first one.
fn latency_edges(max: u64) -> Vec<u64> {
    let mut edges = vec![0];
    let mut decade = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let e = m * decade;
            edges.push(e);
            if e > max {
                break 'outer;
            }
        }
        decade *= 10;
    }
    edges
}

/// A bin edge in milliseconds, short enough for a crowded axis: `5`, `200`, `2k`.
fn ms_label(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}k", ms / 1000)
    } else {
        ms.to_string()
    }
}

/// The value at a quantile of sorted values, by nearest rank.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A histogram of acknowledgement latency (from `send` to the callback), with its median, p99
/// and maximum underneath.
fn latency_chart(acks: &[Ack]) -> String {
    if acks.is_empty() {
        return format!(
            "<figure class=\"chart\">{}</figure>",
            no_data("No acknowledgements, so no latency to show.")
        );
    }
    let mut latencies: Vec<u64> = acks
        .iter()
        .map(|a| a.acked_ms.saturating_sub(a.sent_ms))
        .collect();
    gregor_core::sort::sort(&mut latencies);
    let max = latencies.last().copied().unwrap_or(0);
    let edges = latency_edges(max);
    let mut counts = vec![0u64; edges.len() - 1];
    for l in &latencies {
        // The bin whose range [edge, next edge) holds the latency.
        let bin = edges
            .partition_point(|e| e <= l)
            .saturating_sub(1)
            .min(counts.len() - 1);
        counts[bin] += 1;
    }
    let bins = counts.len();
    let top = counts.iter().copied().max().unwrap_or(1);
    let (median, p99) = (quantile(&latencies, 0.5), quantile(&latencies, 0.99));
    let svg = svg_or_note(|svg| {
        let root = SVGBackend::with_string(svg, SMALL).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let area = titled(&root, "Acknowledgement latency")?;
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .margin_top(22)
            .margin_right(22)
            .x_label_area_size(46)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..bins as f64, 0f64..(top as f64 * 1.1).max(5.0))
            .map_err(err)?;
        // The axis is bin numbers; each whole number is labelled with its edge's latency.
        let edge_label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < edges.len() {
                ms_label(edges[i as usize])
            } else {
                String::new()
            }
        };
        let count = |v: &f64| count_label(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("latency in ms, from send to acknowledgement")
            .y_desc("records")
            .label_style((FONT, 16).into_font().color(&INK))
            .axis_desc_style((FONT, 16).into_font().color(&INK))
            .axis_style(RGBColor(150, 156, 165))
            .bold_line_style(RGBColor(226, 229, 233))
            .max_light_lines(0)
            .x_labels(bins + 1)
            .y_labels(6)
            .x_label_formatter(&edge_label)
            .y_label_formatter(&count)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| {
                        Rectangle::new(
                            [(i as f64 + 0.08, 0.0), (i as f64 + 0.92, *n as f64)],
                            SERIES[0].filled(),
                        )
                    }),
            )
            .map_err(err)?;
        // Each bar's count above it: the small bins of a tail are otherwise invisible.
        for (i, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let (px, py) = chart.backend_coord(&(i as f64 + 0.5, *n as f64));
            let style = TextStyle::from((FONT, 14).into_font())
                .color(&INK)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            root.draw(&Text::new(thousands(*n), (px, py - 2), style))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    });
    let caption = format!(
        "<table class=\"stats\"><thead><tr><th class=\"num\">Acknowledged</th><th class=\"num\">Median</th><th class=\"num\">p99</th><th class=\"num\">Max</th></tr></thead><tbody><tr><td class=\"num\">{}</td><td class=\"num\">{} ms</td><td class=\"num\">{} ms</td><td class=\"num\">{} ms</td></tr></tbody></table>",
        thousands(latencies.len() as u64),
        thousands(median),
        thousands(p99),
        thousands(max)
    );
    figure(&svg, &[], &caption)
}

/// Consumer lag per declared group (high watermark minus committed, summed over partitions).
fn lag_chart(charts: &Charts, end_s: f64) -> String {
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    let mut y_max = 0u64;
    let mut any = false;
    for (k, group) in charts.groups.iter().enumerate() {
        let color = SERIES[k % SERIES.len()];
        let points: Vec<Option<(f64, f64)>> = charts
            .samples
            .iter()
            .map(|s| {
                s.group_lag.get(group).copied().flatten().map(|lag| {
                    y_max = y_max.max(lag);
                    any = true;
                    (s.time_ms as f64 / 1000.0, lag as f64)
                })
            })
            .collect();
        lines.push(Line {
            color,
            width: 2,
            dashed: false,
            points,
        });
        keys.push(Key {
            label: group.clone(),
            color,
            style: KeyStyle::Solid,
        });
    }
    if !any {
        return format!(
            "<figure class=\"chart\">{}</figure>",
            no_data("No lag to show: no coordinator held a declared group at any sample.")
        );
    }
    let chart = TimeChart {
        title: "Consumer lag per group".into(),
        y_desc: "records behind",
        size: WIDE,
        end_s,
        y_max: (y_max as f64 * 1.1).max(10.0),
        integer_y: false,
        lines,
        bars: Vec::new(),
        marks: marks_for(&charts.marks, None),
    };
    figure(
        &chart.svg(),
        &keys,
        "Lag is the high watermark minus the group's committed offset, summed over the partitions with a commit; a gap means no coordinator had the group loaded.",
    )
}

/// The numbered list of marks, so that a reader can tell what each vertical line is.
fn marks_legend(b: &mut String, marks: &[Mark]) {
    b.push_str("<h3 id=\"marks\">Marks on the charts</h3>");
    let keys = [
        Key {
            label: mark_name(MarkKind::Fault).into(),
            color: FAULT,
            style: KeyStyle::Solid,
        },
        Key {
            label: mark_name(MarkKind::Election).into(),
            color: ELECTION,
            style: KeyStyle::Solid,
        },
        Key {
            label: mark_name(MarkKind::UncleanElection).into(),
            color: UNCLEAN,
            style: KeyStyle::Solid,
        },
    ];
    let _ = write!(b, "<p>{}</p>", keys_html(&keys));
    if marks.is_empty() {
        b.push_str("<p>No faults, actions or elections to mark.</p>");
        return;
    }
    b.push_str("<p class=\"muted\">The numbers above each chart refer to this list; hovering a line shows it too. Partition charts only draw their own partitions' elections.</p>");
    let mut rows = String::new();
    for (i, m) in marks.iter().enumerate() {
        let _ = write!(
            rows,
            "<tr class=\"{}\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td><span class=\"tag {}\">{}</span></td><td>{}</td></tr>",
            mark_class(m.kind),
            i + 1,
            at(m.time_ms),
            mark_class(m.kind),
            mark_name(m.kind),
            escape(&m.text)
        );
    }
    let _ = write!(
        b,
        "<table><thead><tr><th class=\"num\">#</th><th>Time</th><th>Kind</th><th>What happened</th></tr></thead><tbody>{rows}</tbody></table>"
    );
}

/// A horizontal bar chart of counts with the names written above the bars, since check names
/// are far too long for an axis.
fn bar_chart(title: &str, items: &[(String, u64)], color: fn(&str) -> RGBColor) -> String {
    if items.is_empty() {
        return no_data("Nothing to count.");
    }
    let n = items.len();
    let top = items.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
    let height = 90 + 46 * n as u32;
    svg_or_note(|svg| {
        let root = SVGBackend::with_string(svg, (600, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let area = titled(&root, title)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(10)
            .margin_right(26)
            .x_label_area_size(40)
            .y_label_area_size(8)
            .build_cartesian_2d(0f64..top as f64 * 1.12, 0f64..n as f64)
            .map_err(err)?;
        let integer = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .label_style((FONT, 16).into_font().color(&INK))
            .axis_style(RGBColor(150, 156, 165))
            .bold_line_style(RGBColor(226, 229, 233))
            .max_light_lines(0)
            .x_labels((top as usize + 1).min(6))
            .x_label_formatter(&integer)
            .draw()
            .map_err(err)?;
        for (i, (name, count)) in items.iter().enumerate() {
            // Row i from the top spans [n-i-1, n-i]: the name in its upper half, the bar below.
            let row = (n - i) as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, row - 0.88), (*count as f64, row - 0.5)],
                    color(name).filled(),
                )))
                .map_err(err)?;
            let name_at = chart.backend_coord(&(0.0, row - 0.08));
            let style = TextStyle::from((FONT, 16).into_font())
                .color(&INK)
                .pos(Pos::new(HPos::Left, VPos::Top));
            root.draw(&Text::new(name.clone(), (name_at.0 + 2, name_at.1), style))
                .map_err(err)?;
            let end = chart.backend_coord(&(*count as f64, row - 0.69));
            let style = TextStyle::from((FONT, 16).into_font())
                .color(&INK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(count.to_string(), (end.0 + 6, end.1), style))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Timeline and end state
// ---------------------------------------------------------------------------------------------

/// The class a story line is shown with.
fn story_class(line: &StoryLine) -> &'static str {
    match line.kind {
        StoryKind::CheckFailed => "checkfailed",
        StoryKind::UncleanElection => "unclean",
        StoryKind::Election => "election",
        StoryKind::Loss => "loss",
        StoryKind::Fault => "fault",
        StoryKind::Event | StoryKind::Note => "",
    }
}

fn timeline_section(b: &mut String, story: &[StoryLine]) {
    b.push_str("<h2 id=\"timeline\">Timeline</h2>");
    if story.is_empty() {
        b.push_str("<p>Nothing happened worth telling.</p>");
        return;
    }
    let keys = [
        Key {
            label: "fault or action".into(),
            color: FAULT,
            style: KeyStyle::Block,
        },
        Key {
            label: "election".into(),
            color: ELECTION,
            style: KeyStyle::Block,
        },
        Key {
            label: "unclean election".into(),
            color: UNCLEAN,
            style: KeyStyle::Block,
        },
        Key {
            label: "committed records lost".into(),
            color: RGBColor(0xc9, 0x8a, 0x00),
            style: KeyStyle::Block,
        },
        Key {
            label: "check failed".into(),
            color: RGBColor(0xc6, 0x28, 0x28),
            style: KeyStyle::Block,
        },
    ];
    let _ = write!(b, "<p>{}</p>", keys_html(&keys));
    b.push_str("<table class=\"timeline\"><thead><tr><th>Time</th><th>What happened</th></tr></thead><tbody>");
    for line in story {
        let class = story_class(line);
        let attr = if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{class}\"")
        };
        let _ = write!(
            b,
            "<tr{attr}><td class=\"time\">{}</td><td>{}</td></tr>",
            at(line.time_ms),
            escape(&line.text)
        );
    }
    b.push_str("</tbody></table>");
}

/// A broker list as `[1,2,3]`, the way Kafka's tools print it.
fn brokers(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    ids.join(",")
}

/// `topic-p` split for sorting: by topic, then partition number (`orders-10` after `orders-9`).
fn dashed_key(name: &str) -> (String, u64) {
    match name.rsplit_once('-') {
        Some((t, p)) => match p.parse() {
            Ok(p) => (t.to_string(), p),
            Err(_) => (name.to_string(), 0),
        },
        None => (name.to_string(), 0),
    }
}

fn end_state_section(b: &mut String, r: &RunReport) {
    b.push_str("<h2 id=\"end-state\">End state</h2><h3>Partitions</h3>");
    if r.partitions.is_empty() {
        b.push_str("<p>No partitions.</p>");
    } else {
        b.push_str("<table><thead><tr><th>Topic</th><th class=\"num\">Partition</th><th class=\"num\">Leader</th><th class=\"num\">Leader epoch</th><th>Replicas</th><th>ISR</th><th class=\"num\">Log start</th><th class=\"num\">High watermark</th><th>Log end offset by broker</th></tr></thead><tbody>");
        for p in &r.partitions {
            // A partition without a leader or with a short ISR is worth a second look.
            let attr = if p.leader.is_none() {
                " class=\"bad\""
            } else if p.isr.len() < p.replicas.len() {
                " class=\"warn\""
            } else {
                ""
            };
            let leos: Vec<String> = p
                .log_end_offsets
                .iter()
                .map(|(b, o)| format!("{}: {o}", escape(b)))
                .collect();
            let _ = write!(
                b,
                "<tr{attr}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&p.topic),
                p.partition,
                p.leader
                    .map_or_else(|| "none".to_string(), |l| l.to_string()),
                p.leader_epoch,
                brokers(&p.replicas),
                brokers(&p.isr),
                p.log_start_offset
                    .map_or_else(|| "-".to_string(), |o| o.to_string()),
                p.high_watermark
                    .map_or_else(|| "-".to_string(), |o| o.to_string()),
                leos.join(", ")
            );
        }
        b.push_str("</tbody></table>");
    }
    if r.groups.is_empty() {
        return;
    }
    b.push_str("<h3>Consumer groups</h3>");
    for g in &r.groups {
        let _ = write!(
            b,
            "<p><b>{}</b>: state <b>{}</b>, generation {}, assignor {}, {} member(s).</p>",
            escape(&g.group),
            escape(&g.state),
            g.generation,
            escape(g.protocol.as_deref().unwrap_or("none")),
            g.members.len()
        );
        // Rows as `kafka-consumer-groups --describe`: every partition with a commit or an owner.
        let mut rows: BTreeMap<(String, u64), String> = BTreeMap::new();
        for name in g.committed.keys().chain(g.lag.keys()) {
            rows.insert(dashed_key(name), name.clone());
        }
        let mut owner: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for m in &g.members {
            for a in &m.assignment {
                rows.insert(dashed_key(a), a.clone());
                owner.insert(a, (&m.client, &m.member_id));
            }
        }
        if rows.is_empty() {
            b.push_str("<p class=\"muted\">No committed offsets and no assignments.</p>");
        } else {
            b.push_str("<table><thead><tr><th>Partition</th><th class=\"num\">Committed offset</th><th class=\"num\">High watermark</th><th class=\"num\">Lag</th><th>Consumer</th><th>Member id</th></tr></thead><tbody>");
            for name in rows.values() {
                let committed = g.committed.get(name);
                let lag = g.lag.get(name);
                let hw = match (committed, lag) {
                    (Some(c), Some(l)) => (c + l).to_string(),
                    _ => "-".into(),
                };
                let (client, member) = owner.get(name.as_str()).copied().unwrap_or(("-", "-"));
                let attr = if lag.is_some_and(|l| *l > 0) {
                    " class=\"warn\""
                } else {
                    ""
                };
                let _ = write!(
                    b,
                    "<tr{attr}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{hw}</td><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(name),
                    committed.map_or_else(|| "-".to_string(), ToString::to_string),
                    lag.map_or_else(|| "-".to_string(), ToString::to_string),
                    escape(client),
                    escape(member)
                );
            }
            b.push_str("</tbody></table>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{PartitionSample, Sample};
    use crate::runner::{Run, RunOptions};
    use crate::scenario::Scenario;
    use crate::sweep::FailedSeed;
    use std::path::Path;
    use std::sync::OnceLock;

    /// Runs a shipped scenario with charts.
    fn run(file: &str) -> RunReport {
        run_path(&format!(
            "{}/../scenarios/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    fn run_path(path: &str) -> RunReport {
        let scenario = Scenario::from_file(Path::new(&path)).expect("shipped scenario parses");
        Run::new(
            &scenario,
            &RunOptions {
                charts: true,
                ..RunOptions::default()
            },
        )
        .run()
    }

    fn failover() -> &'static RunReport {
        static R: OnceLock<RunReport> = OnceLock::new();
        R.get_or_init(|| run("leader-failover.toml"))
    }

    fn unclean() -> &'static RunReport {
        static R: OnceLock<RunReport> = OnceLock::new();
        R.get_or_init(|| run("unclean-election.toml"))
    }

    fn groups() -> &'static RunReport {
        static R: OnceLock<RunReport> = OnceLock::new();
        R.get_or_init(|| run("group-rebalance.toml"))
    }

    /// Eight partitions in two topics: more than get one offsets chart each.
    fn many() -> &'static RunReport {
        static R: OnceLock<RunReport> = OnceLock::new();
        R.get_or_init(|| {
            run_path(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/html/many-partitions.toml"
            ))
        })
    }

    fn charts_of(r: &RunReport) -> &Charts {
        r.charts
            .as_ref()
            .expect("a run with charts: true has charts")
    }

    /// A failing check, made from a real one so that the test does not depend on every field.
    fn failing_check(name: &str, detail: &str) -> Check {
        let mut c = failover().checks[0].clone();
        c.name = name.into();
        c.ok = false;
        c.detail = detail.into();
        c
    }

    fn svg_count(html: &str) -> usize {
        html.matches("<svg").count()
    }

    /// The offsets charts plus the ISR charts plus acks and latency (plus lag with groups).
    fn expected_svgs(c: &Charts) -> usize {
        let topics = panels(&c.partitions, false).len();
        let offsets = if c.partitions.len() <= PER_PARTITION_UP_TO {
            c.partitions.len()
        } else {
            topics
        };
        offsets + topics + 2 + usize::from(!c.groups.is_empty())
    }

    fn sweep() -> SweepSummary {
        SweepSummary {
            scenario: "leader failover".into(),
            file: "scenarios/leader-failover.toml".into(),
            driver: "world".into(),
            seeds: "1..101".into(),
            shards: vec!["1/2".into(), "2/2".into()],
            seeds_run: 100,
            passed: 97,
            failed: vec![
                FailedSeed {
                    seed: 7,
                    verdict: "safety".into(),
                    check: "no acknowledged record lost".into(),
                    finding: "3 lost: broker 2 was elected uncleanly".into(),
                    reproduce: "gregor run scenarios/leader-failover.toml --seed 7".into(),
                },
                FailedSeed {
                    seed: 42,
                    verdict: "safety".into(),
                    check: "no acknowledged record lost".into(),
                    finding: "1 lost".into(),
                    reproduce: "gregor run scenarios/leader-failover.toml --seed 42".into(),
                },
                FailedSeed {
                    seed: 77,
                    verdict: "liveness".into(),
                    check: "converged after healing".into(),
                    finding: "payments/0 has no leader".into(),
                    reproduce: "gregor run scenarios/leader-failover.toml --seed 77".into(),
                },
            ],
            seeds_per_second: 12.345,
        }
    }

    #[test]
    fn escape_turns_markup_into_text() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn report_values_are_escaped_on_the_page() {
        let mut r = failover().clone();
        r.scenario = "<script>alert(1)</script>".into();
        r.story.push(StoryLine {
            time_ms: 1,
            kind: StoryKind::Event,
            text: "value <script>x</script>".into(),
        });
        r.checks.push(failing_check("<b>n</b>", "a & b"));
        let html = run_page(&r, charts_of(&r));
        assert!(!html.contains("<script>"), "no raw script tag");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("value &lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;n&lt;/b&gt;"));
    }

    #[test]
    fn run_page_is_a_self_contained_document() {
        let r = failover();
        let html = run_page(r, charts_of(r));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("<style>"));
        for external in [
            "<script",
            "<link",
            "src=\"http",
            "href=\"http",
            "@import",
            "url(",
        ] {
            assert!(!html.contains(external), "found {external}");
        }
        assert!(html.contains(&escape(&r.reproduce)));
        assert!(html.contains(&format!("{}", r.seed)));
        assert!(html.contains("badge pass"), "leader failover passes");
    }

    #[test]
    fn run_page_has_one_svg_per_chart_and_no_lag_without_groups() {
        let r = failover();
        let c = charts_of(r);
        assert!(c.groups.is_empty());
        assert!(!c.samples.is_empty() && !c.acks.is_empty());
        let html = run_page(r, c);
        assert_eq!(svg_count(&html), expected_svgs(c));
        assert!(!html.contains("Consumer lag per group"));
        assert!(html.contains("Offsets of "));
        assert!(html.contains("ISR size of "));
        assert!(html.contains("Acknowledgements per second"));
        assert!(html.contains("Acknowledgement latency"));
    }

    #[test]
    fn run_page_draws_lag_with_groups() {
        let r = groups();
        let c = charts_of(r);
        assert!(!c.groups.is_empty());
        let html = run_page(r, c);
        assert!(html.contains("Consumer lag per group"));
        assert_eq!(svg_count(&html), expected_svgs(c));
        assert!(html.contains("Consumer groups"));
        for g in &r.groups {
            assert!(html.contains(&escape(&g.group)));
        }
    }

    #[test]
    fn many_partitions_get_one_offsets_chart_per_topic() {
        let r = many();
        let c = charts_of(r);
        assert_eq!(c.partitions.len(), 8);
        let html = run_page(r, c);
        assert!(
            html.contains("\nOffsets of a\n</text>"),
            "one chart for topic a"
        );
        assert!(html.contains("Offsets of b"));
        assert!(!html.contains("Offsets of a/0"));
        assert_eq!(
            svg_count(&html),
            2 + 2 + 2,
            "offsets and ISR per topic, acks, latency"
        );
    }

    #[test]
    fn marks_are_drawn_listed_and_hoverable() {
        let r = failover();
        let c = charts_of(r);
        assert!(c.marks.iter().any(|m| m.kind == MarkKind::Fault));
        assert!(c.marks.iter().any(|m| m.kind == MarkKind::Election));
        let html = run_page(r, c);
        assert!(html.contains("Marks on the charts"));
        for (i, m) in c.marks.iter().enumerate() {
            assert!(html.contains(&format!(
                "<td class=\"num\">{}</td><td class=\"time\">{}</td>",
                i + 1,
                at(m.time_ms)
            )));
            assert!(
                html.contains(&format!("<title>#{} at {}", i + 1, at(m.time_ms))),
                "mark {} hoverable",
                i + 1
            );
        }
        assert!(html.contains(&hex(FAULT)) && html.contains(&hex(ELECTION)));
    }

    #[test]
    fn unclean_run_explains_its_lost_records() {
        let r = unclean();
        assert!(
            !r.history.lost_groups.is_empty(),
            "the unclean election loses records"
        );
        let html = run_page(r, charts_of(r));
        assert!(!html.contains("No findings."));
        assert!(html.contains("Lost acknowledged records"));
        for g in &r.history.lost_groups {
            assert!(html.contains(&escape(&g.cause)));
        }
        let first = &r.history.lost[0];
        assert!(html.contains(&format!("<code>{}</code>", escape(&first.value))));
        assert!(html.contains(&escape(&first.explanation)));
        assert!(html.contains("Inconsistent offsets"));
        assert!(
            html.contains(&hex(UNCLEAN)),
            "the unclean election is marked"
        );
        assert!(
            html.contains("<tr class=\"unclean\">"),
            "and stands out in the timeline"
        );
    }

    #[test]
    fn a_clean_run_says_no_findings() {
        let mut r = failover().clone();
        r.story.retain(|l| !is_check_failed(l));
        assert_eq!(r.history.lost_acknowledged, 0);
        assert_eq!(r.history.duplicates, 0);
        r.history.nonmonotonic_sends = 0;
        r.history.inconsistent_offsets = 0;
        r.history.inconsistent.clear();
        r.delivery.delivery_findings.clear();
        let html = run_page(&r, charts_of(&r));
        assert!(html.contains("<p class=\"none\">No findings.</p>"));
    }

    #[test]
    fn failed_checks_come_first_and_check_failed_lines_are_findings() {
        let mut r = failover().clone();
        r.verdict = "fail".into();
        r.checks.push(failing_check("zz broken", "it broke"));
        r.story.push(StoryLine {
            time_ms: 1234,
            kind: StoryKind::CheckFailed,
            text: "CHECK FAILED (one leader per epoch): two leaders".into(),
        });
        let html = run_page(&r, charts_of(&r));
        assert!(html.contains("badge fail"));
        let table = &html[html.find("id=\"checks\"").unwrap()..];
        let broken = table.find("zz broken").unwrap();
        let first_ok = table.find("&#10003; ok").unwrap();
        assert!(broken < first_ok, "failing checks first");
        assert!(html.contains("Checks that failed during the run"));
        assert!(html.contains("<tr class=\"checkfailed\"><td class=\"time\">1.234s</td>"));
    }

    #[test]
    fn empty_charts_do_not_panic() {
        let r = failover();
        let html = run_page(r, &Charts::default());
        assert_eq!(svg_count(&html), 0);
        assert!(html.contains("No samples"));
        assert!(html.contains("No acknowledgements"));

        // Samples with gaps only, one ack, groups that no coordinator ever held.
        let charts = Charts {
            partitions: vec!["t/0".into()],
            groups: vec!["g".into()],
            samples: vec![Sample {
                time_ms: 0,
                partitions: vec![PartitionSample {
                    leader: None,
                    leader_epoch: 0,
                    isr_size: Some(0),
                    high_watermark: None,
                    log_end_offset: None,
                }],
                group_lag: [("g".to_string(), None)].into_iter().collect(),
            }],
            acks: vec![Ack {
                producer: "p".into(),
                sent_ms: 5,
                acked_ms: 5,
            }],
            marks: vec![Mark {
                time_ms: 0,
                kind: MarkKind::Fault,
                text: "x <y>".into(),
            }],
        };
        let html = run_page(r, &charts);
        assert!(html.contains("No lag to show"));
        assert!(html.contains("x &lt;y&gt;"));
        assert_eq!(svg_count(&html), 4, "offsets, ISR, acks, latency");
    }

    #[test]
    fn pages_are_deterministic() {
        let r = groups();
        assert_eq!(run_page(r, charts_of(r)), run_page(r, charts_of(r)));
        let again = run("group-rebalance.toml");
        assert_eq!(
            run_page(r, charts_of(r)),
            run_page(&again, charts_of(&again))
        );
        let links: BTreeMap<u64, String> =
            [(7, "seed-7/index.html".to_string())].into_iter().collect();
        assert_eq!(sweep_page(&sweep(), &links), sweep_page(&sweep(), &links));
    }

    #[test]
    fn sweep_page_links_failing_seeds_and_shows_the_distribution() {
        let links: BTreeMap<u64, String> = [(42, "seed-42/index.html".to_string())]
            .into_iter()
            .collect();
        let html = sweep_page(&sweep(), &links);
        assert!(html.contains("<a href=\"seed-42/index.html\">42</a>"));
        assert!(!html.contains(">7</a>"), "seed 7 has no link");
        assert!(html.contains("<td class=\"num\">7</td>"));
        assert_eq!(svg_count(&html), 2, "by class and by check");
        assert!(html.contains("Failing seeds by verdict class"));
        assert!(html.contains("<tr><td>no acknowledged record lost</td><td class=\"num\">2</td><td class=\"num\">67%</td></tr>"));
        assert!(html.contains("<tr><td>liveness</td><td class=\"num\">1</td>"));
        assert!(html.contains("12.3"));
        assert!(html.contains("1/2, 2/2"));
    }

    #[test]
    fn sweep_page_without_failures_says_so() {
        let mut s = sweep();
        s.failed.clear();
        s.passed = 100;
        let html = sweep_page(&s, &BTreeMap::new());
        assert!(html.contains("No seed failed: all 100 seeds passed every check."));
        assert!(html.contains("badge pass"));
        assert_eq!(svg_count(&html), 0);
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(latency_edges(0), vec![0, 1]);
        assert_eq!(latency_edges(7), vec![0, 1, 2, 5, 10]);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), 2);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.99), 4);
        assert!(mentions(
            "broker 2 elected leader of orders/1 (epoch 3)",
            "orders/1"
        ));
        assert!(!mentions(
            "broker 2 elected leader of orders/10 (epoch 3)",
            "orders/1"
        ));
        assert!(!mentions(
            "broker 2 elected leader of xorders/1 (epoch 3)",
            "orders/1"
        ));
        assert!(mentions("orders/1 has no leader (epoch 3)", "orders/1"));
        assert_eq!(label_text(&[3]), "3");
        assert_eq!(label_text(&[3, 4]), "3,4");
        assert_eq!(label_text(&[3, 4, 5]), "3\u{2013}5");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(10.0), "10");
        let s = steps(&[Some((0.0, 3.0)), Some((1.0, 2.0)), None, Some((3.0, 1.0))]);
        assert_eq!(
            s,
            vec![
                Some((0.0, 3.0)),
                Some((1.0, 3.0)),
                Some((1.0, 2.0)),
                None,
                Some((3.0, 1.0))
            ]
        );
    }

    /// Writes example pages for a person to look at:
    /// `GREGOR_HTML_OUT=/tmp/html-check cargo test -p gregor-sim --lib html -- --ignored`.
    #[test]
    #[ignore = "writes files; run by hand to look at the pages"]
    fn write_pages_for_a_look() {
        let Ok(out) = std::env::var("GREGOR_HTML_OUT") else {
            return;
        };
        let out = Path::new(&out);
        let alo = run("at-least-once.toml");
        for (dir, r) in [
            ("run", failover()),
            ("unclean", unclean()),
            ("groups", groups()),
            ("many", many()),
            ("alo", &alo),
        ] {
            std::fs::create_dir_all(out.join(dir)).unwrap();
            std::fs::write(out.join(dir).join("index.html"), run_page(r, charts_of(r))).unwrap();
        }
        let links: BTreeMap<u64, String> = [(7, "../unclean/index.html".to_string())]
            .into_iter()
            .collect();
        std::fs::create_dir_all(out.join("sweep")).unwrap();
        std::fs::write(
            out.join("sweep").join("index.html"),
            sweep_page(&sweep(), &links),
        )
        .unwrap();
        let mut clean = sweep();
        clean.failed.clear();
        std::fs::create_dir_all(out.join("sweep-clean")).unwrap();
        std::fs::write(
            out.join("sweep-clean").join("index.html"),
            sweep_page(&clean, &BTreeMap::new()),
        )
        .unwrap();
        std::fs::create_dir_all(out.join("empty")).unwrap();
        std::fs::write(
            out.join("empty").join("index.html"),
            run_page(failover(), &Charts::default()),
        )
        .unwrap();
    }
}
