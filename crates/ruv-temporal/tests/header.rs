//! The committed C header equals what cbindgen generates from the sources.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");
    let path = crate_dir.join("include/ruv_temporal.h");
    if std::env::var_os("RUV_TEMPORAL_REGEN").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let committed = std::fs::read_to_string(&path).expect("include/ruv_temporal.h missing");
    assert!(
        committed == generated,
        "include/ruv_temporal.h is stale; regenerate with RUV_TEMPORAL_REGEN=1 cargo test -p ruv-temporal --test header"
    );
}
