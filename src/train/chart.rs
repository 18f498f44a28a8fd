//! The loss curves of a run as an inline SVG: the training page (`web/index.html`) embeds it, and
//! `pix2pix serve`'s dashboard reloads it while the run goes on. One drawing for both, so the
//! static page and the live one always agree.

use std::fmt::Write;

use super::LossLogLine;

/// The series drawn: name, colour, and the value of a log line.
type Series = (&'static str, &'static str, fn(&LossLogLine) -> f64);

/// The upper panel: L1 (tens at first), on its own scale.
const L1: [Series; 1] = [("G_L1", "#ff7f0e", |l| l.losses.G_L1)];
/// The lower panel: the adversarial losses (around 0.3-2).
const ADVERSARIAL: [Series; 3] = [
    ("G_GAN", "#1f77b4", |l| l.losses.G_GAN),
    ("D_real", "#2ca02c", |l| l.losses.D_real),
    ("D_fake", "#d62728", |l| l.losses.D_fake),
];

/// The learning rate, on its own scale (the upper panel's right axis).
const LR: Series = ("lr", "#7f7f7f", |l| l.lr);

/// Series drawn on one scale: in panel 0 (above) or 1, on the left or the right axis, their
/// legend from a slot of the panel's legend row.
struct Scale {
    series: &'static [Series],
    panel: usize,
    right_axis: bool,
    slot: usize,
}

const SCALES: [Scale; 3] = [
    Scale {
        series: &L1,
        panel: 0,
        right_axis: false,
        slot: 0,
    },
    Scale {
        series: &[LR],
        panel: 0,
        right_axis: true,
        slot: 1,
    },
    Scale {
        series: &ADVERSARIAL,
        panel: 1,
        right_axis: false,
        slot: 0,
    },
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 400.0;
/// Plot area margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (56.0, 64.0, 28.0, 36.0);
/// Between the two panels.
const GAP: f64 = 30.0;

/// The SVG of `lines` against `total_iters`, in two panels, each with its own scale so that no
/// loss is a flat line at the bottom of another's: G_L1 above, with the learning rate on the
/// right axis, and G_GAN, D_real and D_fake below. Each series is a `polyline` with
/// `data-series` (its name) and `data-points` (how many log lines it draws).
pub fn loss_chart_svg(lines: &[LossLogLine]) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"loss-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} \
         {HEIGHT}\" width=\"100%\" style=\"max-width:{WIDTH}px\" role=\"img\" \
         aria-label=\"training losses\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let (left, right, top, bottom) = MARGIN;
    let (x0, x1) = (left, WIDTH - right);
    let middle = top + (HEIGHT - top - bottom - GAP) / 2.0;
    let panels = [(top, middle), (middle + GAP, HEIGHT - bottom)];
    for (y1, y0) in panels {
        let _ = write!(
            svg,
            "<rect x=\"{x0}\" y=\"{y1}\" width=\"{}\" height=\"{}\" fill=\"none\" \
             stroke=\"#ccc\"/>",
            x1 - x0,
            y0 - y1
        );
    }
    let points: Vec<&LossLogLine> = lines.iter().filter(|l| is_drawable(l)).collect();
    if points.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no losses logged \
             yet</text></svg>",
            (x0 + x1) / 2.0,
            (top + middle) / 2.0
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
    let bottom_y = HEIGHT - bottom;
    let _ = write!(
        svg,
        "<text x=\"{x0}\" y=\"{}\">{}</text><text x=\"{x1}\" y=\"{}\" \
         text-anchor=\"end\">{} iterations</text>",
        bottom_y + 16.0,
        first,
        bottom_y + 16.0,
        last
    );
    for Scale {
        series,
        panel,
        right_axis,
        slot,
    } in SCALES
    {
        let (y1, y0) = panels[panel];
        let most = series
            .iter()
            .flat_map(|(_, _, value)| points.iter().map(|l| value(l)))
            .fold(0.0, f64::max);
        let scale = if most > 0.0 { most * 1.05 } else { 1.0 };
        let (axis_x, anchor) = if right_axis {
            (x1 + 4.0, "start")
        } else {
            (x0 - 4.0, "end")
        };
        for tick in 0..=4 {
            let value = scale * tick as f64 / 4.0;
            let y = y0 - (y0 - y1) * tick as f64 / 4.0;
            let _ = write!(
                svg,
                "<text x=\"{axis_x}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                y + 4.0,
                tick_label(value)
            );
        }
        for (i, (name, colour, value)) in series.iter().enumerate() {
            let coordinates: Vec<String> = points
                .iter()
                .map(|l| format!("{:.1},{:.1}", x(l), y0 - value(l) / scale * (y0 - y1)))
                .collect();
            let dash = if right_axis {
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
            let (legend_x, legend_y) = (x0 + 8.0 + (slot + i) as f64 * 90.0, y1 - 16.0);
            let _ = write!(
                svg,
                "<rect x=\"{legend_x}\" y=\"{legend_y}\" width=\"12\" height=\"4\" \
                 fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{name}</text>",
                legend_x + 16.0,
                legend_y + 6.0
            );
        }
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
