//! `aether init-random`: write the seed's deterministic v1 weight file (`model_init.rvne`).
//!
//! Same generator, shape and bytes as the seed's `init_random_blob` example; with the default
//! seed the file's SHA-256 is `7c6c074e…52d49d`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aether_rvne::{init_random_blob, WeightBlobHeader, WeightBlobView};
use anyhow::{bail, Context};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(clap::Args)]
pub struct Args {
    /// Generator seed, decimal or 0x-prefixed hex (underscores allowed); 0 is rejected.
    #[arg(long, value_parser = parse_seed, default_value = "0xC5110007DEADBEEF")]
    seed: u64,
    /// Output file (written to a temporary file, then renamed).
    #[arg(long, default_value = "model_init.rvne")]
    out: PathBuf,
    /// Print one JSON object: {path, bytes, crc32, sha256}.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Written {
    path: String,
    bytes: usize,
    crc32: String,
    sha256: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let blob = init_random_blob(WeightBlobHeader::DEFAULT_AETHER, args.seed)
        .context("building the weight blob")?;
    let bytes = blob.serialize();
    write_atomic(&args.out, &bytes)?;

    // Re-read from disk and parse, so what we report is what the file holds.
    let disk = fs::read(&args.out).with_context(|| format!("re-reading {}", args.out.display()))?;
    let view = WeightBlobView::parse(&disk)
        .with_context(|| format!("re-parsing {}", args.out.display()))?;
    let h = view.header;
    let n_elems = view.weights.len() / h.elem_bytes();
    if args.json {
        let out = Written {
            path: args.out.display().to_string(),
            bytes: disk.len(),
            crc32: format!("{:#010x}", view.crc32),
            sha256: Sha256::digest(&disk)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("wrote {} (seed {:#018x})", args.out.display(), args.seed);
        println!("  dtype   {}", h.dtype.name());
        println!(
            "  shape   input_dim {}, n_q_heads {}, n_kv_heads {}, head_dim {}, n_layers {}, n_classes {}",
            h.input_dim, h.n_q_heads, h.n_kv_heads, h.head_dim, h.n_layers, h.n_classes
        );
        println!(
            "  weights {} bytes, {} elements",
            view.weights.len(),
            n_elems
        );
        println!(
            "  total {} bytes (header {} + weights {} + crc {})",
            disk.len(),
            aether_rvne::WEIGHT_BLOB_HEADER_LEN,
            view.weights.len(),
            aether_rvne::WEIGHT_BLOB_FOOTER_LEN
        );
    }
    Ok(())
}

/// As every seed ([`crate::seed::parse_seed`]), but non-zero: xorshift64* is stuck at 0.
fn parse_seed(s: &str) -> Result<u64, String> {
    let v = crate::seed::parse_seed(s)?;
    if v == 0 {
        return Err("seed 0 gives a constant stream (xorshift64* stays at 0); pick another".into());
    }
    Ok(v)
}

/// Write `bytes` to `path` via a temporary file in the same directory, synced, then renamed,
/// so a crash never leaves a half-written file under the final name.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = path.file_name() else {
        bail!("{} is not a file path", path.display());
    };
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut f =
            fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::parse_seed;

    #[test]
    fn seeds_parse_as_hex_or_decimal() {
        assert_eq!(
            parse_seed("0xC5110007DEADBEEF"),
            Ok(aether_rvne::DEFAULT_INIT_SEED)
        );
        assert_eq!(
            parse_seed("0xc511_0007_dead_beef"),
            Ok(0xC511_0007_DEAD_BEEF)
        );
        assert_eq!(parse_seed("4660"), Ok(0x1234));
        assert!(parse_seed("0").is_err());
        assert!(parse_seed("0x").is_err());
        assert!(parse_seed("12abc").is_err());
        assert!(parse_seed("0x1_0000_0000_0000_0000").is_err());
    }
}
