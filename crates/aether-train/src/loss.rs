//! Losses from plain differentiable candle ops.

use candle_core::{Result, Tensor, D};

/// Row-wise log-softmax of `[B, C]` logits.
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// Class-weighted mean cross-entropy: `-sum_i w[y_i] log p_i(y_i) / sum_i w[y_i]`.
pub fn weighted_cross_entropy(
    logits: &Tensor,
    targets: &[u32],
    class_weights: &[f32],
) -> Result<Tensor> {
    let (b, c) = logits.dims2()?;
    if targets.len() != b || class_weights.len() != c {
        candle_core::bail!(
            "cross-entropy: {b} rows, {} targets, {c} classes, {} weights",
            targets.len(),
            class_weights.len()
        );
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= c) {
        candle_core::bail!("cross-entropy: target {t} out of {c} classes");
    }
    let dev = logits.device();
    let logp = log_softmax(logits)?;
    let idx = Tensor::from_vec(targets.to_vec(), (b, 1), dev)?;
    let picked = logp.gather(&idx, 1)?.squeeze(1)?;
    let w: Vec<f32> = targets.iter().map(|&t| class_weights[t as usize]).collect();
    let wsum: f32 = w.iter().sum();
    let w = Tensor::from_vec(w, b, dev)?.to_dtype(logits.dtype())?;
    (picked * w)?.sum_all()?.neg()? / f64::from(wsum.max(f32::MIN_POSITIVE))
}
