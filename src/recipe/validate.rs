//! From a [`RecipeFile`] to a checked [`Recipe`]: range and cross-field rules, defaults that
//! depend on other fields filled in, encoders of unused modalities dropped. The resolved recipe
//! is what a run records and what reports read.

use super::error::RecipeError;
use super::file::*;
use super::load::{self, Layered};
use crate::data::manifest::{Catalog, Manifest, ManifestError};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A validated recipe. Only [`Recipe::load`] and [`Recipe::from_layers`] construct one, so
/// every value the engine reads has passed every rule.
#[derive(Debug, Clone)]
pub struct Recipe {
    resolved: RecipeFile,
    manifest: Manifest,
}

impl Recipe {
    /// Load `path` with its `extends` chain, the whitelisted environment and `sets`, validate.
    pub fn load(path: &Path, sets: &[String]) -> Result<Recipe, RecipeError> {
        let layers = load::load(path, sets)?;
        let dir = layers.top.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::from_layers(&layers, &Catalog::discover(&dir))
    }

    /// Validate already-loaded layers against the manifests in `catalog`.
    pub fn from_layers(layers: &Layered, catalog: &Catalog) -> Result<Recipe, RecipeError> {
        let file = layers.extract()?;
        let origin = |key: &str| layers.origin(key);
        let manifest = catalog.get(&file.dataset.manifest).map_err(|e| match e {
            ManifestError::Unknown { name, suggestions } => RecipeError::UnknownManifest {
                origin: origin("dataset.manifest"),
                got: name,
                suggestions,
            },
            ManifestError::Invalid { path, reason } => RecipeError::Malformed {
                origin: origin("dataset.manifest"),
                key: "dataset.manifest".into(),
                detail: format!("{path}: {reason}"),
            },
        })?;
        let resolved = Checker {
            origin: &origin,
            manifest: &manifest,
        }
        .check(file)?;
        Ok(Recipe { resolved, manifest })
    }

    /// The experiment name.
    pub fn name(&self) -> &str {
        &self.resolved.name
    }
    /// The seeds to run.
    pub fn seeds(&self) -> &[u64] {
        &self.resolved.seeds
    }
    /// `[dataset]`
    pub fn dataset(&self) -> &DatasetSection {
        &self.resolved.dataset
    }
    /// `[model]` (only the selected modalities' encoders; `unimodal_logits` filled in).
    pub fn model(&self) -> &ModelSection {
        &self.resolved.model
    }
    /// The unimodal-logits mode after defaults.
    pub fn unimodal_logits(&self) -> UnimodalLogits {
        self.resolved
            .model
            .unimodal_logits
            .expect("filled in by validation")
    }
    /// `[mixup]` (window and balance filled in where they apply).
    pub fn mixup(&self) -> &MixupSection {
        &self.resolved.mixup
    }
    /// `[modulation]` (OGM-GE fields filled in where they apply).
    pub fn modulation(&self) -> &ModulationSection {
        &self.resolved.modulation
    }
    /// `[optim]` (per-kind fields filled in).
    pub fn optim(&self) -> &OptimSection {
        &self.resolved.optim
    }
    /// `[train]`
    pub fn train(&self) -> &TrainSection {
        &self.resolved.train
    }
    /// The dataset's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The resolved file type (for tests and records).
    pub fn resolved(&self) -> &RecipeFile {
        &self.resolved
    }

    /// The same recipe with one seed only (a run records the seed it used).
    pub fn for_seed(&self, seed: u64) -> Recipe {
        let mut r = self.clone();
        r.resolved.seeds = vec![seed];
        r
    }

    /// The same recipe with a different thread count (never changes results).
    pub fn with_threads(&self, threads: usize) -> Recipe {
        let mut r = self.clone();
        r.resolved.train.threads = threads.max(1);
        r
    }

    /// The resolved recipe as TOML, every default written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.resolved).expect("a resolved recipe always serialises")
    }

    /// SHA-256 of the resolved recipe without the keys that cannot change results
    /// (`train.threads`): two runs with equal hashes are the same experiment.
    pub fn result_hash(&self) -> String {
        let mut r = self.resolved.clone();
        r.train.threads = 1;
        let text = toml::to_string(&r).expect("a resolved recipe always serialises");
        let digest = Sha256::digest(text.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

struct Checker<'a> {
    origin: &'a dyn Fn(&str) -> String,
    manifest: &'a Manifest,
}

impl Checker<'_> {
    fn o(&self, key: &str) -> String {
        (self.origin)(key)
    }

    fn positive(&self, key: &str, v: f64) -> Result<(), RecipeError> {
        if v > 0.0 && v.is_finite() {
            Ok(())
        } else {
            Err(RecipeError::NotPositive {
                origin: self.o(key),
                key: key.into(),
                got: fmt(v),
            })
        }
    }

    fn positive_int(&self, key: &str, v: usize) -> Result<(), RecipeError> {
        if v > 0 {
            Ok(())
        } else {
            Err(RecipeError::NotPositive {
                origin: self.o(key),
                key: key.into(),
                got: v.to_string(),
            })
        }
    }

    fn in_range(
        &self,
        key: &str,
        v: f64,
        range: &'static str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<(), RecipeError> {
        if v.is_finite() && ok(v) {
            Ok(())
        } else {
            Err(RecipeError::OutOfRange {
                origin: self.o(key),
                key: key.into(),
                range,
                got: fmt(v),
            })
        }
    }

    fn not_for_kind<T>(
        &self,
        key: &str,
        value: &Option<T>,
        applies_to: &'static str,
        kind_key: &'static str,
        kind: &str,
    ) -> Result<(), RecipeError> {
        match value {
            Some(_) => Err(RecipeError::KeyNotForKind {
                origin: self.o(key),
                key: key.into(),
                applies_to,
                kind_key,
                kind: kind.into(),
            }),
            None => Ok(()),
        }
    }

    fn window(&self, key: &str, w: &EpochWindow, epochs: usize) -> Result<(), RecipeError> {
        if w.start < w.stop && w.stop <= epochs {
            Ok(())
        } else {
            Err(RecipeError::EpochWindow {
                origin: self.o(key),
                key: key.into(),
                start: w.start,
                stop: w.stop,
                epochs,
            })
        }
    }

    fn check(&self, mut f: RecipeFile) -> Result<RecipeFile, RecipeError> {
        f.extends = None;
        if f.name.trim().is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("name"),
                key: "name".into(),
            });
        }
        if f.seeds.is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("seeds"),
                key: "seeds".into(),
            });
        }
        for (i, s) in f.seeds.iter().enumerate() {
            if f.seeds[..i].contains(s) {
                return Err(RecipeError::DuplicateSeed {
                    origin: self.o("seeds"),
                    key: "seeds".into(),
                    seed: *s,
                });
            }
        }
        self.check_dataset(&f.dataset, &f.train)?;
        self.check_model(&mut f.model, &f.dataset.modalities)?;
        self.check_train(&f.train)?;
        self.check_mixup(&mut f.mixup, f.dataset.modalities.len(), f.train.epochs)?;
        self.check_modulation(
            &mut f.modulation,
            f.dataset.modalities.len(),
            f.train.epochs,
        )?;
        self.check_optim(&mut f.optim, f.train.epochs)?;
        Ok(f)
    }

    fn check_dataset(&self, d: &DatasetSection, t: &TrainSection) -> Result<(), RecipeError> {
        if d.modalities.is_empty() {
            return Err(RecipeError::Empty {
                origin: self.o("dataset.modalities"),
                key: "dataset.modalities".into(),
            });
        }
        let known: Vec<&str> = self
            .manifest
            .modalities
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        for (i, m) in d.modalities.iter().enumerate() {
            if !known.contains(&m.as_str()) {
                return Err(RecipeError::UnknownModality {
                    origin: self.o("dataset.modalities"),
                    key: "dataset.modalities".into(),
                    got: m.clone(),
                    manifest: self.manifest.name.clone(),
                    known: known.join(", "),
                });
            }
            if d.modalities[..i].contains(m) {
                return Err(RecipeError::DuplicateModality {
                    origin: self.o("dataset.modalities"),
                    got: m.clone(),
                });
            }
        }
        let s = &d.split;
        self.in_range("dataset.split.test", s.test, "(0, 1)", |v| {
            v > 0.0 && v < 1.0
        })?;
        self.in_range("dataset.split.val", s.val, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        if s.test + s.val >= 1.0 {
            return Err(RecipeError::SplitTooLarge {
                origin: self.o("dataset.split"),
                test: s.test,
                val: s.val,
            });
        }
        if t.eval.select == EvalSelect::BestVal && s.val <= 0.0 {
            return Err(RecipeError::BestValWithoutVal {
                origin: self.o("train.eval.select"),
            });
        }
        Ok(())
    }

    fn check_model(&self, m: &mut ModelSection, modalities: &[String]) -> Result<(), RecipeError> {
        for name in modalities {
            let Some(enc) = m.encoders.get(name) else {
                return Err(RecipeError::MissingEncoder {
                    origin: self.o("model.encoders"),
                    modality: name.clone(),
                });
            };
            let key = format!("model.encoders.{name}");
            self.positive_int(&format!("{key}.out"), enc.out)?;
            self.check_conv(&key, name, enc)?;
            for (i, h) in enc.hidden.iter().enumerate() {
                self.positive_int(&format!("{key}.hidden[{i}]"), *h)?;
            }
        }
        m.encoders.retain(|k, _| modalities.contains(k));
        for enc in m
            .encoders
            .values_mut()
            .filter(|e| e.kind == EncoderKind::Conv)
        {
            enc.kernel.get_or_insert(3);
        }
        let fusion = &mut m.fusion;
        let kind_name = kind_name(&fusion.kind);
        let arity = |needs: usize| -> Result<(), RecipeError> {
            if modalities.len() == needs {
                Ok(())
            } else {
                Err(RecipeError::FusionArity {
                    origin: self.o("model.fusion.kind"),
                    fusion: kind_name.clone(),
                    needs,
                    got: modalities.len(),
                })
            }
        };
        let pick = |key: &str, value: &Option<String>| -> Result<String, RecipeError> {
            let chosen = value.clone().unwrap_or_else(|| modalities[0].clone());
            if modalities.contains(&chosen) {
                Ok(chosen)
            } else {
                Err(RecipeError::UnknownModality {
                    origin: self.o(key),
                    key: key.into(),
                    got: chosen,
                    manifest: self.manifest.name.clone(),
                    known: modalities.join(", "),
                })
            }
        };
        self.fusion_keys_apply(fusion, &kind_name)?;
        match fusion.kind {
            FusionKind::Concat | FusionKind::Sum => {
                if fusion.kind == FusionKind::Sum {
                    let widths: Vec<usize> = modalities.iter().map(|n| m.encoders[n].out).collect();
                    if widths.windows(2).any(|w| w[0] != w[1]) {
                        return Err(RecipeError::SumWidthMismatch {
                            origin: self.o("model.fusion.kind"),
                            widths: modalities
                                .iter()
                                .zip(&widths)
                                .map(|(n, w)| format!("{n}: {w}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                }
                m.unimodal_logits.get_or_insert(UnimodalLogits::Decompose);
            }
            FusionKind::Film => {
                arity(2)?;
                fusion.condition = Some(pick("model.fusion.condition", &fusion.condition)?);
                self.no_decompose(m.unimodal_logits, &kind_name)?;
                m.unimodal_logits = Some(UnimodalLogits::Probe);
            }
            FusionKind::Gated => {
                arity(2)?;
                let gate = pick("model.fusion.gate", &fusion.gate)?;
                let other = modalities
                    .iter()
                    .find(|n| **n != gate)
                    .expect("two modalities");
                let dim = fusion.dim.unwrap_or(m.encoders[other].out);
                self.positive_int("model.fusion.dim", dim)?;
                fusion.gate = Some(gate);
                fusion.dim = Some(dim);
                self.no_decompose(m.unimodal_logits, &kind_name)?;
                m.unimodal_logits = Some(UnimodalLogits::Probe);
            }
        }
        Ok(())
    }

    fn check_conv(&self, key: &str, name: &str, enc: &EncoderSpec) -> Result<(), RecipeError> {
        if enc.kind == EncoderKind::Mlp {
            let channels = (!enc.channels.is_empty()).then_some(());
            self.not_for_kind(
                &format!("{key}.channels"),
                &channels,
                "conv",
                "model.encoders.*.kind",
                "mlp",
            )?;
            return self.not_for_kind(
                &format!("{key}.kernel"),
                &enc.kernel,
                "conv",
                "model.encoders.*.kind",
                "mlp",
            );
        }
        let spec = self
            .manifest
            .modalities
            .iter()
            .find(|m| m.name == name)
            .expect("modality checked");
        let Some([_, mut h, mut w]) = spec.shape else {
            return Err(RecipeError::ConvNeedsShape {
                origin: self.o(&format!("{key}.kind")),
                key: format!("{key}.kind"),
                modality: name.into(),
                manifest: self.manifest.name.clone(),
            });
        };
        let geometry = |field: &str, detail: String| {
            let key = format!("{key}.{field}");
            RecipeError::ConvGeometry {
                origin: self.o(&key),
                key,
                detail,
            }
        };
        if enc.channels.is_empty() {
            return Err(geometry(
                "channels",
                "must list at least one conv block".into(),
            ));
        }
        let k = enc.kernel.unwrap_or(3);
        if k.is_multiple_of(2) || k == 0 {
            return Err(geometry("kernel", format!("must be odd (got {k})")));
        }
        for (i, &c) in enc.channels.iter().enumerate() {
            self.positive_int(&format!("{key}.channels[{i}]"), c)?;
            if h < 2 || w < 2 {
                return Err(geometry(
                    "channels",
                    format!("block {i} would pool a {h}×{w} map; use fewer blocks"),
                ));
            }
            h /= 2;
            w /= 2;
        }
        Ok(())
    }

    /// `every` and `gamma` belong to the step schedule, `min_lr` to cosine.
    fn schedule_keys_apply(&self, s: &LrScheduleSection, kind: &str) -> Result<(), RecipeError> {
        let key = "optim.schedule.kind";
        if s.kind != LrScheduleKind::Step {
            self.not_for_kind("optim.schedule.every", &s.every, "step", key, kind)?;
            self.not_for_kind("optim.schedule.gamma", &s.gamma, "step", key, kind)?;
        }
        if s.kind != LrScheduleKind::Cosine {
            self.not_for_kind("optim.schedule.min_lr", &s.min_lr, "cosine", key, kind)?;
        }
        Ok(())
    }

    /// `condition` belongs to film, `gate` and `dim` to gated.
    fn fusion_keys_apply(&self, f: &FusionSpec, kind: &str) -> Result<(), RecipeError> {
        let key = "model.fusion.kind";
        if f.kind != FusionKind::Film {
            self.not_for_kind("model.fusion.condition", &f.condition, "film", key, kind)?;
        }
        if f.kind != FusionKind::Gated {
            self.not_for_kind("model.fusion.gate", &f.gate, "gated", key, kind)?;
            self.not_for_kind("model.fusion.dim", &f.dim, "gated", key, kind)?;
        }
        Ok(())
    }

    fn no_decompose(&self, u: Option<UnimodalLogits>, fusion: &str) -> Result<(), RecipeError> {
        if u == Some(UnimodalLogits::Decompose) {
            return Err(RecipeError::DecomposeNeedsLinearFusion {
                origin: self.o("model.unimodal_logits"),
                fusion: fusion.into(),
            });
        }
        Ok(())
    }

    fn check_train(&self, t: &TrainSection) -> Result<(), RecipeError> {
        self.positive_int("train.epochs", t.epochs)?;
        self.positive_int("train.batch_size", t.batch_size)?;
        self.positive_int("train.threads", t.threads)?;
        Ok(())
    }

    fn check_mixup(
        &self,
        x: &mut MixupSection,
        modalities: usize,
        epochs: usize,
    ) -> Result<(), RecipeError> {
        self.positive("mixup.alpha", x.alpha)?;
        self.in_range("mixup.probability", x.probability, "[0, 1]", |v| {
            (0.0..=1.0).contains(&v)
        })?;
        let window = x.epochs.unwrap_or(EpochWindow {
            start: 0,
            stop: epochs,
        });
        self.window("mixup.epochs", &window, epochs)?;
        x.epochs = Some(window);
        let method = kind_name(&x.method);
        if x.method != MixupMethod::Bmm {
            self.not_for_kind(
                "mixup.balance",
                &x.balance,
                "method = \"bmm\"",
                "mixup.method",
                &method,
            )?;
            return Ok(());
        }
        if !x.fold {
            return Err(RecipeError::BmmWithoutFold {
                origin: self.o("mixup.fold"),
            });
        }
        if modalities < 2 {
            return Err(RecipeError::BmmNeedsModalities {
                origin: self.o("dataset.modalities"),
                got: modalities,
            });
        }
        let b = x.balance.get_or_insert_with(BalanceSection::default);
        self.in_range("mixup.balance.ema", b.ema, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        self.in_range("mixup.balance.gamma", b.gamma, "[0, ∞)", |v| v >= 0.0)?;
        Ok(())
    }

    fn check_modulation(
        &self,
        m: &mut ModulationSection,
        modalities: usize,
        epochs: usize,
    ) -> Result<(), RecipeError> {
        let kind = kind_name(&m.kind);
        match m.kind {
            ModulationKind::None => {
                self.not_for_kind(
                    "modulation.alpha",
                    &m.alpha,
                    "ogm-ge",
                    "modulation.kind",
                    &kind,
                )?;
                self.not_for_kind(
                    "modulation.noise",
                    &m.noise,
                    "ogm-ge",
                    "modulation.kind",
                    &kind,
                )?;
                self.not_for_kind(
                    "modulation.epochs",
                    &m.epochs,
                    "ogm-ge",
                    "modulation.kind",
                    &kind,
                )?;
                self.not_for_kind(
                    "modulation.variant",
                    &m.variant,
                    "ogm-ge",
                    "modulation.kind",
                    &kind,
                )?;
            }
            ModulationKind::OgmGe => {
                if modalities < 2 {
                    return Err(RecipeError::OgmNeedsModalities {
                        origin: self.o("dataset.modalities"),
                        got: modalities,
                    });
                }
                let alpha = *m.alpha.get_or_insert(0.8);
                self.in_range("modulation.alpha", alpha, "[0, ∞)", |v| v >= 0.0)?;
                m.noise.get_or_insert(true);
                m.variant.get_or_insert(OgmVariant::Published);
                let window = m.epochs.unwrap_or(EpochWindow {
                    start: 0,
                    stop: epochs,
                });
                self.window("modulation.epochs", &window, epochs)?;
                m.epochs = Some(window);
            }
        }
        Ok(())
    }

    fn check_optim(&self, o: &mut OptimSection, epochs: usize) -> Result<(), RecipeError> {
        self.positive("optim.lr", o.lr)?;
        self.in_range("optim.weight_decay", o.weight_decay, "[0, ∞)", |v| {
            v >= 0.0
        })?;
        let kind = kind_name(&o.kind);
        match o.kind {
            OptimKind::Sgd => {
                self.not_for_kind(
                    "optim.betas",
                    &o.betas,
                    "adam and adamw",
                    "optim.kind",
                    &kind,
                )?;
                self.not_for_kind("optim.eps", &o.eps, "adam and adamw", "optim.kind", &kind)?;
                let m = *o.momentum.get_or_insert(0.9);
                self.in_range("optim.momentum", m, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
            }
            OptimKind::Adam | OptimKind::Adamw => {
                self.not_for_kind("optim.momentum", &o.momentum, "sgd", "optim.kind", &kind)?;
                let [b1, b2] = *o.betas.get_or_insert([0.9, 0.999]);
                self.in_range("optim.betas[0]", b1, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
                self.in_range("optim.betas[1]", b2, "[0, 1)", |v| (0.0..1.0).contains(&v))?;
                let eps = *o.eps.get_or_insert(1e-8);
                self.positive("optim.eps", eps)?;
            }
        }
        let s = &mut o.schedule;
        let skind = kind_name(&s.kind);
        if s.warmup >= epochs {
            return Err(RecipeError::OutOfRange {
                origin: self.o("optim.schedule.warmup"),
                key: "optim.schedule.warmup".into(),
                range: "[0, train.epochs)",
                got: s.warmup.to_string(),
            });
        }
        self.schedule_keys_apply(s, &skind)?;
        match s.kind {
            LrScheduleKind::Constant => {}
            LrScheduleKind::Step => {
                let Some(every) = s.every else {
                    return Err(RecipeError::KeyRequiredForKind {
                        origin: self.o("optim.schedule"),
                        key: "optim.schedule.every".into(),
                        kind_key: "optim.schedule.kind",
                        kind: skind,
                    });
                };
                self.positive_int("optim.schedule.every", every)?;
                let g = *s.gamma.get_or_insert(0.1);
                self.in_range("optim.schedule.gamma", g, "(0, 1]", |v| v > 0.0 && v <= 1.0)?;
            }
            LrScheduleKind::Cosine => {
                let min = *s.min_lr.get_or_insert(0.0);
                self.in_range("optim.schedule.min_lr", min, "[0, optim.lr]", |v| {
                    v >= 0.0 && v <= o.lr
                })?;
            }
        }
        Ok(())
    }
}

/// The kebab-case name serde uses for a unit enum value.
fn kind_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn fmt(v: f64) -> String {
    format!("{v}")
}
