//! The drawing of the charts: bars in groups in panels, as SVG written by
//! hand. Same panels, same bytes: no timestamps, no random ids, numbers
//! printed with fixed decimals. An opaque white background keeps them
//! readable in light and dark page themes.

use std::fmt::Write as _;

const WIDTH: f64 = 880.0;
/// Left of the bars: the group labels.
const LABEL_WIDTH: f64 = 330.0;
/// Right of the bars: room for the value printed after the longest bar.
const VALUE_WIDTH: f64 = 70.0;
const PLOT_WIDTH: f64 = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20.0;
const BAR: f64 = 13.0;
const GROUP_GAP: f64 = 9.0;

/// A series: who a bar stands for, and its colour (dark enough for white
/// text to be unnecessary, distinct for colour-blind readers: blue, orange,
/// green, grey).
#[derive(Clone, Copy, PartialEq)]
pub enum Series {
    C,
    Rust,
    Tokio,
    Socat,
}

impl Series {
    fn colour(self) -> &'static str {
        match self {
            Series::C => "#1f5fa8",
            Series::Rust => "#d9661f",
            Series::Tokio => "#2e8b57",
            Series::Socat => "#8a8a8a",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Series::C => "C",
            Series::Rust => "Rust",
            Series::Tokio => "tokio",
            Series::Socat => "socat",
        }
    }
}

/// One bar: the median, the range of the runs, or `missing`.
pub struct Bar {
    pub series: Series,
    /// `C server`, `tokio`: the target, for the bar's tooltip.
    pub target: String,
    pub value: Option<f64>,
    pub range: Option<(f64, f64)>,
    pub missing: bool,
    /// Instead of a value: what the run showed (a bounded design's lesson).
    pub note: Option<String>,
}

/// Bars side by side under one label (C and Rust of one program).
pub struct Group {
    pub label: String,
    pub bars: Vec<Bar>,
}

/// One chart of bars with its own axis.
pub struct Panel {
    pub title: String,
    pub unit: String,
    pub groups: Vec<Group>,
    /// A dashed line across the panel (the floor), with its label.
    pub marker: Option<(String, f64)>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `12k` from ten thousand, `2.5k` from a thousand, `850` from a hundred,
/// `9.7` or `12.3` below.
pub fn short(v: f64) -> String {
    match v {
        v if v >= 10_000.0 => format!("{:.0}k", v / 1000.0),
        v if v >= 1000.0 => format!("{:.1}k", v / 1000.0),
        v if v >= 100.0 => format!("{v:.0}"),
        v => format!("{v:.1}"),
    }
}

/// An axis label: `0`, `20k`, `2.5k`, `40`.
fn tick_label(v: f64) -> String {
    match v {
        v if v >= 1000.0 && (v / 1000.0).fract() == 0.0 => format!("{:.0}k", v / 1000.0),
        v if v < 1000.0 && v.fract() == 0.0 => format!("{v:.0}"),
        v => short(v),
    }
}

/// A round step for about five ticks up to `max`, and the axis end.
fn ticks(max: f64) -> (f64, f64) {
    let raw = (max / 5.0).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(10.0 * magnitude);
    (step, (max / step).ceil().max(1.0) * step)
}

/// The largest value a panel must show: bars, whiskers and marker.
fn panel_max(panel: &Panel) -> f64 {
    let bars = panel.groups.iter().flat_map(|g| &g.bars);
    let values = bars.flat_map(|b| [b.value, b.range.map(|r| r.1)]).flatten();
    values.chain(panel.marker.as_ref().map(|m| m.1)).fold(0.0, f64::max)
}

/// The grid, the axis and its labels of a panel whose bars span `top` to
/// `bottom`.
fn axis(svg: &mut String, panel: &Panel, top: f64, bottom: f64, end: f64, step: f64) {
    let x = |v: f64| LABEL_WIDTH + v / end * PLOT_WIDTH;
    let mut tick = 0.0;
    while tick <= end + step / 2.0 {
        let (tx, label) = (x(tick), tick_label(tick));
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{top:.1}" x2="{tx:.1}" y2="{bottom:.1}" stroke="#dddddd"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" font-size="11">{label}</text>"#,
            bottom + 14.0
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LABEL_WIDTH}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333333"/>"##,
        x(end)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
        LABEL_WIDTH + PLOT_WIDTH / 2.0,
        bottom + 30.0,
        escape(&panel.unit)
    );
}

/// The range of the runs from `xl` to `xh` at height `yc`; returns its end.
fn draw_whisker(svg: &mut String, xl: f64, xh: f64, yc: f64) -> f64 {
    let _ = writeln!(
        svg,
        r##"<path d="M{xl:.1} {:.1}V{:.1}M{xl:.1} {yc:.1}H{xh:.1}M{xh:.1} {:.1}V{:.1}" stroke="#222222" fill="none"/>"##,
        yc - 3.0,
        yc + 3.0,
        yc - 3.0,
        yc + 3.0
    );
    xh
}

/// One bar (or `missing`) at `y`, its whisker and its value.
fn draw_bar(svg: &mut String, b: &Bar, y: f64, x: impl Fn(f64) -> f64, unit: &str) {
    let target = escape(&b.target);
    let Some(value) = b.value.filter(|_| !b.missing) else {
        let why = match (&b.note, b.missing) {
            (_, true) => "missing: not built".to_string(),
            (Some(note), false) => escape(note),
            (None, false) => "no run".to_string(),
        };
        let _ = writeln!(
            svg,
            r##"<text class="missing" x="{:.1}" y="{:.1}" font-size="11" font-style="italic" fill="#555555">{target}: {why}</text>"##,
            LABEL_WIDTH + 4.0,
            y + BAR - 3.0
        );
        return;
    };
    // The axes start at 0: a value below it (a design cheaper than the
    // baseline it is taken from) is drawn at 0, its figure printed as is.
    let x = |v: f64| x(v.max(0.0));
    let (x0, x1) = (x(0.0), x(value));
    let _ = writeln!(
        svg,
        r#"<rect class="bar" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{BAR}" fill="{}"><title>{target}: {value:.1} {}</title></rect>"#,
        (x1 - x0).max(0.5),
        b.series.colour(),
        escape(unit)
    );
    let end = match b.range.filter(|r| r.1 > r.0) {
        Some((lo, hi)) => draw_whisker(svg, x(lo), x(hi), y + BAR / 2.0).max(x1),
        None => x1,
    };
    let _ = writeln!(
        svg,
        r#"<text class="value" x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
        end + 4.0,
        y + BAR - 3.0,
        short(value)
    );
}

/// A group's label and bars from `y`; returns where the next starts.
fn draw_group(svg: &mut String, group: &Group, mut y: f64, x: impl Fn(f64) -> f64 + Copy, unit: &str) -> f64 {
    let group_height = group.bars.len() as f64 * (BAR + 2.0);
    let _ = writeln!(
        svg,
        r#"<text class="group" x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text>"#,
        LABEL_WIDTH - 8.0,
        y + group_height / 2.0 + 4.0,
        escape(&group.label)
    );
    for b in &group.bars {
        draw_bar(svg, b, y, x, unit);
        y += BAR + 2.0;
    }
    y + GROUP_GAP
}

/// The dashed line of the floor at `mx`, labelled above the bars.
fn draw_marker(svg: &mut String, label: &str, mx: f64, bars_top: f64, bottom: f64) {
    let _ = writeln!(
        svg,
        r##"<line class="marker" x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{bottom:.1}" stroke="#000000" stroke-width="1.5" stroke-dasharray="5 3"/>"##,
        bars_top - 8.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{mx:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
        bars_top - 10.0,
        escape(label)
    );
}

/// A panel at `top`; returns its height.
fn draw_panel(svg: &mut String, panel: &Panel, top: f64) -> f64 {
    let (step, end) = ticks(panel_max(panel));
    let x = |v: f64| LABEL_WIDTH + v / end * PLOT_WIDTH;
    let bars_top = top + 34.0;
    let height: f64 = panel.groups.iter().map(|g| g.bars.len() as f64 * (BAR + 2.0) + GROUP_GAP).sum();
    let bottom = bars_top + height;
    let _ = writeln!(svg, r#"<g class="panel">"#);
    let _ = writeln!(
        svg,
        r#"<text class="panel-title" x="10" y="{:.1}" font-size="14" font-weight="bold">{}</text>"#,
        top + 16.0,
        escape(&panel.title)
    );
    axis(svg, panel, bars_top - 4.0, bottom, end, step);
    let mut y = bars_top;
    for group in &panel.groups {
        y = draw_group(svg, group, y, x, &panel.unit);
    }
    if let Some((label, value)) = &panel.marker {
        draw_marker(svg, label, x(*value), bars_top, bottom);
    }
    let _ = writeln!(svg, "</g>");
    bottom - top + 44.0
}

/// The legend: a swatch for each series drawn, and the floor's line.
fn legend(svg: &mut String, panels: &[Panel], y: f64) {
    let drawn =
        |s: Series| panels.iter().flat_map(|p| &p.groups).flat_map(|g| &g.bars).any(|b| b.series == s);
    let mut x = 10.0;
    for series in [Series::C, Series::Rust, Series::Tokio, Series::Socat].into_iter().filter(|&s| drawn(s)) {
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/>"#,
            y - 10.0,
            series.colour()
        );
        let _ =
            writeln!(svg, r#"<text x="{:.1}" y="{y:.1}" font-size="12">{}</text>"#, x + 16.0, series.name());
        x += 28.0 + 8.0 * series.name().len() as f64;
    }
    if panels.iter().any(|p| p.marker.is_some()) {
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#000000" stroke-width="1.5" stroke-dasharray="5 3"/>"##,
            y - 4.0,
            x + 22.0,
            y - 4.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{y:.1}" font-size="12">floor: a bare recv/send loop, the fastest echo there is</text>"#,
            x + 28.0
        );
        x += 360.0;
    }
    let bars = panels.iter().flat_map(|p| &p.groups).flat_map(|g| &g.bars);
    if bars.clone().any(|b| b.range.is_some_and(|r| r.1 > r.0)) {
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="12">|-|: the range of the runs; bar: their median</text>"#
        );
    }
}

/// A whole chart: title, subtitle, legend, panels, on a white background.
pub fn render(title: &str, subtitle: &str, panels: &[Panel]) -> String {
    let mut body = String::new();
    legend(&mut body, panels, 72.0);
    let mut y = 90.0;
    for panel in panels {
        y += draw_panel(&mut body, panel, y);
    }
    let height = y + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         font-family=\"DejaVu Sans, Verdana, sans-serif\" fill=\"#111111\">\n"
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ =
        writeln!(svg, r#"<text x="10" y="28" font-size="18" font-weight="bold">{}</text>"#, escape(title));
    let _ =
        writeln!(svg, r##"<text x="10" y="48" font-size="12" fill="#444444">{}</text>"##, escape(subtitle));
    svg + &body + "</svg>\n"
}
