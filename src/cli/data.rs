//! `balmix data list | fetch | verify | info | fake | prepare`.

use super::args::{CacheArgs, DataCommand, FakeArgs, PrepareArgs};
use anyhow::{bail, Context, Result};
use balmix::data::fetch::{member_bytes, member_status};
use balmix::data::manifest::{Catalog, Manifest, Source};
use balmix::data::{self, Cache};
use std::process::ExitCode;

pub fn dispatch(cmd: DataCommand) -> Result<ExitCode> {
    match cmd {
        DataCommand::List(c) => list(&c),
        DataCommand::Fetch { name, all, cache } => fetch(name.as_deref(), all, &cache),
        DataCommand::Verify { name, cache } => verify(&name, &cache),
        DataCommand::Info {
            name,
            test,
            val,
            split_seed,
            recipe,
            cache,
        } => match recipe {
            Some(path) => info_recipe(&name, &path, &cache),
            None => info(&name, test, val, split_seed, &cache),
        },
        DataCommand::Fake(a) => fake(&a),
        DataCommand::Prepare(a) => prepare(&a),
        DataCommand::BenchLoader {
            name,
            epochs,
            batch,
            resample,
            cache,
        } => bench_loader(&name, epochs, batch, resample, &cache),
    }
}

fn bench_loader(
    name: &str,
    epochs: usize,
    batch: usize,
    resample: Option<balmix::media::resample::Resampler>,
    c: &CacheArgs,
) -> Result<ExitCode> {
    let m = catalog(c).get(name)?;
    if balmix::data::clips::layout(&m).is_none() {
        bail!("`{name}` is not read from media; bench-loader measures the media loader");
    }
    let cache = Cache::new(c.cache_dir.clone());
    let workers = balmix::media::source::workers();
    let media = balmix::media::options::MediaSection {
        resample,
        ..Default::default()
    };
    let resampler = resample.map_or("the default resampler".to_string(), |r| r.to_string());
    balmix::term::print_line(&format!(
        "{name}: loader with {workers} worker thread(s), batches of {batch}, {resampler}, one warm-up epoch"
    ));
    balmix::data::loader_bench::loader_throughput(
        &m,
        &cache,
        &media,
        epochs,
        batch,
        &mut |e, rate| {
            balmix::term::print_line(&format!("epoch {e}: clips/s {rate:.2}"));
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

fn catalog(c: &CacheArgs) -> Catalog {
    match &c.manifests {
        Some(dir) => Catalog::discover(dir),
        None => Catalog::discover(&std::env::current_dir().unwrap_or_default()),
    }
}

fn source_kinds(m: &Manifest) -> String {
    if m.synthetic.is_some() {
        return "synthetic".into();
    }
    let mut kinds: Vec<String> = m
        .sources
        .iter()
        .map(|s| match s {
            Source::Pip {
                package, version, ..
            } => format!("pip {package}=={version}"),
            Source::Npm {
                package, version, ..
            } => format!("npm {package}@{version}"),
            Source::Local { env, .. } => format!("local (${env})"),
        })
        .collect();
    kinds.dedup();
    kinds.join(" + ")
}

fn list(c: &CacheArgs) -> Result<ExitCode> {
    let cat = catalog(c);
    let cache = Cache::new(c.cache_dir.clone());
    balmix::term::print_line(&format!(
        "{:<22} {:<44} {:<14} {:>9}  modalities",
        "name", "source", "status", "size"
    ));
    for name in cat.names() {
        let m = cat.get(&name)?;
        let (status, size) = if m.synthetic.is_some() {
            ("generated".to_string(), String::from("-"))
        } else {
            let members = m.members();
            let sizes: Vec<Option<u64>> = members
                .iter()
                .map(|mb| member_status(&m, mb, &cache).ok())
                .collect();
            let present = sizes.iter().filter(|s| s.is_some()).count();
            let bytes: u64 = sizes.iter().flatten().sum();
            let status = if present == members.len() {
                "cached".to_string()
            } else {
                format!("{present}/{} files", members.len())
            };
            (status, format!("{:.1} MB", bytes as f64 / 1e6))
        };
        let mods: Vec<&str> = m.modalities.iter().map(|x| x.name.as_str()).collect();
        balmix::term::print_line(&format!(
            "{:<22} {:<44} {:<14} {:>9}  {}",
            name,
            source_kinds(&m),
            status,
            size,
            mods.join(", ")
        ));
    }
    balmix::term::print_line(&format!("cache: {}", cache.root().display()));
    Ok(ExitCode::SUCCESS)
}

fn fetch(name: Option<&str>, all: bool, c: &CacheArgs) -> Result<ExitCode> {
    let cat = catalog(c);
    let cache = Cache::new(c.cache_dir.clone());
    let names: Vec<String> = if all {
        cat.names()
            .into_iter()
            .filter(|n| {
                cat.get(n)
                    .map(|m| m.sources.iter().any(|s| !matches!(s, Source::Local { .. })))
                    .unwrap_or(false)
            })
            .collect()
    } else {
        vec![name
            .expect("clap requires a name without --all")
            .to_string()]
    };
    for name in names {
        let m = cat.get(&name)?;
        if m.synthetic.is_some() {
            balmix::term::print_line(&format!("{name}: generated from a seed, nothing to fetch"));
            continue;
        }
        if m.sources.iter().all(|s| matches!(s, Source::Local { .. })) {
            data::local::check(&m, &cache).with_context(|| format!("{name} is a local dataset"))?;
            balmix::term::print_line(&format!("{name}: local files present and consistent"));
            continue;
        }
        let members = m.members();
        for (i, member) in members.iter().enumerate() {
            balmix::term::eprint_line(&format!(
                "[{}/{}] {name}: {}",
                i + 1,
                members.len(),
                member.path
            ));
            member_bytes(&m, member, &cache, &|line| {
                balmix::term::eprint_line(&format!("  {line}"))
            })
            .with_context(|| format!("fetching {name}"))?;
        }
        balmix::term::print_line(&format!(
            "{name}: {} files verified in {}",
            members.len(),
            cache.root().display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(name: &str, c: &CacheArgs) -> Result<ExitCode> {
    use balmix::data::fingerprint::{local_sha256, member_sha256};
    let m = catalog(c).get(name)?;
    let cache = Cache::new(c.cache_dir.clone());
    if m.synthetic.is_some() {
        balmix::term::print_line(&format!("{name}: generated from a seed, nothing to verify"));
        return Ok(ExitCode::SUCCESS);
    }
    if balmix::data::clips::layout(&m).is_some() {
        let line = balmix::data::clips::verify(&m, &cache)?;
        balmix::term::print_line(&line);
        return Ok(ExitCode::SUCCESS);
    }
    if m.fixed_splits.is_some() {
        data::local::check(&m, &cache)?;
    }
    let (mut bad, mut missing, mut recorded) = (0, 0, 0);
    for member in m.members() {
        let local = matches!(m.source(&member.source), Some(Source::Local { .. }));
        if !local
            && !cache
                .member_path(member.sha256.as_deref().unwrap_or(""))
                .is_file()
        {
            missing += 1;
            balmix::term::print_line(&format!("not fetched yet       {}", member.path));
            continue;
        }
        match member_status(&m, member, &cache) {
            Ok(size) if local && member.sha256.is_none() => {
                let env = match m.source(&member.source) {
                    Some(Source::Local { env, .. }) => env.as_str(),
                    _ => "",
                };
                let path = data::fetch::local_dir(&m, env, &cache).join(&member.path);
                let (sha, _) = local_sha256(&path, &cache)?;
                recorded += 1;
                balmix::term::print_line(&format!(
                    "recorded {size:>10} bytes  {}  sha256 {sha} (no checksum declared; recorded to detect changes)",
                    member.path
                ));
            }
            Ok(size) => {
                let sha = member_sha256(&m, member, &cache)?;
                balmix::term::print_line(&format!(
                    "ok       {size:>10} bytes  {}  sha256 {sha}",
                    member.path
                ));
            }
            Err(e) => {
                bad += 1;
                balmix::term::print_line(&format!("FAILED   {}: {e}", member.path));
            }
        }
    }
    if bad > 0 {
        bail!("{name}: {bad} file(s) missing or corrupt; `balmix data fetch {name}` repairs downloaded files");
    }
    let checked = m.members().len() - missing - recorded;
    let mut parts = Vec::new();
    if checked > 0 {
        parts.push(format!("{checked} file(s) match their declared sha256"));
    }
    if recorded > 0 {
        parts.push(format!(
            "{recorded} local file(s) have no declared sha256: their sha256 was recorded (a later change retrains runs that read them)"
        ));
    }
    if missing > 0 {
        parts.push(format!(
            "{missing} not fetched yet (`balmix data fetch {name}` downloads them)"
        ));
    }
    balmix::term::print_line(&format!("{name}: {}", parts.join("; ")));
    Ok(ExitCode::SUCCESS)
}

fn info(name: &str, test: f64, val: f64, seed: u64, c: &CacheArgs) -> Result<ExitCode> {
    let m = catalog(c).get(name)?;
    let cache = Cache::new(c.cache_dir.clone());
    print_header(&m);
    let d = data::load_manifest(&m, &[], &cache, &|line| balmix::term::eprint_line(line))?;
    let plain =
        balmix::data::split_settings::Split::plain(d.fixed_train.is_some(), test, val, seed);
    let s = data::split(&d, &plain)?;
    print_data(&m, &d);
    let split_name = if m.fixed_splits.is_some() {
        format!("fixed lists (val {val} of train, seed {seed})")
    } else {
        format!("stratified (test {test}, val {val}, seed {seed})")
    };
    balmix::term::print_line(&format!("split: {split_name}"));
    print_counts(&d, &s);
    Ok(ExitCode::SUCCESS)
}

/// `balmix data info NAME --recipe R`: the split the recipe's runs will use.
fn info_recipe(name: &str, path: &std::path::Path, c: &CacheArgs) -> Result<ExitCode> {
    let recipe = balmix::recipe::Recipe::load(path, &[])?;
    let m = recipe.manifest();
    if m.name != name {
        return Err(super::BadFlag {
            flag: "--recipe",
            problem: format!(
                "{} reads dataset `{}`, not `{name}`; run `balmix data info {} --recipe {}`",
                path.display(),
                m.name,
                m.name,
                path.display()
            ),
        }
        .into());
    }
    let cache = Cache::new(c.cache_dir.clone());
    print_header(m);
    let spec = recipe.dataset();
    let full = data::load_manifest(m, &spec.modalities, &cache, &|line| {
        balmix::term::eprint_line(line)
    })?;
    let d = full.select(&spec.modalities)?;
    print_data(m, &d);
    let s = &spec.split;
    let folds: Vec<Option<usize>> = match (s.folds, s.fold) {
        (Some(k), None) => (0..k).map(Some).collect(),
        (_, fold) => vec![fold],
    };
    for fold in folds {
        let mut section = s.clone();
        section.fold = fold;
        let splits = data::split(&d, &recipe.split().with_fold(fold))?;
        balmix::term::print_line(&format!("split: {}", describe_split(&section)));
        print_counts(&d, &splits);
        if let Some(g) = balmix::record::SplitRecord::of(&section, &d, &splits).group_names {
            for (part, names) in [("train", &g.train), ("val", &g.val), ("test", &g.test)] {
                balmix::term::print_line(&format!(
                    "{part:<5} groups ({}): {}",
                    names.len(),
                    names.join(", ")
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A resolved split section in words.
fn describe_split(s: &balmix::recipe::file::SplitSection) -> String {
    use balmix::kind_name::kind_name;
    let kind = s.kind.map(|k| kind_name(&k)).unwrap_or_default();
    let mut parts = vec![kind];
    if let Some(names) = &s.test_groups {
        parts.push(format!("test groups {}", names.join(", ")));
    }
    if let Some(t) = s.test {
        parts.push(format!("test {t}"));
    }
    if let (Some(k), Some(f)) = (s.folds, s.fold) {
        parts.push(format!("fold {f} of {k}"));
    }
    parts.push(format!("val {}", s.val));
    if let Some(by) = s.val_by {
        parts.push(format!("val by {}", kind_name(&by)));
    }
    parts.push(format!("seed {}", s.seed));
    parts.join(", ")
}

fn print_header(m: &Manifest) {
    balmix::term::print_line(&format!(
        "{} — {}\nlicense: {}\ncitation: {}\nsource: {}",
        m.name,
        m.description,
        m.license,
        m.citation,
        source_kinds(m)
    ));
}

fn print_data(m: &Manifest, d: &data::Dataset) {
    balmix::term::print_line(&format!("samples: {}", d.len()));
    balmix::term::print_line("modalities:");
    for md in &d.modalities {
        let shape = m
            .modalities
            .iter()
            .find(|s| s.name == md.name)
            .and_then(|s| s.shape)
            .map(|s| format!(" (shape {}×{}×{})", s[0], s[1], s[2]))
            .unwrap_or_default();
        balmix::term::print_line(&format!("  {:<14} width {}{shape}", md.name, md.width));
    }
    if !d.groups.is_empty() {
        let groups: std::collections::BTreeSet<&str> =
            d.groups.iter().map(String::as_str).collect();
        balmix::term::print_line(&format!(
            "groups: {} (validation is drawn by group unless dataset.split.val_by = \"row\"; a recipe can split by group with dataset.split.kind = \"group\")",
            groups.len()
        ));
    }
}

fn print_counts(d: &data::Dataset, s: &data::Splits) {
    balmix::term::print_line(&format!(
        "{:<10} {:>7} {:>7} {:>7} {:>7}",
        "class", "train", "val", "test", "total"
    ));
    let count = |idx: &[usize], c: usize| idx.iter().filter(|&&i| d.labels[i] == c).count();
    for (c, class) in d.classes.iter().enumerate() {
        let (a, b, t) = (count(&s.train, c), count(&s.val, c), count(&s.test, c));
        balmix::term::print_line(&format!(
            "{:<10} {:>7} {:>7} {:>7} {:>7}",
            class,
            a,
            b,
            t,
            a + b + t
        ));
    }
    balmix::term::print_line(&format!(
        "{:<10} {:>7} {:>7} {:>7} {:>7}",
        "all",
        s.train.len(),
        s.val.len(),
        s.test.len(),
        d.len()
    ));
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn fake(a: &FakeArgs) -> Result<ExitCode> {
    use balmix::media::fake::{encoders, write_fake, FakeLayout, FakeSpec};
    use balmix::media::prepare::{Ffmpeg, PrepareError};
    let spec = FakeSpec::new(a.dataset, a.clips, a.seed).map_err(|e| match e {
        PrepareError::FakeClips { .. } => anyhow::Error::new(super::BadFlag {
            flag: "--clips",
            problem: e.to_string(),
        }),
        other => other.into(),
    })?;
    let name = a.dataset.name();
    let (ffmpeg, why) = if a.no_video {
        (None, "--no-video".to_string())
    } else {
        match Ffmpeg::find() {
            Ok(f) if f.has_encoders(encoders(a.dataset)) => (Some(f), String::new()),
            Ok(_) => (
                None,
                format!(
                    "ffmpeg lacks a built-in encoder of {}",
                    encoders(a.dataset).join(", ")
                ),
            ),
            Err(tool) => (None, format!("no {tool} on PATH")),
        }
    };
    let s = write_fake(&spec, &a.out, ffmpeg.as_ref(), available_cores())?;
    let out = a.out.display();
    let counts = format!(
        "{} clips ({} train, {} test, seed {})",
        spec.clips, s.train, s.test, spec.seed
    );
    match (s.layout, &ffmpeg) {
        (FakeLayout::Raw, Some(f)) => {
            balmix::term::print_line(&format!(
                "{name}: fake dataset of {counts} written to {out} in the distribution (raw) layout; videos encoded by {}",
                f.version
            ));
            balmix::term::print_line(&format!(
                "next: balmix data prepare {name} --from {out} --to <DIR>"
            ));
        }
        _ => balmix::term::print_line(&format!(
            "{name}: fake dataset of {counts} written to {out} in the PREPARED layout ({why}: no videos; JPEG frames, WAV audio, prepared.toml, SHA256SUMS), ready for the readers"
        )),
    }
    Ok(ExitCode::SUCCESS)
}

fn prepare(a: &PrepareArgs) -> Result<ExitCode> {
    use balmix::media::prepare::{prepare, PrepareOptions};
    use std::io::IsTerminal;
    let start = std::time::Instant::now();
    let opts = PrepareOptions {
        raw: a.from.clone(),
        out: a.to.clone(),
        lists: a.lists.clone(),
        jobs: a.jobs.map_or_else(available_cores, usize::from),
        progress: std::io::stdout().is_terminal() && std::io::stderr().is_terminal(),
    };
    let p = prepare(a.dataset, &opts)
        .with_context(|| format!("preparing {} from {}", a.dataset.name(), a.from.display()))?;
    for note in &p.notes {
        balmix::term::eprint_line(&format!("note: {note}"));
    }
    let r = &p.record;
    let total = r.train_clips + r.test_clips;
    balmix::term::print_line(&format!(
        "{}: {total} clips ({} train, {} test{}) prepared in {}: {} now, {} already there; {} files in SHA256SUMS; {:.1} s with {} job(s)",
        r.dataset.name(),
        r.train_clips,
        r.test_clips,
        if r.fake { ", FAKE dataset" } else { "" },
        a.to.display(),
        p.done_now,
        total - p.done_now,
        p.files,
        start.elapsed().as_secs_f64(),
        opts.jobs
    ));
    Ok(ExitCode::SUCCESS)
}
