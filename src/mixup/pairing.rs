//! Pairings π: a uniformly random permutation of the batch (Fisher–Yates).

use rand::Rng;

/// A uniformly random permutation of `0..n` by Fisher–Yates, drawing `n − 1` integers from
/// `rng` (none for n ≤ 1).
pub fn random_pairing(rng: &mut impl Rng, n: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        perm.swap(i, j);
    }
    perm
}

/// Whether `perm` is a bijection of `0..perm.len()`.
pub fn is_bijection(perm: &[usize]) -> bool {
    let mut seen = vec![false; perm.len()];
    perm.iter()
        .all(|&p| p < seen.len() && !std::mem::replace(&mut seen[p], true))
}
