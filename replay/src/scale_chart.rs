//! The scale chart, SVG by hand (`bench/results/scale.svg`): edge hit ratio and origin
//! requests per 1,000 viewer requests against the number of edge locations (log scale), one
//! colour per arm, one line style per tiering.

use std::fmt::Write as _;

use crate::geography::Tiering;
use crate::scale::{colour, ArmAtScale};

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 460.0;
const TOP: f64 = 50.0;
const PLOT_H: f64 = 300.0;
const PLOT_W: f64 = 380.0;

fn dash(tiering: Tiering) -> &'static str {
    match tiering {
        Tiering::Untiered => "",
        Tiering::Regional => "8,4",
        Tiering::RegionalShield => "2,3",
    }
}

/// A panel: title, y-axis top value and label, and the value of a grid point.
struct Panel<'a> {
    x0: f64,
    title: &'a str,
    top: f64,
    top_label: String,
    value: fn(&crate::scale::GridPoint) -> f64,
}

/// The chart of every arm's grid.
pub fn svg(arms: &[ArmAtScale]) -> String {
    let mut counts: Vec<usize> = arms.iter().flat_map(|a| a.grid.iter().map(|p| p.locations)).collect();
    counts.sort_unstable();
    counts.dedup();
    let most_origin = arms
        .iter()
        .flat_map(|a| a.grid.iter().map(|p| p.origin_requests_per_request * 1000.0))
        .fold(1.0f64, f64::max);
    let origin_top = (most_origin / 100.0).ceil() * 100.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let panels = [
        Panel {
            x0: 70.0,
            title: "Edge hit ratio",
            top: 1.0,
            top_label: "100%".into(),
            value: |p| p.edge_hit_ratio,
        },
        Panel {
            x0: 570.0,
            title: "Origin requests per 1,000 viewer requests",
            top: origin_top,
            top_label: format!("{origin_top:.0}"),
            value: |p| p.origin_requests_per_request * 1000.0,
        },
    ];
    let lowest = counts.first().copied().unwrap_or(1).max(1) as f64;
    let highest = counts.last().copied().unwrap_or(1).max(2) as f64;
    for panel in &panels {
        let x = |n: usize| {
            panel.x0 + ((n.max(1) as f64).ln() - lowest.ln()) / (highest.ln() - lowest.ln()).max(1e-9) * PLOT_W
        };
        let y = |v: f64| TOP + PLOT_H - (v / panel.top).clamp(0.0, 1.0) * PLOT_H;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="30" font-size="14" font-weight="bold">{}</text>"#,
            panel.x0, panel.title
        );
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="black"/><line x1="{0}" y1="{2}" x2="{3}" y2="{2}" stroke="black"/>"#,
            panel.x0,
            TOP,
            TOP + PLOT_H,
            panel.x0 + PLOT_W
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            panel.x0 - 4.0,
            TOP + 10.0,
            panel.top_label
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">0</text>"#,
            panel.x0 - 4.0,
            TOP + PLOT_H
        );
        for n in &counts {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{n}</text>"#,
                x(*n),
                TOP + PLOT_H + 16.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">edge locations</text>"#,
            panel.x0 + PLOT_W / 2.0,
            TOP + PLOT_H + 32.0
        );
        for arm in arms {
            for tiering in Tiering::ALL {
                let points: Vec<String> = counts
                    .iter()
                    .filter_map(|n| arm.at(*n, tiering))
                    .map(|p| format!("{:.1},{:.1}", x(p.locations), y((panel.value)(p))))
                    .collect();
                let _ = writeln!(
                    s,
                    r#"<polyline fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{}" points="{}"/>"#,
                    colour(arm.arm),
                    dash(tiering),
                    points.join(" ")
                );
            }
        }
    }
    // Legend: arms by colour, tiers by line style.
    let legend_y = HEIGHT - 40.0;
    for (i, arm) in arms.iter().enumerate() {
        let lx = 70.0 + i as f64 * 220.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{}"/>"#,
            legend_y - 10.0,
            colour(arm.arm)
        );
        let _ = writeln!(s, r#"<text x="{}" y="{legend_y}">{}</text>"#, lx + 18.0, arm.label);
    }
    for (i, tiering) in Tiering::ALL.iter().enumerate() {
        let lx = 70.0 + i as f64 * 220.0;
        let ly = legend_y + 22.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{0}" x2="{1}" y2="{0}" stroke="black" stroke-width="2" stroke-dasharray="{2}"/>"#,
            ly - 4.0,
            lx + 30.0,
            dash(*tiering)
        );
        let _ = writeln!(s, r#"<text x="{}" y="{ly}">{}</text>"#, lx + 36.0, tiering.name());
    }
    s.push_str("</svg>\n");
    s
}
