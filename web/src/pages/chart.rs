//! Charts drawn on the server as inline SVG: grouped bars or lines over
//! labelled categories, with a y axis from zero (or below, for negative
//! values) to a round maximum, its gridlines and tick labels, the category
//! labels under the x axis, and a legend. The chart is `role="img"` with a
//! `<title>` and a `<desc>` naming what it shows; every text goes through
//! maud, so it is escaped. No script and no style attribute (the console's
//! CSP allows neither): colours are presentation attributes. Every SVG
//! element is closed explicitly (`<line ...></line>`): in HTML, inline SVG
//! is foreign content, where an unclosed `<line>` would swallow what
//! follows.

use maud::{Markup, html};

/// How the series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Side-by-side bars per category.
    Bars,
    /// One line per series through the categories, with a dot on each.
    Lines,
}

/// One series: its name (in the legend) and a value per category.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A chart to draw.
pub struct Chart<'a> {
    /// The `id` of the `<svg>` element.
    pub id: &'a str,
    pub title: &'a str,
    pub kind: Kind,
    /// The x axis' categories, in order.
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    /// Writes a y-axis tick value (money in the company's locale, say).
    pub tick: &'a dyn Fn(f64) -> String,
}

/// Colours of the series, in order (contrast at least 3:1 on white).
const PALETTE: [&str; 6] = [
    "#1c49b3", "#b3541c", "#1d6b35", "#8a1c9b", "#6b5d1d", "#1c7f8a",
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 64.0;
/// Tick intervals on the y axis.
const TICKS: usize = 5;

/// A round step (1, 2 or 5 times a power of ten) at least `span / n`.
pub fn nice_step(span: f64, n: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let unit = raw / mag;
    let nice = if unit <= 1.0 {
        1.0
    } else if unit <= 2.0 {
        2.0
    } else if unit <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The y axis' bounds and step: from the smallest value (or 0) to the
/// largest (or 0), widened to whole steps.
pub fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi == lo {
        hi = lo + 1.0;
    }
    let step = nice_step(hi - lo, TICKS);
    ((lo / step).floor() * step, (hi / step).ceil() * step, step)
}

fn fmt_coord(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart as an `<svg>` element (an empty-data chart says so).
pub fn chart(c: &Chart<'_>) -> Markup {
    let n = c.categories.len();
    let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
    let desc = format!(
        "{} of {} over {} categories{}",
        match c.kind {
            Kind::Bars => "Bar chart",
            Kind::Lines => "Line chart",
        },
        names.join(", "),
        n,
        match (c.categories.first(), c.categories.last()) {
            (Some(a), Some(b)) if n > 1 => format!(", from {a} to {b}"),
            (Some(a), _) => format!(": {a}"),
            _ => String::new(),
        }
    );
    let (lo, hi, step) = y_range(c.series.iter().flat_map(|s| s.values.iter().copied()));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - (v - lo) / (hi - lo) * plot_h;
    let band = if n == 0 { plot_w } else { plot_w / n as f64 };
    let x_mid = |i: usize| LEFT + band * (i as f64 + 0.5);
    let ticks: Vec<f64> = (0..)
        .map(|i| lo + step * i as f64)
        .take_while(|v| *v <= hi + step / 2.0)
        .collect();
    // At most ~12 category labels: every k-th.
    let every = n.div_ceil(12).max(1);
    let groups = c.series.len().max(1) as f64;
    let bar_w = (band * 0.8 / groups).max(1.0);
    let legend_y = HEIGHT - 14.0;
    html! {
        svg id=(c.id) xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width="100%"
            aria-labelledby={ (c.id) "-title " (c.id) "-desc" } {
            title id={ (c.id) "-title" } { (c.title) }
            desc id={ (c.id) "-desc" } { (desc) }
            @if n == 0 || c.series.is_empty() {
                text x=(WIDTH / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" fill="#535a69" { "No data in this range" }
            } @else {
                g.gridlines {
                    @for t in &ticks {
                        line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt_coord(y(*t))) y2=(fmt_coord(y(*t)))
                            stroke="#d5d9e2" stroke-width="1" {}
                        text x=(LEFT - 6.0) y=(fmt_coord(y(*t) + 4.0)) text-anchor="end" font-size="11" fill="#535a69" { ((c.tick)(*t)) }
                    }
                }
                line.axis x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(TOP + plot_h) stroke="#1b1f29" stroke-width="1" {}
                line.axis x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt_coord(y(0.0))) y2=(fmt_coord(y(0.0))) stroke="#1b1f29" stroke-width="1" {}
                g.categories {
                    @for (i, label) in c.categories.iter().enumerate() {
                        @if i % every == 0 {
                            text x=(fmt_coord(x_mid(i))) y=(TOP + plot_h + 16.0) text-anchor="middle" font-size="11" fill="#1b1f29" { (label) }
                        }
                    }
                }
                @for (si, s) in c.series.iter().enumerate() {
                    @let colour = PALETTE[si % PALETTE.len()];
                    g.series fill=(colour) stroke=(colour) {
                        @match c.kind {
                            Kind::Bars => {
                                @for (i, v) in s.values.iter().enumerate().take(n) {
                                    @let x = LEFT + band * i as f64 + band * 0.1 + bar_w * si as f64;
                                    @let (top, bottom) = (y(v.max(0.0)), y(v.min(0.0)));
                                    rect x=(fmt_coord(x)) y=(fmt_coord(top)) width=(fmt_coord(bar_w))
                                        height=(fmt_coord((bottom - top).max(0.0))) stroke="none" {
                                        title { (s.name) ", " (c.categories[i]) ": " ((c.tick)(*v)) }
                                    }
                                }
                            }
                            Kind::Lines => {
                                @let points: Vec<String> = s.values.iter().enumerate().take(n)
                                    .map(|(i, v)| format!("{},{}", fmt_coord(x_mid(i)), fmt_coord(y(*v)))).collect();
                                polyline points=(points.join(" ")) fill="none" stroke-width="2" {}
                                @for (i, v) in s.values.iter().enumerate().take(n) {
                                    circle cx=(fmt_coord(x_mid(i))) cy=(fmt_coord(y(*v))) r="3" {
                                        title { (s.name) ", " (c.categories[i]) ": " ((c.tick)(*v)) }
                                    }
                                }
                            }
                        }
                    }
                }
                g.legend {
                    @let spacing = (plot_w / c.series.len() as f64).min(150.0);
                    @for (si, s) in c.series.iter().enumerate() {
                        @let x = LEFT + spacing * si as f64;
                        rect x=(x) y=(legend_y - 9.0) width="10" height="10" fill=(PALETTE[si % PALETTE.len()]) {}
                        text x=(x + 14.0) y=(legend_y) font-size="11" fill="#1b1f29" { (s.name) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: f64) -> String {
        format!("{v}")
    }

    fn sample(kind: Kind) -> String {
        chart(&Chart {
            id: "c",
            title: "Revenue <by> \"client\"",
            kind,
            categories: vec!["Acme & Co".into(), "Beta".into(), "Gamma".into()],
            series: vec![
                Series {
                    name: "revenue".into(),
                    values: vec![120.0, 40.0, 0.0],
                },
                Series {
                    name: "lines".into(),
                    values: vec![3.0, 1.0, 7.0],
                },
            ],
            tick: &plain,
        })
        .into_string()
    }

    #[test]
    fn round_steps_and_ranges() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(7.0, 5), 2.0);
        assert_eq!(nice_step(0.3, 5), 0.1);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(y_range([3.0, 120.0].into_iter()), (0.0, 150.0, 50.0));
        assert_eq!(y_range([-30.0, 70.0].into_iter()), (-40.0, 80.0, 20.0));
        assert_eq!(y_range(std::iter::empty()), (0.0, 1.0, 0.2));
        assert_eq!(y_range([5.0, 5.0].into_iter()).0, 0.0, "from zero");
    }

    #[test]
    fn bars_have_a_title_axes_labels_and_escaped_text() {
        let svg = sample(Kind::Bars);
        assert!(svg.starts_with("<svg id=\"c\""), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("aria-labelledby=\"c-title c-desc\""));
        assert!(
            svg.contains("<title id=\"c-title\">Revenue &lt;by&gt; &quot;client&quot;</title>"),
            "{svg}"
        );
        assert!(svg.contains("Acme &amp; Co"));
        assert!(!svg.contains("Acme & Co"));
        assert!(svg.contains(
            "Bar chart of revenue, lines over 3 categories, from Acme &amp; Co to Gamma"
        ));
        // Six bars, tick labels 0 to 150 by 50 (the step of 0..120).
        assert_eq!(svg.matches("<rect").count(), 6 + 2, "bars and legend keys");
        for t in ["0", "50", "100", "150"] {
            assert!(
                svg.contains(&format!("fill=\"#535a69\">{t}</text>")),
                "tick {t}: {svg}"
            );
        }
        assert!(svg.contains("<title>revenue, Acme &amp; Co: 120</title>"));
        assert!(!svg.contains("style="), "no style attribute under the CSP");
        // The tallest bar reaches 120/150 of the plot.
        let plot_h = HEIGHT - TOP - BOTTOM;
        let h = fmt_coord(120.0 / 150.0 * plot_h);
        assert!(svg.contains(&format!("height=\"{h}\"")), "{h}: {svg}");
    }

    #[test]
    fn lines_draw_a_polyline_per_series_and_empty_charts_say_so() {
        let svg = sample(Kind::Lines);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains("Line chart"));
        let empty = chart(&Chart {
            id: "e",
            title: "Nothing",
            kind: Kind::Bars,
            categories: vec![],
            series: vec![],
            tick: &plain,
        })
        .into_string();
        assert!(empty.contains("No data in this range"));
        assert!(empty.contains("<title id=\"e-title\">Nothing</title>"));
        assert!(!empty.contains("<rect"));
    }

    #[test]
    fn the_legend_of_many_series_stays_inside_the_image() {
        let series: Vec<Series> = (0..6)
            .map(|i| Series {
                name: format!("series {i}"),
                values: vec![1.0, 2.0],
            })
            .collect();
        let svg = chart(&Chart {
            id: "m",
            title: "Six",
            kind: Kind::Lines,
            categories: vec!["a".into(), "b".into()],
            series,
            tick: &plain,
        })
        .into_string();
        let keys: Vec<f64> = svg
            .split("<rect x=\"")
            .skip(1)
            .filter(|r| r.contains("width=\"10\""))
            .map(|r| r[..r.find('"').unwrap()].parse().unwrap())
            .collect();
        assert_eq!(keys.len(), 6, "{svg}");
        assert!(keys.iter().all(|x| *x + 80.0 <= WIDTH), "{keys:?}");
    }

    #[test]
    fn every_svg_element_is_closed() {
        for kind in [Kind::Bars, Kind::Lines] {
            let svg = sample(kind);
            for el in [
                "line", "rect", "polyline", "circle", "text", "g", "title", "desc", "svg",
            ] {
                let opened = svg.matches(&format!("<{el} ")).count()
                    + svg.matches(&format!("<{el}>")).count();
                let closed = svg.matches(&format!("</{el}>")).count();
                assert_eq!(opened, closed, "<{el}> in {svg}");
            }
        }
    }
}
