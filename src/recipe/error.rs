//! Recipe errors: one variant per violated rule. Every message starts with where the bad value
//! came from (a file, `--set …`, or an environment variable) and names the key path and rule.

use thiserror::Error;

/// Why a recipe was rejected.
#[derive(Debug, Error, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum RecipeError {
    #[error("{path}: recipe file not found{}", referenced_by.as_ref().map(|r| format!(" (extended by {r})")).unwrap_or_default())]
    MissingFile {
        path: String,
        referenced_by: Option<String>,
    },
    #[error("{path} is a folder, not a recipe file{}; a recipe (and `extends`) names a .toml or .yaml file", referenced_by.as_ref().map(|r| format!(" (extended by {r})")).unwrap_or_default())]
    NotAFile {
        path: String,
        referenced_by: Option<String>,
    },
    #[error("{path}: cannot read recipe: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: unsupported recipe format (expected a .toml, .yaml or .yml file)")]
    UnsupportedFormat { path: String },
    #[error("{origin}: `extends` forms a cycle: {chain}")]
    ExtendsCycle { origin: String, chain: String },
    #[error("{origin}: unknown key `{key}` (allowed here: {expected})")]
    UnknownKey {
        origin: String,
        key: String,
        expected: String,
    },
    #[error("{origin}: {key} has the wrong type: found {found}, expected {expected}")]
    WrongType {
        origin: String,
        key: String,
        found: String,
        expected: String,
    },
    #[error("{origin}: {key} is required but missing")]
    MissingKey { origin: String, key: String },
    #[error("{origin}: {key}: unknown value `{got}` (expected one of: {expected})")]
    UnknownVariant {
        origin: String,
        key: String,
        got: String,
        expected: String,
    },
    #[error("{origin}: {key}: {detail}")]
    Malformed {
        origin: String,
        key: String,
        detail: String,
    },
    #[error("--set {arg}: expected KEY.PATH=VALUE")]
    BadSetArgument { arg: String },
    #[error("--set {arg}: the value did not parse as TOML ({reason}); quote a string (`key='\"text\"'`), close brackets (`key=[1, 2]`), write tables as `key={{ a = 1 }}`")]
    SetValueUnparsable { arg: String, reason: String },
    #[error("--unset {key}: no recipe file (or environment variable) sets this key, so there is nothing to unset{}", if suggestions.is_empty() { String::new() } else { format!(" (did you mean: {}?)", suggestions.join(", ")) })]
    UnsetUnknownKey {
        key: String,
        suggestions: Vec<String>,
    },
    #[error("{origin}: {key} must be > 0 (got {got})")]
    NotPositive {
        origin: String,
        key: String,
        got: String,
    },
    #[error("{origin}: {key} must be in {range} (got {got})")]
    OutOfRange {
        origin: String,
        key: String,
        range: &'static str,
        got: String,
    },
    #[error("{origin}: {key} must not be empty")]
    Empty { origin: String, key: String },
    #[error("{origin}: {key} lists {got}, but the recipe has {modalities} modalities: give one per modality, in dataset.modalities order")]
    OnePerModality {
        origin: String,
        key: String,
        got: usize,
        modalities: usize,
    },
    #[error("{origin}: {key}: seed {seed} is listed twice")]
    DuplicateSeed {
        origin: String,
        key: String,
        seed: u64,
    },
    #[error("{origin}: dataset.manifest: unknown manifest `{got}`{}; known manifests: {}", if suggestions.is_empty() { String::new() } else { format!(" (did you mean: {}?)", suggestions.join(", ")) }, known.join(", "))]
    UnknownManifest {
        origin: String,
        got: String,
        suggestions: Vec<String>,
        known: Vec<String>,
    },
    #[error("{origin}: {key}: unknown modality `{got}` (manifest `{manifest}` has: {known})")]
    UnknownModality {
        origin: String,
        key: String,
        got: String,
        manifest: String,
        known: String,
    },
    #[error("{origin}: dataset.modalities: modality `{got}` is listed twice")]
    DuplicateModality { origin: String, got: String },
    #[error("{origin}: model.encoders has no encoder for modality `{modality}`")]
    MissingEncoder { origin: String, modality: String },
    #[error("{origin}: dataset.split: test + val must be < 1 so training keeps samples (got {test} + {val})")]
    SplitTooLarge { origin: String, test: f64, val: f64 },
    #[error("{origin}: dataset.split: test = {test}, val = {val} leaves the {which} set without a sample of a class of {class_size} samples; choose fractions that keep at least one sample of each class in every split")]
    SplitEmptiesClass {
        origin: String,
        test: f64,
        val: f64,
        class_size: usize,
        which: &'static str,
    },
    #[error("{origin}: train.batch_size = {batch} is larger than the training set ({train} samples), so every step would see the whole set; choose at most {train}")]
    BatchLargerThanTrainingSet {
        origin: String,
        batch: usize,
        train: usize,
    },
    #[error("{origin}: name: `{got}` {problem}; a recipe name is a relative path of plain parts (letters, digits, `-`, `_`, `.`) below --out, at most 120 characters")]
    BadName {
        origin: String,
        got: String,
        problem: &'static str,
    },
    #[error("{origin}: losses.unimodal needs concat or sum fusion, whose head splits into per-modality logits (got {fusion}); use model.fusion.kind = \"concat\" or \"sum\"")]
    UnimodalLossNeedsDecomposableHead { origin: String, fusion: String },
    #[error("{origin}: losses.pmr needs exactly 2 modalities (got {got}); the prototype coefficients compare two modalities' scores")]
    PmrNeedsTwoModalities { origin: String, got: usize },
    #[error("{origin}: method.kind = \"{method}\" needs concat or sum fusion, whose head splits into per-modality logits (got {fusion})")]
    MethodNeedsDecomposableHead {
        origin: String,
        method: String,
        fusion: String,
    },
    #[error("{origin}: method.kind = \"{method}\" measures generalisation on a validation split carved from the training data (never the test set); set dataset.split.val > 0")]
    MethodNeedsValidation { origin: String, method: String },
    #[error("{origin}: method.kind = \"mla\" trains every modality through one shared head, which is the head of sum fusion (got {fusion}); set model.fusion.kind = \"sum\" (equal encoder widths)")]
    MlaNeedsSharedHead { origin: String, fusion: String },
    #[error("{origin}: method.kind = \"{method}\" reads each modality's columns of the concat head (got {fusion}); set model.fusion.kind = \"concat\"")]
    MethodNeedsConcatHead {
        origin: String,
        method: String,
        fusion: String,
    },
    #[error("{origin}: method.kind = \"{method}\" needs exactly 2 modalities (got {got}); its released form compares two")]
    MethodNeedsTwoModalities {
        origin: String,
        method: String,
        got: usize,
    },
    #[error("{origin}: method.kind = \"{method}\" has its own training step, so {key} cannot be set with it; remove {key} (or --unset it)")]
    MethodWithStandardParts {
        origin: String,
        method: String,
        key: &'static str,
    },
    #[error("{origin}: modulation.params = \"conv-weights\" modulates convolution weights, but no encoder of this recipe has convolutions (conv or resnet18); use \"weights\"")]
    ConvWeightsWithoutConv { origin: String },
    #[error("{origin}: train.eval.select = \"best-val\" needs a validation split (dataset.split.val > 0)")]
    BestValWithoutVal { origin: String },
    #[error("{origin}: model.unimodal_logits = \"decompose\" needs concat or sum fusion (got {fusion}); use \"probe\"")]
    DecomposeNeedsLinearFusion { origin: String, fusion: String },
    #[error(
        "{origin}: model.fusion.kind = \"{fusion}\" needs exactly {needs} modalities (got {got})"
    )]
    FusionArity {
        origin: String,
        fusion: String,
        needs: usize,
        got: usize,
    },
    #[error(
        "{origin}: model.fusion.kind = \"sum\" needs equal encoder output widths (got {widths})"
    )]
    SumWidthMismatch { origin: String, widths: String },
    #[error("{origin}: {key} applies only to {applies_to} (here {kind_key} = \"{kind}\")")]
    KeyNotForKind {
        origin: String,
        key: String,
        applies_to: String,
        kind_key: &'static str,
        kind: String,
    },
    #[error("{origin}: dataset.split.kind = \"{kind}\" cannot apply to manifest `{manifest}`, {}", if *fixed { "whose fixed train/test lists decide the split (another split would not happen); use \"fixed\" or leave dataset.split.kind out" } else { "which has no fixed lists; use \"stratified\" or \"group\", or leave dataset.split.kind out" })]
    SplitKindForManifest {
        origin: String,
        kind: &'static str,
        manifest: String,
        fixed: bool,
    },
    #[error("{origin}: dataset.split.kind = \"group\" needs a group per sample, and manifest `{manifest}` names no group column; add `group = \"<column>\"` to a CSV reader or to [labels]")]
    GroupSplitWithoutGroups { origin: String, manifest: String },
    #[error("{origin}: dataset.split.val_by = \"group\" needs a group per sample, and manifest `{manifest}` names no group column; use \"row\" or leave val_by out")]
    ValByGroupWithoutGroups { origin: String, manifest: String },
    #[error("{origin}: dataset.split.fold = {fold} needs dataset.split.folds, and 0 ≤ fold < folds (here folds = {folds})")]
    BadFold {
        origin: String,
        fold: usize,
        folds: String,
    },
    #[error("{origin}: {key} is required when {kind_key} = \"{kind}\"")]
    KeyRequiredForKind {
        origin: String,
        key: String,
        kind_key: &'static str,
        kind: String,
    },
    #[error("{origin}: {key} = {{ start = {start}, stop = {stop} }} must satisfy start < stop <= train.epochs ({epochs})")]
    EpochWindow {
        origin: String,
        key: String,
        start: usize,
        stop: usize,
        epochs: usize,
    },
    #[error("{origin}: mixup.method = \"bmm\" needs mixup.fold = true (B-MM folds λ into [0.5, 1] before splitting it by modality)")]
    BmmWithoutFold { origin: String },
    #[error("{origin}: mixup.method = \"bmm\" needs at least 2 modalities (got {got}); use \"mm\" for one")]
    BmmNeedsModalities { origin: String, got: usize },
    #[error("{origin}: {key}: an image encoder (conv or resnet18) needs an image-shaped modality, but `{modality}` in manifest `{manifest}` has no shape")]
    ConvNeedsShape {
        origin: String,
        key: String,
        modality: String,
        manifest: String,
    },
    #[error("{origin}: {key}: {detail}")]
    ConvGeometry {
        origin: String,
        key: String,
        detail: String,
    },
    #[error("{origin}: modulation.kind = \"ogm-ge\" needs at least 2 modalities (got {got})")]
    OgmNeedsModalities { origin: String, got: usize },
    #[error("{origin}: train.eval.robustness: `{kind}` corrupts images, but `{modality}` in manifest `{manifest}` has no image shape; corrupt only image modalities with it (train.eval.robustness.modalities)")]
    CorruptionNeedsImage {
        origin: String,
        kind: String,
        modality: String,
        manifest: String,
    },
    #[error("{origin}: train.eval.robustness.corruptions: `{kind}` is listed twice")]
    DuplicateCorruption { origin: String, kind: String },
}
