//! Every recipe key with its type, default and meaning, for `balmix keys`. The table is built
//! at compile time from the doc comments of the recipe file types ([`super::file`] and
//! [`crate::media::options::MediaSection`]) — the rustdoc's own source — by `build.rs`, so the
//! listing cannot drift from the code. A test checks that every key of every shipped recipe,
//! resolved, is listed.

/// A struct (a recipe section) or an enum (a key's allowed values), as parsed from its source.
#[derive(Debug)]
pub struct KeyItem {
    /// The Rust type's name.
    pub name: &'static str,
    /// Whether it is an enum (its members are values) rather than a struct (fields).
    pub is_enum: bool,
    /// Its own doc comment, joined into one line (a tagged section's `kind` key reads it).
    pub doc: &'static str,
    /// Fields (struct) or serialized values (enum).
    pub members: &'static [KeyMember],
}

/// A field or an enum value.
#[derive(Debug)]
pub struct KeyMember {
    /// Key (field) name or the value as written in a recipe.
    pub name: &'static str,
    /// The field's Rust type (for enum values: empty, or the struct of a tagged section's
    /// variant, e.g. `AgmConfig`).
    pub ty: &'static str,
    /// Its doc comment, joined into one line.
    pub doc: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/recipe_keys.rs"));

/// One recipe key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Dotted path; `<name>` stands for a modality (or other) name of a table of tables.
    pub path: String,
    /// What a value looks like: `integer`, `number`, `string`, `boolean`, a list, or the
    /// allowed strings.
    pub ty: String,
    /// The default, as the doc comment states it (empty when required or none).
    pub default: String,
    /// The doc comment without its default sentence.
    pub meaning: String,
}

fn item(name: &str) -> Option<&'static KeyItem> {
    ITEMS.iter().find(|i| i.name == name)
}

/// The last path segment of a Rust type (`crate::media::options::MediaSection` → `MediaSection`).
fn base(ty: &str) -> &str {
    ty.rsplit("::").next().unwrap_or(ty).trim()
}

/// `Outer<inner>` → `inner`.
fn inside<'a>(ty: &'a str, outer: &str) -> Option<&'a str> {
    ty.strip_prefix(outer)?
        .strip_prefix('<')?
        .strip_suffix('>')
        .map(str::trim)
}

/// How a value of Rust type `ty` is written in a recipe.
fn shape(ty: &str) -> String {
    let ty = ty.trim();
    if let Some(t) = inside(ty, "Option") {
        return shape(t);
    }
    if let Some(t) = inside(ty, "Vec") {
        return format!("list of {}", shape(t));
    }
    if let Some(t) = inside(ty, "BTreeMap") {
        let value = t.split_once(',').map_or(t, |(_, v)| v);
        return format!("table of {}", shape(value));
    }
    let b = base(ty);
    match b {
        "usize" | "u64" | "u32" | "i64" => "integer".into(),
        "f64" | "f32" => "number".into(),
        "bool" => "boolean".into(),
        "String" => "string".into(),
        _ => match item(b) {
            Some(i) if i.is_enum => i
                .members
                .iter()
                .map(|m| format!("\"{}\"", m.name))
                .collect::<Vec<_>>()
                .join(" | "),
            Some(_) => "table".into(),
            None => b.to_string(),
        },
    }
}

/// Split a doc comment into (default, the rest): the default is the sentence that starts with
/// "Default".
fn split_default(doc: &str) -> (String, String) {
    let Some(at) = doc.find("Default") else {
        return (String::new(), doc.trim().to_string());
    };
    let rest = &doc[at..];
    let end = rest
        .find(". ")
        .map_or(rest.len(), |e| e + 1)
        .min(rest.len());
    let sentence = rest[..end].trim().trim_end_matches('.');
    let default = sentence
        .trim_start_matches("Default")
        .trim_start_matches(':')
        .trim()
        .to_string();
    let meaning = format!("{}{}", &doc[..at], &rest[end..]);
    (
        default,
        meaning.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

fn walk(section: &KeyItem, prefix: &str, out: &mut Vec<Key>) {
    for m in section.members {
        let path = if prefix.is_empty() {
            m.name.to_string()
        } else {
            format!("{prefix}.{}", m.name)
        };
        let ty = inside(m.ty, "Option").unwrap_or(m.ty);
        let (default, meaning) = split_default(m.doc);
        // A table of sections keyed by name (`model.encoders.<name>`).
        if let Some(value) = inside(ty, "BTreeMap").and_then(|t| t.split_once(',').map(|(_, v)| v))
        {
            if let Some(i) = item(base(value)).filter(|i| !i.is_enum) {
                out.push(Key {
                    path: path.clone(),
                    ty: "table of tables, one per name".into(),
                    default,
                    meaning,
                });
                out.push(Key {
                    path: format!("{path}.<name>"),
                    ty: "table".into(),
                    default: String::new(),
                    meaning: format!("The table of one name in `{path}` (its keys below)."),
                });
                walk(i, &format!("{path}.<name>"), out);
                continue;
            }
        }
        // A tagged section (`[method]`): its `kind`, then every kind's keys (each once).
        if let Some(i) =
            item(base(ty)).filter(|i| i.is_enum && i.members.iter().any(|v| !v.ty.is_empty()))
        {
            out.push(Key {
                path: path.clone(),
                ty: "table".into(),
                default,
                meaning,
            });
            let (default, meaning) = split_default(i.doc);
            out.push(Key {
                path: format!("{path}.kind"),
                ty: shape(i.name),
                default,
                meaning,
            });
            let mut keys = Vec::new();
            for variant in i.members.iter().filter_map(|v| item(base(v.ty))) {
                walk(variant, &path, &mut keys);
            }
            // A key several kinds take (`method.epochs`) is listed once, with each kind's
            // meaning where they differ, and each kind's default where those differ
            // (`method.alpha`: AGM's 1.0, OPM's 0.5).
            let mut shared: Vec<(Key, Vec<(String, String)>)> = Vec::new();
            for k in keys {
                match shared.iter_mut().find(|(o, _)| o.path == k.path) {
                    None => {
                        let parts = vec![(k.meaning.clone(), k.default.clone())];
                        shared.push((k, parts));
                    }
                    Some((_, parts)) => {
                        if !parts.iter().any(|(m, _)| m.contains(&k.meaning)) {
                            parts.push((k.meaning, k.default));
                        }
                    }
                }
            }
            for (mut k, parts) in shared {
                let one_default = parts.iter().all(|(_, d)| *d == parts[0].1);
                let text: Vec<String> = parts
                    .into_iter()
                    .map(|(m, d)| match one_default || d.is_empty() {
                        true => m,
                        false => format!("{m} Default {d}."),
                    })
                    .collect();
                if !one_default {
                    k.default = "per kind (in the meaning)".into();
                }
                k.meaning = text.join(" ");
                out.push(k);
            }
            continue;
        }
        if let Some(i) = item(base(ty)).filter(|i| !i.is_enum) {
            out.push(Key {
                path: path.clone(),
                ty: "table".into(),
                default,
                meaning,
            });
            walk(i, &path, out);
            continue;
        }
        out.push(Key {
            path,
            ty: shape(m.ty),
            default,
            meaning,
        });
    }
}

/// Every key of a recipe file, in the order the types declare them.
pub fn keys() -> Vec<Key> {
    let mut out = Vec::new();
    if let Some(root) = item("RecipeFile") {
        walk(root, "", &mut out);
    }
    out
}

/// Whether `path` (a concrete key, e.g. `model.encoders.audio.kind`) is listed: `<name>`
/// matches any one segment.
pub fn is_listed(path: &str, keys: &[Key]) -> bool {
    let parts: Vec<&str> = path.split('.').collect();
    keys.iter().any(|k| {
        let pattern: Vec<&str> = k.path.split('.').collect();
        pattern.len() == parts.len()
            && pattern
                .iter()
                .zip(&parts)
                .all(|(p, q)| *p == "<name>" || p == q)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> Key {
        keys()
            .into_iter()
            .find(|k| k.path == path)
            .unwrap_or_else(|| panic!("no key {path}"))
    }

    /// Types, defaults and meanings come from the doc comments in src/recipe/file.rs.
    #[test]
    fn keys_carry_their_documented_type_default_and_meaning() {
        let k = key("dataset.split.test");
        assert_eq!((k.ty.as_str(), k.default.as_str()), ("number", "`0.2`"));
        assert!(k.meaning.contains("held out for test"), "{k:?}");
        let k = key("model.encoders.<name>.kind");
        assert!(
            k.ty.contains("\"mlp\"") && k.ty.contains("\"resnet18\""),
            "{k:?}"
        );
        assert_eq!(key("model.encoders.<name>.width").ty, "integer");
        assert_eq!(key("seeds").ty, "list of integer");
        assert_eq!(key("seeds").default, "`[0]`");
        assert!(key("dataset.media.resample")
            .ty
            .contains("\"resampy_kaiser_best\""));
        assert_eq!(key("name").default, "");
    }

    /// A key several method kinds take is listed once, with each kind's meaning.
    #[test]
    fn a_key_of_several_kinds_carries_each_kinds_meaning() {
        let listed = keys();
        assert_eq!(
            listed.iter().filter(|k| k.path == "method.epochs").count(),
            1
        );
        let k = key("method.epochs");
        for kind in ["agm:", "mmcosine:", "cml:", "mbsd:", "amco:", "opm:"] {
            assert!(k.meaning.contains(kind), "{kind} in {k:?}");
        }
        // A key whose default differs by kind says each kind's default.
        let alpha = key("method.alpha");
        assert_eq!(alpha.default, "per kind (in the meaning)");
        assert!(alpha.meaning.contains("Default `1.0`"), "{alpha:?}");
        assert!(alpha.meaning.contains("Default `0.5`"), "{alpha:?}");
        // Its inner keys, the same for every kind, once each.
        assert_eq!(
            key("method.epochs.start").meaning.matches("epoch").count(),
            1
        );
    }

    #[test]
    fn a_default_sentence_is_split_from_the_meaning() {
        let (d, m) = split_default("Fraction held out. Default `0.2`. Per class.");
        assert_eq!(
            (d.as_str(), m.as_str()),
            ("`0.2`", "Fraction held out. Per class.")
        );
        let (d, m) = split_default("Required.");
        assert_eq!((d.as_str(), m.as_str()), ("", "Required."));
    }
}
