//! Host-side kernels shared by the layers that run on the host with their own backward ops
//! (devices with host memory): one checked wrapper around the gemm kernel dfdx itself uses, and
//! bias gradients. The only `unsafe` of the crate lives here.

/// One checked product through a gemm crate `$gemm` (both versions share the signature).
macro_rules! checked_gemm {
    ($gemm:ident, (m, n, k): $dims:expr, $dst:expr, $accumulate:expr, $a:expr, $a_t:expr, $b:expr, $b_t:expr) => {{
        let (m, n, k): (usize, usize, usize) = $dims;
        let (dst, accumulate, a, a_t, b, b_t): (&mut [f32], bool, &[f32], bool, &[f32], bool) =
            ($dst, $accumulate, $a, $a_t, $b, $b_t);
        assert_eq!(dst.len(), m * n, "dst must be m×n");
        assert_eq!(a.len(), m * k, "a must hold m×k values");
        assert_eq!(b.len(), k * n, "b must hold k×n values");
        // (column stride, row stride) of each operand as gemm wants them.
        let (a_cs, a_rs) = if a_t {
            (m as isize, 1)
        } else {
            (1, k as isize)
        };
        let (b_cs, b_rs) = if b_t {
            (k as isize, 1)
        } else {
            (1, n as isize)
        };
        // SAFETY: the asserts above make every operand exactly as long as the extents and
        // strides gemm reads or writes; the slices do not overlap (dst is borrowed mutably).
        unsafe {
            $gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a.as_ptr(),
                a_cs,
                a_rs,
                b.as_ptr(),
                b_cs,
                b_rs,
                if accumulate { 1.0f32 } else { 0.0 },
                1.0f32,
                false,
                false,
                false,
                $gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
    }};
}

/// `dst (m×n) = [dst +] op(a) · op(b)`, all row-major. `op(a)` is `m×k`: `a` is stored `m×k`,
/// or `k×m` when `a_t` (read transposed); `op(b)` is `k×n`: `b` is stored `k×n`, or `n×k` when
/// `b_t`. With `accumulate` the product is added to `dst`, else `dst` is overwritten.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
) {
    checked_gemm!(gemm, (m, n, k): dims, dst, accumulate, a, a_t, b, b_t)
}

/// [`matmul`] with gemm 0.19's kernels (AVX-512 where the CPU has it): the ResNet-18 layers'
/// product. The v0.1 layers keep [`matmul`] (dfdx's gemm 0.15), so their results do not change.
#[allow(clippy::too_many_arguments)]
pub fn matmul_v4(
    dims: (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
) {
    checked_gemm!(gemm_v4, (m, n, k): dims, dst, accumulate, a, a_t, b, b_t)
}

/// Ask the C allocator (glibc) to serve large blocks from its heap and keep freed memory,
/// instead of mapping fresh zeroed pages for every large buffer and returning them at once:
/// the host layers allocate and free buffers of up to ~30 MB every step, and the page faults
/// of fresh mappings cost ~15 % of a ResNet-18 step. Results do not depend on it. A no-op on
/// other platforms. Call once at start-up, before other threads run.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // glibc's M_MMAP_THRESHOLD (-3), at its 64-bit maximum of 32 MiB, and M_TRIM_THRESHOLD
        // (-1): keep up to 1 GiB of freed heap.
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes allocator parameters; called before other threads.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

/// `acc[j] += Σ_i rows[i][j]` over the rows of a row-major matrix `acc.len()` wide (the bias
/// gradient of a layer from its output gradient).
pub fn add_column_sums(acc: &mut [f32], rows: &[f32]) {
    for row in rows.chunks_exact(acc.len()) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// `dst[i] += src[i]`.
pub fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_handles_every_transpose_combination() {
        // a = [[1, 2, 3], [4, 5, 6]] (2×3), b = [[1, 0], [0, 1], [1, 1]] (3×2): a·b = [[4, 5], [10, 11]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let at = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let bt = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        type Product = fn((usize, usize, usize), &mut [f32], bool, &[f32], bool, &[f32], bool);
        for product in [matmul as Product, matmul_v4 as Product] {
            for (aa, a_t) in [(&a, false), (&at, true)] {
                for (bb, b_t) in [(&b, false), (&bt, true)] {
                    let mut d = [1.0; 4];
                    product((2, 2, 3), &mut d, false, aa, a_t, bb, b_t);
                    assert_eq!(d, [4.0, 5.0, 10.0, 11.0], "a_t {a_t} b_t {b_t}");
                    product((2, 2, 3), &mut d, true, aa, a_t, bb, b_t);
                    assert_eq!(d, [8.0, 10.0, 20.0, 22.0]);
                }
            }
        }
    }
}
