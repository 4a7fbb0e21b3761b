//! Figures and tables that display themselves in Jupyter and save themselves for slides.
//!
//! A [`Figure`] is data plus a chart kind; it is drawn only when shown or saved, as PNG (inline
//! in notebooks, slides) or SVG (print, web). Text is drawn with an embedded DejaVu Sans, so no
//! system font libraries are needed and the same figure gives the same bytes on every machine.
//!
//! ```
//! use tinyml_kit::plot::Figure;
//! let fig = Figure::lines("Loss while training", "step", "loss")
//!     .line("loss", vec![(0.0, 0.9), (1.0, 0.5), (2.0, 0.3)]);
//! let png = fig.png().unwrap();
//! assert_eq!(&png[1..4], b"PNG");
//! assert!(fig.svg().unwrap().contains("Loss while training"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// The embedded font (DejaVu Sans; licence in `crate/assets/fonts/LICENSE-DejaVu.txt`).
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Colours of series, bars and classes, in order (the widely used "tab10" palette).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and known to parse: a failure here is a build defect.
            plotters::style::register_font(FAMILY, style, FONT)
                .unwrap_or_else(|_| panic!("embedded font DejaVuSans.ttf does not parse"));
        }
    });
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A line through the points.
    Line,
    /// One dot per point.
    Dots,
}

/// One named set of points of a [`Figure::lines`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// `(x, y)` points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// Line or dots.
    pub mark: Mark,
    /// Index into [`PALETTE`].
    pub color: usize,
}

/// A labelled vertical or horizontal line (a threshold, a boundary, a time budget).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Where the line is, in data units.
    pub at: f64,
    /// Text drawn beside it.
    pub label: String,
}

/// A grid of values drawn as coloured cells over numeric axes, for [`Figure::color_map`]
/// (spectrograms, MFCC "images").
#[derive(Debug, Clone, PartialEq)]
pub struct ColorGrid {
    /// `values[column][row]`: one column per x step (a frame), row 0 at the bottom.
    pub values: Vec<Vec<f32>>,
    /// x of the left edge of column 0 and of the right edge of the last column.
    pub x_range: (f64, f64),
    /// y of the bottom edge of row 0 and of the top edge of the last row.
    pub y_range: (f64, f64),
    /// Name of the colour scale (for example "dB").
    pub scale_label: String,
}

/// A small grayscale picture (0 = background, 255 = ink) with a caption, for [`Figure::images`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrayImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` values, row by row.
    pub pixels: Vec<u8>,
    /// Drawn under the picture.
    pub caption: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Chart {
    Lines {
        series: Vec<Series>,
    },
    Bars {
        bars: Vec<(String, f64)>,
    },
    Histograms {
        groups: Vec<(String, Vec<f64>)>,
        bins: usize,
    },
    Heatmap {
        rows: Vec<String>,
        cols: Vec<String>,
        values: Vec<Vec<f64>>,
    },
    Images {
        images: Vec<GrayImage>,
        columns: usize,
    },
    ColorMap {
        grid: ColorGrid,
    },
    Nested {
        rings: Vec<(String, String)>,
    },
    Flow {
        steps: Vec<String>,
        highlighted: Vec<bool>,
    },
}

/// A chart that shows itself inline in Jupyter and saves as PNG and SVG.
///
/// Build one with [`Figure::lines`], [`Figure::bars`], [`Figure::histograms`] or
/// [`Figure::heatmap`], then add series and markers. Nothing is drawn until it is shown or saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    title: String,
    x_label: String,
    y_label: String,
    chart: Chart,
    log_y: bool,
    x_markers: Vec<Marker>,
    y_markers: Vec<Marker>,
    size_px: (u32, u32),
    legend_low: bool,
}

impl Figure {
    fn new(title: &str, x_label: &str, y_label: &str, chart: Chart) -> Figure {
        Figure {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            chart,
            log_y: false,
            x_markers: Vec::new(),
            y_markers: Vec::new(),
            size_px: (800, 500),
            legend_low: false,
        }
    }

    /// A chart of lines and dots over numeric x and y axes; add data with [`Figure::line`] and
    /// [`Figure::dots`].
    pub fn lines(title: &str, x_label: &str, y_label: &str) -> Figure {
        Figure::new(title, x_label, y_label, Chart::Lines { series: Vec::new() })
    }

    /// A bar chart: one bar per `(label, value)`.
    pub fn bars(title: &str, x_label: &str, y_label: &str, bars: Vec<(String, f64)>) -> Figure {
        Figure::new(title, x_label, y_label, Chart::Bars { bars })
    }

    /// Overlaid histograms, one per `(group name, values)`, over `bins` equal bins spanning all
    /// values. The y axis counts examples.
    pub fn histograms(
        title: &str,
        x_label: &str,
        groups: Vec<(String, Vec<f64>)>,
        bins: usize,
    ) -> Figure {
        Figure::new(
            title,
            x_label,
            "examples",
            Chart::Histograms {
                groups,
                bins: bins.max(1),
            },
        )
    }

    /// A grid of numbers coloured by value, `values[row][col]`, each cell annotated.
    pub fn heatmap(
        title: &str,
        x_label: &str,
        y_label: &str,
        rows: Vec<String>,
        cols: Vec<String>,
        values: Vec<Vec<f64>>,
    ) -> Figure {
        Figure::new(
            title,
            x_label,
            y_label,
            Chart::Heatmap { rows, cols, values },
        )
    }

    /// A grid of grayscale pictures, `columns` per row, each with its caption.
    pub fn images(title: &str, images: Vec<GrayImage>, columns: usize) -> Figure {
        let columns = columns.clamp(1, images.len().max(1));
        let rows = images.len().div_ceil(columns).max(1);
        let caption = images
            .iter()
            .map(|i| i.caption.chars().count())
            .max()
            .unwrap_or(0) as u32;
        let per_column = (caption * 8 + 16).max(90);
        let width = if columns == 1 {
            800
        } else {
            (columns as u32 * per_column).clamp(400, 1200)
        };
        Figure::new(title, "", "", Chart::Images { images, columns })
            .size(width, 60 + rows as u32 * 110)
    }

    /// Values as coloured cells (dark blue low, yellow high, the viridis scale), for example a
    /// spectrogram: `grid.values[frame][bin]`.
    pub fn color_map(title: &str, x_label: &str, y_label: &str, grid: ColorGrid) -> Figure {
        Figure::new(title, x_label, y_label, Chart::ColorMap { grid }).size(800, 400)
    }

    /// Boxes inside boxes, outermost first: each a name and a line under it ("Artificial
    /// intelligence" ⊃ "Machine learning" ⊃ "Deep learning").
    pub fn nested(title: &str, rings: Vec<(String, String)>) -> Figure {
        Figure::new(title, "", "", Chart::Nested { rings }).size(800, 460)
    }

    /// Steps in a row joined by arrows, the `highlighted` ones in colour (a step's label may
    /// hold `\n` to break its line).
    pub fn flow(title: &str, steps: Vec<String>, highlighted: Vec<bool>) -> Figure {
        Figure::new(title, "", "", Chart::Flow { steps, highlighted }).size(900, 240)
    }

    fn push_series(mut self, name: &str, points: Vec<(f64, f64)>, mark: Mark) -> Figure {
        if let Chart::Lines { series } = &mut self.chart {
            let color = series.len() % PALETTE.len();
            series.push(Series {
                name: name.to_string(),
                points,
                mark,
                color,
            });
        }
        self
    }

    /// Adds a line through `points` (only for [`Figure::lines`] charts; ignored otherwise).
    pub fn line(self, name: &str, points: Vec<(f64, f64)>) -> Figure {
        self.push_series(name, points, Mark::Line)
    }

    /// Adds a dot at each of `points` (only for [`Figure::lines`] charts; ignored otherwise).
    pub fn dots(self, name: &str, points: Vec<(f64, f64)>) -> Figure {
        self.push_series(name, points, Mark::Dots)
    }

    /// Uses a logarithmic y axis (powers of ten). Values ≤ 0 are left out.
    pub fn log_y(mut self) -> Figure {
        self.log_y = true;
        self
    }

    /// Draws a labelled vertical line at `x`.
    pub fn x_marker(mut self, x: f64, label: &str) -> Figure {
        self.x_markers.push(Marker {
            at: x,
            label: label.to_string(),
        });
        self
    }

    /// Draws a labelled horizontal line at `y`.
    pub fn y_marker(mut self, y: f64, label: &str) -> Figure {
        self.y_markers.push(Marker {
            at: y,
            label: label.to_string(),
        });
        self
    }

    /// Puts the legend in the lower right corner (default: upper right), where it hides no
    /// curve that rises to the top.
    pub fn legend_lower_right(mut self) -> Figure {
        self.legend_low = true;
        self
    }

    /// Sets the size in pixels (default 800 × 500).
    pub fn size(mut self, width_px: u32, height_px: u32) -> Figure {
        self.size_px = (width_px.max(200), height_px.max(150));
        self
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The series of a [`Figure::lines`] chart (empty for other kinds).
    pub fn series(&self) -> &[Series] {
        match &self.chart {
            Chart::Lines { series } => series,
            _ => &[],
        }
    }

    /// The figure as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        register_font();
        let (w, h) = self.size_px;
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            self.draw(&root).map_err(|e| self.err(e))?;
            root.present().map_err(|e| self.err(e))?;
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| self.err(e))?;
        writer.write_image_data(&rgb).map_err(|e| self.err(e))?;
        writer.finish().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        register_font();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size_px).into_drawing_area();
            self.draw(&root).map_err(|e| self.err(e))?;
            root.present().map_err(|e| self.err(e))?;
        }
        Ok(svg)
    }

    /// Writes `DIR/STEM.png` and `DIR/STEM.svg` (creating `DIR`) and returns both paths.
    pub fn save(&self, dir: impl AsRef<Path>, stem: &str) -> Result<(PathBuf, PathBuf)> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let png_path = dir.join(format!("{stem}.png"));
        let svg_path = dir.join(format!("{stem}.svg"));
        std::fs::write(&png_path, self.png()?).map_err(|e| Error::io(&png_path, e))?;
        std::fs::write(&svg_path, self.svg()?).map_err(|e| Error::io(&svg_path, e))?;
        Ok((png_path, svg_path))
    }

    /// Shows the figure inline in Jupyter (called by evcxr for a cell's last value).
    pub fn evcxr_display(&self) {
        match self.png() {
            Ok(png) => display_content("image/png", &base64(&png)),
            Err(e) => eprintln!("{e}"),
        }
    }

    fn err(&self, e: impl fmt::Display) -> Error {
        Error::Figure {
            title: self.title.clone(),
            message: e.to_string(),
        }
    }

    /// The legend of the series drawn so far, in the corner [`Figure::legend_lower_right`] picks.
    fn draw_legend<'a, DB: DrawingBackend + 'a>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    ) -> DrawResult<DB> {
        let position = if self.legend_low {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        chart
            .configure_series_labels()
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(position)
            .draw()
    }

    fn y_value(&self, y: f64) -> Option<f64> {
        if !self.log_y {
            return Some(y);
        }
        (y > 0.0).then(|| y.log10())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        match &self.chart {
            Chart::Lines { series } => self.draw_lines(root, series),
            Chart::Bars { bars } => self.draw_bars(root, bars),
            Chart::Histograms { groups, bins } => self.draw_histograms(root, groups, *bins),
            Chart::Heatmap { rows, cols, values } => self.draw_heatmap(root, rows, cols, values),
            Chart::Images { images, columns } => self.draw_images(root, images, *columns),
            Chart::ColorMap { grid } => self.draw_color_map(root, grid),
            Chart::Nested { rings } => self.draw_nested(root, rings),
            Chart::Flow { steps, highlighted } => self.draw_flow(root, steps, highlighted),
        }
    }

    fn y_formatter(&self) -> impl Fn(&f64) -> String + '_ {
        move |v: &f64| {
            if self.log_y {
                format_power_of_ten(*v)
            } else {
                format_tick(*v)
            }
        }
    }

    /// The chart frame every kind shares: title, margins, room for the axis labels.
    fn frame<'a, 'b, DB: DrawingBackend>(
        &self,
        root: &'a DrawingArea<DB, Shift>,
        y_label_px: u32,
    ) -> ChartBuilder<'a, 'b, DB> {
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(y_label_px);
        builder
    }

    fn draw_lines<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        series: &[Series],
    ) -> DrawResult<DB> {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let xs = xs.chain(self.x_markers.iter().map(|m| m.at));
        let ys = series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| self.y_value(p.1)));
        let ys = ys.chain(self.y_markers.iter().filter_map(|m| self.y_value(m.at)));
        let (x0, x1) = padded_range(xs, 0.02);
        let (y0, y1) = padded_range(ys, 0.06);
        let mut chart = self.frame(root, 72).build_cartesian_2d(x0..x1, y0..y1)?;
        let y_fmt = self.y_formatter();
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&y_fmt)
            .label_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for s in series {
            let color = PALETTE[s.color];
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter_map(|&(x, y)| Some((x, self.y_value(y)?)))
                .collect();
            let drawn = match s.mark {
                Mark::Line => chart.draw_series(LineSeries::new(points, color.stroke_width(3)))?,
                Mark::Dots => chart.draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.mix(0.6).filled())),
                )?,
            };
            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.filled())
            });
        }
        self.draw_markers(&mut chart, (x0, x1), (y0, y1))?;
        if series.iter().any(|s| !s.name.is_empty()) {
            self.draw_legend(&mut chart)?;
        }
        Ok(())
    }

    fn draw_markers<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
    ) -> DrawResult<DB> {
        let style = BLACK.mix(0.7).stroke_width(2);
        let text = TextStyle::from((FAMILY, 15).into_font()).color(&BLACK);
        for m in &self.x_markers {
            chart.draw_series(DashedLineSeries::new(
                vec![(m.at, y0), (m.at, y1)],
                8,
                5,
                style,
            ))?;
            let at = (m.at, y1 - (y1 - y0) * 0.02);
            chart.draw_series(std::iter::once(Text::new(
                format!(" {}", m.label),
                at,
                &text,
            )))?;
        }
        for m in &self.y_markers {
            let Some(y) = self.y_value(m.at) else {
                continue;
            };
            chart.draw_series(DashedLineSeries::new(vec![(x0, y), (x1, y)], 8, 5, style))?;
            let at = (x0 + (x1 - x0) * 0.01, y);
            let label = text.pos(Pos::new(HPos::Left, VPos::Bottom));
            chart.draw_series(std::iter::once(Text::new(m.label.clone(), at, &label)))?;
        }
        Ok(())
    }

    fn draw_bars<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        bars: &[(String, f64)],
    ) -> DrawResult<DB> {
        // An i32 range `0..k` holds k + 1 values: `0..n - 1` gives one segment per bar.
        let n = bars.len().max(1) as i32;
        let values: Vec<Option<f64>> = bars.iter().map(|b| self.y_value(b.1)).collect();
        let ys = values.iter().flatten().copied();
        let (y0, y1) = if self.log_y {
            padded_range(ys, 0.06)
        } else {
            let (_, hi) = padded_range(ys.chain([0.0]), 0.0);
            (0.0, if hi > 0.0 { hi * 1.1 } else { 1.0 })
        };
        let mut chart = self
            .frame(root, 72)
            .build_cartesian_2d((0..n - 1).into_segmented(), y0..y1)?;
        let y_fmt = self.y_formatter();
        let x_fmt = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => bars
                .get(*i as usize)
                .map(|b| b.0.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_labels(bars.len().max(1))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let base = y0;
        // One number format for every bar: decimals for all when any value has them.
        let fractional = bars.iter().any(|b| b.1.fract() != 0.0 && b.1.abs() < 1e6);
        let text =
            TextStyle::from((FAMILY, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (i, (bar, value)) in bars.iter().zip(&values).enumerate() {
            let Some(v) = *value else { continue };
            let i = i as i32;
            let color = PALETTE[i as usize % PALETTE.len()];
            let rect = Rectangle::new(
                [
                    (SegmentValue::Exact(i), base),
                    (SegmentValue::Exact(i + 1), v),
                ],
                color.mix(0.85).filled(),
            );
            chart.draw_series(std::iter::once(rect))?;
            let shown = if fractional {
                format!("{:.2}", bar.1)
            } else {
                format_value(bar.1)
            };
            let label = Text::new(shown, (SegmentValue::CenterOf(i), v), &text);
            chart.draw_series(std::iter::once(label))?;
        }
        Ok(())
    }

    fn draw_histograms<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        groups: &[(String, Vec<f64>)],
        bins: usize,
    ) -> DrawResult<DB> {
        let all = groups.iter().flat_map(|g| g.1.iter().copied());
        let (lo, hi) = padded_range(all.chain(self.x_markers.iter().map(|m| m.at)), 0.0);
        let width = (hi - lo) / bins as f64;
        let counts: Vec<Vec<u32>> = groups
            .iter()
            .map(|(_, values)| {
                let mut c = vec![0u32; bins];
                for &v in values.iter().filter(|v| v.is_finite()) {
                    let b = (((v - lo) / width) as usize).min(bins - 1);
                    c[b] += 1;
                }
                c
            })
            .collect();
        let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = self.frame(root, 72).build_cartesian_2d(lo..hi, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            .label_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (g, ((name, _), c)) in groups.iter().zip(&counts).enumerate() {
            let color = PALETTE[g % PALETTE.len()];
            let rects = c
                .iter()
                .enumerate()
                .filter(|(_, &n)| n > 0)
                .map(move |(b, &n)| {
                    let x = lo + b as f64 * width;
                    Rectangle::new([(x, 0.0), (x + width, n as f64)], color.mix(0.45).filled())
                });
            chart
                .draw_series(rects)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.6).filled())
                });
        }
        self.draw_markers(&mut chart, (lo, hi), (0.0, top))?;
        self.draw_legend(&mut chart)
    }

    fn draw_color_map<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        grid: &ColorGrid,
    ) -> DrawResult<DB> {
        let (x0, x1) = grid.x_range;
        let (y0, y1) = grid.y_range;
        let (x1, y1) = (x1.max(x0 + 1e-9), y1.max(y0 + 1e-9));
        let (plot, bar) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(90));
        let mut chart = self.frame(&plot, 72).build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            .label_style((FAMILY, 15))
            .draw()?;
        let finite = grid.values.iter().flatten().filter(|v| v.is_finite());
        let lo = finite.clone().copied().fold(f32::INFINITY, f32::min);
        let hi = finite.copied().fold(f32::NEG_INFINITY, f32::max);
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
        let span = (hi - lo).max(f32::MIN_POSITIVE);
        let columns = grid.values.len().max(1) as f64;
        let dx = (x1 - x0) / columns;
        for (c, column) in grid.values.iter().enumerate() {
            let dy = (y1 - y0) / column.len().max(1) as f64;
            let cells = column.iter().enumerate().map(|(r, &v)| {
                let left = x0 + c as f64 * dx;
                let bottom = y0 + r as f64 * dy;
                let color = viridis(((v - lo) / span) as f64);
                Rectangle::new([(left, bottom), (left + dx, bottom + dy)], color.filled())
            });
            chart.draw_series(cells)?;
        }
        // The colour scale, with its lowest and highest values.
        let (_, h) = bar.dim_in_pixel();
        let (top, bottom) = (60i32, h as i32 - 70);
        let steps = 64;
        for i in 0..steps {
            let t = i as f64 / (steps - 1) as f64;
            let y = bottom - ((bottom - top) as f64 * (i + 1) as f64 / steps as f64) as i32;
            let y_next = bottom - ((bottom - top) as f64 * i as f64 / steps as f64) as i32;
            bar.draw(&Rectangle::new(
                [(10, y), (30, y_next)],
                viridis(t).filled(),
            ))?;
        }
        let style = TextStyle::from((FAMILY, 14).into_font());
        bar.draw(&Text::new(format_tick(hi as f64), (34, top - 6), &style))?;
        bar.draw(&Text::new(format_tick(lo as f64), (34, bottom - 6), &style))?;
        bar.draw(&Text::new(grid.scale_label.clone(), (6, top - 30), &style))?;
        Ok(())
    }

    fn draw_nested<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        rings: &[(String, String)],
    ) -> DrawResult<DB> {
        let area = root.titled(&self.title, (FAMILY, 24))?;
        let (w, h) = area.dim_in_pixel();
        let (w, h) = (w as i32, h as i32);
        let name = TextStyle::from((FAMILY, 20).into_font().style(FontStyle::Bold));
        let line = TextStyle::from((FAMILY, 15).into_font());
        // Each box leaves room above its inner box for its own two lines.
        let (side, top, bottom) = (60, 62, 12);
        for (i, (title, caption)) in rings.iter().enumerate() {
            let k = i as i32;
            let (x0, y0) = (10 + side * k, 4 + top * k);
            let (x1, y1) = (w - 10 - side * k, h - 8 - bottom * k);
            if x1 - x0 < 80 || y1 - y0 < 60 {
                break;
            }
            let color = PALETTE[i % PALETTE.len()];
            area.draw(&Rectangle::new(
                [(x0, y0), (x1, y1)],
                color.mix(0.12).filled(),
            ))?;
            area.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.stroke_width(2)))?;
            area.draw(&Text::new(title.clone(), (x0 + 12, y0 + 8), &name))?;
            area.draw(&Text::new(caption.clone(), (x0 + 12, y0 + 34), &line))?;
        }
        Ok(())
    }

    fn draw_flow<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        steps: &[String],
        highlighted: &[bool],
    ) -> DrawResult<DB> {
        let area = root.titled(&self.title, (FAMILY, 24))?;
        let (w, h) = area.dim_in_pixel();
        let (w, h) = (w as i32, h as i32);
        let n = steps.len().max(1) as i32;
        let gap = 44;
        let box_w = (w - 20 - gap * (n - 1)) / n;
        let (y0, y1) = (10, h - 20);
        let centred = Pos::new(HPos::Center, VPos::Center);
        let plain = TextStyle::from((FAMILY, 18).into_font()).pos(centred);
        let bold = TextStyle::from((FAMILY, 18).into_font().style(FontStyle::Bold)).pos(centred);
        for (i, step) in steps.iter().enumerate() {
            let on = highlighted.get(i).copied().unwrap_or(false);
            let x0 = 10 + i as i32 * (box_w + gap);
            let x1 = x0 + box_w;
            let (fill, edge, style) = if on {
                (PALETTE[0].mix(0.22), PALETTE[0].stroke_width(3), &bold)
            } else {
                (
                    PALETTE[7].mix(0.08),
                    PALETTE[7].mix(0.6).stroke_width(1),
                    &plain,
                )
            };
            area.draw(&Rectangle::new([(x0, y0), (x1, y1)], fill.filled()))?;
            area.draw(&Rectangle::new([(x0, y0), (x1, y1)], edge))?;
            let lines: Vec<&str> = step.split('\n').collect();
            let mid = (y0 + y1) / 2;
            for (k, text) in lines.iter().enumerate() {
                let dy = (2 * k as i32 - (lines.len() as i32 - 1)) * 12;
                area.draw(&Text::new(
                    text.to_string(),
                    ((x0 + x1) / 2, mid + dy),
                    style,
                ))?;
            }
            if i + 1 < steps.len() {
                let (a0, a1) = (x1 + 6, x1 + gap - 6);
                area.draw(&PathElement::new(
                    vec![(a0, mid), (a1, mid)],
                    BLACK.stroke_width(2),
                ))?;
                area.draw(&Polygon::new(
                    vec![(a1, mid), (a1 - 10, mid - 7), (a1 - 10, mid + 7)],
                    BLACK.filled(),
                ))?;
            }
        }
        Ok(())
    }

    fn draw_images<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        images: &[GrayImage],
        columns: usize,
    ) -> DrawResult<DB> {
        let title = root.titled(&self.title, (FAMILY, 24))?;
        let rows = images.len().div_ceil(columns).max(1);
        let cells = title.split_evenly((rows, columns));
        let caption =
            TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (cell, image) in cells.iter().zip(images) {
            let (w, h) = cell.dim_in_pixel();
            let (w, h) = (w as f64, h as f64 - 22.0);
            // Square pictures keep their aspect; a one-row strip is drawn as a band.
            let sx = (w - 8.0) / image.width.max(1) as f64;
            let sy = if image.height == 1 {
                (h - 8.0).min(28.0)
            } else {
                (h - 8.0) / image.height.max(1) as f64
            };
            let (sx, sy) = if image.height == 1 {
                (sx, sy)
            } else {
                (sx.min(sy), sx.min(sy))
            };
            let x0 = ((w - sx * image.width as f64) / 2.0).max(0.0);
            let y0 = 4.0;
            let frame = [
                (x0 as i32 - 1, y0 as i32 - 1),
                (
                    (x0 + sx * image.width as f64) as i32 + 1,
                    (y0 + sy * image.height as f64) as i32 + 1,
                ),
            ];
            cell.draw(&Rectangle::new(frame, RGBColor(200, 200, 200)))?;
            for (i, &v) in image.pixels.iter().enumerate().filter(|(_, &v)| v > 0) {
                let (px, py) = ((i % image.width) as f64, (i / image.width) as f64);
                let ink = 255 - v;
                let corner = |dx: f64, dy: f64| {
                    (
                        (x0 + (px + dx) * sx).round() as i32,
                        (y0 + (py + dy) * sy).round() as i32,
                    )
                };
                cell.draw(&Rectangle::new(
                    [corner(0.0, 0.0), corner(1.0, 1.0)],
                    RGBColor(ink, ink, ink).filled(),
                ))?;
            }
            let bottom = (y0 + sy * image.height as f64 + 4.0) as i32;
            cell.draw(&Text::new(
                image.caption.clone(),
                ((w / 2.0) as i32, bottom),
                &caption,
            ))?;
        }
        Ok(())
    }

    fn draw_heatmap<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        rows: &[String],
        cols: &[String],
        values: &[Vec<f64>],
    ) -> DrawResult<DB> {
        let (nr, nc) = (rows.len().max(1) as i32, cols.len().max(1) as i32);
        let mut chart = self
            .frame(root, 110)
            .build_cartesian_2d((0..nc - 1).into_segmented(), (0..nr - 1).into_segmented())?;
        // Row 0 is drawn at the top, as in a printed table.
        let row_at = |r: i32| nr - 1 - r;
        let x_fmt = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => cols.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let y_fmt = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => rows.get(row_at(*i) as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_labels(cols.len().max(1))
            .y_labels(rows.len().max(1))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FAMILY, 15))
            .draw()?;
        let max = values
            .iter()
            .flatten()
            .copied()
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        for (r, row) in values.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let (x, y) = (c as i32, row_at(r as i32));
                let t = (v / max).clamp(0.0, 1.0);
                let fill = RGBColor(
                    (247.0 - t * (247.0 - 8.0)) as u8,
                    (251.0 - t * (251.0 - 69.0)) as u8,
                    (255.0 - t * (255.0 - 148.0)) as u8,
                );
                let cell = Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                );
                chart.draw_series(std::iter::once(cell))?;
                let ink = if t > 0.55 { WHITE } else { BLACK };
                let style = TextStyle::from((FAMILY, 18).into_font())
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let at = (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y));
                chart.draw_series(std::iter::once(Text::new(format_value(v), at, &style)))?;
            }
        }
        Ok(())
    }
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The viridis colour scale at `t` in `[0, 1]` (perceptually even, readable in grayscale),
/// interpolated between nine of its points.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let at = t * (STOPS.len() - 1) as f64;
    let i = (at.floor() as usize).min(STOPS.len() - 2);
    let f = at - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// `(min, max)` of the finite values, widened by `pad` of the span on each side; never empty.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let half = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            0.5
        };
        return (lo - half, hi + half);
    }
    let span = hi - lo;
    (lo - pad * span, hi + pad * span)
}

/// A tick label: short, no trailing zeros.
fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.0e}")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A log-axis tick at `10^v`.
fn format_power_of_ten(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("1e{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// A value printed on a bar or in a cell.
fn format_value(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{v:.2e}")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Prints rich content for evcxr (the Jupyter kernel picks it up from stdout).
pub(crate) fn display_content(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

/// Standard base64 with padding (RFC 4648), for inline images.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A table of text that shows itself as HTML in Jupyter and as aligned text elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Cells, one `Vec` per row, as many cells as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names and no rows.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are left empty, extra cells are dropped).
    pub fn row(mut self, cells: Vec<String>) -> Table {
        self.push(cells);
        self
    }

    /// Adds a row in place.
    pub fn push(&mut self, mut cells: Vec<String>) {
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as HTML.
    pub fn html(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut html = String::from("<table>\n<thead><tr>");
        for h in &self.header {
            html += &format!("<th>{}</th>", esc(h));
        }
        html += "</tr></thead>\n<tbody>\n";
        for row in &self.rows {
            html += "<tr>";
            for cell in row {
                html += &format!("<td>{}</td>", esc(cell));
            }
            html += "</tr>\n";
        }
        html + "</tbody>\n</table>"
    }

    /// Shows the table inline in Jupyter (called by evcxr for a cell's last value).
    pub fn evcxr_display(&self) {
        display_content("text/html", &self.html());
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, &w)| format!("{c:<w$}"))
                .collect();
            writeln!(f, "{}", padded.join("  ").trim_end())
        };
        line(f, &self.header)?;
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        line(f, &rule)?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn every_chart_kind_renders_to_png_and_svg_with_its_text() {
        let figures = [
            Figure::lines("Lines", "x axis", "y axis")
                .line("a", vec![(0.0, 1.0), (1.0, 3.0)])
                .dots("b", vec![(0.5, 2.0)])
                .x_marker(0.5, "half")
                .y_marker(2.5, "limit"),
            Figure::lines("Log", "turns", "positions")
                .line("35^t", (1..10).map(|t| (t as f64, 35f64.powi(t))).collect())
                .log_y(),
            Figure::bars(
                "Bars",
                "class",
                "count",
                vec![("A".into(), 3.0), ("B".into(), 5.0)],
            ),
            Figure::histograms("Hist", "mph", vec![("w".into(), vec![1.0, 2.0, 2.5])], 5)
                .x_marker(2.0, "2"),
            Figure::heatmap(
                "Heat",
                "predicted",
                "true",
                vec!["r0".into(), "r1".into()],
                vec!["c0".into(), "c1".into()],
                vec![vec![5.0, 1.0], vec![0.0, 7.0]],
            ),
        ];
        for fig in &figures {
            let png = fig.png().unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", fig.title());
            let svg = fig.svg().unwrap();
            assert!(svg.starts_with("<svg"), "{}", fig.title());
            assert!(svg.contains(fig.title()), "{}", fig.title());
            assert_eq!(
                fig.png().unwrap(),
                png,
                "{} redraws the same bytes",
                fig.title()
            );
        }
        assert!(figures[0].svg().unwrap().contains("x axis"));
        assert!(figures[4].svg().unwrap().contains("r1"));
    }

    #[test]
    fn empty_and_degenerate_data_still_draw() {
        assert!(Figure::lines("Empty", "x", "y").png().is_ok());
        assert!(Figure::lines("Flat", "x", "y")
            .line("c", vec![(1.0, 2.0)])
            .png()
            .is_ok());
        assert!(Figure::bars("None", "x", "y", vec![]).png().is_ok());
        assert!(Figure::histograms("Hist", "x", vec![], 10).png().is_ok());
    }

    #[test]
    fn table_aligns_text_and_escapes_html() {
        let t = Table::new(&["name", "n"]).row(vec!["a<b".into(), "10".into()]);
        assert_eq!(t.to_string(), "name  n\n----  --\na<b   10\n");
        assert!(t.html().contains("<td>a&lt;b</td>"));
    }
}
