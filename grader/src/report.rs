//! One run's results and every way of showing them: text, Gradescope JSON,
//! JUnit XML, and the ladder picture (SVG) of a failed stage's exchange.

use serde_json::json;

use crate::exchange::{Fail, Kind, Step};

pub struct StageResult {
    pub slug: &'static str,
    pub title: &'static str,
    pub strict: bool,
    pub seconds: f64,
    /// None: passed.
    pub fail: Option<Fail>,
    /// Set when the stage could not run (the program had exited).
    pub not_run: Option<String>,
    pub steps: Vec<Step>,
    pub program: Vec<String>,
}

impl StageResult {
    pub fn passed(&self) -> bool {
        self.fail.is_none() && self.not_run.is_none()
    }

    /// What a student reads for a failed stage (also the JSON's output and
    /// the JUnit failure).
    pub fn explanation(&self) -> String {
        if let Some(why) = &self.not_run {
            return format!("  not run: {why}\n");
        }
        let Some(f) = &self.fail else { return String::new() };
        let mut out = String::new();
        if !self.steps.is_empty() {
            out.push_str("  the exchange, as the grader saw it (seconds since the stage began):\n");
            for s in &self.steps {
                out.push_str(&format!("    {}\n", s.line()));
            }
        }
        out.push_str(&format!("  expected {}\n", f.expected));
        out.push_str(&format!("  got      {}\n", f.got));
        if let Some(w) = &f.window {
            out.push_str(w);
            out.push('\n');
        }
        if let Some(h) = &f.hint {
            out.push_str(&format!("  hint (a guess): {h}\n"));
        }
        let lines = &self.program;
        if !lines.is_empty() {
            out.push_str("  the program's output during the stage:\n");
            let show = |l: &String| format!("    [program] {l}\n");
            if lines.len() <= 30 {
                lines.iter().for_each(|l| out.push_str(&show(l)));
            } else {
                lines[..15].iter().for_each(|l| out.push_str(&show(l)));
                out.push_str(&format!("    [program] ... {} lines ...\n", lines.len() - 30));
                lines[lines.len() - 15..].iter().for_each(|l| out.push_str(&show(l)));
            }
        }
        out
    }
}

pub struct Report {
    pub what: String,
    pub notes: Vec<String>,
    pub results: Vec<StageResult>,
    pub seconds: f64,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    pub fn text(&self) -> String {
        let mut out = format!("grade {}\n", self.what);
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out.push('\n');
        for r in &self.results {
            let mark = if r.passed() { "PASS" } else { "FAIL" };
            let strict = if r.strict { " (strict)" } else { "" };
            out.push_str(&format!("{mark} {:<12} {}{strict} ({:.1} s)\n", r.slug, r.title, r.seconds));
            if !r.passed() {
                out.push_str(&r.explanation());
                out.push('\n');
            }
        }
        out.push_str(&format!("\n{} passed, {} failed\n", self.passed(), self.failed()));
        out
    }

    /// Gradescope's results.json: a test per stage, one point each.
    pub fn json(&self) -> String {
        let tests: Vec<_> = self
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "name": format!("{}: {}", r.slug, r.title),
                    "number": (i + 1).to_string(),
                    "score": if r.passed() { 1.0 } else { 0.0 },
                    "max_score": 1.0,
                    "status": if r.passed() { "passed" } else { "failed" },
                    "output": if r.passed() { String::new() } else { r.explanation() },
                    "tags": [r.slug],
                    "visibility": "visible",
                })
            })
            .collect();
        let doc = json!({
            "score": self.passed() as f64,
            "max_score": self.results.len() as f64,
            "execution_time": self.seconds.round() as u64,
            "output": format!("grade {}\n{}\n{} passed, {} failed", self.what, self.notes.join("\n"), self.passed(), self.failed()),
            "visibility": "visible",
            "stdout_visibility": "visible",
            "tests": tests,
        });
        serde_json::to_string_pretty(&doc).expect("JSON of plain values") + "\n"
    }

    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites tests=\"{}\" failures=\"{}\" time=\"{:.3}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">\n",
            self.results.len(),
            self.failed(),
            self.seconds,
            xml(&format!("grade {}", self.what)),
            self.results.len(),
            self.failed(),
            self.seconds
        ));
        for r in &self.results {
            out.push_str(&format!(
                "    <testcase classname=\"grade\" name=\"{}\" time=\"{:.3}\"",
                xml(r.slug),
                r.seconds
            ));
            if r.passed() {
                out.push_str("/>\n");
            } else {
                let message = r.not_run.clone().unwrap_or_else(|| r.title.to_string());
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(&message),
                    xml(&r.explanation())
                ));
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// XML and HTML text: the five characters, and no control byte (XML 1.0
/// has none but tab and newline; the explanations are escaped already).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

// The ladder, in the style of docs/session.svg (scripts/ladders/svg.py):
// two lifelines, a row per step, the same fonts and colours.
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const MONO: &str = "DejaVu Sans Mono, Consolas, Menlo, monospace";
const GRADER_X: f64 = 260.0;
const PROGRAM_X: f64 = 780.0;
const ROW: f64 = 44.0;
const TOP: f64 = 120.0;

fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Connect => "#1f5fbf",
        Kind::Sent | Kind::Got => "#1b7a3a",
        Kind::End => "#c05600",
        Kind::Reset => "#c01c28",
        Kind::Nothing | Kind::Note => "#6b6b6b",
    }
}

// An SVG <text>: its every attribute is a parameter, as the other ladders' writers have it.
#[allow(clippy::too_many_arguments)]
fn text(x: f64, y: f64, s: &str, size: f64, anchor: &str, fill: &str, family: &str, weight: &str) -> String {
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-family=\"{family}\" font-size=\"{size}\" text-anchor=\"{anchor}\" fill=\"{fill}\" font-weight=\"{weight}\">{}</text>\n",
        xml(s)
    )
}

fn shorten(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        s.to_string()
    } else {
        s.chars().take(limit - 1).collect::<String>() + "\u{2026}"
    }
}

/// The failed stage's exchange as a ladder: the grader on the left, the
/// program on the right, time going down.
pub fn ladder_svg(r: &StageResult) -> String {
    let steps: Vec<&Step> = r.steps.iter().take(60).collect();
    let width = 1040.0;
    let height = TOP + ROW * steps.len() as f64 + 140.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height:.0}\" viewBox=\"0 0 {width} {height:.0}\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<defs>"
    );
    for kind in [Kind::Connect, Kind::Sent, Kind::End, Kind::Reset, Kind::Note] {
        out.push_str(&format!(
            "<marker id=\"a{0}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{1}\"/></marker>",
            kind as u8,
            colour(kind)
        ));
    }
    out.push_str("</defs>\n");
    out.push_str(&text(
        width / 2.0,
        36.0,
        &format!("stage {}: {}", r.slug, r.title),
        18.0,
        "middle",
        "#1a1a1a",
        FONT,
        "bold",
    ));
    if let Some(f) = &r.fail {
        out.push_str(&text(
            width / 2.0,
            60.0,
            &shorten(&format!("expected {}", f.expected), 110),
            12.5,
            "middle",
            "#1b7a3a",
            MONO,
            "normal",
        ));
        out.push_str(&text(
            width / 2.0,
            78.0,
            &shorten(&format!("got {}", f.got), 110),
            12.5,
            "middle",
            "#c01c28",
            MONO,
            "normal",
        ));
    }
    for (x, name) in [(GRADER_X, "grade"), (PROGRAM_X, "the program")] {
        out.push_str(&text(x, TOP - 16.0, name, 15.0, "middle", "#1a1a1a", FONT, "bold"));
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{TOP}\" x2=\"{x}\" y2=\"{:.0}\" stroke=\"#9a9a9a\" stroke-width=\"2\"/>\n",
            height - 100.0
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        let y = TOP + 24.0 + ROW * i as f64;
        let c = colour(s.kind);
        out.push_str(&text(
            GRADER_X - 20.0,
            y + 4.0,
            &format!("{:.3} s {}", s.at.as_secs_f64(), s.who),
            12.0,
            "end",
            "#555555",
            MONO,
            "normal",
        ));
        let (from, to, dash) = match s.kind {
            Kind::Connect | Kind::Sent => (GRADER_X, PROGRAM_X, ""),
            Kind::Got | Kind::End | Kind::Reset => (PROGRAM_X, GRADER_X, ""),
            Kind::Nothing | Kind::Note => {
                out.push_str(&text(
                    (GRADER_X + PROGRAM_X) / 2.0,
                    y + 4.0,
                    &shorten(&s.text, 70),
                    12.5,
                    "middle",
                    c,
                    FONT,
                    "normal",
                ));
                continue;
            }
        };
        let marker = if s.kind == Kind::Got { Kind::Sent as u8 } else { s.kind as u8 };
        out.push_str(&format!(
            "<line x1=\"{from}\" y1=\"{:.1}\" x2=\"{to}\" y2=\"{:.1}\" stroke=\"{c}\" stroke-width=\"2\"{dash} marker-end=\"url(#a{marker})\"/>\n",
            y - 6.0,
            y + 6.0
        ));
        out.push_str(&text(
            (GRADER_X + PROGRAM_X) / 2.0,
            y - 10.0,
            &shorten(&s.text, 72),
            12.5,
            "middle",
            c,
            MONO,
            "normal",
        ));
    }
    let legend_y = height - 70.0;
    for (i, (kind, words)) in [
        (Kind::Connect, "connection"),
        (Kind::Sent, "bytes of the stream"),
        (Kind::End, "end of stream (FIN)"),
        (Kind::Reset, "reset (RST)"),
        (Kind::Note, "waiting, or a note"),
    ]
    .iter()
    .enumerate()
    {
        let x = 60.0 + 190.0 * i as f64;
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{legend_y}\" x2=\"{:.0}\" y2=\"{legend_y}\" stroke=\"{}\" stroke-width=\"2\"/>\n",
            x + 30.0,
            colour(*kind)
        ));
        out.push_str(&text(x + 38.0, legend_y + 4.0, words, 12.0, "start", "#1a1a1a", FONT, "normal"));
    }
    out.push_str("</svg>\n");
    out
}
