//! Leave-one-chip-out on the ESPectre captures: `cargo run --release -p aether-train --example loco [DIR]`.
use aether_train::data::{load_streams, LabelSource};
use aether_train::eval::leave_one_out;
use aether_train::train::{SplitBy, TrainOptions};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/espectre".into());
    let t = std::time::Instant::now();
    let streams = load_streams(&[dir.into()], &LabelSource::default())?;
    eprintln!(
        "{} streams in {:.2} s",
        streams.len(),
        t.elapsed().as_secs_f64()
    );
    for s in &streams {
        eprintln!(
            "{} {} {} {} frames {:.1} Hz",
            s.file_name(),
            s.chip,
            s.date,
            s.features.len(),
            s.frame_rate_hz()
        );
    }
    let augment: f32 = std::env::var("AUGMENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let opts = TrainOptions {
        progress: false,
        augment,
        features: std::env::var("FEATURES").ok().map(|v| {
            v.split(',')
                .map(|x| x.parse().expect("feature index"))
                .collect()
        }),
        init: std::env::var("INIT").ok().map(Into::into),
        ..Default::default()
    };
    let rows = leave_one_out(
        &streams,
        SplitBy::Chip,
        &opts,
        std::env::var("CALIB").is_ok(),
        |r| {
            println!("{}", serde_json::to_string(r).unwrap());
        },
    )?;
    let _ = rows;
    Ok(())
}
