//! The SVG chart of a `compare` run: for each scenario, one row of two bar panels,
//! requests per second and p99 latency, one bar per server.
//!
//! Every server keeps one color across the chart; a server that was skipped or failed
//! has no bar but the word `skipped` or `failed` in its place, and a row with errors
//! has `⚠ N err` in red above its value.

use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::results::{Measured, Outcome, Results, ScenarioResult};
use crate::loadgen::micros;

/// The figure's width, px.
const WIDTH: u32 = 1200;
/// The height of the figure title, px.
const TITLE_HEIGHT: u32 = 60;
/// The height of one scenario's row, px.
const ROW_HEIGHT: u32 = 260;
/// The height of a row's scenario title, above its panels, px.
const ROW_TITLE_HEIGHT: u32 = 26;
/// Room above the highest bar for its labels, as a fraction of its value.
const HEADROOM: f64 = 0.15;
/// More room when a panel has error labels (one more line of text).
const HEADROOM_WITH_ERRORS: f64 = 0.3;

/// The bar colors, given to the servers in their order of first appearance.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];
/// The color of the `skipped` / `failed` labels.
const MUTED: RGBColor = RGBColor(120, 120, 120);
/// The color of the error labels.
const ALERT: RGBColor = RGBColor(200, 0, 0);

/// A drawing area of the SVG backend.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// What drawing on the SVG backend returns.
type DrawResult<T> = Result<T, DrawingAreaErrorKind<io::Error>>;

/// Draw `results` as an SVG file at `path`: a title, then one row per scenario with
/// req/s on the left and p99 latency on the right.
///
/// Drawing errors and the write's errors are returned as [`io::Error`]s.
pub fn write_svg(results: &Results, path: &Path) -> io::Result<()> {
    let mut svg = String::new();
    // The string backend cannot fail to write: any error is a drawing error.
    draw(results, &mut svg).map_err(|e| io::Error::other(format!("drawing the chart: {e}")))?;
    std::fs::write(path, svg)
}

/// Requests per second as `850`, `98.2k` or `1.25M`.
fn format_rate(per_s: f64) -> String {
    if per_s < 999.5 {
        format!("{per_s:.0}")
    } else if per_s < 999_950.0 {
        format!("{:.1}k", per_s / 1e3)
    } else {
        format!("{:.2}M", per_s / 1e6)
    }
}

/// A number with at most three decimals and no trailing zeros: `0.25`, `2`, `1.125`.
fn trim_number(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// An axis tick of requests per second: `500`, `20k`, `1.5M`.
fn axis_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{}M", trim_number(per_s / 1e6))
    } else if per_s >= 1e3 {
        format!("{}k", trim_number(per_s / 1e3))
    } else {
        trim_number(per_s)
    }
}

/// The color of `server`: its place among the servers of `results`, in order of first
/// appearance, in [`PALETTE`].
fn server_color(results: &Results, server: &str) -> RGBColor {
    let mut seen: Vec<&str> = Vec::new();
    for row in results.scenarios.iter().flat_map(|s| &s.rows) {
        if !seen.contains(&row.server.as_str()) {
            seen.push(&row.server);
        }
    }
    let index = seen.iter().position(|&s| s == server).unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

/// One bar of a panel.
struct Bar<'a> {
    /// The server, the label under the bar.
    server: &'a str,
    /// The bar's color.
    color: RGBColor,
    /// The bar's height, `None` for a server skipped or failed.
    value: Option<f64>,
    /// The label above the bar: its value, or `skipped` / `failed`.
    label: String,
    /// The row's errors, shown above the value when not zero.
    errors: u64,
}

/// The bars of `scenario` for one metric: `value` gives a measured row's height and
/// label.
fn bars<'a>(
    results: &Results,
    scenario: &'a ScenarioResult,
    value: impl Fn(&Measured) -> (f64, String),
) -> Vec<Bar<'a>> {
    scenario
        .rows
        .iter()
        .map(|row| {
            let (value, label, errors) = match &row.outcome {
                Outcome::Measured(m) => {
                    let (v, label) = value(m);
                    (Some(v), label, m.errors)
                }
                Outcome::Skipped(_) => (None, "skipped".to_owned(), 0),
                Outcome::Failed(_) => (None, "failed".to_owned(), 0),
            };
            Bar {
                server: &row.server,
                color: server_color(results, &row.server),
                value,
                label,
                errors,
            }
        })
        .collect()
}

/// Draw the whole figure into `svg`.
fn draw(results: &Results, svg: &mut String) -> DrawResult<()> {
    let rows = results.scenarios.len() as u32;
    let root =
        SVGBackend::with_string(svg, (WIDTH, TITLE_HEIGHT + ROW_HEIGHT * rows)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(TITLE_HEIGHT);
    let title = format!(
        "net / evnet compare — {} ({} CPUs){}{}",
        results.started,
        results.cpus,
        if results.quick { " (quick)" } else { "" },
        if results.rounds > 1 {
            format!(", medians of {} rounds", results.rounds)
        } else {
            String::new()
        }
    );
    let centered = ("sans-serif", 22)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    top.draw(&Text::new(
        title,
        (WIDTH as i32 / 2, TITLE_HEIGHT as i32 / 2),
        centered,
    ))?;
    if rows > 0 {
        for (scenario, row) in results
            .scenarios
            .iter()
            .zip(body.split_evenly((rows as usize, 1)))
        {
            draw_scenario(results, scenario, &row)?;
        }
    }
    root.present()
}

/// Draw one scenario's row: its title, then the req/s and p99 panels.
fn draw_scenario(results: &Results, scenario: &ScenarioResult, area: &Area<'_>) -> DrawResult<()> {
    let (header, panels) = area.split_vertically(ROW_TITLE_HEIGHT);
    let style = ("sans-serif", 17)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    header.draw(&Text::new(
        format!("{} ({})", scenario.title, scenario.name),
        (12, ROW_TITLE_HEIGHT as i32 / 2 + 2),
        style,
    ))?;
    let (left, right) = panels.split_horizontally(WIDTH / 2);
    let rate = bars(results, scenario, |m| {
        (m.req_per_s, format_rate(m.req_per_s))
    });
    draw_panel(&left, "req/s", &rate, axis_rate)?;
    let p99 = bars(results, scenario, |m| {
        (m.p99_us as f64 / 1e3, micros(m.p99_us))
    });
    draw_panel(&right, "p99 (ms)", &p99, trim_number)
}

/// Draw one panel: `bars` under `caption`, the y axis labelled by `axis_label` and
/// scaled to the highest bar.
fn draw_panel(
    area: &Area<'_>,
    caption: &str,
    bars: &[Bar<'_>],
    axis_label: fn(f64) -> String,
) -> DrawResult<()> {
    let max = bars.iter().filter_map(|b| b.value).fold(0.0, f64::max);
    let headroom = if bars.iter().any(|b| b.errors > 0) {
        HEADROOM_WITH_ERRORS
    } else {
        HEADROOM
    };
    let top = if max > 0.0 {
        max * (1.0 + headroom)
    } else {
        1.0
    };
    // One segment per bar (an integer range includes its end).
    let last = bars.len().saturating_sub(1) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin_left(8)
        .margin_right(16)
        .margin_bottom(6)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d((0..last).into_segmented(), 0.0..top)?;
    let server_label = |x: &SegmentValue<u32>| match x {
        SegmentValue::CenterOf(i) => bars
            .get(*i as usize)
            .map_or_else(String::new, |b| b.server.to_owned()),
        _ => String::new(),
    };
    let y_label = |y: &f64| axis_label(*y);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(bars.len() + 1)
        .x_label_formatter(&server_label)
        .y_labels(6)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 12))
        .draw()?;

    chart.draw_series(bars.iter().zip(0u32..).filter_map(|(bar, i)| {
        let value = bar.value?;
        let mut rect = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), value),
            ],
            bar.color.filled(),
        );
        rect.set_margin(0, 0, 14, 14);
        Some(rect)
    }))?;

    let above = |color: &RGBColor| {
        ("sans-serif", 12)
            .into_font()
            .color(color)
            .pos(Pos::new(HPos::Center, VPos::Bottom))
    };
    chart.draw_series(bars.iter().zip(0u32..).map(|(bar, i)| {
        let color = if bar.value.is_some() { BLACK } else { MUTED };
        EmptyElement::at((SegmentValue::CenterOf(i), bar.value.unwrap_or(0.0)))
            + Text::new(bar.label.clone(), (0, -4), above(&color))
    }))?;
    chart.draw_series(
        bars.iter()
            .zip(0u32..)
            .filter(|(bar, _)| bar.errors > 0)
            .map(|(bar, i)| {
                EmptyElement::at((SegmentValue::CenterOf(i), bar.value.unwrap_or(0.0)))
                    + Text::new(format!("⚠ {} err", bar.errors), (0, -18), above(&ALERT))
            }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::results::{sample_row as measured, Row};

    /// Two scenarios with six servers, one skipped, one failed, one with errors.
    fn sample() -> Results {
        Results {
            started: "2025-01-02T03:04:05Z".into(),
            quick: true,
            cpus: 8,
            rounds: 1,
            scenarios: vec![
                ScenarioResult {
                    name: "http-50".into(),
                    title: "HTTP keep-alive, 50 connections".into(),
                    about: "Many requests on few connections.".into(),
                    rows: vec![
                        measured("net", 98_200.0, 1_250, 0),
                        measured("evnet", 143_500.0, 820, 0),
                        measured("evnet inline", 201_000.0, 640, 0),
                        measured("tokio", 187_300.0, 700, 0),
                        measured("hyper", 176_000.0, 910, 0),
                        Row::over_rounds(
                            "redis-server",
                            vec![Outcome::Skipped("not an HTTP server".into())],
                        ),
                    ],
                },
                ScenarioResult {
                    name: "idle".into(),
                    title: "RESP with 10000 idle connections".into(),
                    about: "Idle connections next to busy ones.".into(),
                    rows: vec![
                        measured("net", 12_400.0, 48_000, 37),
                        measured("evnet", 95_000.0, 2_100, 0),
                        Row::over_rounds(
                            "evnet inline",
                            vec![Outcome::Failed("exited with status 1".into())],
                        ),
                        measured("redis-server", 1_050_000.0, 950, 0),
                    ],
                },
            ],
        }
    }

    #[test]
    fn rates() {
        assert_eq!(format_rate(0.0), "0");
        assert_eq!(format_rate(850.4), "850");
        assert_eq!(format_rate(999.7), "1.0k");
        assert_eq!(format_rate(98_200.0), "98.2k");
        assert_eq!(format_rate(999_960.0), "1.00M");
        assert_eq!(format_rate(1_250_000.0), "1.25M");
    }

    #[test]
    fn axis_ticks() {
        assert_eq!(trim_number(0.0), "0");
        assert_eq!(trim_number(2.0), "2");
        assert_eq!(trim_number(0.25), "0.25");
        assert_eq!(trim_number(1.1254), "1.125");
        assert_eq!(axis_rate(500.0), "500");
        assert_eq!(axis_rate(20_000.0), "20k");
        assert_eq!(axis_rate(1_500_000.0), "1.5M");
    }

    #[test]
    fn colors_follow_first_appearance() {
        let results = sample();
        assert_eq!(server_color(&results, "net"), PALETTE[0]);
        assert_eq!(server_color(&results, "redis-server"), PALETTE[5]);
    }

    #[test]
    fn writes_a_readable_svg() {
        let results = sample();
        let path = std::env::temp_dir().join(format!(
            "compare-chart-{}-{:?}.svg",
            std::process::id(),
            std::thread::current().id()
        ));
        write_svg(&results, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        if let Ok(copy) = std::env::var("CHART_SAMPLE") {
            std::fs::write(copy, &svg).unwrap();
        }
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        for part in [
            "net / evnet compare — 2025-01-02T03:04:05Z (8 CPUs) (quick)",
            "HTTP keep-alive, 50 connections",
            "RESP with 10000 idle connections",
            "net",
            "evnet",
            "evnet inline",
            "tokio",
            "hyper",
            "redis-server",
            "req/s",
            "p99 (ms)",
            "98.2k",
            "1.25 ms",
            "1.05M",
            "skipped",
            "failed",
            "⚠ 37 err",
        ] {
            assert!(svg.contains(part), "{part:?} missing");
        }
    }

    #[test]
    fn unwritable_path_is_an_io_error() {
        let path = Path::new("/nonexistent-dir/chart.svg");
        let err = write_svg(&sample(), path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
