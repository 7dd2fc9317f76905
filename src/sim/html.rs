//! The self-contained HTML report: inline SVG plots and the arbiter's decision timeline. No
//! scripts, no external assets: it opens anywhere, offline.

use super::report::{Report, StrategyReport};

const COLOURS: [&str; 4] = ["#c0392b", "#d68910", "#1e8449", "#2e86c1"];
const W: f64 = 760.0;
const H: f64 = 220.0;
const PAD: f64 = 40.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One plot: a line per series over the shared minute axis, optional horizontal reference.
fn plot(
    title: &str,
    unit: &str,
    minutes: &[f64],
    lines: &[(String, &[f64])],
    reference: Option<(f64, &str)>,
) -> String {
    let max_x = minutes.last().copied().unwrap_or(1.0).max(1.0);
    let mut max_y = lines
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max);
    let mut title = title.to_string();
    if let Some((r, _)) = reference {
        // A brief spike would flatten everything else: show up to four times the reference.
        if max_y > r * 4.0 {
            title.push_str(&format!(" (axis cut at {:.0}; peak {max_y:.0})", r * 4.0));
            max_y = r * 4.0;
        }
        max_y = max_y.max(r * 1.2);
    }
    let title = title.as_str();
    let max_y = if max_y > 0.0 { max_y } else { 1.0 };
    let x = |m: f64| PAD + (W - 2.0 * PAD) * m / max_x;
    let y = |v: f64| H - PAD + (2.0 * PAD - H) * v / max_y;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        escape(title)
    );
    svg.push_str(&format!(
        "<line x1=\"{PAD}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#888\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{0}\" stroke=\"#888\"/>",
        H - PAD,
        W - PAD
    ));
    for h in (0..=(max_x / 60.0) as usize).step_by(3) {
        let xm = x(h as f64 * 60.0);
        svg.push_str(&format!(
            "<text x=\"{xm:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{h}h</text>",
            H - PAD + 14.0
        ));
    }
    svg.push_str(&format!(
        "<text x=\"4\" y=\"{:.1}\" font-size=\"10\">{max_y:.0} {}</text>",
        PAD - 6.0,
        escape(unit)
    ));
    if let Some((r, label)) = reference {
        svg.push_str(&format!(
            "<line x1=\"{PAD}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/><text x=\"{1}\" y=\"{2:.1}\" font-size=\"10\" text-anchor=\"end\">{3}</text>",
            y(r),
            W - PAD,
            y(r) - 3.0,
            escape(label)
        ));
    }
    for (i, (name, values)) in lines.iter().enumerate() {
        let points: Vec<String> = minutes
            .iter()
            .zip(values.iter())
            .map(|(m, v)| format!("{:.1},{:.1}", x(*m), y(v.min(max_y))))
            .collect();
        let colour = COLOURS[i % COLOURS.len()];
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        ));
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{colour}\">{}</text>",
            PAD + 10.0 + 150.0 * i as f64,
            PAD - 12.0,
            escape(name)
        ));
    }
    svg.push_str("</svg></figure>");
    svg
}

fn lines<'a>(
    r: &'a Report,
    pick: impl Fn(&'a StrategyReport) -> Option<&'a [f64]>,
) -> Vec<(String, &'a [f64])> {
    r.strategies
        .iter()
        .filter_map(|s| pick(s).map(|v| (s.strategy.clone(), v)))
        .collect()
}

/// Renders the report; `slos` are (entry, SLO ms) references for the latency plots.
pub fn render(r: &Report, table: &str, slos: &[(String, f64)]) -> String {
    let mut out =
        String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    out.push_str(&escape(&r.scenario));
    out.push_str(" — arbiter simulation</title><style>body{font:14px/1.45 system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;color:#222}pre{background:#f6f6f6;padding:1em;overflow-x:auto}figure{margin:1.5em 0}figcaption{font-weight:600}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}.v-approved{color:#1e8449}.v-rejected{color:#c0392b}.v-escalated{color:#d68910}</style></head><body>");
    out.push_str(&format!(
        "<h1>{}</h1><p>Seed {}, {} hours.</p><pre>{}</pre>",
        escape(&r.scenario),
        r.seed,
        r.duration_h,
        escape(table)
    ));
    let minutes = &r.strategies[0].series.minute;
    for (entry, slo) in slos {
        out.push_str(&plot(
            &format!("Latency at {entry} vs its SLO"),
            "ms",
            minutes,
            &lines(r, |s| s.series.p99_ms.get(entry).map(|v| v.as_slice())),
            Some((*slo, &format!("SLO {slo:.0} ms"))),
        ));
    }
    let mut cap = lines(r, |s| Some(s.series.order_capacity_rps.as_slice()));
    for (name, _) in cap.iter_mut() {
        name.push_str(" capacity");
    }
    cap.push((
        "demand".to_string(),
        r.strategies[0].series.order_demand_rps.as_slice(),
    ));
    out.push_str(&plot(
        "Order service: capacity vs demand",
        "rps",
        minutes,
        &cap,
        None,
    ));
    out.push_str(&plot(
        "Spend rate",
        "/h",
        minutes,
        &lines(r, |s| Some(s.series.cost_per_hour.as_slice())),
        None,
    ));
    if let Some(a) = r.strategies.iter().find(|s| !s.timeline.is_empty()) {
        out.push_str(&format!("<h2>The arbiter's decisions ({})</h2><table><tr><th>time</th><th>agent / proposal</th><th>verdict</th><th>explanation</th></tr>", a.timeline.len()));
        for e in &a.timeline {
            out.push_str(&format!(
                "<tr><td>{:02}:{:02}</td><td>{}<br>{}</td><td class=\"v-{}\">{}</td><td>{}</td></tr>",
                (e.minute / 60.0) as u64,
                (e.minute % 60.0) as u64,
                escape(&e.agent),
                escape(&e.proposal_id),
                escape(&e.verdict),
                escape(&e.verdict),
                escape(&e.explanation)
            ));
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}
