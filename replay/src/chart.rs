//! The chart, drawn as SVG by hand (no font files needed): the share of requests each layer
//! answers, per arm, with each arm's TTL-aware bound marked, and the latency CDF of every arm.

use std::fmt::Write as _;

/// One run's series.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Colour.
    pub colour: &'a str,
    /// (layer, ratio 0..1) bars.
    pub bars: Vec<(&'a str, f64)>,
    /// A dashed mark across one bar: (index of the layer, ratio 0..1).
    pub mark: Option<(usize, f64)>,
    /// Sorted latencies, ms.
    pub latencies: &'a [f64],
}

/// Writes the two panels side by side; the legend names each run and the mark.
pub fn svg(runs: &[Series<'_>]) -> String {
    let (w, h) = (1000.0, 420.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    // Panel 1: grouped bars.
    let (x0, y0, pw, ph) = (60.0, 40.0, 440.0, 320.0);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="14" font-weight="bold">Share of requests answered per layer</text>"#,
        x0
    );
    axes(&mut s, x0, y0, pw, ph, "0", "100%");
    let layers: Vec<&str> = runs
        .first()
        .map(|r| r.bars.iter().map(|b| b.0).collect())
        .unwrap_or_default();
    let group = pw / layers.len().max(1) as f64;
    let bar = group * 0.8 / runs.len().max(1) as f64;
    for (li, layer) in layers.iter().enumerate() {
        let gx = x0 + li as f64 * group + group * 0.1;
        for (ri, run) in runs.iter().enumerate() {
            let v = run.bars.get(li).map_or(0.0, |b| b.1).clamp(0.0, 1.0);
            let (bx, bh) = (gx + ri as f64 * bar, v * ph);
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{}"/>"#,
                y0 + ph - bh,
                bar - 2.0,
                run.colour
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{:.0}%</text>"#,
                bx + bar / 2.0,
                y0 + ph - bh - 3.0,
                v * 100.0
            );
            if let Some((_, m)) = run.mark.filter(|(at, _)| *at == li) {
                let my = y0 + ph - m.clamp(0.0, 1.0) * ph;
                let _ = writeln!(
                    s,
                    r#"<line x1="{bx:.1}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="black" stroke-width="2" stroke-dasharray="4,2"/>"#,
                    bx + bar - 2.0
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{layer}</text>"#,
            gx + group * 0.4,
            y0 + ph + 16.0
        );
    }
    // Panel 2: latency CDF on a log scale.
    let (x1, pw1) = (580.0, 380.0);
    let _ = writeln!(
        s,
        r#"<text x="{x1}" y="24" font-size="14" font-weight="bold">Latency CDF (ms, log scale)</text>"#
    );
    let max = runs
        .iter()
        .filter_map(|r| r.latencies.last().copied())
        .fold(1.0f64, f64::max);
    let min = runs
        .iter()
        .filter_map(|r| r.latencies.first().copied())
        .fold(max, f64::min)
        .max(0.05);
    axes(&mut s, x1, y0, pw1, ph, "0", "100%");
    let _ = writeln!(
        s,
        r#"<text x="{x1}" y="{}" text-anchor="middle">{min:.2}</text>"#,
        y0 + ph + 16.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{max:.0} ms</text>"#,
        x1 + pw1,
        y0 + ph + 16.0
    );
    let scale = |v: f64| x1 + ((v.max(min).ln() - min.ln()) / (max.ln() - min.ln()).max(1e-9)) * pw1;
    for run in runs {
        let n = run.latencies.len().max(1);
        let step = (n / 400).max(1);
        let points: Vec<String> = run
            .latencies
            .iter()
            .enumerate()
            .step_by(step)
            .map(|(i, v)| format!("{:.1},{:.1}", scale(*v), y0 + ph - (i + 1) as f64 / n as f64 * ph))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            run.colour,
            points.join(" ")
        );
    }
    // Legend.
    for (i, run) in runs.iter().enumerate() {
        let lx = 60.0 + i as f64 * 215.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/>"#,
            h - 24.0,
            run.colour
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}">{}</text>"#, lx + 18.0, h - 14.0, run.label);
    }
    if runs.iter().any(|r| r.mark.is_some()) {
        let lx = 60.0 + runs.len() as f64 * 215.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="black" stroke-width="2" stroke-dasharray="4,2"/>"#,
            lx + 14.0,
            y = h - 18.0
        );
        let _ = writeln!(s, r#"<text x="{}" y="{}">TTL-aware bound</text>"#, lx + 18.0, h - 14.0);
    }
    s.push_str("</svg>\n");
    s
}

fn axes(s: &mut String, x: f64, y: f64, w: f64, h: f64, low: &str, high: &str) {
    let _ = writeln!(
        s,
        r#"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
        y + h,
        x + w,
        y + h
    );
    let _ = writeln!(s, r#"<line x1="{x}" y1="{y}" x2="{x}" y2="{}" stroke="black"/>"#, y + h);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end">{low}</text>"#,
        x - 4.0,
        y + h
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end">{high}</text>"#,
        x - 4.0,
        y + 10.0
    );
}
