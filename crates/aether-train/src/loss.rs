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
    let (sum, wsum) = weighted_nll_sum(logits, targets, class_weights)?;
    sum / f64::from(wsum.max(f32::MIN_POSITIVE))
}

/// The loss of a shard of a batch: `-sum_i w[y_i] log p_i(y_i)` over the shard's rows divided
/// by `batch_wsum`, the whole batch's `sum_i w[y_i]`. The shards' losses add up to the batch's
/// `weighted_cross_entropy`, and so do their gradients.
pub fn weighted_cross_entropy_shard(
    logits: &Tensor,
    targets: &[u32],
    class_weights: &[f32],
    batch_wsum: f32,
) -> Result<Tensor> {
    let (sum, _) = weighted_nll_sum(logits, targets, class_weights)?;
    sum / f64::from(batch_wsum.max(f32::MIN_POSITIVE))
}

/// `-sum_i w[y_i] log p_i(y_i)` and `sum_i w[y_i]`.
fn weighted_nll_sum(
    logits: &Tensor,
    targets: &[u32],
    class_weights: &[f32],
) -> Result<(Tensor, f32)> {
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
    Ok(((picked * w)?.sum_all()?.neg()?, wsum))
}
