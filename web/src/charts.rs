//! Live charts on canvases, drawn with plotters: the high watermark per partition, the lag per
//! consumer group and acknowledged records per second, over virtual time.
//!
//! The charts draw through [`Canvas`], a plotters backend of the classroom's own over a page
//! canvas's 2D context, with whole-number coordinates (milliseconds and counts). Nothing here
//! formats a float, so the page carries no float formatter: plotters' own canvas backend writes
//! colours and font sizes with `f64`'s `Display`, its text measuring lays out a hidden element
//! on the page for each label, and `f64` coordinates bring in its float label printer.

use canvas::Canvas;
use gregor_sim::html::SERIES;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One line of a chart.
pub struct Series {
    /// Its legend.
    pub name: String,
    /// `(milliseconds of virtual time, value)` points.
    pub points: Vec<(i64, i64)>,
}

/// Draws `series` on the canvas with id `canvas`, over `[x0, x1]` milliseconds. Does nothing if
/// the canvas is not on the page (yet).
pub fn draw(canvas: &str, series: &[Series], x0: i64, x1: i64, y_label: &str) {
    let Some(backend) = Canvas::new(canvas) else {
        return;
    };
    let root = backend.into_drawing_area();
    if root.fill(&WHITE).is_err() {
        return;
    }
    let highest = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1, i64::max);
    // A tenth of headroom above the highest value, and at least one.
    let y_max = highest + (highest / 10).max(1);
    let x1 = x1.max(x0 + 1000);
    let Ok(mut chart) = ChartBuilder::on(&root)
        .margin(6)
        // Room for the last time label, centred on the right edge.
        .margin_right(16)
        .x_label_area_size(22)
        .y_label_area_size(44)
        .build_cartesian_2d(x0..x1, 0..y_max)
    else {
        return;
    };
    let _ = chart
        .configure_mesh()
        .light_line_style(RGBColor(241, 245, 249))
        .bold_line_style(RGBColor(226, 232, 240))
        .x_labels(6)
        // The values are counts: a label per whole number at most.
        .y_labels((y_max as usize + 1).min(5))
        .x_label_formatter(&|&ms| {
            if x1 - x0 < 10_000 {
                format!("{}.{}s", ms / 1000, ms % 1000 / 100)
            } else {
                format!("{}s", (ms + 500) / 1000)
            }
        })
        .y_desc(y_label)
        .label_style(small_font().color(&RGBColor(71, 85, 105)))
        .draw();
    for (i, s) in series.iter().enumerate() {
        let _ = chart.draw_series(LineSeries::new(s.points.iter().copied(), line(i)));
    }
    if series.len() > 1 || series.iter().any(|s| !s.name.is_empty()) {
        legend(&chart.plotting_area().strip_coord_spec(), series);
    }
    let _ = root.present();
}

/// How series `i` is drawn, in the chart and in its legend.
fn line(i: usize) -> ShapeStyle {
    SERIES[i % SERIES.len()].stroke_width(2)
}

/// The charts' font. Named by its `FontFamily` rather than by the string "sans-serif", which
/// plotters lowercases with `str::to_lowercase`, bringing Unicode's case tables (11 KB) into
/// the page.
fn small_font() -> FontDesc<'static> {
    FontDesc::new(FontFamily::SansSerif, 11.0, FontStyle::Normal)
}

/// The series' names and colours in a box at the upper left of the plotting `area`. Drawn
/// here rather than by plotters' series labels, which measure their text through plotters' web
/// font code: a hidden element laid out on the page per label, sized with float formatting.
fn legend(area: &DrawingArea<Canvas, plotters::coord::Shift>, series: &[Series]) {
    const PAD: i32 = 6;
    const ROW: i32 = 15;
    const SAMPLE: i32 = 14;
    let font = TextStyle::from(small_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let widest = series
        .iter()
        .filter_map(|s| area.estimate_text_size(&s.name, &font).ok())
        .map(|(w, _)| w as i32)
        .max()
        .unwrap_or(0);
    let (x, y) = (PAD, PAD);
    let (w, h) = (
        2 * PAD + SAMPLE + 6 + widest,
        2 * PAD + ROW * series.len() as i32,
    );
    let corners = [(x, y), (x + w, y + h)];
    let _ = area.draw(&Rectangle::new(corners, WHITE.mix(0.85).filled()));
    let _ = area.draw(&Rectangle::new(corners, RGBColor(203, 213, 225)));
    for (i, s) in series.iter().enumerate() {
        let middle = y + PAD + ROW * i as i32 + ROW / 2;
        let _ = area.draw(&PathElement::new(
            [(x + PAD, middle), (x + PAD + SAMPLE, middle)],
            line(i),
        ));
        let _ = area.draw(&Text::new(
            s.name.as_str(),
            (x + PAD + SAMPLE + 6, middle),
            font.clone(),
        ));
    }
}

/// The backend, apart: its traits' methods share names with plotters' style methods above.
mod canvas {
    use plotters::style::FontTransform;
    use plotters::style::text_anchor::{HPos, VPos};
    use plotters_backend::{
        BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend,
        DrawingErrorKind,
    };
    use wasm_bindgen::JsCast;
    use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

    /// A plotters backend drawing on a page canvas through its 2D context.
    pub struct Canvas {
        context: CanvasRenderingContext2d,
        size: (u32, u32),
    }

    /// The canvas refused something (a rotation, an arc): the drawing stops there.
    #[derive(Debug)]
    pub struct CanvasRefused;

    impl std::fmt::Display for CanvasRefused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the canvas refused to draw")
        }
    }

    impl std::error::Error for CanvasRefused {}

    type Drawn = Result<(), DrawingErrorKind<CanvasRefused>>;

    fn refused<T>(_: T) -> DrawingErrorKind<CanvasRefused> {
        DrawingErrorKind::DrawingError(CanvasRefused)
    }

    impl Canvas {
        /// The canvas with id `id` on the page, if there is one with a 2D context.
        pub fn new(id: &str) -> Option<Canvas> {
            let canvas: HtmlCanvasElement = web_sys::window()?
                .document()?
                .get_element_by_id(id)?
                .dyn_into()
                .ok()?;
            let context = canvas.get_context("2d").ok()??.dyn_into().ok()?;
            Some(Canvas {
                context,
                size: (canvas.width(), canvas.height()),
            })
        }

        fn stroke(&self, style: &impl BackendStyle) {
            self.context.set_stroke_style_str(&css(style.color()));
            self.context.set_line_width(f64::from(style.stroke_width()));
        }

        /// Traces `points` as one path (not yet stroked or filled).
        fn trace(&self, points: impl IntoIterator<Item = BackendCoord>) {
            self.context.begin_path();
            for (i, (x, y)) in points.into_iter().enumerate() {
                if i == 0 {
                    self.context.move_to(f64::from(x), f64::from(y));
                } else {
                    self.context.line_to(f64::from(x), f64::from(y));
                }
            }
        }

        fn font(&self, style: &impl BackendTextStyle) {
            // Font sizes are whole pixels here (11); the cast keeps float formatting out.
            self.context.set_font(&format!(
                "{} {}px {}",
                style.style().as_str(),
                style.size() as u32,
                style.family().as_str()
            ));
        }
    }

    /// A colour in CSS, its alpha in thousandths written as a decimal.
    fn css(colour: BackendColor) -> String {
        let (r, g, b) = colour.rgb;
        let alpha = (colour.alpha.clamp(0.0, 1.0) * 1000.0).round() as u64;
        format!("rgba({r},{g},{b},{})", gregor_core::decimal::show(alpha, 3))
    }

    impl DrawingBackend for Canvas {
        type ErrorType = CanvasRefused;

        fn get_size(&self) -> (u32, u32) {
            self.size
        }

        fn ensure_prepared(&mut self) -> Drawn {
            Ok(())
        }

        fn present(&mut self) -> Drawn {
            Ok(())
        }

        fn draw_pixel(&mut self, (x, y): BackendCoord, colour: BackendColor) -> Drawn {
            if colour.alpha > 0.0 {
                self.context.set_fill_style_str(&css(colour));
                self.context.fill_rect(f64::from(x), f64::from(y), 1.0, 1.0);
            }
            Ok(())
        }

        fn draw_line<S: BackendStyle>(
            &mut self,
            from: BackendCoord,
            to: BackendCoord,
            style: &S,
        ) -> Drawn {
            if style.color().alpha == 0.0 {
                return Ok(());
            }
            // A one-pixel line along a row or a column of pixels is drawn through their middles,
            // or the canvas smears it over two rows at half strength.
            let (mut a, mut b) = (
                (f64::from(from.0), f64::from(from.1)),
                (f64::from(to.0), f64::from(to.1)),
            );
            if from.1 == to.1 {
                a.1 += 0.5;
                b.1 += 0.5;
            } else if from.0 == to.0 {
                a.0 += 0.5;
                b.0 += 0.5;
            }
            self.stroke(style);
            self.context.begin_path();
            self.context.move_to(a.0, a.1);
            self.context.line_to(b.0, b.1);
            self.context.stroke();
            Ok(())
        }

        fn draw_rect<S: BackendStyle>(
            &mut self,
            (x0, y0): BackendCoord,
            (x1, y1): BackendCoord,
            style: &S,
            fill: bool,
        ) -> Drawn {
            if style.color().alpha == 0.0 {
                return Ok(());
            }
            let (x, y, w, h) = (
                f64::from(x0),
                f64::from(y0),
                f64::from(x1 - x0),
                f64::from(y1 - y0),
            );
            if fill {
                self.context.set_fill_style_str(&css(style.color()));
                self.context.fill_rect(x, y, w, h);
            } else {
                self.stroke(style);
                self.context.stroke_rect(x, y, w, h);
            }
            Ok(())
        }

        fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            path: I,
            style: &S,
        ) -> Drawn {
            if style.color().alpha > 0.0 {
                self.stroke(style);
                self.trace(path);
                self.context.stroke();
            }
            Ok(())
        }

        fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            vertices: I,
            style: &S,
        ) -> Drawn {
            if style.color().alpha > 0.0 {
                self.context.set_fill_style_str(&css(style.color()));
                self.trace(vertices);
                self.context.close_path();
                self.context.fill();
            }
            Ok(())
        }

        fn draw_circle<S: BackendStyle>(
            &mut self,
            (x, y): BackendCoord,
            radius: u32,
            style: &S,
            fill: bool,
        ) -> Drawn {
            if style.color().alpha == 0.0 {
                return Ok(());
            }
            self.context.begin_path();
            self.context
                .arc(
                    f64::from(x),
                    f64::from(y),
                    f64::from(radius),
                    0.0,
                    std::f64::consts::TAU,
                )
                .map_err(refused)?;
            if fill {
                self.context.set_fill_style_str(&css(style.color()));
                self.context.fill();
            } else {
                self.stroke(style);
                self.context.stroke();
            }
            Ok(())
        }

        fn draw_text<T: BackendTextStyle>(
            &mut self,
            text: &str,
            style: &T,
            (x, y): BackendCoord,
        ) -> Drawn {
            let colour = style.color();
            if colour.alpha == 0.0 {
                return Ok(());
            }
            let quarter_turns = match style.transform() {
                FontTransform::None => 0,
                FontTransform::Rotate90 => 1,
                FontTransform::Rotate180 => 2,
                FontTransform::Rotate270 => 3,
            };
            let anchor = style.anchor();
            self.context.set_text_align(match anchor.h_pos {
                HPos::Left => "start",
                HPos::Center => "center",
                HPos::Right => "end",
            });
            self.context.set_text_baseline(match anchor.v_pos {
                VPos::Top => "top",
                VPos::Center => "middle",
                VPos::Bottom => "bottom",
            });
            self.context.set_fill_style_str(&css(colour));
            self.font(style);
            let (x, y) = (f64::from(x), f64::from(y));
            if quarter_turns == 0 {
                return self.context.fill_text(text, x, y).map_err(refused);
            }
            // A turned label (the y axis's name) turns about its anchor.
            self.context.save();
            let drawn = self
                .context
                .translate(x, y)
                .and_then(|()| {
                    self.context
                        .rotate(f64::from(quarter_turns) * std::f64::consts::FRAC_PI_2)
                })
                .and_then(|()| self.context.fill_text(text, 0.0, 0.0));
            self.context.restore();
            drawn.map_err(refused)
        }

        fn estimate_text_size<T: BackendTextStyle>(
            &self,
            text: &str,
            style: &T,
        ) -> Result<(u32, u32), DrawingErrorKind<CanvasRefused>> {
            // The canvas measures its own text; the height is the font's size in pixels. As in
            // plotters' own estimate, the size is the text's unturned.
            self.font(style);
            let width = self.context.measure_text(text).map_err(refused)?.width();
            Ok((width.ceil() as u32, style.size() as u32))
        }
    }
}
