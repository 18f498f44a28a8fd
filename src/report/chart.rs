//! The loss curves of a run as an inline SVG: the training page (`web/index.html`) embeds it, and
//! `pix2pix serve`'s dashboard reloads it while the run goes on. One drawing for both, so the
//! static page and the live one always agree.

use std::fmt::Write;

use crate::train::LossLogLine;

/// The series drawn: name, colour, and the value of a log line.
type Series = (&'static str, &'static str, fn(&LossLogLine) -> f64);

const LOSSES: [Series; 4] = [
    ("G_GAN", "#1f77b4", |l| l.losses.G_GAN),
    ("G_L1", "#ff7f0e", |l| l.losses.G_L1),
    ("D_real", "#2ca02c", |l| l.losses.D_real),
    ("D_fake", "#d62728", |l| l.losses.D_fake),
];

/// The learning rate, on its own scale (right axis).
const LR: Series = ("lr", "#7f7f7f", |l| l.lr);

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 300.0;
/// Plot area margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (56.0, 64.0, 28.0, 36.0);

/// The SVG of `lines`: the four losses against `total_iters` on the left axis, the learning
/// rate on the right one. Each series is a `polyline` with `data-series` (its name) and
/// `data-points` (how many log lines it draws).
pub fn loss_chart_svg(lines: &[LossLogLine]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"loss-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} \
         {HEIGHT}\" width=\"100%\" style=\"max-width:{WIDTH}px\" role=\"img\" \
         aria-label=\"training losses\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let (left, right, top, bottom) = MARGIN;
    let (x0, x1, y0, y1) = (left, WIDTH - right, HEIGHT - bottom, top);
    let _ = write!(
        svg,
        "<rect x=\"{x0}\" y=\"{y1}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#ccc\"/>",
        x1 - x0,
        y0 - y1
    );
    let points: Vec<&LossLogLine> = lines.iter().filter(|l| is_drawable(l)).collect();
    if points.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no losses logged \
             yet</text></svg>",
            (x0 + x1) / 2.0,
            (y0 + y1) / 2.0
        );
        return svg;
    }
    let iters = |l: &LossLogLine| l.total_iters as f64;
    let first = points
        .iter()
        .map(|l| iters(l))
        .fold(f64::INFINITY, f64::min);
    let last = points.iter().map(|l| iters(l)).fold(0.0, f64::max);
    let span = (last - first).max(1.0);
    let x = |l: &LossLogLine| x0 + (iters(l) - first) / span * (x1 - x0);
    let top_of = |series: &[Series]| {
        let most = series
            .iter()
            .flat_map(|(_, _, value)| points.iter().map(|l| value(l)))
            .fold(0.0, f64::max);
        if most > 0.0 { most * 1.05 } else { 1.0 }
    };
    let loss_top = top_of(&LOSSES);
    let lr_top = top_of(&[LR]);
    for (axis_x, anchor, top_value) in [(x0 - 4.0, "end", loss_top), (x1 + 4.0, "start", lr_top)] {
        for tick in 0..=4 {
            let value = top_value * tick as f64 / 4.0;
            let y = y0 - (y0 - y1) * tick as f64 / 4.0;
            let _ = write!(
                svg,
                "<text x=\"{axis_x}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                y + 4.0,
                tick_label(value)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{x0}\" y=\"{}\">{}</text><text x=\"{x1}\" y=\"{}\" \
         text-anchor=\"end\">{} iterations</text>",
        y0 + 16.0,
        first,
        y0 + 16.0,
        last
    );
    for (i, series) in LOSSES.iter().chain([&LR]).enumerate() {
        let (name, colour, value) = series;
        let scale = if *name == LR.0 { lr_top } else { loss_top };
        let coordinates: Vec<String> = points
            .iter()
            .map(|l| format!("{:.1},{:.1}", x(l), y0 - value(l) / scale * (y0 - y1)))
            .collect();
        let dash = if *name == LR.0 {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        let _ = write!(
            svg,
            "<polyline data-series=\"{name}\" data-points=\"{}\" fill=\"none\" \
             stroke=\"{colour}\" stroke-width=\"1.5\"{dash} points=\"{}\"/>",
            coordinates.len(),
            coordinates.join(" ")
        );
        let legend_x = x0 + 8.0 + i as f64 * 90.0;
        let _ = write!(
            svg,
            "<rect x=\"{legend_x}\" y=\"8\" width=\"12\" height=\"4\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"14\">{name}</text>",
            legend_x + 16.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Whether every value of a line can be placed on the chart.
fn is_drawable(line: &LossLogLine) -> bool {
    line.losses.is_finite() && line.lr.is_finite()
}

/// A short label: 0.00015 as 1.5e-4, 1.5 as 1.50.
fn tick_label(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.01 {
        format!("{value:.1e}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::StepLosses;

    fn line(total_iters: usize, g_gan: f64) -> LossLogLine {
        LossLogLine {
            epoch: 1,
            epoch_iter: total_iters,
            total_iters,
            lr: 2e-4,
            losses: StepLosses {
                G_GAN: g_gan,
                G_L1: 10.0,
                D_real: 0.5,
                D_fake: 0.25,
            },
        }
    }

    #[test]
    fn each_series_draws_every_logged_point() {
        let lines = [line(100, 1.0), line(200, 2.0), line(300, f64::NAN)];
        let svg = loss_chart_svg(&lines);
        for name in ["G_GAN", "G_L1", "D_real", "D_fake", "lr"] {
            assert!(
                svg.contains(&format!("data-series=\"{name}\" data-points=\"2\"")),
                "{name} in {svg}"
            );
        }
        // The first point sits on the left edge, the last on the right one.
        assert!(svg.contains("points=\"56.0,"), "{svg}");
        assert!(svg.contains("656.0,"), "{svg}");
    }

    #[test]
    fn an_empty_log_says_so() {
        let svg = loss_chart_svg(&[]);
        assert!(svg.contains("no losses logged yet") && !svg.contains("polyline"));
    }
}
