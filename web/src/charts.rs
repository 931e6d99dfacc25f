//! Live charts on canvases, drawn with plotters: the high watermark per partition, the lag per
//! consumer group and acknowledged records per second, over virtual time.

use gregor_sim::html::SERIES;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

/// One line of a chart.
pub struct Series {
    /// Its legend.
    pub name: String,
    /// `(seconds, value)` points.
    pub points: Vec<(f64, f64)>,
}

/// Draws `series` on the canvas with id `canvas`, over `[x0, x1]` seconds. Does nothing if the
/// canvas is not on the page (yet).
pub fn draw(canvas: &str, series: &[Series], x0: f64, x1: f64, y_label: &str) {
    let Some(backend) = CanvasBackend::new(canvas) else {
        return;
    };
    let root = backend.into_drawing_area();
    if root.fill(&WHITE).is_err() {
        return;
    }
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let x1 = x1.max(x0 + 1.0);
    let Ok(mut chart) = ChartBuilder::on(&root)
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(44)
        .build_cartesian_2d(x0..x1, 0.0..y_max)
    else {
        return;
    };
    let _ = chart
        .configure_mesh()
        .light_line_style(RGBColor(241, 245, 249))
        .bold_line_style(RGBColor(226, 232, 240))
        .x_labels(6)
        // The values are counts: at most one label per whole number, so that a small range
        // (acknowledgements of 0 or 1 a second) does not label 0.5 as a second "0".
        .y_labels((y_max.floor() as usize + 1).min(5))
        .x_label_formatter(&|x| {
            if x1 - x0 < 10.0 {
                format!("{x:.1}s")
            } else {
                format!("{x:.0}s")
            }
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc(y_label)
        .label_style(("sans-serif", 11).into_font().color(&RGBColor(71, 85, 105)))
        .draw();
    for (i, s) in series.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        if let Ok(drawn) = chart.draw_series(LineSeries::new(
            s.points.iter().copied(),
            colour.stroke_width(2),
        )) {
            drawn.label(s.name.clone()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 14, y)], colour.stroke_width(2))
            });
        }
    }
    if series.len() > 1 || series.iter().any(|s| !s.name.is_empty()) {
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(203, 213, 225))
            .label_font(("sans-serif", 11))
            .draw();
    }
    let _ = root.present();
}
