//! Property tests of the mixup invariants (docs/methods.md §1). Each test's name states its invariant.
//! Shapes cover batch sizes from 1 (and odd ones), 1–4 modalities, 2–12 classes.

use balmix::mixup::config::MixKind;
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
    fn reporting_cross_entropy_of_mixed_labels_is_lambda_weighted_own_plus_partner(
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

    /// The loss training minimises (src/train/trainer.rs: dfdx's `cross_entropy_with_logits_loss`
    /// of the head's logits against `mix::mix_labels`): per row and for the batch mean.
    #[test]
    fn training_loss_of_mixed_labels_is_lambda_weighted_own_plus_partner(
        (n, _d, _x, p, l) in batch(), k in 2usize..12, logits in prop::collection::vec(-20f32..20f32, 40 * 12)
    ) {
        let z = &logits[..n * k];
        let y: Vec<usize> = (0..n).map(|i| (i * 5 + 1) % k).collect();
        let targets = mix::mix_labels(&y, k, &p, &l);
        let own = mix::one_hot(&y, k);
        let partner_y: Vec<usize> = p.iter().map(|&j| y[j]).collect();
        let partner = mix::one_hot(&partner_y, k);
        let row = |t: &[f32], i: usize| training_loss(&z[i * k..(i + 1) * k], &t[i * k..(i + 1) * k], 1, k);
        let mut expected_mean = 0.0;
        for (i, &li) in l.iter().enumerate() {
            let expected = li as f64 * row(&own, i) + (1.0 - li as f64) * row(&partner, i);
            let got = row(&targets, i);
            prop_assert!((got - expected).abs() <= 1e-5 * expected.abs().max(1.0), "row {}: {} vs {}", i, got, expected);
            expected_mean += expected / n as f64;
        }
        let mean = training_loss(z, &targets, n, k);
        prop_assert!((mean - expected_mean).abs() <= 1e-5 * expected_mean.abs().max(1.0), "{} vs {}", mean, expected_mean);
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
        let pb = plan::plan(plan::draw(seed, step, 0, n, &bmm.draw()).unwrap(), modalities, bmm.balance.as_ref(), Some(&r));
        let pm = plan::plan(plan::draw(seed, step, 0, n, &mm.draw()).unwrap(), modalities, None, None);
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
        let pb = plan::plan(plan::draw(seed, step, 0, n, &bmm.draw()).unwrap(), modalities, bmm.balance.as_ref(), Some(&r));
        let pm = plan::plan(plan::draw(seed, step, 0, n, &mm.draw()).unwrap(), modalities, None, None);
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

    /// The draws of a step do not depend on what ran before: between two draws of the same
    /// step, the crate's own users of the other streams run — a model is initialised (init),
    /// an epoch order shuffled (shuffle), a dataset split (split), OGM-GE noise drawn (noise)
    /// — and other steps are drawn.
    #[test]
    fn mix_plan_is_a_pure_function_of_seed_and_step(
        seed in any::<u64>(), step in 0u64..100_000, n in 1usize..40, per in per(), other_steps in prop::collection::vec(0u64..100_000, 0..4)
    ) {
        let cfg = mixup(MixupMethod::Mm, 0.4, false, per);
        let first = plan::draw(seed, step, 0, n, &cfg.draw());
        other_stream_users(seed, step);
        for s in other_steps { let _ = plan::draw(seed, s, 0, n, &cfg.draw()); }
        prop_assert_eq!(first, plan::draw(seed, step, 0, n, &cfg.draw()));
    }

    #[test]
    fn ogm_k_lies_in_zero_one_and_is_one_exactly_when_rho_at_most_one(
        s in prop::collection::vec(1e-3f64..64.0, 1..6), alpha in 0.0f64..5.0, v in variant()
    ) {
        let k = ogm::coefficients(&s, alpha, v);
        for (m, rho) in rho_of(&s).into_iter().enumerate() {
            prop_assert!(k[m] > 0.0 && k[m] <= 1.0, "k {:?}", k);
            let x = match v { OgmVariant::Published => alpha * rho, OgmVariant::Continuous => alpha * (rho - 1.0) };
            if s.len() == 1 || (rho <= 1.0 && !(v == OgmVariant::Published && published_tie(&s, m))) {
                prop_assert_eq!(k[m], 1.0, "ρ_{} = {}", m, rho);
            } else if x > 1e-6 {
                prop_assert!(k[m] < 1.0, "ρ_{} = {} > 1 but k = 1", m, rho);
            }
        }
    }

    /// Every modality index, 2–5 modalities, ρ on both sides of 1: `published` is
    /// 1 − tanh(α ρ) and `continuous` is 1 − tanh(α (ρ − 1)) above 1, both 1 at or below —
    /// except the released code's tie rule (see `published_tie`).
    #[test]
    fn ogm_k_is_the_published_or_continuous_formula_of_rho_for_every_modality(
        s in prop::collection::vec(1e-3f64..64.0, 2..6), alpha in 0.0f64..3.0
    ) {
        let published = ogm::coefficients(&s, alpha, OgmVariant::Published);
        let continuous = ogm::coefficients(&s, alpha, OgmVariant::Continuous);
        for (m, rho) in rho_of(&s).into_iter().enumerate() {
            let p = if rho > 1.0 || published_tie(&s, m) { 1.0 - (alpha * rho).tanh() } else { 1.0 };
            let c = if rho > 1.0 { 1.0 - (alpha * (rho - 1.0)).tanh() } else { 1.0 };
            prop_assert!((published[m] - p).abs() <= 1e-12 + 1e-9 * p, "published k_{} = {} vs {} (ρ {})", m, published[m], p, rho);
            prop_assert!((continuous[m] - c).abs() <= 1e-12 + 1e-9 * c, "continuous k_{} = {} vs {} (ρ {})", m, continuous[m], c, rho);
        }
    }

    /// The two variants differ exactly where ρ > 1: published jumps to 1 − tanh(α) just above
    /// ρ = 1 and stays strictly below continuous, which starts at 1.
    #[test]
    fn ogm_published_is_strictly_below_continuous_when_rho_above_one(
        s in prop::collection::vec(1e-3f64..64.0, 2..6), alpha in 0.05f64..3.0, m in 0usize..5, eps in 1e-9f64..1e-6
    ) {
        let published = ogm::coefficients(&s, alpha, OgmVariant::Published);
        let continuous = ogm::coefficients(&s, alpha, OgmVariant::Continuous);
        for (i, rho) in rho_of(&s).into_iter().enumerate() {
            if rho > 1.0 && continuous[i] > 1e-300 {
                prop_assert!(published[i] < continuous[i], "ρ_{} = {}: {} vs {}", i, rho, published[i], continuous[i]);
            } else if rho > 1.0 {
                // Both at the floor (the smallest positive f64): α (ρ − 1) > ~350.
                prop_assert!(published[i] <= continuous[i], "ρ_{} = {}: {} vs {}", i, rho, published[i], continuous[i]);
            } else if published_tie(&s, i) {
                prop_assert!(published[i] <= continuous[i]);
            } else {
                prop_assert_eq!(published[i], continuous[i]);
            }
        }
        // Just above ρ = 1 at modality m: the jump.
        let mut s = s;
        let m = m % s.len();
        let others = (s.iter().sum::<f64>() - s[m]) / (s.len() - 1) as f64;
        s[m] = others * (1.0 + eps);
        let p = ogm::coefficients(&s, alpha, OgmVariant::Published)[m];
        let c = ogm::coefficients(&s, alpha, OgmVariant::Continuous)[m];
        prop_assert!((p - (1.0 - alpha.tanh())).abs() < 1e-5, "published just above 1: {}", p);
        prop_assert!(c > 1.0 - 1e-5, "continuous just above 1: {}", c);
    }

    #[test]
    fn ogm_k_of_a_modality_does_not_increase_as_its_rho_grows(
        s in prop::collection::vec(0.1f64..32.0, 2..5), m in 0usize..4, a in 0.1f64..8.0, b in 0.1f64..8.0, alpha in 0.01f64..3.0, v in variant()
    ) {
        // ρ_m = a or b by setting s_m to a or b times the mean of the others.
        let m = m % s.len();
        let others = (s.iter().sum::<f64>() - s[m]) / (s.len() - 1) as f64;
        let k_at = |rho: f64| { let mut t = s.clone(); t[m] = rho * others; ogm::coefficients(&t, alpha, v)[m] };
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(k_at(hi) <= k_at(lo), "ρ {} → k {}, ρ {} → k {}", lo, k_at(lo), hi, k_at(hi));
    }
}

fn variant() -> impl Strategy<Value = OgmVariant> {
    prop_oneof![Just(OgmVariant::Published), Just(OgmVariant::Continuous)]
}

/// ρ_m = s_m / mean_{k≠m} s_k, computed here independently of the crate.
/// The released OGM-GE code's tie rule: with two modalities of exactly equal scores, the first
/// (audio in the released code) is still modulated under `published`.
fn published_tie(s: &[f64], m: usize) -> bool {
    s.len() == 2 && s[0] == s[1] && m == 0
}

#[test]
fn ogm_published_modulates_the_first_modality_at_an_exact_tie_as_the_released_code_does() {
    let alpha = 0.8;
    let published = ogm::coefficients(&[2.5, 2.5], alpha, OgmVariant::Published);
    assert!(
        (published[0] - (1.0 - f64::tanh(alpha))).abs() < 1e-15,
        "{published:?}"
    );
    assert_eq!(published[1], 1.0);
    assert_eq!(
        ogm::coefficients(&[2.5, 2.5], alpha, OgmVariant::Continuous),
        vec![1.0, 1.0]
    );
    // Three modalities have no released rule: equal scores modulate none.
    assert_eq!(
        ogm::coefficients(&[1.0, 1.0, 1.0], alpha, OgmVariant::Published),
        vec![1.0; 3]
    );
}

fn rho_of(s: &[f64]) -> Vec<f64> {
    (0..s.len())
        .map(|m| {
            let others: Vec<f64> = s
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != m)
                .map(|(_, v)| *v)
                .collect();
            if others.is_empty() {
                1.0
            } else {
                s[m] / (others.iter().sum::<f64>() / others.len() as f64)
            }
        })
        .collect()
}

/// The loss the trainer minimises: dfdx's soft-target cross-entropy, mean over `n` rows.
fn training_loss(logits: &[f32], targets: &[f32], n: usize, k: usize) -> f64 {
    use dfdx::prelude::*;
    let dev: Cpu = Default::default();
    let loss = cross_entropy_with_logits_loss(
        dev.tensor_from_vec(logits.to_vec(), (n, k)),
        dev.tensor_from_vec(targets.to_vec(), (n, k)),
    );
    loss.as_vec()[0] as f64
}

/// The crate's own users of the streams other than `mixup`, as training runs them.
fn other_stream_users(seed: u64, step: u64) {
    use rand::seq::SliceRandom;
    let recipe = crate::common::recipe("tiny-ogm-film.toml", &[]);
    let model: balmix::model::Model = balmix::model::Model::build(
        &recipe.model_settings(),
        &[6, 4],
        3,
        seed,
        Default::default(),
    );
    let mut order: Vec<usize> = (0..50).collect();
    order.shuffle(&mut stream(seed, Stream::Shuffle, step));
    let data = crate::reference_values::literal_dataset(
        &["audio", "visual"],
        &[
            (0..12).map(|i| vec![i as f32; 6]).collect(),
            (0..12).map(|i| vec![-(i as f32); 4]).collect(),
        ],
        &(0..12).map(|i| i % 3).collect::<Vec<_>>(),
        3,
    );
    let _ =
        balmix::data::split::stratified(&data, 0.25, 0.0, balmix::data::split::ValBy::Group, seed);
    let mut grads = dfdx::tensor::Gradients::leaky();
    for p in &model.store.params {
        balmix::optim::optimizer::edit_grad(&model.store.dev, &mut grads, &p.tensor, &mut |g| {
            g.fill(0.5)
        });
    }
    let u = vec![vec![2.0f32, 0.0, 0.0, 0.0, 2.0, 0.0], vec![0.0f32; 6]];
    let balmix::recipe::typed::Modulation::OgmGe(cfg) = recipe.modulation() else {
        panic!("tiny-ogm-film.toml sets OGM-GE");
    };
    balmix::method::ogm_ge::modulate(cfg, &model, &mut grads, &u, &[0, 1], (seed, step, 0));
}

/// Mixed batches as the plan draws them: with probability p, a batch of 4000 steps is mixed
/// about 4000·p times — within 5 binomial standard deviations (a correct draw fails with
/// probability < 1e-6) — never for p = 0 and always for p = 1.
#[test]
fn fraction_of_mixed_batches_matches_mixup_probability() {
    let steps = 4000u64;
    for (seed, p) in [(1u64, 0.0), (2, 0.1), (3, 0.25), (4, 0.7), (5, 1.0)] {
        let cfg = MixupSection {
            probability: p,
            ..mixup(MixupMethod::Mm, 0.4, false, LambdaPer::Sample)
        };
        let mixed = (0..steps)
            .filter(|&s| plan::draw(seed, s, 0, 8, &cfg.draw()).is_some())
            .count() as f64;
        let (mean, sd) = (steps as f64 * p, (steps as f64 * p * (1.0 - p)).sqrt());
        assert!(
            (mixed - mean).abs() <= 5.0 * sd,
            "p = {p}: {mixed} of {steps} batches mixed"
        );
    }
}

/// The epoch window [start, stop) of `mixup.epochs`: no batch is mixed before or after it,
/// every batch (probability 1) inside it.
#[test]
fn no_batch_is_mixed_outside_the_epoch_window_and_every_batch_inside() {
    use balmix::recipe::file::EpochWindow;
    for method in [MixupMethod::Input, MixupMethod::Mm, MixupMethod::Bmm] {
        let cfg = MixupSection {
            epochs: Some(EpochWindow { start: 2, stop: 5 }),
            ..mixup(method, 0.4, true, LambdaPer::Sample)
        };
        for epoch in 0..8 {
            for step in 0..200u64 {
                let step = epoch as u64 * 200 + step;
                let mixed = plan::draw(9, step, epoch, 6, &cfg.draw()).is_some();
                assert_eq!(
                    mixed,
                    (2..5).contains(&epoch),
                    "{method:?}: epoch {epoch}, step {step}"
                );
            }
        }
    }
}

/// A run's mix-plan trace (what the trainer really mixed) for every step equals the pure
/// function `plan::draw(seed, step, epoch)` (and, for B-MM, `plan::plan` of the traced EMA)
/// while training uses the init, shuffle and noise (OGM-GE) streams in between — and nothing is
/// mixed outside the epoch window, some batches inside are not (probability 0.6).
#[test]
fn training_mixes_exactly_the_batches_and_pairs_the_pure_draws_select() {
    use balmix::mixup::contribution;
    use balmix::train::trace::MixTrace;
    use balmix::train::trainer::Trainer;
    let (n_train, batch) = (32usize, 8usize);
    let data = crate::reference_values::literal_dataset(
        &["audio", "visual"],
        &[
            (0..40)
                .map(|i| {
                    (0..6)
                        .map(|j| ((i * 7 + j * 3) as f32 * 0.61).sin())
                        .collect()
                })
                .collect(),
            (0..40)
                .map(|i| {
                    (0..4)
                        .map(|j| ((i * 5 + j * 11) as f32 * 0.37).cos())
                        .collect()
                })
                .collect(),
        ],
        &(0..40).map(|i| i % 3).collect::<Vec<_>>(),
        3,
    );
    let splits = balmix::data::Splits {
        train: (0..n_train).collect(),
        val: vec![],
        test: (n_train..40).collect(),
    };
    let common = [
        "mixup.probability=0.6",
        "mixup.epochs.start=1",
        "mixup.epochs.stop=3",
        "train.epochs=4",
        "train.batch_size=8",
        "model.encoders.audio.hidden=[8]",
        "model.encoders.audio.out=4",
        "model.encoders.visual.hidden=[8]",
        "model.encoders.visual.out=4",
    ];
    for (name, sets) in [
        (
            "tiny-ogm-film.toml",
            vec!["mixup.method=mm", "mixup.alpha=0.4"],
        ),
        ("tiny-bmm.toml", vec!["mixup.balance.gamma=2"]),
    ] {
        let recipe = crate::common::recipe(name, &[&common[..], &sets[..]].concat());
        let seed = 21;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("trace.csv");
        let names = vec!["audio".to_string(), "visual".to_string()];
        let mut trainer =
            Trainer::new(&recipe, seed, &data, &splits, dfdx::prelude::Cpu::default())
                .expect("the data reads");
        trainer.trace = Some(MixTrace::create(&path, &names).unwrap());
        for _ in 0..recipe.train().epochs {
            trainer.run_epoch(&mut |_| {}).expect("an epoch");
        }
        trainer.trace.take().unwrap().flush().unwrap();

        let mut reader = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let steps = (n_train / batch) * recipe.train().epochs;
        let (mut mixed_in, mut unmixed_in) = (0, 0);
        for step in 0..steps {
            let epoch = step / (n_train / batch);
            let at = |kind: &str| {
                rows.iter()
                    .filter(|r| &r[0] == kind && r[2] == step.to_string())
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let samples = at("sample");
            assert_eq!(samples.len(), batch, "{name}: step {step}");
            let ema: Vec<f64> = at("step")[0]
                .iter()
                .skip(6 + 2 * names.len())
                .filter(|c| !c.is_empty())
                .map(|c| c.parse().unwrap())
                .collect();
            match plan::draw(seed, step as u64, epoch, batch, &recipe.mixer().draw) {
                Some(draws) => {
                    assert!(
                        (1..3).contains(&epoch),
                        "{name}: step {step} of epoch {epoch} mixed"
                    );
                    mixed_in += 1;
                    let r = (!ema.is_empty()).then(|| contribution::relative(&ema));
                    let p = plan::plan(
                        draws,
                        names.len(),
                        match &recipe.mixer().kind {
                            MixKind::Bmm(balance) => Some(balance),
                            _ => None,
                        },
                        r.as_deref(),
                    );
                    for (i, row) in samples.iter().enumerate() {
                        assert_eq!(
                            row[4].parse::<usize>().unwrap(),
                            p.perm[i],
                            "{name}: step {step} π({i})"
                        );
                        assert_eq!(
                            row[5].parse::<f32>().unwrap(),
                            p.label[i],
                            "{name}: step {step} λ_y"
                        );
                        for m in 0..names.len() {
                            assert_eq!(
                                row[6 + m].parse::<f32>().unwrap(),
                                p.modality[m][i],
                                "{name}: step {step} λ_{m}"
                            );
                        }
                    }
                }
                None => {
                    unmixed_in += usize::from((1..3).contains(&epoch));
                    for (i, row) in samples.iter().enumerate() {
                        assert_eq!(
                            row[4].parse::<usize>().unwrap(),
                            i,
                            "{name}: step {step} unmixed"
                        );
                        assert_eq!(&row[5], "1", "{name}: step {step} unmixed");
                    }
                }
            }
        }
        assert!(
            mixed_in > 0 && unmixed_in > 0,
            "{name}: {mixed_in} mixed, {unmixed_in} unmixed in the window"
        );
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
        let p = plan::plan(
            plan::draw(0, step, 0, 6, &cfg.draw()).unwrap(),
            2,
            cfg.balance.as_ref(),
            Some(&r),
        );
        for i in 0..6 {
            lines.push(format!(
                "{step},{i},{},{:.6},{:.6},{:.6}",
                p.perm[i], p.label[i], p.modality[0][i], p.modality[1][i]
            ));
        }
    }
    crate::snapshot!("mix_plan__seed0_first_steps", lines.join("\n"));
}
