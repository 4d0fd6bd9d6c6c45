//! Bar charts as server-rendered SVG (`templates/partials/chart.html`): readable without
//! JavaScript, labelled for screen readers (a title and a description), each with its table.

/// The drawing's size in SVG units (it scales to the page's width).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

pub struct Bar {
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    /// "6 Dec: 120 clicks" (the bar's tooltip).
    pub title: String,
    /// Below zero.
    pub negative: bool,
}

pub struct Chart {
    /// Unique on the page (ids of its title and description).
    pub id: String,
    pub title: String,
    /// One sentence for screen readers and the caption (after the title): the total and the
    /// busiest point.
    pub summary: String,
    pub bars: Vec<Bar>,
    /// Grid lines: (y, label).
    pub ticks: Vec<(String, String)>,
    /// Labels under the bars: (x, label).
    pub x_labels: Vec<(String, String)>,
    /// The same figures as a table: (label, value).
    pub table: Vec<(String, String)>,
    pub value_head: String,
    pub label_head: String,
}

/// A bar chart of `points` (label, short label under the bar, value), values shown by
/// `show`; `unit` names a value in the tooltips ("clicks").
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
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: i64| TOP + plot_h * (top - v) as f64 / span;
    let n = points.len().max(1) as f64;
    let slot = plot_w / n;
    let gap = (slot * 0.2).min(6.0);
    let total: i64 = points.iter().map(|p| p.2).sum();
    let busiest = points.iter().filter(|p| p.2 > 0).max_by_key(|p| p.2);
    let summary = match busiest {
        None => format!(
            "None in these {} {}s.",
            points.len(),
            label_head.to_lowercase()
        ),
        Some(b) => format!(
            "{} in total; the most {} {} ({}).",
            show(total),
            if label_head == "Hour" { "at" } else { "on" },
            b.0,
            show(b.2)
        ),
    };
    let bars = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.2 != 0)
        .map(|(i, p)| {
            let (y0, y1) = (y_of(p.2.max(0)), y_of(p.2.min(0)));
            Bar {
                x: fmt(LEFT + slot * i as f64 + gap / 2.0),
                y: fmt(y0),
                w: fmt((slot - gap).max(1.0)),
                h: fmt((y1 - y0).max(1.0)),
                title: format!("{}: {}", p.0, show(p.2)),
                negative: p.2 < 0,
            }
        })
        .collect();
    // Zero, the extremes, and a middle line where it is a round value.
    let middle = (bottom == 0 && top % 2 == 0).then_some(top / 2);
    let ticks = [
        (bottom < 0).then_some(bottom),
        Some(0),
        middle,
        (top > 0).then_some(top),
    ]
    .into_iter()
    .flatten()
    .map(|v| (fmt(y_of(v)), show(v)))
    .collect();
    // At most about eight labels under the bars.
    let every = points.len().div_ceil(8).max(1);
    let x_labels = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| (fmt(LEFT + slot * (i as f64 + 0.5)), p.1.clone()))
        .collect();
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        summary,
        bars,
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
        assert_eq!(c.bars.len(), 2);
        assert_eq!(c.table.len(), 3);
        assert_eq!(c.ticks.last().map(|t| t.1.as_str()), Some("50"));
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
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["-10", "0", "50"]);
        let zero: f64 = c.ticks[1].0.parse().unwrap();
        let neg = &c.bars[1];
        assert!(neg.negative);
        assert_eq!(neg.y.parse::<f64>().unwrap(), zero);
        assert!(c.bars[0].y.parse::<f64>().unwrap() < zero);
    }
}
