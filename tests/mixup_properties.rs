//! Property tests of the mixup invariants (DESIGN §5). Each test's name states its invariant.
//! Shapes cover batch sizes from 1 (and odd ones), 1–4 modalities, 2–12 classes.

use balmix::mixup::{balanced, contribution, lambda, mix, ogm, pairing, plan};
use balmix::recipe::file::{
    BalanceSection, Direction, LabelWeight, LambdaPer, MixupMethod, MixupSection, OgmVariant,
};
use balmix::rng::{stream, Stream};
use proptest::prelude::*;
use rand::RngCore;

fn mixup(method: MixupMethod, alpha: f64, fold: bool, per: LambdaPer) -> MixupSection {
    MixupSection {
        method,
        alpha,
        fold,
        lambda_per: per,
        balance: (method == MixupMethod::Bmm).then(BalanceSection::default),
        ..MixupSection::default()
    }
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::DominantMore), Just(Direction::WeakMore)]
}

fn label_weight() -> impl Strategy<Value = LabelWeight> {
    prop_oneof![
        Just(LabelWeight::InverseContribution),
        Just(LabelWeight::Contribution),
        Just(LabelWeight::Mean)
    ]
}

fn per() -> impl Strategy<Value = LambdaPer> {
    prop_oneof![Just(LambdaPer::Sample), Just(LambdaPer::Batch)]
}

/// A batch: n rows of width d with values in ±100, plus a pairing and λ per row.
fn batch() -> impl Strategy<Value = (usize, usize, Vec<f32>, Vec<usize>, Vec<f32>)> {
    (1usize..40, 1usize..9).prop_flat_map(|(n, d)| {
        (
            Just(n),
            Just(d),
            prop::collection::vec(-100f32..100f32, n * d),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
            prop::collection::vec(0f32..=1f32, n),
        )
    })
}

fn ulps_close(v: f32, lo: f32, hi: f32) -> bool {
    let slack = 4.0 * f32::EPSILON * lo.abs().max(hi.abs()).max(1.0);
    v >= lo - slack && v <= hi + slack
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pairing_is_a_bijection(seed in any::<u64>(), n in 0usize..300) {
        let p = pairing::random_pairing(&mut stream(seed, Stream::Mixup, 0), n);
        prop_assert_eq!(p.len(), n);
        prop_assert!(pairing::is_bijection(&p));
    }

    #[test]
    fn identity_pairing_leaves_features_and_labels_unchanged((n, d, x, _p, l) in batch(), k in 2usize..12) {
        let id: Vec<usize> = (0..n).collect();
        prop_assert_eq!(mix::mix_rows(&x, d, &id, &l), x);
        let y: Vec<usize> = (0..n).map(|i| i % k).collect();
        prop_assert_eq!(mix::mix_labels(&y, k, &id, &l), mix::one_hot(&y, k));
    }

    #[test]
    fn lambda_one_leaves_features_and_labels_unchanged((n, d, x, p, _l) in batch(), k in 2usize..12) {
        let ones = vec![1.0f32; n];
        prop_assert_eq!(mix::mix_rows(&x, d, &p, &ones), x);
        let y: Vec<usize> = (0..n).map(|i| (i * 7) % k).collect();
        prop_assert_eq!(mix::mix_labels(&y, k, &p, &ones), mix::one_hot(&y, k));
    }

    #[test]
    fn lambdas_lie_in_unit_interval_and_in_upper_half_when_folded(
        seed in any::<u64>(), alpha in 0.01f64..10.0, n in 1usize..65, fold in any::<bool>(), per_sample in any::<bool>()
    ) {
        let l = lambda::sample(&mut stream(seed, Stream::Mixup, 1), alpha, n, per_sample, fold);
        prop_assert_eq!(l.len(), n);
        for v in &l {
            prop_assert!((0.0..=1.0).contains(v), "λ = {}", v);
            if fold { prop_assert!(*v >= 0.5, "folded λ = {}", v); }
        }
        if !per_sample { prop_assert!(l.iter().all(|v| *v == l[0])); }
    }

    #[test]
    fn bmm_modality_and_label_lambdas_lie_in_upper_half(
        lam in 0.5f32..=1.0, c in prop::collection::vec(0.0f64..5.0, 2..5), gamma in 0.0f64..4.0,
        dir in direction(), lw in label_weight()
    ) {
        let r = contribution::relative(&c);
        let lm = balanced::modality_lambdas(lam, &r, gamma, dir);
        for v in &lm { prop_assert!((0.5..=1.0).contains(v), "λ_m = {}", v); }
        let ly = balanced::label_lambda(&lm, &balanced::label_weights(&r, lw));
        prop_assert!((0.5..=1.0).contains(&ly), "λ_y = {}", ly);
    }

    #[test]
    fn mixed_label_rows_are_nonnegative_and_sum_to_one((n, _d, _x, p, l) in batch(), k in 2usize..12, seed in any::<u64>()) {
        let mut rng = stream(seed, Stream::Synthetic, 0);
        let y: Vec<usize> = (0..n).map(|_| (rng.next_u32() as usize) % k).collect();
        let m = mix::mix_labels(&y, k, &p, &l);
        for row in m.chunks(k) {
            prop_assert!(row.iter().all(|v| *v >= 0.0));
            prop_assert!((row.iter().sum::<f32>() - 1.0).abs() <= 1e-6);
        }
    }

    #[test]
    fn mixed_feature_lies_between_its_pair_elementwise((n, d, x, p, l) in batch()) {
        let m = mix::mix_rows(&x, d, &p, &l);
        for i in 0..n {
            for j in 0..d {
                let (a, b) = (x[i * d + j], x[p[i] * d + j]);
                // within 4 ulps of the pair's range: the float rounding of x + t(y − x)
                prop_assert!(ulps_close(m[i * d + j], a.min(b), a.max(b)), "{} not in [{}, {}]", m[i * d + j], a.min(b), a.max(b));
            }
        }
    }

    #[test]
    fn soft_label_cross_entropy_is_linear_in_lambda(
        (n, _d, _x, p, l) in batch(), k in 2usize..12, logits in prop::collection::vec(-20f32..20f32, 40 * 12)
    ) {
        let z = &logits[..n * k];
        let y: Vec<usize> = (0..n).map(|i| (i * 5 + 1) % k).collect();
        let mixed = mix::soft_cross_entropy(z, &mix::mix_labels(&y, k, &p, &l), k);
        let own = mix::soft_cross_entropy(z, &mix::one_hot(&y, k), k);
        let partner_y: Vec<usize> = p.iter().map(|&j| y[j]).collect();
        let partner = mix::soft_cross_entropy(z, &mix::one_hot(&partner_y, k), k);
        for i in 0..n {
            let expected = l[i] as f64 * own[i] + (1.0 - l[i] as f64) * partner[i];
            prop_assert!((mixed[i] - expected).abs() <= 1e-5 * expected.abs().max(1.0), "{} vs {}", mixed[i], expected);
        }
    }

    #[test]
    fn bmm_with_gamma_zero_equals_folded_mm_exactly(
        seed in any::<u64>(), step in 0u64..10_000, n in 1usize..40, modalities in 2usize..5,
        c in prop::collection::vec(0.0f64..3.0, 4), alpha in 0.05f64..4.0, dir in direction(), lw in label_weight(), per in per()
    ) {
        let mut bmm = mixup(MixupMethod::Bmm, alpha, true, per);
        bmm.balance = Some(BalanceSection { gamma: 0.0, direction: dir, label_weight: lw, ..BalanceSection::default() });
        let mm = mixup(MixupMethod::Mm, alpha, true, per);
        let r = contribution::relative(&c[..modalities]);
        let pb = plan::plan(plan::draw(seed, step, 0, n, &bmm).unwrap(), modalities, &bmm, Some(&r));
        let pm = plan::plan(plan::draw(seed, step, 0, n, &mm).unwrap(), modalities, &mm, None);
        prop_assert_eq!(pb, pm);
    }

    #[test]
    fn bmm_with_equal_contributions_equals_folded_mm_exactly(
        seed in any::<u64>(), step in 0u64..10_000, n in 1usize..40, modalities in 2usize..5,
        c in 0.0f64..3.0, gamma in 0.0f64..4.0, dir in direction(), lw in label_weight()
    ) {
        let mut bmm = mixup(MixupMethod::Bmm, 0.4, true, LambdaPer::Sample);
        bmm.balance = Some(BalanceSection { gamma, direction: dir, label_weight: lw, ..BalanceSection::default() });
        let mm = mixup(MixupMethod::Mm, 0.4, true, LambdaPer::Sample);
        let r = contribution::relative(&vec![c; modalities]);
        let pb = plan::plan(plan::draw(seed, step, 0, n, &bmm).unwrap(), modalities, &bmm, Some(&r));
        let pm = plan::plan(plan::draw(seed, step, 0, n, &mm).unwrap(), modalities, &mm, None);
        prop_assert_eq!(pb, pm);
    }

    #[test]
    fn dominant_more_mixes_the_higher_contribution_at_least_as_much(
        lam in 0.5f32..=1.0, c in prop::collection::vec(0.0f64..5.0, 2..5), gamma in 0.0f64..4.0
    ) {
        let r = contribution::relative(&c);
        let dm = balanced::modality_lambdas(lam, &r, gamma, Direction::DominantMore);
        let wm = balanced::modality_lambdas(lam, &r, gamma, Direction::WeakMore);
        for a in 0..r.len() {
            for b in 0..r.len() {
                if r[a] > r[b] {
                    prop_assert!(dm[a] <= dm[b], "dominant-more: r {:?} λ {:?}", r, dm);
                    prop_assert!(wm[a] >= wm[b], "weak-more: r {:?} λ {:?}", r, wm);
                }
            }
        }
    }

    #[test]
    fn relative_contributions_have_mean_one(c in prop::collection::vec(0.0f64..10.0, 1..5)) {
        let r = contribution::relative(&c);
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        prop_assert!((mean - 1.0).abs() < 1e-12, "mean {}", mean);
        prop_assert!(r.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn label_weights_are_nonnegative_and_sum_to_one(c in prop::collection::vec(0.0f64..10.0, 1..5), lw in label_weight()) {
        let w = balanced::label_weights(&contribution::relative(&c), lw);
        prop_assert!(w.iter().all(|v| *v >= 0.0));
        prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn zero_or_nan_contributions_never_produce_nan_ratios(
        kinds in prop::collection::vec(0u8..4, 2..5), lam in 0.5f32..=1.0, gamma in 0.0f64..4.0, dir in direction(), lw in label_weight()
    ) {
        // Each contribution is 0, NaN, +inf or −1: all are guarded to ε, so r = 1 and B-MM = MM.
        let c: Vec<f64> = kinds.iter().map(|k| [0.0, f64::NAN, f64::INFINITY, -1.0][*k as usize]).collect();
        let mut ema = contribution::ContributionEma::new(0.9);
        let smoothed = ema.update(&c).to_vec();
        let r = contribution::relative(&smoothed);
        prop_assert!(r.iter().all(|v| *v == 1.0), "r {:?}", r);
        let lm = balanced::modality_lambdas(lam, &r, gamma, dir);
        let ly = balanced::label_lambda(&lm, &balanced::label_weights(&r, lw));
        prop_assert!(lm.iter().all(|v| *v == lam) && ly == lam);
    }

    #[test]
    fn mix_plan_is_a_pure_function_of_seed_and_step(
        seed in any::<u64>(), step in 0u64..100_000, n in 1usize..40, other_draws in 0usize..1000, per in per()
    ) {
        let cfg = mixup(MixupMethod::Mm, 0.4, false, per);
        let first = plan::draw(seed, step, 0, n, &cfg);
        // Use other streams (and the mixup stream of other steps) in between.
        let mut shuffle = stream(seed, Stream::Shuffle, 0);
        let mut noise = stream(seed, Stream::Noise, step);
        for _ in 0..other_draws { shuffle.next_u64(); noise.next_u64(); }
        let _ = plan::draw(seed, step + 1, 0, n, &cfg);
        prop_assert_eq!(first, plan::draw(seed, step, 0, n, &cfg));
    }

    #[test]
    fn ogm_coefficients_lie_in_zero_one_and_are_one_when_rho_at_most_one(
        s in prop::collection::vec(0.0f64..64.0, 1..5), alpha in 0.0f64..5.0, continuous in any::<bool>()
    ) {
        let variant = if continuous { OgmVariant::Continuous } else { OgmVariant::Published };
        let k = ogm::coefficients(&s, alpha, variant);
        let m = s.len();
        for i in 0..m {
            prop_assert!(k[i] > 0.0 && k[i] <= 1.0, "k {:?}", k);
            let others: f64 = s.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, v)| v.max(1e-12)).sum::<f64>() / (m.max(2) - 1) as f64;
            if m == 1 || s[i].max(1e-12) <= others { prop_assert_eq!(k[i], 1.0); }
        }
    }

    #[test]
    fn ogm_coefficient_decreases_as_rho_grows(s_other in 0.1f64..32.0, a in 1.0f64..8.0, b in 1.0f64..8.0, alpha in 0.01f64..3.0, continuous in any::<bool>()) {
        let variant = if continuous { OgmVariant::Continuous } else { OgmVariant::Published };
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let k_lo = ogm::coefficients(&[s_other * lo, s_other], alpha, variant)[0];
        let k_hi = ogm::coefficients(&[s_other * hi, s_other], alpha, variant)[0];
        prop_assert!(k_hi <= k_lo, "ρ {} → k {}, ρ {} → k {}", lo, k_lo, hi, k_hi);
    }
}

/// MM at the fused point equals MM at the encoder outputs for concat fusion: mixing rows of
/// [z_a, z_b] is mixing the rows of z_a and z_b with the same λ — bit for bit on tensors.
#[test]
fn mm_at_fused_equals_mm_at_encoder_for_concat_fusion() {
    use dfdx::prelude::*;
    proptest!(ProptestConfig { cases: 256, ..ProptestConfig::default() }, |(
        (n, da, xa, p, l) in batch(), db in 1usize..9, seed in any::<u64>()
    )| {
        let dev: Cpu = Default::default();
        let mut rng = stream(seed, Stream::Synthetic, 1);
        let xb: Vec<f32> = (0..n * db).map(|_| (rng.next_u32() % 2000) as f32 / 10.0 - 100.0).collect();
        let perm = dev.tensor_from_vec(p.clone(), (n,));
        let t = dev.tensor_from_vec(l.iter().map(|v| 1.0 - v).collect::<Vec<f32>>(), (n,));
        let za = dev.tensor_from_vec(xa.clone(), (n, da));
        let zb = dev.tensor_from_vec(xb.clone(), (n, db));
        let fused = balmix::model::layers::mix_rows((za.clone(), zb.clone()).concat_along(Axis::<1>), &perm, &t);
        let encoder = (balmix::model::layers::mix_rows(za, &perm, &t), balmix::model::layers::mix_rows(zb, &perm, &t)).concat_along(Axis::<1>);
        prop_assert_eq!(fused.as_vec(), encoder.as_vec());
    });
}

/// The first steps of a mix plan for a fixed seed: seed 0, batch 6, B-MM defaults with
/// relative contributions r = (0.8, 1.2). Values come from this harness's own streams.
#[test]
fn first_mix_plans_for_a_fixed_seed_match_snapshot() {
    let cfg = mixup(MixupMethod::Bmm, 0.4, true, LambdaPer::Sample);
    let r = [0.8, 1.2];
    let mut lines = vec!["step,sample,partner,lambda_label,lambda_audio,lambda_visual".to_string()];
    for step in 0..3 {
        let p = plan::plan(plan::draw(0, step, 0, 6, &cfg).unwrap(), 2, &cfg, Some(&r));
        for i in 0..6 {
            lines.push(format!(
                "{step},{i},{},{:.6},{:.6},{:.6}",
                p.perm[i], p.label[i], p.modality[0][i], p.modality[1][i]
            ));
        }
    }
    crate::snapshot!("mix_plan__seed0_first_steps", lines.join("\n"));
}
