//! Writes the default v2 head (`HeadSpec::default_v2()`, `HeadParams::random` weights) as an
//! RVNE v2 file, for `aether inspect`, benches and device tests.
//!
//! `cargo run -p aether-model --example default_head -- OUT.rvne [f32|f16|int8] [SEED]`

use aether_model::{HeadParams, HeadSpec, TemporalHead, TensorDtype};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .ok_or("usage: default_head OUT.rvne [f32|f16|int8] [SEED]")?;
    let dtype = match args.get(1).map(String::as_str).unwrap_or("f32") {
        "f32" => TensorDtype::F32,
        "f16" => TensorDtype::F16,
        "int8" => TensorDtype::Int8,
        other => return Err(format!("unknown dtype {other:?}").into()),
    };
    let seed = args
        .get(2)
        .map(|s| s.parse::<u64>())
        .transpose()?
        .unwrap_or(1);
    let bytes = HeadParams::random(&HeadSpec::default_v2(), seed)?.to_rvne_v2(dtype)?;
    // The file must load before it is written.
    let head = TemporalHead::from_bytes(&bytes)?;
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, out)?;
    println!(
        "{out}: {} bytes, {} params, {} weight bytes in memory",
        bytes.len(),
        head.params(),
        head.weight_bytes()
    );
    Ok(())
}
