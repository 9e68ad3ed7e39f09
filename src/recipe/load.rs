//! Layering with figment: `extends` chain (base first) < environment (`BALMIX_THREADS`,
//! `BALMIX_DEVICE` only) < `--set key.path=value`. Errors name the layer a bad value came from.

use super::error::RecipeError;
use super::file::{MethodSection, ModulationKind, ModulationSection, RecipeFile};
use crate::kind_keys::{KindKeys, TableReader};
use crate::kind_name::kind_name;
use figment::providers::{Env, Format, Serialized, Toml, Yaml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider, Source};
use std::path::{Path, PathBuf};

/// Environment variables that may override a recipe, and the key each one sets. Only runtime
/// keys that do not change results belong here.
pub const ENV_WHITELIST: &[(&str, &str)] = &[
    ("BALMIX_THREADS", "train.threads"),
    ("BALMIX_DEVICE", "train.device"),
];

/// A recipe read from its layers, before validation.
pub struct Layered {
    /// The merged layers.
    pub figment: Figment,
    /// The recipe file the user named (the top layer of the `extends` chain).
    pub top: PathBuf,
    /// Every file of the chain, base first.
    pub files: Vec<PathBuf>,
}

impl Layered {
    /// Human-readable origin of `key`'s value: the file, `--set …` or variable that set it, or
    /// the top recipe file when the value is a default.
    pub fn origin(&self, key: &str) -> String {
        // An element `key[i]` comes from wherever its list was set.
        let key = key.split('[').next().unwrap_or(key);
        match self.figment.find_metadata(key) {
            Some(meta) => describe(meta),
            None => display_path(&self.top),
        }
    }

    /// The recipe file type, with figment errors mapped to [`RecipeError`].
    pub fn extract(&self) -> Result<RecipeFile, RecipeError> {
        let mut file = self
            .figment
            .extract::<RecipeFile>()
            .map_err(|e| map_figment_error(e, &self.top))?;
        file.modulation = self.extract_kinded(
            ("modulation", "modulation.kind"),
            &crate::method::config::modulation_keys(),
            |kind, table| {
                Ok(match kind {
                    ModulationKind::None => ModulationSection::None,
                    ModulationKind::OgmGe => ModulationSection::OgmGe(table.read()?),
                })
            },
        )?;
        file.method = self.extract_kinded(
            ("method", "method.kind"),
            &crate::method::config::method_keys(),
            |kind, table| MethodSection::read(kind, table),
        )?;
        Ok(file)
    }

    /// A section whose `kind` decides which config reads the rest (`[method]`,
    /// `[modulation]`), read once its kind is known: the kind alone first, then the rest by
    /// `read`, given the kind and the section. `kinds` lists each kind with the keys its config
    /// takes; a key of another kind, or of none, is refused with its origin. The first
    /// argument names the section and its kind key (`("method", "method.kind")`).
    fn extract_kinded<K, S>(
        &self,
        (section, kind_key): (&'static str, &'static str),
        kinds: &[(K, &'static [&'static str])],
        read: impl Fn(K, &Section<'_>) -> Result<S, RecipeError>,
    ) -> Result<S, RecipeError>
    where
        K: serde::de::DeserializeOwned + serde::Serialize + Default + Copy + PartialEq,
    {
        #[derive(serde::Deserialize)]
        struct KindOnly<K> {
            #[serde(default)]
            kind: K,
        }
        let table = Section {
            layered: self,
            name: section,
        };
        let Ok(value) = self.figment.find_value(section) else {
            return read(K::default(), &table);
        };
        let kind = table.read::<KindOnly<K>>()?.kind;
        let set: Vec<String> = value
            .as_dict()
            .map(|d| d.keys().filter(|k| *k != "kind").cloned().collect())
            .unwrap_or_default();
        let all: Vec<&str> = std::iter::once("kind")
            .chain(kinds.iter().flat_map(|(_, keys)| keys.iter().copied()))
            .collect();
        if let Some(unknown) = set.iter().find(|k| !all.contains(&k.as_str())) {
            let key = format!("{section}.{unknown}");
            return Err(RecipeError::UnknownKey {
                origin: self.origin(&key),
                key,
                expected: all.join(", "),
            });
        }
        let own: &[&str] = kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(&[], |(_, keys)| *keys);
        for (owner, keys) in kinds {
            for key in keys.iter().filter(|k| set.iter().any(|s| s == *k)) {
                if !own.contains(key) {
                    let key = format!("{section}.{key}");
                    return Err(RecipeError::KeyNotForKind {
                        origin: self.origin(&key),
                        key,
                        applies_to: kind_name(owner),
                        kind_key,
                        kind: kind_name(&kind),
                    });
                }
            }
        }
        read(kind, &table)
    }
}

/// One section of the merged layers, read by a config type of its own.
pub struct Section<'a> {
    layered: &'a Layered,
    name: &'static str,
}

impl TableReader for Section<'_> {
    type Error = RecipeError;

    /// The section read as `T`, errors with the full key path and its origin.
    fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, RecipeError> {
        let section = self.name;
        // figment reports an inner extraction's path with the section last (`kind.method`):
        // put it first, as the whole-file extraction does.
        let map = |e: figment::Error| {
            let e = e
                .into_iter()
                .map(|mut one| {
                    if one.path.last().is_some_and(|l| l == section) && one.path.len() > 1 {
                        one.path.pop();
                        one.path.insert(0, section.into());
                    }
                    one
                })
                .reduce(|a, b| a.chain(b))
                .expect("a figment error holds at least one error");
            map_figment_error(e, &self.layered.top)
        };
        self.layered.figment.extract_inner(section).map_err(map)
    }
}

/// Read `path` and every file it `extends`, then the environment, `--unset` and `--set`.
///
/// A layer that changes a kind (`optim.kind`, `optim.schedule.kind`, `model.fusion.kind`,
/// `model.encoders.*.kind`, `mixup.method`, `modulation.kind`) drops the earlier layers' keys
/// that the new kind does not take (see [`kind_rules`]), so `--set optim.kind=adam` on a recipe
/// whose base sets `optim.momentum` works. `--unset KEY` removes `KEY` from the files and the
/// environment (a `--set` of the same key still applies).
pub fn load(path: &Path, sets: &[String]) -> Result<Layered, RecipeError> {
    load_with_unset(path, sets, &[])
}

/// [`load`] with `--unset` keys (each must be set by a file or the environment).
pub fn load_with_unset(
    path: &Path,
    sets: &[String],
    unsets: &[String],
) -> Result<Layered, RecipeError> {
    load_without(path, sets, unsets, &[])
}

/// [`load_with_unset`], also removing the keys `drop` from the files and the environment where
/// they are set (for callers that derive a variant of a recipe, e.g. `balmix bench`'s plain
/// model without `[mixup]` or `[method]`; unlike `unsets`, a key no layer sets is no error).
pub fn load_without(
    path: &Path,
    sets: &[String],
    unsets: &[String],
    drop: &[&str],
) -> Result<Layered, RecipeError> {
    let files = extends_chain(path)?;
    let mut layers: Vec<Box<dyn Provider>> = Vec::new();
    for file in &files {
        layers.push(match format_of(file)? {
            FileFormat::Toml => Box::new(Toml::file_exact(file)),
            FileFormat::Yaml => Box::new(Yaml::file_exact(file)),
        });
    }
    let env = Env::raw().filter_map(|k| {
        ENV_WHITELIST
            .iter()
            .find(|(var, _)| k.as_str().eq_ignore_ascii_case(var))
            .map(|(_, key)| (*key).into())
    });
    layers.push(Box::new(env));
    let before_sets = layers.len();
    for arg in sets {
        layers.push(Box::new(SetArgument::parse(arg)?));
    }
    let mut drops = kind_drops(&layers);
    let unsettable = set_keys(&layers[..before_sets]);
    for key in unsets {
        let key = key.trim();
        if key.is_empty() {
            return Err(RecipeError::BadSetArgument {
                arg: "--unset (empty key)".into(),
            });
        }
        if !unsettable.iter().any(|k| k == key) {
            return Err(RecipeError::UnsetUnknownKey {
                key: key.to_string(),
                suggestions: crate::manifest::suggest(key, &unsettable)
                    .into_iter()
                    .take(3)
                    .collect(),
            });
        }
        for d in drops.iter_mut().take(before_sets) {
            d.push(key.to_string());
        }
    }
    for key in drop {
        for d in drops.iter_mut().take(before_sets) {
            d.push(key.to_string());
        }
    }
    let mut figment = Figment::new();
    for (layer, drop) in layers.into_iter().zip(drops) {
        figment = figment.merge(Filtered { inner: layer, drop });
    }
    let top = files.last().cloned().unwrap_or_else(|| path.to_path_buf());
    Ok(Layered {
        figment,
        top,
        files,
    })
}

/// Every dotted key (tables included, e.g. `mixup.balance` and `mixup.balance.gamma`) that
/// `layers` set, sorted.
fn set_keys(layers: &[Box<dyn Provider>]) -> Vec<String> {
    fn walk(dict: &Dict, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in dict {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if let Some(inner) = v.as_dict() {
                walk(inner, &key, out);
            }
            out.push(key);
        }
    }
    let mut out = Vec::new();
    for layer in layers {
        if let Some(dict) = layer
            .data()
            .ok()
            .and_then(|mut m| m.remove(&Profile::Default))
        {
            walk(&dict, "", &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Kind fields whose change drops the earlier layers' keys of other kinds, each stated by the
/// concern that owns the section (`[method]` and `[modulation]` from each kind's config, below).
pub fn kind_rules() -> impl Iterator<Item = &'static KindKeys> {
    (crate::optim::config::KIND_KEYS.iter())
        .chain(crate::model::config::KIND_KEYS)
        .chain(crate::mixup::config::KIND_KEYS)
}

/// The keys of a kinded section (`[method]`, `[modulation]`) and the kinds that take them,
/// from each kind's own config: a layer that changes the kind drops the earlier layers' keys of
/// other kinds.
fn key_owners<K: serde::Serialize>(
    kinds: &[(K, &'static [&'static str])],
) -> Vec<(&'static str, Vec<String>)> {
    let mut owners: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (kind, keys) in kinds {
        for key in keys.iter() {
            match owners.iter_mut().find(|(k, _)| k == key) {
                Some((_, o)) => o.push(kind_name(kind)),
                None => owners.push((key, vec![kind_name(kind)])),
            }
        }
    }
    owners
}

/// For each layer, the dotted keys to drop from it because a later layer changed a kind.
fn kind_drops(layers: &[Box<dyn Provider>]) -> Vec<Vec<String>> {
    let dicts: Vec<Dict> = layers
        .iter()
        .map(|l| {
            l.data()
                .ok()
                .and_then(|mut m| m.remove(&Profile::Default))
                .unwrap_or_default()
        })
        .collect();
    let mut drops = vec![Vec::new(); layers.len()];
    let kinded = [
        (
            "modulation",
            key_owners(&crate::method::config::modulation_keys()),
        ),
        ("method", key_owners(&crate::method::config::method_keys())),
    ];
    let rules = kind_rules()
        .map(|r| {
            let keys: Vec<(&str, Vec<String>)> = r
                .keys
                .iter()
                .map(|(k, kinds)| (*k, kinds.iter().map(|s| s.to_string()).collect()))
                .collect();
            (r.section, r.field, keys)
        })
        .chain(
            kinded
                .into_iter()
                .map(|(section, keys)| (section, "kind", keys)),
        );
    for (section_rule, field, keys) in rules {
        for section in expand(section_rule, &dicts) {
            let kind_key = format!("{section}.{field}");
            let mut current: Option<String> = None;
            for (j, dict) in dicts.iter().enumerate() {
                let Some(new) = find_str(dict, &kind_key) else {
                    continue;
                };
                if current.as_deref() != Some(new.as_str()) {
                    for (key, kinds) in &keys {
                        if !kinds.contains(&new) {
                            for d in drops.iter_mut().take(j) {
                                d.push(format!("{section}.{key}"));
                            }
                        }
                    }
                }
                current = Some(new);
            }
        }
    }
    drops
}

/// The concrete sections a rule's section names (`*` expanded over every layer's keys).
fn expand(section: &str, dicts: &[Dict]) -> Vec<String> {
    let Some((prefix, _)) = section.split_once(".*") else {
        return vec![section.to_string()];
    };
    let mut names: Vec<String> = dicts
        .iter()
        .filter_map(|d| find(d, prefix))
        .filter_map(|v| v.as_dict().map(|d| d.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(|n| format!("{prefix}.{n}")).collect()
}

fn find<'a>(dict: &'a Dict, path: &str) -> Option<&'a figment::value::Value> {
    let (first, rest) = match path.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (path, None),
    };
    let v = dict.get(first)?;
    match rest {
        None => Some(v),
        Some(rest) => find(v.as_dict()?, rest),
    }
}

fn find_str(dict: &Dict, path: &str) -> Option<String> {
    find(dict, path).and_then(|v| v.as_str().map(str::to_string))
}

fn remove(dict: &mut Dict, path: &str) {
    match path.split_once('.') {
        None => {
            dict.remove(path);
        }
        Some((first, rest)) => {
            if let Some(figment::value::Value::Dict(_, inner)) = dict.get_mut(first) {
                remove(inner, rest);
            }
        }
    }
}

/// A layer with some keys removed; keeps the layer's metadata, so errors still name it.
struct Filtered {
    inner: Box<dyn Provider>,
    drop: Vec<String>,
}

impl Provider for Filtered {
    fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut data = self.inner.data()?;
        for dict in data.values_mut() {
            for key in &self.drop {
                remove(dict, key);
            }
        }
        Ok(data)
    }
}

enum FileFormat {
    Toml,
    Yaml,
}

fn format_of(path: &Path) -> Result<FileFormat, RecipeError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => Ok(FileFormat::Toml),
        Some("yaml") | Some("yml") => Ok(FileFormat::Yaml),
        _ => Err(RecipeError::UnsupportedFormat {
            path: display_path(path),
        }),
    }
}

/// The chain of files from the deepest base to `path`, each an absolute path.
fn extends_chain(path: &Path) -> Result<Vec<PathBuf>, RecipeError> {
    let mut chain: Vec<PathBuf> = Vec::new();
    let mut next = Some((path.to_path_buf(), None::<PathBuf>));
    while let Some((file, referenced_by)) = next.take() {
        let abs = std::fs::canonicalize(&file).map_err(|_| RecipeError::MissingFile {
            path: display_path(&file),
            referenced_by: referenced_by.as_deref().map(display_path),
        })?;
        if let Some(pos) = chain.iter().position(|p| p == &abs) {
            let mut names: Vec<String> = chain[pos..].iter().map(|p| display_path(p)).collect();
            names.push(display_path(&abs));
            return Err(RecipeError::ExtendsCycle {
                origin: display_path(chain.last().unwrap_or(&abs)),
                chain: names.join(" -> "),
            });
        }
        if abs.is_dir() {
            return Err(RecipeError::NotAFile {
                path: display_path(&abs),
                referenced_by: referenced_by.as_deref().map(display_path),
            });
        }
        let parent = extends_of(&abs)?;
        chain.push(abs.clone());
        if let Some(rel) = parent {
            let base_dir = abs.parent().unwrap_or(Path::new("."));
            next = Some((base_dir.join(rel), Some(abs)));
        }
    }
    chain.reverse();
    Ok(chain)
}

/// The `extends` value of one file, read on its own.
fn extends_of(file: &Path) -> Result<Option<String>, RecipeError> {
    let one = match format_of(file)? {
        FileFormat::Toml => Figment::from(Toml::file_exact(file)),
        FileFormat::Yaml => Figment::from(Yaml::file_exact(file)),
    };
    match one.find_value("extends") {
        Ok(v) => v
            .into_string()
            .map(Some)
            .ok_or_else(|| RecipeError::WrongType {
                origin: display_path(file),
                key: "extends".into(),
                found: "a non-string value".into(),
                expected: "a relative path string".into(),
            }),
        Err(e) if e.missing() => Ok(None),
        Err(e) => Err(map_figment_error(e, file)),
    }
}

/// One `--set key.path=value`; the value is parsed as TOML (so `0.5`, `true`, `[1, 2]` and
/// `"text"` work) and falls back to a plain string.
struct SetArgument {
    raw: String,
    key: String,
    value: toml::Value,
}

impl SetArgument {
    fn parse(arg: &str) -> Result<Self, RecipeError> {
        let (key, value) = arg
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| RecipeError::BadSetArgument {
                arg: arg.to_string(),
            })?;
        let value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
            Ok(mut t) => t
                .remove("v")
                .unwrap_or_else(|| toml::Value::String(value.to_string())),
            // A value that starts like an array, table or quoted string was meant as TOML: say
            // it did not parse instead of taking it as a string of the wrong type.
            Err(e) if value.trim_start().starts_with(['[', '{', '"', '\'']) => {
                return Err(RecipeError::SetValueUnparsable {
                    arg: arg.to_string(),
                    reason: e.message().trim().to_string(),
                })
            }
            // A bare word (`--set optim.kind=adam`) is a string.
            Err(_) => toml::Value::String(value.to_string()),
        };
        Ok(Self {
            raw: arg.to_string(),
            key: key.trim().to_string(),
            value,
        })
    }
}

impl Provider for SetArgument {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("--set {}", self.raw))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

fn describe(meta: &Metadata) -> String {
    match &meta.source {
        Some(Source::File(path)) => display_path(path),
        _ if meta.name.starts_with("--set") => meta.name.to_string(),
        _ if meta.name.contains("environment") => {
            "environment (BALMIX_THREADS / BALMIX_DEVICE)".to_string()
        }
        _ => meta.name.to_string(),
    }
}

/// `path` relative to the working directory when it lies below it, else as is.
pub fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|c| std::fs::canonicalize(c).ok());
    let shown = cwd
        .as_deref()
        .and_then(|c| path.strip_prefix(c).ok())
        .unwrap_or(path);
    match shown.display().to_string() {
        s if s.is_empty() => ".".to_string(),
        s => s,
    }
}

fn map_figment_error(err: figment::Error, top: &Path) -> RecipeError {
    use figment::error::Kind;
    let err = err
        .into_iter()
        .next()
        .expect("a figment error holds at least one error");
    let origin = err
        .metadata
        .as_ref()
        .map(describe)
        .unwrap_or_else(|| display_path(top));
    let path = err.path.join(".");
    let key_with = |leaf: &str| {
        if err.path.last().is_some_and(|last| last == leaf) {
            path.clone()
        } else if path.is_empty() {
            leaf.to_string()
        } else {
            format!("{path}.{leaf}")
        }
    };
    let key = if path.is_empty() {
        "(top level)".to_string()
    } else {
        path.clone()
    };
    match err.kind {
        Kind::UnknownField(field, expected) => RecipeError::UnknownKey {
            origin,
            key: key_with(&field),
            expected: expected.join(", "),
        },
        Kind::MissingField(field) => RecipeError::MissingKey {
            origin,
            key: key_with(&field),
        },
        Kind::InvalidType(actual, expected) => RecipeError::WrongType {
            origin,
            key,
            found: actual.to_string(),
            expected,
        },
        Kind::InvalidValue(actual, expected) => RecipeError::WrongType {
            origin,
            key,
            found: actual.to_string(),
            expected,
        },
        Kind::UnknownVariant(got, expected) => RecipeError::UnknownVariant {
            origin,
            key,
            got,
            expected: expected
                .iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(", "),
        },
        other => RecipeError::Malformed {
            origin,
            key,
            detail: other.to_string(),
        },
    }
}
