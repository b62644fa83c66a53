//! Pictures for reports, as standalone SVG: heatmaps (language-pair
//! matrices, top-k language distributions) and a 2-D PCA scatter of
//! embeddings coloured by language.
//!
//! Written directly as SVG text rather than with a plotting crate: the
//! figures need only rectangles, circles and text, and `plotters` lays text
//! out with a font backend (system fonts through font-kit/freetype, or a
//! bundled font), which is heavy to build and absent on servers. The SVG
//! leaves font rendering to the viewer.

use std::fmt::Write;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A perceptually ordered colour scale (viridis stops), `t` in 0..=1.
fn scale(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heatmap: `values[r][c]` (None = no value, drawn grey) with the row and
/// column labels, a title and axis names. Colours run from `lo` to `hi`;
/// each cell shows its value with `decimals` digits.
pub struct Heatmap<'a> {
    pub title: &'a str,
    pub row_axis: &'a str,
    pub col_axis: &'a str,
    pub rows: &'a [String],
    pub cols: &'a [String],
    pub values: &'a [Vec<Option<f64>>],
    pub lo: f64,
    pub hi: f64,
    pub decimals: usize,
}

impl Heatmap<'_> {
    /// The SVG document.
    pub fn to_svg(&self) -> String {
        let cell = 44.0;
        let left = 90.0;
        let top = 80.0;
        let w = left + cell * self.cols.len() as f64 + 90.0;
        let h = top + cell * self.rows.len() as f64 + 50.0;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
        );
        let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = write!(
            s,
            r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}</text>"#,
            w / 2.0,
            esc(self.title)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="50" font-size="12" text-anchor="middle">{}</text>"#,
            left + cell * self.cols.len() as f64 / 2.0,
            esc(self.col_axis)
        );
        let _ = write!(
            s,
            r#"<text x="16" y="{y}" font-size="12" text-anchor="middle" transform="rotate(-90 16 {y})">{}</text>"#,
            esc(self.row_axis),
            y = top + cell * self.rows.len() as f64 / 2.0
        );
        for (c, label) in self.cols.iter().enumerate() {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
                left + cell * (c as f64 + 0.5),
                top - 8.0,
                esc(label)
            );
        }
        let span = if self.hi > self.lo {
            self.hi - self.lo
        } else {
            1.0
        };
        for (r, label) in self.rows.iter().enumerate() {
            let y = top + cell * r as f64;
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text>"#,
                left - 8.0,
                y + cell / 2.0 + 4.0,
                esc(label)
            );
            for c in 0..self.cols.len() {
                let x = left + cell * c as f64;
                let v = self
                    .values
                    .get(r)
                    .and_then(|row| row.get(c))
                    .copied()
                    .flatten();
                let (fill, text) = match v {
                    Some(v) => {
                        let t = (v - self.lo) / span;
                        let (cr, cg, cb) = scale(t);
                        let ink = if t > 0.6 { "black" } else { "white" };
                        (
                            format!("rgb({cr},{cg},{cb})"),
                            format!(
                                r#"<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="{ink}">{:.*}</text>"#,
                                x + cell / 2.0,
                                y + cell / 2.0 + 4.0,
                                self.decimals,
                                v
                            ),
                        )
                    }
                    None => ("rgb(220,220,220)".to_string(), String::new()),
                };
                let _ = write!(
                    s,
                    r#"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="white"/>{text}"#
                );
            }
        }
        // colour bar
        let bx = left + cell * self.cols.len() as f64 + 24.0;
        let bh = cell * self.rows.len() as f64;
        for i in 0..50 {
            let t = 1.0 - i as f64 / 49.0;
            let (cr, cg, cb) = scale(t);
            let _ = write!(
                s,
                r#"<rect x="{bx}" y="{}" width="16" height="{}" fill="rgb({cr},{cg},{cb})"/>"#,
                top + bh * i as f64 / 50.0,
                bh / 50.0 + 0.5
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="11">{:.*}</text><text x="{}" y="{}" font-size="11">{:.*}</text>"#,
            bx + 20.0,
            top + 10.0,
            self.decimals,
            self.hi,
            bx + 20.0,
            top + bh,
            self.decimals,
            self.lo
        );
        s.push_str("</svg>\n");
        s
    }
}

/// Distinct colours for up to 12 groups (then repeated).
const PALETTE: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];

/// One point of a scatter plot.
#[derive(Clone, Debug)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// Colour group (e.g. the language index).
    pub group: usize,
    /// Drawn as a ring (true) or a dot.
    pub hollow: bool,
}

/// A scatter plot with a legend of the groups and of the two marker kinds.
pub fn scatter_svg(
    title: &str,
    points: &[Point],
    groups: &[String],
    marker_names: (&str, &str),
    axis_names: (&str, &str),
) -> String {
    let (w, h) = (760.0, 600.0);
    let (left, top, pw, ph) = (60.0, 50.0, 560.0, 500.0);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in points {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
        y0 = y0.min(p.y);
        y1 = y1.max(p.y);
    }
    if points.is_empty() || x1 <= x0 {
        (x0, x1) = (-1.0, 1.0);
    }
    if points.is_empty() || y1 <= y0 {
        (y0, y1) = (-1.0, 1.0);
    }
    let px = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = write!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="26" font-size="15" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        esc(title)
    );
    let _ = write!(
        s,
        r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        top + ph + 30.0,
        esc(axis_names.0)
    );
    let _ = write!(
        s,
        r#"<text x="20" y="{y}" font-size="12" text-anchor="middle" transform="rotate(-90 20 {y})">{}</text>"#,
        esc(axis_names.1),
        y = top + ph / 2.0
    );
    for p in points {
        let c = PALETTE[p.group % PALETTE.len()];
        if p.hollow {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.2" fill="none" stroke="{c}" stroke-width="1.2" opacity="0.8"/>"#,
                px(p.x),
                py(p.y)
            );
        } else {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{c}" opacity="0.7"/>"#,
                px(p.x),
                py(p.y)
            );
        }
    }
    let lx = left + pw + 20.0;
    for (i, g) in groups.iter().enumerate() {
        let y = top + 10.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r#"<circle cx="{lx}" cy="{y}" r="5" fill="{}"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            PALETTE[i % PALETTE.len()],
            lx + 12.0,
            y + 4.0,
            esc(g)
        );
    }
    let y = top + 20.0 + 18.0 * groups.len() as f64;
    let _ = write!(
        s,
        r#"<circle cx="{lx}" cy="{y}" r="3" fill="black"/><text x="{}" y="{}" font-size="12">{}</text>"#,
        lx + 12.0,
        y + 4.0,
        esc(marker_names.0)
    );
    let y = y + 18.0;
    let _ = write!(
        s,
        r#"<circle cx="{lx}" cy="{y}" r="3.5" fill="none" stroke="black"/><text x="{}" y="{}" font-size="12">{}</text>"#,
        lx + 12.0,
        y + 4.0,
        esc(marker_names.1)
    );
    s.push_str("</svg>\n");
    s
}

/// The first two principal components of `rows` (each an embedding):
/// returns each row's coordinates and the share of the total variance that
/// each component explains. Exact symmetric eigendecomposition of the
/// covariance matrix ([`xlqa_index::linalg::sym_eigen`]); deterministic.
pub fn pca2(rows: &[Vec<f32>]) -> (Vec<(f64, f64)>, [f64; 2]) {
    use xlqa_index::linalg;
    let n = rows.len();
    let d = rows.first().map_or(0, |r| r.len());
    if n < 2 || d == 0 {
        return (vec![(0.0, 0.0); n], [0.0, 0.0]);
    }
    let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
    let mean = linalg::mean(&refs, d);
    let cov = linalg::scatter(&refs, d, Some(&mean));
    let total: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    let (vals, vecs) = linalg::sym_eigen(&cov, d);
    let share = |k: usize| {
        if total > 0.0 {
            vals.get(k).copied().unwrap_or(0.0).max(0.0) / total
        } else {
            0.0
        }
    };
    let zero = vec![0f64; d];
    let c0 = vecs.first().unwrap_or(&zero);
    let c1 = vecs.get(1).unwrap_or(&zero);
    let coords = rows
        .iter()
        .map(|r| {
            let (mut a, mut b) = (0f64, 0f64);
            for i in 0..d {
                let x = r[i] as f64 - mean[i];
                a += x * c0[i];
                b += x * c1[i];
            }
            (a, b)
        })
        .collect();
    (coords, [share(0), share(1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_axes_of_a_stretched_cloud() {
        // points on a line along (1, 1, 0) plus a small spread along (0, 0, 1)
        let rows: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                let t = i as f32 - 20.0;
                // + - - + per block of four: uncorrelated with t
                let z = if i % 4 == 0 || i % 4 == 3 { 0.5 } else { -0.5 };
                vec![t, t, z]
            })
            .collect();
        let (coords, var) = pca2(&rows);
        // first component: |projection| = |t|·√2
        for (i, (a, b)) in coords.iter().enumerate() {
            let t = i as f64 - 20.0 + 0.5; // centered (mean of t is -0.5)
            assert!((a.abs() - t.abs() * 2f64.sqrt()).abs() < 1e-6, "{a} vs {t}");
            assert!((b.abs() - 0.5).abs() < 1e-6);
        }
        assert!(var[0] > 0.99 && var[0] + var[1] > 0.999999, "{var:?}");
    }

    #[test]
    fn heatmap_draws_every_cell_and_escapes_labels() {
        let rows = vec!["a<b".to_string(), "c".to_string()];
        let cols = vec!["x".to_string(), "y".to_string(), "z".to_string()];
        let values = vec![
            vec![Some(0.0), Some(0.5), None],
            vec![Some(1.0), Some(0.25), Some(0.75)],
        ];
        let svg = Heatmap {
            title: "t & u",
            row_axis: "rows",
            col_axis: "cols",
            rows: &rows,
            cols: &cols,
            values: &values,
            lo: 0.0,
            hi: 1.0,
            decimals: 2,
        }
        .to_svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"));
        assert_eq!(svg.matches(">0.25<").count(), 1);
        assert_eq!(svg.matches("rgb(220,220,220)").count(), 1);
        // lowest and highest cells get the ends of the scale
        assert!(svg.contains("rgb(68,1,84)") && svg.contains("rgb(253,231,37)"));
    }

    #[test]
    fn scatter_has_one_circle_per_point_plus_legend() {
        let pts = vec![
            Point {
                x: 0.0,
                y: 0.0,
                group: 0,
                hollow: false,
            },
            Point {
                x: 1.0,
                y: 2.0,
                group: 1,
                hollow: true,
            },
        ];
        let svg = scatter_svg(
            "s",
            &pts,
            &["en".into(), "de".into()],
            ("q", "c"),
            ("PC1", "PC2"),
        );
        assert_eq!(svg.matches("<circle").count(), 2 + 2 + 2);
    }
}
