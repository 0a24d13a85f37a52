//! `aether inspect` for RVNE model files (v1 and v2): header, tensors, CRC, parameter count,
//! weight bytes per dtype.
//!
//! [`report`] takes the file's bytes and builds a [`ModelReport`]; [`run`] prints it as text
//! or one JSON object. A file that does not parse is reported as an error (non-zero exit).
//!
//! MACs per window / per frame and the RAM working set come from `aether-model`'s cost model
//! (computed from the loops of its forward pass), filled at the end of [`report`] when the
//! file loads as a head; otherwise they are null and `model_error` says why.

use std::collections::BTreeMap;
use std::path::Path;

use aether_rvne::v2::MetaValue;
use aether_rvne::{parse_any, RvneError, RvneFile, RvneV2View, V1Matrix, WeightBlobView};
use anyhow::bail;
use serde::Serialize;
use serde_json::{json, Value};

/// What `aether inspect --json` prints for a model file.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    pub path: String,
    /// File size.
    pub bytes: usize,
    pub version: u16,
    /// v1: the file's dtype. v2: the dtype shared by all rank ≥ 2 tensors, or "mixed".
    pub dtype: String,
    pub input_dim: Option<u32>,
    pub n_q_heads: Option<u32>,
    pub n_kv_heads: Option<u32>,
    pub head_dim: Option<u32>,
    pub n_layers: Option<u32>,
    /// v2: `n_out` unless `output_kind` is "embedding".
    pub n_classes: Option<u32>,
    /// v1: the weights_len field. v2: bytes of all tensors (int8 scales included).
    pub weights_len: usize,
    /// Stored CRC-32, "0x…" lower-case.
    pub crc32: String,
    pub crc_ok: bool,
    /// v1: whether weights_len equals the size the header's shape implies. v2: always true.
    pub shape_ok: bool,
    /// Total elements over all tensors.
    pub params: usize,
    /// Frames the cost figures below use: the file's `window_len` (v1 and unspecified: 256).
    pub window_frames: Option<usize>,
    /// Multiply-accumulates of one full-window classification over `window_frames` frames.
    pub macs_per_window: Option<u64>,
    /// Multiply-accumulates of one streamed frame (push + outputs) at cache length `window_frames`.
    pub macs_per_frame: Option<u64>,
    /// Streaming working set at N = 256: weights as held in memory + KV caches + activations.
    pub ram_bytes_n256: Option<u64>,
    /// Why the file does not load as a temporal head (the figures above are then null).
    pub model_error: Option<String>,
    /// Tensor bytes per storage dtype.
    pub weight_bytes_by_dtype: BTreeMap<&'static str, usize>,
    pub tensors: Vec<TensorRow>,
    /// v2 metadata in file order (empty for v1).
    pub meta: Vec<MetaRow>,
}

/// One tensor (v2) or weight matrix (v1, shape `[in, out]`).
#[derive(Debug, Serialize)]
pub struct TensorRow {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: usize,
    /// Byte offset in the file.
    pub offset: usize,
}

/// One v2 metadata entry.
#[derive(Debug, Serialize)]
pub struct MetaRow {
    pub key: String,
    #[serde(rename = "type")]
    pub meta_type: &'static str,
    pub value: Value,
}

/// Parse `bytes` as an RVNE file (either version) and describe it.
pub fn report(path: &Path, bytes: &[u8]) -> Result<ModelReport, RvneError> {
    let path = path.display().to_string();
    let mut r = match parse_any(bytes)? {
        RvneFile::V1(v) => report_v1(path, v),
        RvneFile::V2(v) => report_v2(path, v),
    };
    add_head_costs(&mut r, bytes);
    Ok(r)
}

/// Frames used for the per-window and per-frame figures when the file names no window.
const DEFAULT_WINDOW_FRAMES: usize = 256;

fn add_head_costs(r: &mut ModelReport, bytes: &[u8]) {
    match aether_model::TemporalHead::from_bytes(bytes) {
        Ok(head) => {
            let n = match head.spec().window_len {
                0 => DEFAULT_WINDOW_FRAMES,
                n => n,
            };
            r.window_frames = Some(n);
            r.macs_per_window = Some(head.macs_per_window(n));
            r.macs_per_frame = Some(head.macs_per_frame(n));
            r.ram_bytes_n256 = head.ram_bytes(256);
        }
        Err(e) => r.model_error = Some(e.to_string()),
    }
}

fn report_v1(path: String, v: WeightBlobView<'_>) -> ModelReport {
    let h = v.header;
    let dtype = h.dtype.name();
    let mut tensors = Vec::new();
    let mut add = |name: String,
                   m: Option<aether_rvne::WeightMatrix<'_>>,
                   layout: Option<aether_rvne::MatrixLayout>| {
        if let (Some(m), Some(l)) = (m, layout) {
            tensors.push(TensorRow {
                name,
                dtype,
                shape: vec![m.rows, m.cols],
                bytes: m.bytes.len(),
                offset: aether_rvne::WEIGHT_BLOB_HEADER_LEN + l.byte_range.start,
            });
        }
    };
    for layer in 0..h.n_layers as usize {
        for m in V1Matrix::ALL {
            add(
                format!("layers.{layer}.{}", m.name()),
                v.matrix(layer, m),
                h.matrix_layout(layer, m),
            );
        }
    }
    add("classifier".into(), v.classifier(), h.classifier_layout());
    ModelReport {
        path,
        bytes: v.file_len(),
        version: 1,
        dtype: dtype.into(),
        input_dim: Some(h.input_dim.into()),
        n_q_heads: Some(h.n_q_heads.into()),
        n_kv_heads: Some(h.n_kv_heads.into()),
        head_dim: Some(h.head_dim.into()),
        n_layers: Some(h.n_layers.into()),
        n_classes: Some(h.n_classes.into()),
        weights_len: v.weights.len(),
        crc32: format!("{:#010x}", v.crc32),
        crc_ok: true,
        shape_ok: v.check_shape().is_ok(),
        // Every payload element is a parameter, whether or not the shape accounts for it.
        params: v.weights.len() / h.elem_bytes(),
        window_frames: None,
        macs_per_window: None,
        macs_per_frame: None,
        ram_bytes_n256: None,
        model_error: None,
        weight_bytes_by_dtype: BTreeMap::from([(dtype, v.weights.len())]),
        tensors,
        meta: Vec::new(),
    }
}

fn report_v2(path: String, v: RvneV2View<'_>) -> ModelReport {
    let mut by_dtype = BTreeMap::new();
    let mut matrix_dtypes = Vec::new();
    let mut tensors = Vec::new();
    let (mut params, mut weights_len) = (0usize, 0usize);
    for t in v.tensors() {
        *by_dtype.entry(t.dtype().name()).or_insert(0) += t.byte_len();
        if t.shape().len() >= 2 && !matrix_dtypes.contains(&t.dtype().name()) {
            matrix_dtypes.push(t.dtype().name());
        }
        params += t.numel();
        weights_len += t.byte_len();
        tensors.push(TensorRow {
            name: t.name().into(),
            dtype: t.dtype().name(),
            shape: t.shape().to_vec(),
            bytes: t.byte_len(),
            offset: t.offset(),
        });
    }
    let dtype = match matrix_dtypes.as_slice() {
        [] => "f32",
        [one] => one,
        _ => "mixed",
    };
    let meta = v
        .meta_entries()
        .map(|e| MetaRow {
            key: e.key.into(),
            meta_type: e.value.meta_type().name(),
            value: match e.value {
                MetaValue::U32(x) => json!(x),
                MetaValue::F32(x) => json!(x),
                MetaValue::Bool(x) => json!(x),
                MetaValue::Str(x) => json!(x),
                MetaValue::U32Array(a) => json!(a.collect::<Vec<_>>()),
                MetaValue::StrArray(a) => json!(a.collect::<Vec<_>>()),
            },
        })
        .collect();
    let n_classes = match v.meta_str("output_kind") {
        Some("embedding") => None,
        _ => v.meta_u32("n_out"),
    };
    ModelReport {
        path,
        bytes: v.file_len(),
        version: 2,
        dtype: dtype.into(),
        input_dim: v.meta_u32("input_dim"),
        n_q_heads: v.meta_u32("n_q_heads"),
        n_kv_heads: v.meta_u32("n_kv_heads"),
        head_dim: v.meta_u32("head_dim"),
        n_layers: v.meta_u32("n_layers"),
        n_classes,
        weights_len,
        crc32: format!("{:#010x}", v.crc32()),
        crc_ok: true,
        shape_ok: true,
        params,
        window_frames: None,
        macs_per_window: None,
        macs_per_frame: None,
        ram_bytes_n256: None,
        model_error: None,
        weight_bytes_by_dtype: by_dtype,
        tensors,
        meta,
    }
}

/// Print the report for `bytes` (text or JSON). Errors (unparseable file, v1 payload that
/// contradicts its shape) are printed and returned, so the exit status is non-zero.
pub fn run(path: &Path, bytes: &[u8], json: bool) -> anyhow::Result<()> {
    let r = match report(path, bytes) {
        Ok(r) => r,
        Err(e) => {
            if json {
                let crc_ok = match e {
                    RvneError::CrcMismatch { .. } => json!(false),
                    _ => Value::Null,
                };
                let out = json!({
                    "path": path.display().to_string(),
                    "bytes": bytes.len(),
                    "error": e.to_string(),
                    "error_kind": format!("{:?}", e.kind()),
                    "crc_ok": crc_ok,
                });
                println!("{out}");
            }
            bail!("{}: not a valid RVNE model file: {e}", path.display());
        }
    };
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print_text(&r);
    }
    if !r.shape_ok {
        bail!(
            "{}: weights_len {} doesn't match the size the header's shape implies",
            r.path,
            r.weights_len
        );
    }
    Ok(())
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn print_text(r: &ModelReport) {
    println!(
        "{}: RVNE v{}, {} bytes, CRC-32 {} {}",
        r.path,
        r.version,
        r.bytes,
        r.crc32,
        if r.crc_ok { "ok" } else { "MISMATCH" }
    );
    println!(
        "  dtype {}; input_dim {}, n_q_heads {}, n_kv_heads {}, head_dim {}, n_layers {}, n_classes {}",
        r.dtype,
        opt(r.input_dim),
        opt(r.n_q_heads),
        opt(r.n_kv_heads),
        opt(r.head_dim),
        opt(r.n_layers),
        opt(r.n_classes)
    );
    let per: Vec<String> = r
        .weight_bytes_by_dtype
        .iter()
        .map(|(d, b)| format!("{d} {b}"))
        .collect();
    println!(
        "  params {}; weights {} bytes ({})",
        r.params,
        r.weights_len,
        per.join(", ")
    );
    match (r.window_frames, r.macs_per_window, r.macs_per_frame, r.ram_bytes_n256) {
        (Some(n), Some(w), Some(f), Some(ram)) => println!(
            "  cost: {w} MACs per window of {n} frames; {f} MACs per streamed frame at T={n}; streaming-session RAM {ram} bytes at N=256 (the device's window mode needs more: ruv_temporal_required_heap)"
        ),
        _ => println!(
            "  not a loadable temporal head: {}",
            r.model_error.as_deref().unwrap_or("-")
        ),
    }
    if !r.shape_ok {
        println!("  WARNING: weights_len doesn't match the header's shape; matrices listed are those that fit");
    }
    if !r.meta.is_empty() {
        println!("  metadata ({}):", r.meta.len());
        for m in &r.meta {
            // Keys are the file's bytes: escaped, so none can drive the terminal.
            let key = m.key.escape_debug().to_string();
            println!("    {key:<32} {:<6} {}", m.meta_type, m.value);
        }
    }
    println!("  tensors ({}):", r.tensors.len());
    let w = r
        .tensors
        .iter()
        .map(|t| t.name.escape_debug().count())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "    {:<w$}  {:<5} {:<18} {:>10} {:>10}",
        "name", "dtype", "shape", "bytes", "offset"
    );
    for t in &r.tensors {
        let shape = format!("{:?}", t.shape);
        println!(
            "    {:<w$}  {:<5} {:<18} {:>10} {:>10}",
            t.name.escape_debug().to_string(),
            t.dtype,
            shape,
            t.bytes,
            t.offset
        );
    }
}
