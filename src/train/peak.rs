//! The core's f32 peak for `balmix bench`'s "% of peak": measured at start-up as the best speed
//! of one core on a large square matrix product through the same kernel the ResNet-18 layers
//! use (gemm 0.19, AVX-512 where the CPU has it, else AVX2) — the speed the CPU reaches on
//! balmix's own best-case work, measured on the machine at hand rather than taken from a data
//! sheet (machines differ 2× and more).

use std::time::{Duration, Instant};

/// Side of the square product: 2·512³ ≈ 0.27 GFLOP, large enough that packing and loop
/// overheads are a few percent of the time.
pub const SIDE: usize = 512;

/// How long the measurement may run (the products after the first until this is spent, at
/// least three).
pub const BUDGET: Duration = Duration::from_millis(400);

/// A measured peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorePeak {
    /// GFLOP/s of the fastest product.
    pub gflops: f64,
    /// Products timed (after one untimed warm-up).
    pub products: usize,
}

/// Time `SIDE`³ products on one thread (one warm-up, then until [`BUDGET`] is spent, at least
/// three) and return the fastest as GFLOP/s.
pub fn measure() -> CorePeak {
    let n = SIDE;
    // Values in [-0.3, 0.3]: no denormals, no overflow.
    let a: Vec<f32> = (0..n * n).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i % 5) as f32 - 2.0) * 0.15).collect();
    let mut c = vec![0f32; n * n];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    pool.install(|| {
        let product = |c: &mut [f32]| {
            crate::model::host::matmul_v4((n, n, n), c, false, &a, false, &b, false)
        };
        product(&mut c);
        let start = Instant::now();
        let mut best = Duration::MAX;
        let mut products = 0;
        while products < 3 || start.elapsed() < BUDGET {
            let t = Instant::now();
            product(&mut c);
            best = best.min(t.elapsed());
            products += 1;
        }
        let flops = 2.0 * (n as f64).powi(3);
        CorePeak {
            gflops: flops / best.as_secs_f64().max(1e-9) / 1e9,
            products,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_peak_is_a_positive_finite_speed_within_the_budget() {
        let start = Instant::now();
        let p = measure();
        assert!(p.gflops.is_finite() && p.gflops > 0.0, "{p:?}");
        assert!(p.products >= 3);
        // One second is the bound; the budget is 0.4 s plus one product and the warm-up.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
