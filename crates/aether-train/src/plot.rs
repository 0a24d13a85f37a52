//! PNG charts: the training curve and the confusion matrix.
//!
//! Text uses a system TrueType font (DejaVu Sans or Liberation Sans) registered at run time;
//! without one the charts are drawn without labels.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use plotters::prelude::*;

use crate::metrics::Confusion;
use crate::train::EpochStats;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a sans-serif font once; false when none is installed.
fn have_font() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp.png");
    path.with_file_name(name)
}

/// Draws into a temporary file next to `path` and renames it into place; on any failure
/// the temporary file is removed and the error names `path`. A directory at `path`, or a
/// missing parent directory, is refused before drawing.
fn write_png(path: &Path, draw: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{} is a directory, not a PNG file", path.display());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    let tmp = tmp_path(path);
    let result = draw(&tmp).and_then(|()| Ok(std::fs::rename(&tmp, path)?));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// Train/validation loss and validation accuracy per epoch.
pub fn training_curve(path: &Path, history: &[EpochStats], title: &str) -> anyhow::Result<()> {
    write_png(path, |tmp| draw_training_curve(tmp, history, title))
}

fn draw_training_curve(tmp: &Path, history: &[EpochStats], title: &str) -> anyhow::Result<()> {
    let text = have_font();
    {
        let root = BitMapBackend::new(&tmp, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = history.len().max(1) as f64;
        let ymax = history
            .iter()
            .flat_map(|h| [h.train_loss, h.val_loss, h.train_acc, h.val_acc])
            .filter(|v| v.is_finite())
            .fold(1.0f64, f64::max)
            * 1.05;
        let mut b = ChartBuilder::on(&root);
        b.margin(15);
        if text {
            b.caption(title, ("sans-serif", 22))
                .x_label_area_size(40)
                .y_label_area_size(50);
        }
        let mut chart = b.build_cartesian_2d(0.5f64..n + 0.5, 0f64..ymax)?;
        if text {
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("loss / accuracy")
                .draw()?;
        } else {
            chart
                .configure_mesh()
                .disable_x_mesh()
                .disable_y_mesh()
                .x_labels(0)
                .y_labels(0)
                .draw()?;
        }
        type Series = (&'static str, RGBColor, fn(&EpochStats) -> f64);
        let series: [Series; 4] = [
            ("train loss", BLUE, |h| h.train_loss),
            ("val loss", RED, |h| h.val_loss),
            ("train acc", CYAN, |h| h.train_acc),
            ("val acc", MAGENTA, |h| h.val_acc),
        ];
        for (name, color, f) in series {
            let pts: Vec<(f64, f64)> = history
                .iter()
                .map(|h| (h.epoch as f64, f(h)))
                .filter(|p| p.1.is_finite())
                .collect();
            if pts.is_empty() {
                continue;
            }
            let s = chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
            if text {
                s.label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .label_font(("sans-serif", 14))
                .draw()?;
        }
        root.present().context("writing the training curve")?;
    }
    Ok(())
}

/// Confusion matrix as a heat map (rows truth, columns prediction), counts in the cells.
pub fn confusion_png(path: &Path, c: &Confusion) -> anyhow::Result<()> {
    write_png(path, |tmp| draw_confusion(tmp, c))
}

fn draw_confusion(tmp: &Path, c: &Confusion) -> anyhow::Result<()> {
    let text = have_font();
    let n = c.classes.len().max(1);
    {
        let side = 120 * n as u32 + 200;
        let root = BitMapBackend::new(&tmp, (side, side)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut b = ChartBuilder::on(&root);
        b.margin(20);
        if text {
            b.caption(
                "confusion (rows truth, columns prediction)",
                ("sans-serif", 18),
            )
            .x_label_area_size(60)
            .y_label_area_size(100);
        }
        let mut chart =
            b.build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())?;
        let classes = c.classes.clone();
        let classes2 = c.classes.clone();
        if text {
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(n + 1)
                .y_labels(n + 1)
                .x_label_formatter(&move |v| match v {
                    SegmentValue::CenterOf(i) => classes.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .y_label_formatter(&move |v| match v {
                    SegmentValue::CenterOf(i) if *i < n => {
                        classes2.get(n - 1 - *i).cloned().unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .x_desc("predicted")
                .y_desc("truth")
                .draw()?;
        }
        for (r, row) in c.matrix.iter().enumerate() {
            let total: u64 = row.iter().sum::<u64>().max(1);
            for (col, &v) in row.iter().enumerate() {
                let frac = v as f64 / total as f64;
                let shade = (255.0 * (1.0 - frac)) as u8;
                // Truth row 0 at the top.
                let y = n - 1 - r;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(col), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(col + 1), SegmentValue::Exact(y + 1)),
                    ],
                    RGBColor(shade, shade, 255).filled(),
                )))?;
                if text {
                    let ink = if frac > 0.5 { WHITE } else { BLACK };
                    chart.draw_series(std::iter::once(Text::new(
                        format!("{v}"),
                        (SegmentValue::CenterOf(col), SegmentValue::CenterOf(y)),
                        ("sans-serif", 22).into_font().color(&ink),
                    )))?;
                }
            }
        }
        root.present().context("writing the confusion matrix")?;
    }
    Ok(())
}
