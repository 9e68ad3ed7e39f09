//! Loader throughput: training-view samples per second through the streaming loader, measured
//! as `balmix data bench-loader` prints it and `scripts/loader-bench.sh` compares with the
//! reference PyTorch DataLoader (`tools/av-reference/loader_bench.py`).

use super::clips::load;
use super::{Cache, DataError};
use crate::manifest::Manifest;
use crate::media::options::MediaSection;
use crate::media::source::View;
use std::time::Instant;

/// Clips per second of each epoch after a warm-up epoch: every training clip of every media
/// modality of `manifest` (reader settings `media`, the defaults where unset), in batches of `batch`, the next batch prefetched
/// as training does. `on_epoch` hears each figure.
pub fn loader_throughput(
    manifest: &Manifest,
    cache: &Cache,
    media: &MediaSection,
    epochs: usize,
    batch: usize,
    on_epoch: &mut dyn FnMut(usize, f64),
) -> Result<Vec<f64>, DataError> {
    let names: Vec<String> = manifest.modalities.iter().map(|m| m.name.clone()).collect();
    let (data, train) = load(manifest, &names, media, cache, &|_| {})?;
    let idx: Vec<usize> = (0..train).collect();
    let batches: Vec<&[usize]> = idx.chunks(batch.max(1)).collect();
    let mut out = Vec::new();
    for epoch in 0..=epochs {
        let view = View::Train { seed: 0, epoch };
        let start = Instant::now();
        let mut values = 0usize;
        for (b, rows) in batches.iter().enumerate() {
            if let Some(next) = batches.get(b + 1) {
                data.prefetch(next, view);
            }
            for m in &data.modalities {
                values += m.rows(rows, view)?.len();
            }
        }
        std::hint::black_box(values);
        let rate = train as f64 / start.elapsed().as_secs_f64();
        if epoch > 0 {
            on_epoch(epoch, rate);
            out.push(rate);
        }
    }
    Ok(out)
}
