//! Bar charts as server-rendered SVG (`templates/partials/chart.html`): readable without
//! JavaScript, labelled for screen readers, each with its table.
//!
//! The bars and grid lines are drawn in a `viewBox` that keeps its aspect ratio as it
//! scales to the chart's width (nothing is stretched), in two shapes: a taller one for a
//! narrow chart (a phone, a dashboard's half-width card) and a flatter one for a wide chart;
//! CSS shows the one that fits the chart's width (a container query). Both put every value
//! at the same share of their height, so one layer of text serves both: the values of the
//! grid lines and the labels under the bars are in SVGs without a `viewBox`, placed by
//! percentages, and so drawn at their CSS size (12 px) at every width instead of shrinking
//! with the drawing.

/// The drawing's width in SVG units (it scales to the chart's width).
pub const WIDTH: f64 = 720.0;
/// The two shapes: (CSS class, height in SVG units).
const LAYERS: [(&str, f64); 2] = [("chart-narrow", 300.0), ("chart-wide", 180.0)];
/// Room above the top grid line for its value, as a share of the height (about 16 px at
/// the narrowest).
const TOP_SHARE: f64 = 0.12;
/// Room under the lowest grid line, as a share of the height.
const BOTTOM_SHARE: f64 = 0.02;
/// At most this many labels under the bars on a wide chart; a narrow one shows every
/// other of them (CSS hides the `alt` ones).
const MAX_X_LABELS: usize = 8;

pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    /// "6 Dec: 120" (the bar's tooltip).
    pub title: String,
    /// Below zero.
    pub negative: bool,
}

/// One shape of the drawing.
pub struct Layer {
    /// `chart-narrow` or `chart-wide`.
    pub class: &'static str,
    pub view_box: String,
    pub bars: Vec<Bar>,
    /// Grid lines: y in SVG units.
    pub grid: Vec<String>,
}

/// A text label placed by percentages of the chart's box.
pub struct Label {
    /// Percent of the width ("12.5").
    pub x: String,
    /// Percent of the height (grid lines; empty under the bars).
    pub y: String,
    pub text: String,
    /// Hidden on narrow charts (every other label under the bars).
    pub alt: bool,
}

pub struct Chart {
    /// Unique on the page (the caption's id).
    pub id: String,
    pub title: String,
    /// What the chart covers when the title does not say it all ("12 hours from its
    /// scheduled start: …"); shown under the title.
    pub range: Option<String>,
    /// One sentence for screen readers and the caption (after the title): the total of the
    /// bars drawn and the busiest point.
    pub summary: String,
    pub layers: Vec<Layer>,
    /// The grid lines' values.
    pub ticks: Vec<Label>,
    /// Labels under the bars; the last bar always has one.
    pub x_labels: Vec<Label>,
    /// The same figures as a table: (label, value).
    pub table: Vec<(String, String)>,
    pub value_head: String,
    pub label_head: String,
}

impl Chart {
    /// The chart with the range it covers stated under its title.
    pub fn with_range(mut self, range: impl Into<String>) -> Chart {
        self.range = Some(range.into());
        self
    }

    /// The chart with `more` added to its summary (what lies outside the bars).
    pub fn with_note(mut self, more: &str) -> Chart {
        if !more.is_empty() {
            self.summary = format!("{} {more}", self.summary);
        }
        self
    }

    pub fn width(&self) -> f64 {
        WIDTH
    }

    /// What a screen reader reads for the drawing.
    pub fn description(&self) -> String {
        let range = self
            .range
            .as_ref()
            .map_or_else(String::new, |r| format!(", {r}"));
        format!(
            "{}{range}: {} The table below the chart holds every value.",
            self.title, self.summary
        )
    }
}

/// `n` points' noun: "Hour" gives "hour"/"hours", "Day" "day"/"days".
fn points_noun(label_head: &str, n: usize) -> String {
    let one = label_head.to_lowercase();
    let many = format!("{one}s");
    super::pages::count(n, &one, &many)
}

/// The sentence after the title: the total of the points, and the busiest point when one
/// point has the most (a tie names how many share it).
fn summary(
    label_head: &str,
    points: &[(String, String, i64)],
    show: &dyn Fn(i64) -> String,
) -> String {
    let total: i64 = points.iter().map(|p| p.2).sum();
    let max = points.iter().map(|p| p.2).max().unwrap_or(0);
    if max <= 0 && points.iter().all(|p| p.2 == 0) {
        return format!("None in these {}.", points_noun(label_head, points.len()));
    }
    let total = format!("{} in total", show(total));
    if max <= 0 {
        return format!("{total}.");
    }
    let at_max: Vec<&(String, String, i64)> = points.iter().filter(|p| p.2 == max).collect();
    let unit = label_head.to_lowercase();
    match at_max.as_slice() {
        [one] => format!(
            "{total}; the most {} {} ({}).",
            if label_head == "Hour" || label_head == "Minute" {
                "at"
            } else {
                "on"
            },
            one.0,
            show(max)
        ),
        all if all.len() == points.len() => format!("{total}: {} in each {unit}.", show(max)),
        tied => format!(
            "{total}; {} with the most ({} each).",
            points_noun(label_head, tied.len()),
            show(max)
        ),
    }
}

/// A bar chart of `points` (label, short label under the bar, value), values shown by
/// `show`.
pub fn bars(
    id: &str,
    title: &str,
    label_head: &str,
    value_head: &str,
    points: &[(String, String, i64)],
    show: &dyn Fn(i64) -> String,
) -> Chart {
    let max = points.iter().map(|p| p.2).max().unwrap_or(0).max(0);
    let min = points.iter().map(|p| p.2).min().unwrap_or(0).min(0);
    // Below zero too when a value is (a day whose refunds took back more than it earned).
    let top = nice_ceiling(max);
    let bottom = -nice_ceiling(min.saturating_neg());
    let span = (top - bottom).max(1) as f64;
    // Where a value lies, as a share of the height (the same in both shapes).
    let share = |v: i64| TOP_SHARE + (1.0 - TOP_SHARE - BOTTOM_SHARE) * (top - v) as f64 / span;
    let n = points.len().max(1) as f64;
    let slot = WIDTH / n;
    let gap = (slot * 0.2).min(6.0);
    // Zero, the extremes, and a middle line where it is a round value.
    let middle = (bottom == 0 && top % 2 == 0).then_some(top / 2);
    let values: Vec<i64> = [
        (bottom < 0).then_some(bottom),
        Some(0),
        middle,
        (top > 0).then_some(top),
    ]
    .into_iter()
    .flatten()
    .collect();
    let layers = LAYERS
        .iter()
        .map(|&(class, height)| Layer {
            class,
            view_box: format!("0 0 {WIDTH} {height}"),
            bars: points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.2 != 0)
                .map(|(i, p)| {
                    let (y0, y1) = (share(p.2.max(0)) * height, share(p.2.min(0)) * height);
                    Bar {
                        x: fmt(slot * i as f64 + gap / 2.0),
                        y: fmt(y0),
                        w: fmt((slot - gap).max(1.0)),
                        h: fmt((y1 - y0).max(1.0)),
                        title: format!("{}: {}", p.0, show(p.2)),
                        negative: p.2 < 0,
                    }
                })
                .collect(),
            grid: values.iter().map(|&v| fmt(share(v) * height)).collect(),
        })
        .collect();
    let ticks = values
        .iter()
        .map(|&v| Label {
            x: "0".to_owned(),
            y: fmt(100.0 * share(v)),
            text: show(v),
            alt: false,
        })
        .collect();
    // Labels at an even step counted back from the last bar, so that the last is labelled.
    let every = points.len().div_ceil(MAX_X_LABELS).max(1);
    let last = points.len().saturating_sub(1);
    let x_labels = points
        .iter()
        .enumerate()
        .filter(|(i, _)| (last - i) % every == 0)
        .map(|(i, p)| Label {
            x: fmt(100.0 * (i as f64 + 0.5) / n),
            y: String::new(),
            text: p.1.clone(),
            alt: (last - i) / every % 2 == 1,
        })
        .collect();
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        range: None,
        summary: summary(label_head, points, show),
        layers,
        ticks,
        x_labels,
        table: points.iter().map(|p| (p.0.clone(), show(p.2))).collect(),
        value_head: value_head.to_owned(),
        label_head: label_head.to_owned(),
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v` (0 for 0).
fn nice_ceiling(v: i64) -> i64 {
    if v <= 0 {
        return 0;
    }
    let mut p: i64 = 1;
    loop {
        for m in [1, 2, 5] {
            if let Some(c) = p.checked_mul(m)
                && c >= v
            {
                return c;
            }
        }
        match p.checked_mul(10) {
            Some(n) => p = n,
            None => return v,
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0), 0);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(500), 500);
        assert_eq!(nice_ceiling(501), 1000);
    }

    #[test]
    fn a_chart_says_its_total_and_peak_and_draws_only_nonzero_days() {
        let points = vec![
            ("1 Dec".to_owned(), "1".to_owned(), 0),
            ("2 Dec".to_owned(), "2".to_owned(), 40),
            ("3 Dec".to_owned(), "3".to_owned(), 10),
        ];
        let c = bars("c", "Clicks", "Day", "Clicks", &points, &|v| v.to_string());
        assert_eq!(c.summary, "50 in total; the most on 2 Dec (40).");
        assert!(c.layers.iter().all(|l| l.bars.len() == 2));
        assert_eq!(c.table.len(), 3);
        assert_eq!(c.ticks.last().map(|t| t.text.as_str()), Some("50"));
    }

    fn hours(values: &[i64]) -> Vec<(String, String, i64)> {
        values
            .iter()
            .enumerate()
            .map(|(h, &v)| (format!("{h:02}:00"), format!("{h:02}:00"), v))
            .collect()
    }

    #[test]
    fn a_tie_for_the_most_is_not_reported_as_one_point() {
        let show = |v: i64| v.to_string();
        let c = bars(
            "h",
            "Clicks",
            "Hour",
            "Clicks",
            &hours(&[0, 5, 2, 5]),
            &show,
        );
        assert_eq!(c.summary, "12 in total; 2 hours with the most (5 each).");
        let c = bars("h", "Clicks", "Hour", "Clicks", &hours(&[1, 1, 1]), &show);
        assert_eq!(c.summary, "3 in total: 1 in each hour.");
        let c = bars("h", "Clicks", "Hour", "Clicks", &hours(&[0, 0, 7]), &show);
        assert_eq!(c.summary, "7 in total; the most at 02:00 (7).");
        let c = bars("h", "Clicks", "Hour", "Clicks", &hours(&[0, 0]), &show);
        assert_eq!(c.summary, "None in these 2 hours.");
    }

    #[test]
    fn the_last_bar_is_labelled_and_labels_are_evenly_spaced() {
        let show = |v: i64| v.to_string();
        for n in [1, 7, 12, 30, 31, 90] {
            let c = bars("d", "Clicks", "Day", "Clicks", &hours(&vec![1; n]), &show);
            let last = c.x_labels.last().expect("a label");
            assert_eq!(last.text, format!("{:02}:00", n - 1), "{n} points");
            assert!(!last.alt, "the last label stays on a phone ({n} points)");
            assert!(c.x_labels.len() <= MAX_X_LABELS, "{n} points");
            let xs: Vec<f64> = c.x_labels.iter().map(|l| l.x.parse().unwrap()).collect();
            let steps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(
                steps.windows(2).all(|s| (s[0] - s[1]).abs() < 0.2),
                "{n} points: {xs:?}"
            );
        }
    }

    #[test]
    fn a_negative_day_is_drawn_below_zero() {
        let points = vec![
            ("1 Dec".to_owned(), "1".to_owned(), 30),
            ("2 Dec".to_owned(), "2".to_owned(), -10),
        ];
        let c = bars("m", "Earnings", "Day", "Earnings", &points, &|v| {
            v.to_string()
        });
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(labels, ["-10", "0", "50"]);
        for layer in &c.layers {
            let zero: f64 = layer.grid[1].parse().unwrap();
            let neg = &layer.bars[1];
            assert!(neg.negative);
            assert_eq!(neg.y.parse::<f64>().unwrap(), zero);
            assert!(layer.bars[0].y.parse::<f64>().unwrap() < zero);
        }
        // The labels sit where the lines are in both shapes.
        for (i, t) in c.ticks.iter().enumerate() {
            let pct: f64 = t.y.parse().unwrap();
            for (layer, (_, height)) in c.layers.iter().zip(LAYERS) {
                let y: f64 = layer.grid[i].parse().unwrap();
                assert!(
                    (100.0 * y / height - pct).abs() < 0.1,
                    "{pct} vs {y} of {height}"
                );
            }
        }
    }
}
