//! Build step: the recipe's keys from the doc comments of the serde types that read recipe
//! files (`src/recipe/file.rs`, `src/media/options.rs`), written to `$OUT_DIR/recipe_keys.rs`
//! for `balmix keys`. The same comments are the rustdoc, so the two cannot drift.

use std::fmt::Write as _;

struct Member {
    name: String,
    ty: String,
    doc: String,
}

struct Item {
    name: String,
    is_enum: bool,
    /// The item's own doc comment (a tagged section's `kind` key reads it).
    doc: String,
    members: Vec<Member>,
}

/// serde's name of a Rust identifier under `rename_all`.
fn renamed(ident: &str, rule: Option<&str>) -> String {
    let words = |sep: &str| {
        let mut out = String::new();
        for (i, c) in ident.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push_str(sep);
            }
            out.extend(c.to_lowercase());
        }
        out
    };
    match rule {
        Some("kebab-case") => words("-"),
        Some("snake_case") => words("_"),
        Some("lowercase") => ident.to_lowercase(),
        _ => ident.to_string(),
    }
}

/// The value of `key = "..."` inside a `#[serde(...)]` line.
fn attr(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!("{key} = \""))? + key.len() + 4;
    let end = line[at..].find('"')?;
    Some(line[at..at + end].to_string())
}

fn parse(source: &str, items: &mut Vec<Item>) {
    let mut doc: Vec<String> = Vec::new();
    let mut rename_all: Option<String> = None;
    let mut rename: Option<String> = None;
    let mut current: Option<(Item, Option<String>)> = None;
    let mut depth = 0usize;
    // Inside an attribute that spans lines (`#[serde(` … `)]`).
    let mut in_attr = false;
    for raw in source.lines() {
        let line = raw.trim();
        if in_attr {
            if let Some(r) = attr(line, "rename") {
                rename = Some(r);
            }
            in_attr = !line.ends_with(']');
            continue;
        }
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim().to_string());
            continue;
        }
        if line.starts_with("#[") && !line.ends_with(']') {
            in_attr = true;
            if let Some(r) = attr(line, "rename_all") {
                rename_all = Some(r);
            }
            continue;
        }
        if line.starts_with("#[serde(") {
            if let Some(r) = attr(line, "rename_all") {
                rename_all = Some(r);
            }
            if let Some(r) = attr(line, "rename") {
                rename = Some(r);
            }
            continue;
        }
        if line.starts_with("#[") || line.starts_with("//") {
            continue;
        }
        match current.as_mut() {
            None => {
                for (prefix, is_enum) in [("pub struct ", false), ("pub enum ", true)] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        if rest.ends_with('{') {
                            let name = rest
                                .trim_end_matches('{')
                                .trim()
                                .split('<')
                                .next()
                                .unwrap_or("")
                                .to_string();
                            current = Some((
                                Item {
                                    name,
                                    is_enum,
                                    doc: doc.join(" "),
                                    members: Vec::new(),
                                },
                                rename_all.take(),
                            ));
                            depth = 1;
                        }
                    }
                }
                doc.clear();
                rename_all = None;
                rename = None;
            }
            Some((item, rule)) => {
                let opens = line.matches('{').count();
                let closes = line.matches('}').count();
                if depth == 1 && !line.is_empty() && line != "}" {
                    let text = doc.join(" ");
                    if item.is_enum {
                        let ident: String = line
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !ident.is_empty() {
                            let value = rename
                                .take()
                                .unwrap_or_else(|| renamed(&ident, rule.as_deref()));
                            // A tagged section's variant carries its keys' struct:
                            // `Agm(AgmConfig),` → the payload type.
                            let payload = line[ident.len()..]
                                .strip_prefix('(')
                                .and_then(|r| r.split_once(')'))
                                .map_or(String::new(), |(t, _)| t.trim().to_string());
                            item.members.push(Member {
                                name: value,
                                ty: payload,
                                doc: text,
                            });
                        }
                    } else if let Some(rest) = line.strip_prefix("pub ") {
                        if let Some((name, ty)) = rest.split_once(':') {
                            let name = rename.take().unwrap_or_else(|| name.trim().to_string());
                            item.members.push(Member {
                                name,
                                ty: ty.trim().trim_end_matches(',').trim().to_string(),
                                doc: text,
                            });
                        }
                    }
                    doc.clear();
                    rename = None;
                }
                depth = depth + opens - closes.min(depth + opens);
                if depth == 0 {
                    let (item, _) = current.take().unwrap();
                    items.push(item);
                    doc.clear();
                }
            }
        }
    }
}

/// Write `$OUT_DIR/recipe_keys.rs`: `pub static ITEMS: &[KeyItem]` over `sources`.
pub fn write(sources: &[&str], out: &std::path::Path) {
    let mut items = Vec::new();
    for s in sources {
        let text = std::fs::read_to_string(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        parse(&text, &mut items);
        println!("cargo:rerun-if-changed={s}");
    }
    let mut code = String::from("/// Every recipe section (struct) and value list (enum), parsed from the sources.\npub static ITEMS: &[KeyItem] = &[\n");
    for item in &items {
        let _ = writeln!(
            code,
            "    KeyItem {{ name: {:?}, is_enum: {}, doc: {:?}, members: &[",
            item.name, item.is_enum, item.doc
        );
        for m in &item.members {
            let _ = writeln!(
                code,
                "        KeyMember {{ name: {:?}, ty: {:?}, doc: {:?} }},",
                m.name, m.ty, m.doc
            );
        }
        code.push_str("    ] },\n");
    }
    code.push_str("];\n");
    std::fs::write(out, code).expect("write recipe_keys.rs");
}
