//! resampy's interpolation for a whole-entry table step (`kaiser_best`, up and down), reorganised
//! for speed without changing a bit of its output.
//!
//! Per block of [`LANES`] outputs it runs in two passes. First the product weight·sample of every
//! tap, computed as resampy does (`(win[j] + η·Δ[j])·x` in f64); these are independent of one
//! another, so they vectorise along the taps, which the table laid out by phase ([`Phased`])
//! makes contiguous. Then each output's running sum over its products in resampy's order,
//! rounded to f32 after every tap, the block's outputs side by side. A lane with fewer taps than
//! the longest gets −0.0 for the rest, the one value whose addition leaves every f64 (±0
//! included) unchanged.

/// Outputs interpolated side by side (enough independent sums to hide the latency of one tap).
const LANES: usize = 32;

/// A filter table (entries and their forward differences) laid out by phase: row r holds the
/// entries r, r + step, r + 2·step, …, so the taps of one output, which are `step` entries
/// apart, are adjacent.
pub(super) struct Phased {
    step: usize,
    /// Entries per row: ⌈table length / step⌉ (zeros past the table's end, never read).
    cols: usize,
    len: usize,
    win: Vec<f64>,
    delta: Vec<f64>,
    /// For each offset up to step + 1 (all a wing starts at): where its row begins and how
    /// many taps the table holds, worked out once instead of per output.
    starts: Vec<(usize, usize)>,
}

impl Phased {
    /// `win` and `delta` (of equal length) by phase of `step` (≥ 1).
    pub(super) fn new(win: &[f64], delta: &[f64], step: usize) -> Phased {
        let cols = win.len().div_ceil(step);
        let by_phase = |t: &[f64]| -> Vec<f64> {
            (0..step)
                .flat_map(|r| (0..cols).map(move |k| t.get(r + k * step).copied().unwrap_or(0.0)))
                .collect()
        };
        let mut table = Phased {
            step,
            cols,
            len: win.len(),
            win: by_phase(win),
            delta: by_phase(delta),
            starts: Vec::new(),
        };
        table.starts = (0..=(step + 1).min(win.len() - 1))
            .map(|offset| table.start(offset))
            .collect();
        table
    }

    /// Where the row of taps from `offset` begins, and resampy's count of them,
    /// ⌊(table length − offset)/step⌋ (in f64 there; exact in integers at these sizes).
    fn start(&self, offset: usize) -> (usize, usize) {
        let row = (offset % self.step) * self.cols + offset / self.step;
        (row, (self.len - offset) / self.step)
    }

    /// One wing of an output whose first tap sits `start` table entries in: where its row of
    /// taps begins, η (the fraction between entries) and how many taps it has (as many as the
    /// table holds, at most `available`).
    fn wing(&self, start: f64, available: usize) -> (usize, f64, usize) {
        let offset = start as usize;
        let (row, taps) = match self.starts.get(offset) {
            Some(&known) => known,
            None => self.start(offset),
        };
        // start ≥ 0, so `offset as f64` is start.trunc().
        (row, start - offset as f64, taps.min(available))
    }

    /// The entries and differences of a wing's taps.
    fn row(&self, row: usize, taps: usize) -> (&[f64], &[f64]) {
        (&self.win[row..row + taps], &self.delta[row..row + taps])
    }
}

/// resampy's interpolation of `x` at input times `times` (see `resample::interpolate`), with
/// the filter scaled by `scale` and walked `table.step` entries per input sample.
pub(super) fn interpolate(
    x: &[f32],
    times: &[f64],
    scale: f64,
    num_table: f64,
    table: &Phased,
) -> Vec<f32> {
    // The left wing reads x[n], x[n−1], …: x reversed makes them ascending. resampy reads a
    // position past the end of x as 0 (and multiplies by it), so the reversed copy starts with
    // zeros down from the last output's position when that lies past the end.
    let last_n = times.last().map_or(0, |&t| t as usize);
    let top = last_n.max(x.len().saturating_sub(1));
    let reversed: Vec<f32> = (0..=top)
        .map(|k| x.get(top - k).copied().unwrap_or(0.0))
        .collect();
    let mut out = vec![0f32; times.len()];
    let mut products: Vec<[f64; LANES]> = vec![[0.0; LANES]; 2 * table.cols];
    for (block, chunk) in times.chunks(LANES).zip(out.chunks_mut(LANES)) {
        let mut left = [(0usize, 0f64, 0usize); LANES];
        let mut right = [(0usize, 0f64, 0usize); LANES];
        let mut n = [0usize; LANES];
        for (l, &time) in block.iter().enumerate() {
            n[l] = time as usize;
            let frac = scale * (time - n[l] as f64);
            left[l] = table.wing(frac * num_table, n[l] + 1);
            right[l] = table.wing((scale - frac) * num_table, x.len().saturating_sub(n[l] + 1));
        }
        let rows_left = left.iter().map(|w| w.2).max().unwrap_or(0);
        let rows_right = right.iter().map(|w| w.2).max().unwrap_or(0);
        let (products_left, rest) = products.split_at_mut(rows_left);
        let products_right = &mut rest[..rows_right];
        for l in 0..LANES {
            let (row, eta, taps) = left[l];
            let from = top - n[l];
            fill(
                products_left,
                l,
                table.row(row, taps),
                eta,
                &reversed[from.min(reversed.len())..][..taps],
            );
            let (row, eta, taps) = right[l];
            let from = (n[l] + 1).min(x.len());
            fill(
                products_right,
                l,
                table.row(row, taps),
                eta,
                &x[from..][..taps],
            );
        }
        let mut acc = [0f32; LANES];
        for row in &products[..rows_left + rows_right] {
            for (a, &p) in acc.iter_mut().zip(row) {
                *a = (*a as f64 + p) as f32;
            }
        }
        chunk.copy_from_slice(&acc[..block.len()]);
    }
    out
}

/// Lane `lane` of `products`: weight·sample for each of the `samples.len()` taps, the weight
/// interpolated between table entries as resampy does, then −0.0 down to the last row.
fn fill(
    products: &mut [[f64; LANES]],
    lane: usize,
    (win, delta): (&[f64], &[f64]),
    eta: f64,
    samples: &[f32],
) {
    let (used, rest) = products.split_at_mut(samples.len());
    for (row, ((&w, &d), &s)) in used.iter_mut().zip(win.iter().zip(delta).zip(samples)) {
        row[lane] = (w + eta * d) * s as f64;
    }
    for row in rest {
        row[lane] = -0.0;
    }
}
