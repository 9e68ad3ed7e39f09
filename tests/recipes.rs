//! Recipes: every shipped recipe resolves (snapshotted), and every bad-recipe rule gives its
//! own clear message (snapshotted), naming the file, the key and the rule.

use crate::common::fixture;
use crate::snapshot;
use balmix::recipe::{Recipe, RecipeError};
use std::path::{Path, PathBuf};

fn shipped_recipes() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("recipes folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if !path.ends_with("tables") {
                    stack.push(path); // tables/ holds table files, not recipes
                }
            } else if path.extension().is_some_and(|e| e == "toml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_shipped_recipe_resolves_to_its_snapshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recipes = shipped_recipes();
    assert!(
        recipes.len() >= 15,
        "expected the shipped recipes, found {}",
        recipes.len()
    );
    for path in recipes {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let recipe = Recipe::load(&path, &[]).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let name = format!(
            "recipe__{}",
            rel.trim_end_matches(".toml").replace('/', "__")
        );
        snapshot!(name, recipe.to_toml());
    }
}

/// `balmix keys` lists every key: each key of every shipped recipe, fully resolved (every
/// default written out), and of the resolved tiny-resnet and media fixtures, is in the list
/// built from the recipe types' doc comments, and every listed key has a meaning.
#[test]
fn every_resolved_key_of_every_shipped_recipe_is_documented_by_balmix_keys() {
    fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(path.clone());
                flatten(&path, v, out);
            }
        }
    }
    let keys = balmix::recipe::keys::keys();
    for k in &keys {
        assert!(
            !k.meaning.is_empty() || !k.default.is_empty(),
            "{k:?} has no documentation"
        );
    }
    let mut recipes = shipped_recipes();
    recipes.push(fixture("tiny-resnet.toml"));
    let mut seen = 0;
    for path in recipes {
        let recipe = Recipe::load(&path, &[]).unwrap();
        let value: toml::Value = toml::from_str(&recipe.to_toml()).unwrap();
        let mut paths = Vec::new();
        flatten("", &value, &mut paths);
        for p in paths {
            assert!(
                balmix::recipe::keys::is_listed(&p, &keys),
                "{}: key `{p}` is not listed by `balmix keys`",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 1000, "{seen} keys checked");
}

#[test]
fn yaml_recipe_extending_toml_resolves_like_toml() {
    let yaml = Recipe::load(&fixture("yaml-recipe.yaml"), &[]).unwrap();
    let toml = Recipe::load(
        &fixture("tiny.toml"),
        &[
            "name=tiny-yaml".into(),
            "mixup.method=mm".into(),
            "mixup.alpha=0.2".into(),
        ],
    )
    .unwrap();
    assert_eq!(yaml.to_toml(), toml.to_toml());
}

#[test]
fn set_overrides_win_over_files_and_parse_toml_values() {
    let r = Recipe::load(
        &fixture("tiny.toml"),
        &[
            "train.epochs=7".into(),
            "seeds=[3, 4]".into(),
            "mixup.method=mm".into(),
        ],
    )
    .unwrap();
    assert_eq!(r.train().epochs, 7);
    assert_eq!(r.seeds(), &[3, 4]);
    assert_eq!(
        r.mixer().draw.epochs.unwrap().stop,
        7,
        "window default follows the overridden epochs"
    );
}

/// The resolved recipe as written out (`balmix check`, a run's `recipe.toml`), read back the
/// way a recipe file is read (`[method]` by its kind).
fn written(r: &Recipe) -> balmix::recipe::file::RecipeFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolved.toml");
    std::fs::write(&path, r.to_toml()).unwrap();
    let layers = balmix::recipe::load::load(&path, &[]).expect("a resolved recipe reads back");
    layers.extract().expect("a resolved recipe reads back")
}

#[test]
fn unused_encoders_are_dropped_from_the_resolved_recipe() {
    let r = Recipe::load(
        &fixture("tiny.toml"),
        &["dataset.modalities=[\"visual\"]".into()],
    )
    .unwrap();
    assert_eq!(
        written(&r).model.encoders.keys().collect::<Vec<_>>(),
        vec!["visual"]
    );
    assert_eq!(r.model().encoders.len(), 1);
}

#[test]
fn result_hash_ignores_threads_but_not_results_keys() {
    let a = Recipe::load(&fixture("tiny.toml"), &[]).unwrap();
    let b = Recipe::load(&fixture("tiny.toml"), &["train.threads=2".into()]).unwrap();
    let c = Recipe::load(&fixture("tiny.toml"), &["optim.lr=0.02".into()]).unwrap();
    assert_eq!(a.result_hash(), b.result_hash());
    assert_ne!(a.result_hash(), c.result_hash());
}

fn error_of(file: &str, sets: &[&str]) -> RecipeError {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    // Paths in messages are shown relative to the working directory (the crate root in tests).
    let rel = Path::new("tests/fixtures/recipes").join(file);
    match Recipe::load(&rel, &sets) {
        Ok(_) => panic!("{file} should be rejected"),
        Err(e) => e,
    }
}

/// One test per rule: the variant is the rule, the snapshot is the message a user reads.
macro_rules! bad_recipe {
    ($test:ident, $file:expr, $sets:expr, $variant:pat) => {
        #[test]
        fn $test() {
            let err = error_of($file, $sets);
            assert!(
                matches!(err, $variant),
                "{}: unexpected variant {err:?}",
                $file
            );
            snapshot!(concat!("bad_recipe__", stringify!($test)), err.to_string());
        }
    };
}

bad_recipe!(
    unknown_key_is_rejected,
    "unknown-key.toml",
    &[],
    RecipeError::UnknownKey { .. }
);
bad_recipe!(
    wrong_type_is_rejected,
    "wrong-type.toml",
    &[],
    RecipeError::WrongType { .. }
);
bad_recipe!(
    non_positive_alpha_is_rejected,
    "alpha-not-positive.toml",
    &[],
    RecipeError::NotPositive { .. }
);
bad_recipe!(
    missing_extends_file_is_rejected,
    "missing-extends.toml",
    &[],
    RecipeError::MissingFile { .. }
);
bad_recipe!(
    missing_recipe_file_is_rejected,
    "no-such-recipe.toml",
    &[],
    RecipeError::MissingFile { .. }
);
bad_recipe!(
    extends_cycle_is_rejected,
    "cycle-a.toml",
    &[],
    RecipeError::ExtendsCycle { .. }
);
bad_recipe!(
    unknown_modality_is_rejected,
    "unknown-modality.toml",
    &[],
    RecipeError::UnknownModality { .. }
);
bad_recipe!(
    decompose_with_film_is_rejected,
    "decompose-with-film.toml",
    &[],
    RecipeError::DecomposeNeedsLinearFusion { .. }
);
bad_recipe!(
    unknown_fusion_is_rejected,
    "unknown-fusion.toml",
    &[],
    RecipeError::UnknownVariant { .. }
);
bad_recipe!(
    missing_section_is_rejected,
    "missing-dataset.toml",
    &[],
    RecipeError::MissingKey { .. }
);
bad_recipe!(
    unknown_manifest_suggests_close_names,
    "unknown-manifest.toml",
    &[],
    RecipeError::UnknownManifest { .. }
);
bad_recipe!(
    best_val_without_val_split_is_rejected,
    "best-val-without-val.toml",
    &[],
    RecipeError::BestValWithoutVal { .. }
);
bad_recipe!(
    sum_fusion_with_unequal_widths_is_rejected,
    "sum-width-mismatch.toml",
    &[],
    RecipeError::SumWidthMismatch { .. }
);
bad_recipe!(
    adam_key_on_sgd_is_rejected,
    "betas-with-sgd.toml",
    &[],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    probability_outside_unit_interval_is_rejected,
    "probability-out-of-range.toml",
    &[],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    negative_gamma_is_rejected,
    "gamma-negative.toml",
    &[],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    ema_of_one_is_rejected,
    "ema-out-of-range.toml",
    &[],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    bmm_without_fold_is_rejected,
    "bmm-without-fold.toml",
    &[],
    RecipeError::BmmWithoutFold { .. }
);
bad_recipe!(
    bmm_with_one_modality_is_rejected,
    "bmm-one-modality.toml",
    &[],
    RecipeError::BmmNeedsModalities { .. }
);
bad_recipe!(
    epoch_window_outside_training_is_rejected,
    "window-outside-epochs.toml",
    &[],
    RecipeError::EpochWindow { .. }
);
bad_recipe!(
    balance_without_bmm_is_rejected,
    "balance-without-bmm.toml",
    &[],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    split_leaving_no_training_data_is_rejected,
    "split-too-large.toml",
    &[],
    RecipeError::SplitTooLarge { .. }
);
bad_recipe!(
    unsupported_format_is_rejected,
    "unsupported-format.json",
    &[],
    RecipeError::UnsupportedFormat { .. }
);
bad_recipe!(
    bad_set_value_names_the_set_argument,
    "tiny.toml",
    &["mixup.alpha=-1", "mixup.method=mm"],
    RecipeError::NotPositive { .. }
);
bad_recipe!(
    malformed_set_argument_is_rejected,
    "tiny.toml",
    &["mixup.alpha"],
    RecipeError::BadSetArgument { .. }
);
bad_recipe!(
    ogm_with_one_modality_is_rejected,
    "tiny-ogm-film.toml",
    &["dataset.modalities=[\"audio\"]", "model.fusion.kind=concat"],
    RecipeError::OgmNeedsModalities { .. }
);
bad_recipe!(
    duplicate_seed_is_rejected,
    "tiny.toml",
    &["seeds=[1, 2, 1]"],
    RecipeError::DuplicateSeed { .. }
);
bad_recipe!(
    fusion_arity_is_checked,
    "tiny.toml",
    &["model.fusion.kind=gated", "dataset.modalities=[\"audio\"]"],
    RecipeError::FusionArity { .. }
);
bad_recipe!(
    step_schedule_needs_every,
    "tiny.toml",
    &["optim.schedule.kind=step"],
    RecipeError::KeyRequiredForKind { .. }
);
bad_recipe!(
    zero_epochs_is_rejected,
    "tiny.toml",
    &["train.epochs=0"],
    RecipeError::NotPositive { .. }
);
bad_recipe!(
    conv_on_a_flat_modality_is_rejected,
    "tiny.toml",
    &[
        "model.encoders.audio.kind=conv",
        "model.encoders.audio.channels=[4]"
    ],
    RecipeError::ConvNeedsShape { .. }
);
bad_recipe!(
    conv_with_an_even_kernel_is_rejected,
    "av-conv.toml",
    &["model.encoders.visual.kernel=4"],
    RecipeError::ConvGeometry { .. }
);
bad_recipe!(
    conv_pooling_below_one_pixel_is_rejected,
    "av-conv.toml",
    &["model.encoders.visual.channels=[2, 2, 2, 2, 2, 2]"],
    RecipeError::ConvGeometry { .. }
);
bad_recipe!(
    split_that_empties_a_class_is_rejected,
    "tiny.toml",
    &["dataset.split.test=0.8995"],
    RecipeError::SplitEmptiesClass { .. }
);
bad_recipe!(
    batch_larger_than_the_training_set_is_rejected,
    "tiny.toml",
    &["train.batch_size=100000"],
    RecipeError::BatchLargerThanTrainingSet { .. }
);
bad_recipe!(
    name_leaving_out_is_rejected,
    "tiny.toml",
    &["name=\"../x\""],
    RecipeError::BadName { .. }
);
bad_recipe!(
    extends_of_a_folder_is_rejected,
    "extends-folder.toml",
    &[],
    RecipeError::NotAFile { .. }
);
bad_recipe!(
    unimodal_loss_with_film_is_rejected,
    "tiny.toml",
    &["model.fusion.kind=\"film\"", "losses.unimodal=1.0"],
    RecipeError::UnimodalLossNeedsDecomposableHead { .. }
);
bad_recipe!(
    negative_unimodal_loss_is_rejected,
    "tiny.toml",
    &["losses.unimodal=-1.0"],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    pmr_with_one_modality_is_rejected,
    "tiny.toml",
    &["dataset.modalities=[\"audio\"]", "losses.pmr.alpha=1.0",],
    RecipeError::PmrNeedsTwoModalities { .. }
);
bad_recipe!(
    pmr_momentum_of_one_is_rejected,
    "tiny.toml",
    &["losses.pmr.momentum=1.0"],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    mmpareto_with_mixup_is_rejected,
    "tiny.toml",
    &["method.kind=\"mmpareto\"", "mixup.method=\"mm\""],
    RecipeError::MethodWithStandardParts { .. }
);
bad_recipe!(
    mmpareto_with_the_split_head_of_film_is_rejected,
    "tiny.toml",
    &[
        "method.kind=\"mmpareto\"",
        "method.unimodal_heads=\"split\"",
        "model.fusion.kind=\"film\""
    ],
    RecipeError::MethodNeedsDecomposableHead { .. }
);

/// MMPareto's separate unimodal heads (the released model) need no decomposable fused head.
#[test]
fn mmpareto_with_separate_heads_accepts_any_fusion() {
    let r = crate::common::recipe(
        "tiny.toml",
        &["method.kind=\"mmpareto\"", "model.fusion.kind=\"film\""],
    );
    assert!(matches!(
        r.method(),
        balmix::recipe::typed::Method::Mmpareto(balmix::recipe::typed::MmParetoSettings {
            heads: balmix::recipe::file::MmParetoHeads::Separate,
            ..
        })
    ));
}
bad_recipe!(
    gamma_without_mmpareto_is_rejected,
    "tiny.toml",
    &["method.gamma=2.0"],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    agm_with_one_modality_is_rejected,
    "tiny.toml",
    &["method.kind=\"agm\"", "dataset.modalities=[\"audio\"]"],
    RecipeError::MethodNeedsTwoModalities { .. }
);
bad_recipe!(
    agm_alpha_without_agm_is_rejected,
    "tiny.toml",
    &["method.alpha=1.5"],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    mla_without_a_shared_head_is_rejected,
    "tiny.toml",
    &["method.kind=\"mla\""],
    RecipeError::MlaNeedsSharedHead { .. }
);
bad_recipe!(
    projection_without_mla_is_rejected,
    "tiny.toml",
    &["method.projection=\"add\""],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    conv_weights_without_a_conv_encoder_is_rejected,
    "tiny.toml",
    &[
        "modulation.kind=\"ogm-ge\"",
        "modulation.params=\"conv-weights\""
    ],
    RecipeError::ConvWeightsWithoutConv { .. }
);
bad_recipe!(
    gblending_without_a_validation_split_is_rejected,
    "tiny.toml",
    &["method.kind=\"gblending\"", "dataset.split.val=0.0"],
    RecipeError::MethodNeedsValidation { .. }
);
bad_recipe!(
    relearn_without_a_validation_split_is_rejected,
    "tiny.toml",
    &["method.kind=\"relearn\"", "dataset.split.val=0.0"],
    RecipeError::MethodNeedsValidation { .. }
);
bad_recipe!(
    ume_without_members_is_rejected,
    "tiny.toml",
    &["method.kind=\"ume\""],
    RecipeError::KeyRequiredForKind { .. }
);
bad_recipe!(
    valuation_with_a_part_ratio_above_1_is_rejected,
    "tiny.toml",
    &["method.kind=\"valuation\"", "method.part_ratio=1.5"],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    umt_without_teachers_is_rejected,
    "tiny.toml",
    &["method.kind=\"umt\""],
    RecipeError::KeyRequiredForKind { .. }
);
bad_recipe!(
    umt_with_a_teacher_per_modality_missing_is_rejected,
    "tiny.toml",
    &[
        "method.kind=\"umt\"",
        "method.teachers=[\"unimodal-audio\"]"
    ],
    RecipeError::OnePerModality { .. }
);
bad_recipe!(
    super_epoch_without_gblending_is_rejected,
    "tiny.toml",
    &["method.super_epoch=5"],
    RecipeError::KeyNotForKind { .. }
);

/// The typed choices the engine reads (`balmix::recipe::typed`) are exactly what the resolved
/// recipe records: every kind-specific key of the chosen kind is written out with the value the
/// engine uses, so a run's `recipe.resolved.toml` says what it ran. Checked on every shipped
/// recipe and on one recipe per optimiser, schedule, fusion, mixer, modulation and method kind.
#[test]
fn typed_choices_agree_with_the_recorded_recipe() {
    use balmix::recipe::file::{
        FusionKind, MethodSection, MixupMethod, ModulationSection, OptimKind,
    };
    use balmix::recipe::typed::{Fusion, Method, MixKind, Modulation, ScheduleShape, UpdateRule};
    let variants: &[&[&str]] = &[
        &[],
        &["optim.kind=adam"],
        &[
            "optim.kind=adamw",
            "optim.eps=1e-6",
            "optim.betas=[0.5, 0.9]",
        ],
        &["optim.schedule.kind=step", "optim.schedule.every=2"],
        &["optim.schedule.kind=cosine", "optim.schedule.warmup=1"],
        &["model.fusion.kind=sum"],
        &["model.fusion.kind=sum-heads"],
        &["model.fusion.kind=film", "model.fusion.condition=visual"],
        &["model.fusion.kind=gated", "model.fusion.gate=visual"],
        &["mixup.method=input"],
        &["mixup.method=mm", "mixup.point=encoder"],
        &["mixup.method=bmm", "mixup.fold=true"],
        &[
            "modulation.kind=ogm-ge",
            "modulation.epochs={start=1, stop=3}",
        ],
        &["method.kind=mmpareto"],
        &["method.kind=agm", "method.alpha=1.5"],
        &["method.kind=mla", "model.fusion.kind=sum"],
        &["method.kind=gblending", "dataset.split.val=0.2"],
    ];
    let mut recipes: Vec<Recipe> = shipped_recipes()
        .iter()
        .map(|p| Recipe::load(p, &[]).unwrap())
        .collect();
    for sets in variants {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        recipes.push(
            Recipe::load(&fixture("tiny.toml"), &sets).unwrap_or_else(|e| panic!("{sets:?}: {e}")),
        );
    }
    for r in &recipes {
        let f = &written(r);
        let what = format!("{} ({})", r.name(), r.to_toml());
        let o = r.optimizer();
        assert_eq!((o.lr, o.weight_decay), (f.optim.lr, f.optim.weight_decay));
        let rule = match f.optim.kind {
            OptimKind::Sgd => UpdateRule::Sgd {
                momentum: f.optim.momentum.expect(&what),
            },
            OptimKind::Adam => UpdateRule::Adam {
                betas: f.optim.betas.expect(&what),
                eps: f.optim.eps.expect(&what),
            },
            OptimKind::Adamw => UpdateRule::AdamW {
                betas: f.optim.betas.expect(&what),
                eps: f.optim.eps.expect(&what),
            },
        };
        assert_eq!(o.rule, rule, "{what}");
        let s = &f.optim.schedule;
        assert_eq!(o.schedule.warmup, s.warmup);
        let shape = match s.kind {
            balmix::recipe::file::LrScheduleKind::Constant => ScheduleShape::Constant,
            balmix::recipe::file::LrScheduleKind::Step => ScheduleShape::Step {
                every: s.every.expect(&what),
                gamma: s.gamma.expect(&what),
            },
            balmix::recipe::file::LrScheduleKind::Cosine => ScheduleShape::Cosine {
                min_lr: s.min_lr.expect(&what),
            },
        };
        assert_eq!(o.schedule.shape, shape, "{what}");

        let mods = &f.dataset.modalities;
        let model = r.model();
        assert_eq!(model.encoders.len(), mods.len());
        for (enc, name) in model.encoders.iter().zip(mods) {
            let spec = &f.model.encoders[name];
            assert_eq!(
                (Some(enc.out), &enc.hidden),
                (spec.out, &spec.hidden),
                "{what}"
            );
            match &enc.body {
                balmix::recipe::typed::EncoderBody::Mlp => assert!(spec.channels.is_empty()),
                balmix::recipe::typed::EncoderBody::Conv {
                    channels, kernel, ..
                } => {
                    assert_eq!((channels, Some(*kernel)), (&spec.channels, spec.kernel));
                }
                balmix::recipe::typed::EncoderBody::ResNet18 {
                    shape,
                    in_channels,
                    width,
                    frames,
                } => {
                    assert_eq!(
                        (Some(*in_channels), Some(*width)),
                        (spec.in_channels, spec.width)
                    );
                    assert_eq!(frames * in_channels, shape[0], "{what}");
                    assert_eq!(enc.out, 8 * width, "{what}");
                }
            }
        }
        let index = |n: &Option<String>| mods.iter().position(|m| Some(m) == n.as_ref());
        let fusion = match f.model.fusion.kind {
            FusionKind::Concat => Fusion::Concat,
            FusionKind::Sum => Fusion::Sum,
            FusionKind::SumHeads => Fusion::SumHeads,
            FusionKind::Film => Fusion::Film {
                condition: index(&f.model.fusion.condition).expect(&what),
            },
            FusionKind::Gated => Fusion::Gated {
                gate: index(&f.model.fusion.gate).expect(&what),
                dim: f.model.fusion.dim.expect(&what),
            },
        };
        assert_eq!(model.fusion, fusion, "{what}");
        assert_eq!(Some(model.unimodal_logits), f.model.unimodal_logits);

        let x = &f.mixup;
        let kind = match x.method {
            MixupMethod::None => MixKind::None,
            MixupMethod::Input => MixKind::Input,
            MixupMethod::Mm => MixKind::Mm(x.point),
            MixupMethod::Bmm => MixKind::Bmm(x.balance.clone().expect(&what)),
        };
        assert_eq!(r.mixer().kind, kind, "{what}");
        assert_eq!(r.mixer().draw, x.draw(), "{what}");
        assert!(x.epochs.is_some(), "{what}");

        let modulation = match &f.modulation {
            ModulationSection::None => Modulation::None,
            ModulationSection::OgmGe(m) => {
                Modulation::OgmGe(balmix::recipe::typed::OgmGeSettings {
                    alpha: m.alpha.expect(&what),
                    noise: m.noise.expect(&what),
                    window: m.epochs.expect(&what),
                    variant: m.variant.expect(&what),
                    params: m.params.expect(&what),
                })
            }
        };
        assert_eq!(*r.modulation(), modulation, "{what}");

        let method = match &f.method {
            MethodSection::Standard => Method::Standard,
            MethodSection::Mmpareto(k) => {
                Method::Mmpareto(balmix::recipe::typed::MmParetoSettings {
                    gamma: k.gamma.expect(&what),
                    heads: k.unimodal_heads.expect(&what),
                })
            }
            MethodSection::Agm(k) => Method::Agm(balmix::recipe::typed::AgmSettings {
                alpha: k.alpha.expect(&what),
                window: k.epochs.expect(&what),
                clip_trigger: k.clip_trigger.expect(&what),
                clip_norm: k.clip_norm.expect(&what),
                masked_passes: k.masked_passes.expect(&what),
                after_window: k.after_window.expect(&what),
            }),
            MethodSection::Mla(k) => Method::Mla(balmix::recipe::typed::MlaSettings {
                projection: k.projection.expect(&what),
                denominator: k.denominator.expect(&what),
                test_fusion: k.test_fusion.expect(&what),
            }),
            MethodSection::Gblending(k) => {
                Method::Gblending(balmix::recipe::typed::GblendingSettings {
                    super_epoch: k.super_epoch.expect(&what),
                    estimate: k.estimate.expect(&what),
                })
            }
            MethodSection::Cml(k) => Method::Cml(balmix::method::config::CmlSettings {
                lambda: k.lambda.expect(&what),
                hinge: k.hinge.expect(&what),
                window: k.epochs.expect(&what),
            }),
            MethodSection::Amco(k) => Method::Amco(balmix::method::config::AmcoSettings {
                sigma: k.sigma.expect(&what),
                eps: k.eps.expect(&what),
                window: k.epochs.expect(&what),
            }),
            MethodSection::Umt(k) => Method::Umt(balmix::method::config::UmtSettings {
                teachers: k.teachers.clone().expect(&what),
                scaling: k.scaling.expect(&what),
                teacher_mode: k.teacher_mode.expect(&what),
                window: k.epochs.expect(&what),
            }),
            MethodSection::Relearn(k) => Method::Relearn(balmix::method::config::ReLearnSettings {
                lambda: k.lambda.expect(&what),
                reinit_every: k.reinit_every.expect(&what),
                reinits: k.reinits.expect(&what),
                diagnosis_split: k.diagnosis_split.expect(&what),
                kmeans_restarts: k.kmeans_restarts.expect(&what),
            }),
            MethodSection::Valuation(k) => {
                Method::Valuation(balmix::method::config::ValuationSettings {
                    level: k.level.expect(&what),
                    warmup_epochs: k.warmup_epochs.expect(&what),
                    part_ratio: k.part_ratio.expect(&what),
                })
            }
            MethodSection::Ume(k) => Method::Ume(balmix::method::config::UmeSettings {
                members: k.members.clone().expect(&what),
            }),
            MethodSection::Lfm(k) => Method::Lfm(balmix::method::config::LfmSettings {
                js: k.js.expect(&what),
                lr_alpha: k.lr_alpha.expect(&what),
            }),
            MethodSection::Opm(k) => Method::Opm(balmix::method::config::OpmSettings {
                alpha: k.alpha.expect(&what),
                q_base: k.q_base.expect(&what),
                p_exe: k.p_exe.expect(&what),
                window: k.epochs.expect(&what),
            }),
            MethodSection::Mbsd(k) => Method::Mbsd(balmix::method::config::MbsdSettings {
                kl: k.kl.expect(&what),
                weights: k.weights.expect(&what),
                window: k.epochs.expect(&what),
            }),
            MethodSection::Mmcosine(k) => {
                Method::Mmcosine(balmix::method::config::MmCosineSettings {
                    scale: k.scale.expect(&what),
                    window: k.epochs.expect(&what),
                })
            }
        };
        assert_eq!(*r.method(), method, "{what}");
    }
}
bad_recipe!(
    negative_corruption_severity_is_rejected,
    "tiny.toml",
    &[
        "train.eval.robustness.corruptions=[\"gaussian\"]",
        "train.eval.robustness.severities.gaussian=[0.0, -0.5]"
    ],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    missing_probability_above_one_is_rejected,
    "tiny.toml",
    &[
        "train.eval.robustness.corruptions=[\"missing-zero\"]",
        "train.eval.robustness.severities.missing-zero=[0.5, 1.5]"
    ],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    corruption_of_an_unknown_modality_is_rejected,
    "tiny.toml",
    &[
        "train.eval.robustness.corruptions=[\"gaussian\"]",
        "train.eval.robustness.modalities=[\"video\"]"
    ],
    RecipeError::UnknownModality { .. }
);
bad_recipe!(
    image_corruption_of_a_flat_modality_is_rejected,
    "tiny.toml",
    &["train.eval.robustness.corruptions=[\"occlusion\"]"],
    RecipeError::CorruptionNeedsImage { .. }
);
bad_recipe!(
    a_corruption_listed_twice_is_rejected,
    "tiny.toml",
    &["train.eval.robustness.corruptions=[\"gaussian\", \"gaussian\"]"],
    RecipeError::DuplicateCorruption { .. }
);
bad_recipe!(
    no_corruptions_is_rejected,
    "tiny.toml",
    &["train.eval.robustness.corruptions=[]"],
    RecipeError::Empty { .. }
);
bad_recipe!(
    modality_dropout_of_one_is_rejected,
    "tiny.toml",
    &["train.modality_dropout=1.0"],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    negative_input_noise_is_rejected,
    "tiny.toml",
    &["train.input_noise=-0.1"],
    RecipeError::OutOfRange { .. }
);
bad_recipe!(
    resnet_frames_must_be_whole,
    "tiny-resnet.toml",
    &["model.encoders.visual.in_channels=2"],
    RecipeError::ConvGeometry { .. }
);
bad_recipe!(
    resnet_feature_width_is_eight_times_the_base_width,
    "tiny-resnet.toml",
    &["model.encoders.audio.out=100"],
    RecipeError::ConvGeometry { .. }
);
bad_recipe!(
    resnet_width_on_an_mlp_is_rejected,
    "tiny.toml",
    &["model.encoders.audio.width=8"],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    resnet_on_a_flat_modality_is_rejected,
    "tiny.toml",
    &[
        "model.encoders.audio.kind=\"resnet18\"",
        "model.encoders.audio.hidden=[]"
    ],
    RecipeError::ConvNeedsShape { .. }
);
bad_recipe!(
    stratified_split_of_a_dataset_with_fixed_lists_is_rejected,
    "paper-crema-d.toml",
    &["dataset.split.kind=\"stratified\""],
    RecipeError::SplitKindForManifest { .. }
);
bad_recipe!(
    test_fraction_under_fixed_lists_is_rejected,
    "paper-crema-d.toml",
    &["dataset.split.test=0.3"],
    RecipeError::KeyNotForKind { .. }
);
bad_recipe!(
    fixed_split_without_fixed_lists_is_rejected,
    "tiny.toml",
    &["dataset.split.kind=\"fixed\""],
    RecipeError::SplitKindForManifest { .. }
);
