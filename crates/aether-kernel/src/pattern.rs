//! The candidate set of one query: which tokens and which landmark blocks it attends to.
//!
//! Built once per query position and shared by every head (the pattern does not depend on the
//! head). Deduplication needs no length-N scratch: the window is a range, and the few extra
//! tokens and blocks are checked against each other by a short linear scan.

use crate::config::SparseConfig;
use alloc::vec::Vec;

/// Candidates of query `i` in a sequence of `n` tokens.
#[derive(Clone, Debug, Default)]
pub struct QueryPattern {
    /// Local window, inclusive: tokens `lo..=hi`.
    pub lo: usize,
    pub hi: usize,
    /// Tokens outside the window (globals, then log-stride), each once.
    pub extra: Vec<usize>,
    /// How many of `extra` are global tokens (they come first).
    pub globals: usize,
    /// Landmark blocks, each once.
    pub blocks: Vec<usize>,
}

impl QueryPattern {
    /// Reserves room for the largest pattern `cfg` can produce, so `build` never allocates.
    pub fn with_capacity(cfg: &SparseConfig) -> Self {
        let bits = usize::BITS as usize;
        Self {
            lo: 0,
            hi: 0,
            globals: 0,
            extra: Vec::with_capacity(cfg.global_tokens.len() + 2 * bits),
            blocks: Vec::with_capacity(2 + 2 * bits),
        }
    }

    /// Whether `build` for `cfg` stays within the reserved room (no allocation).
    pub fn fits(&self, cfg: &SparseConfig) -> bool {
        let bits = usize::BITS as usize;
        self.extra.capacity() >= cfg.global_tokens.len() + 2 * bits
            && self.blocks.capacity() >= 2 + 2 * bits
    }

    pub fn window_len(&self) -> usize {
        self.hi - self.lo + 1
    }

    /// Token candidates (window + extra).
    pub fn tokens(&self) -> usize {
        self.window_len() + self.extra.len()
    }

    /// All candidates: tokens plus landmark blocks.
    pub fn len(&self) -> usize {
        self.tokens() + self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    #[inline(always)]
    fn in_window(&self, j: usize) -> bool {
        j >= self.lo && j <= self.hi
    }

    #[inline(always)]
    fn block_overlaps_window(&self, b: usize, block: usize, n: usize) -> bool {
        let start = b * block;
        let end = (start + block).min(n) - 1;
        start <= self.hi && end >= self.lo
    }

    /// Fills the pattern of query `i` (`i < n`), replacing previous content. A config that
    /// [`SparseConfig::validate`] refuses (block size 0; every kernel constructor checks) gets
    /// no landmark blocks rather than a division by zero.
    ///
    /// Deduplication is structural: log-stride tokens `i ± 2^k` are distinct from each other,
    /// and landmark blocks `p - 1, p, p - 2^k (k >= 1)` (causal) or `c ± 2^k` (non-causal) are
    /// distinct by construction, so only window membership and the (few) global tokens need
    /// checking. No O(n) scratch, no scans over the whole candidate list.
    pub fn build(&mut self, cfg: &SparseConfig, n: usize, i: usize) {
        debug_assert!(i < n);
        self.extra.clear();
        self.blocks.clear();
        self.lo = i.saturating_sub(cfg.window);
        self.hi = if cfg.causal {
            i
        } else {
            i.saturating_add(cfg.window).min(n - 1)
        };

        for &g in &cfg.global_tokens {
            if g < n && (!cfg.causal || g <= i) && !self.in_window(g) && !self.extra.contains(&g) {
                self.extra.push(g);
            }
        }
        let globals = self.extra.len();
        self.globals = globals;
        if cfg.log_stride {
            let mut stride = 1usize;
            while stride < n {
                if stride <= i {
                    let j = i - stride;
                    if !self.in_window(j) && (globals == 0 || !self.extra[..globals].contains(&j)) {
                        self.extra.push(j);
                    }
                }
                if !cfg.causal && stride < n - i {
                    let j = i + stride;
                    if !self.in_window(j) && (globals == 0 || !self.extra[..globals].contains(&j)) {
                        self.extra.push(j);
                    }
                }
                stride = match stride.checked_mul(2) {
                    Some(s) => s,
                    None => break,
                };
            }
        }
        if cfg.landmarks && cfg.block_size > 0 {
            let b = cfg.block_size;
            let nb = n.div_ceil(b);
            let exclude = cfg.landmark_exclude_window;
            let push = |this: &mut Self, blk: usize| {
                if !(exclude && this.block_overlaps_window(blk, b, n)) {
                    this.blocks.push(blk);
                }
            };
            if cfg.causal {
                // Only complete blocks ending at or before i: no future leakage.
                let available = (i + 1) / b;
                if available > 0 {
                    let p = available - 1;
                    if p >= 1 {
                        push(self, p - 1);
                    }
                    push(self, p);
                    // p - 1 is stride 1, already added.
                    let mut stride = 2usize;
                    while stride <= p && stride < nb {
                        push(self, p - stride);
                        // Past usize (2^31 blocks on a 32-bit target) no stride is left.
                        stride = match stride.checked_mul(2) {
                            Some(s) => s,
                            None => break,
                        };
                    }
                }
            } else {
                let c = i / b;
                // c - 1 and c + 1 are stride 1; the block c itself is never a candidate.
                let mut stride = 1usize;
                while stride < nb {
                    if stride <= c {
                        push(self, c - stride);
                    }
                    // c < nb, so nb - c cannot underflow (and c + stride could overflow).
                    if stride < nb - c {
                        push(self, c + stride);
                    }
                    stride = match stride.checked_mul(2) {
                        Some(s) => s,
                        None => break,
                    };
                }
            }
        }
    }
}

/// Token range `[start, end)` of block `b` in a sequence of `n` tokens.
#[inline]
pub fn block_range(b: usize, block_size: usize, n: usize) -> (usize, usize) {
    let start = b * block_size;
    (start, (start + block_size).min(n))
}

/// Candidate edges per head over a whole sequence of `n` queries (tokens plus landmarks).
pub fn edge_count(cfg: &SparseConfig, n: usize) -> u64 {
    let mut p = QueryPattern::with_capacity(cfg);
    let mut edges = 0u64;
    for i in 0..n {
        p.build(cfg, n, i);
        edges += p.len() as u64;
    }
    edges
}
