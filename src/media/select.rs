//! Which frames of a clip a sample reads (`../shared/specs/av-datasets.md` §2.6, §3.5, §4):
//! the released rules of the reference code bases, by the names the spec gives them, over the
//! clip's frame files sorted by name.

use crate::rng::{stream, Stream};
use rand::Rng;

pub use super::vocabulary::FrameSelect;

/// Why frames could not be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Fewer frame files than the rule needs.
    #[error("{files} frame file(s), but {rule} with {k} frame(s) needs at least {k}")]
    TooFew {
        /// Files in the folder.
        files: usize,
        /// Frames asked for.
        k: usize,
        /// The rule's name.
        rule: &'static str,
    },
}

/// The `frame-select` stream index of sample `sample` in `epoch`.
pub fn draw_index(epoch: usize, sample: usize) -> u64 {
    ((epoch as u64) << 32) | sample as u64
}

impl FrameSelect {
    /// The name used in recipes.
    pub fn name(self) -> &'static str {
        match self {
            FrameSelect::ListdirFirstK => "listdir_first_k",
            FrameSelect::Segment => "segment",
            FrameSelect::FixedOffsets => "fixed_offsets",
        }
    }

    /// Indices into the sorted listing of `files` frames for `k` frames. `train` is
    /// `Some((seed, epoch, sample))` for a training read, `None` for evaluation.
    pub fn pick(
        self,
        files: usize,
        k: usize,
        train: Option<(u64, usize, usize)>,
    ) -> Result<Vec<usize>, SelectError> {
        if files < k || files == 0 {
            return Err(SelectError::TooFew {
                files,
                k,
                rule: self.name(),
            });
        }
        let seg = files / k;
        Ok(match self {
            FrameSelect::ListdirFirstK => (0..k).collect(),
            FrameSelect::FixedOffsets => (0..k).map(|i| i * seg).collect(),
            FrameSelect::Segment => match train {
                None => (0..k).map(|i| i * seg + seg / 2).collect(),
                Some((seed, epoch, sample)) => {
                    let mut rng = stream(seed, Stream::FrameSelect, draw_index(epoch, sample));
                    (0..k).map(|i| i * seg + rng.gen_range(0..seg)).collect()
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_rules_pick_the_frames_the_spec_lists() {
        // OGM-GE Kinetics-Sounds: 10 files, 3 frames -> files 1, 4, 7 (1-based).
        assert_eq!(
            FrameSelect::FixedOffsets.pick(10, 3, None).unwrap(),
            vec![0, 3, 6]
        );
        // Test-time segment centres for 10 files (seg 3): 1, 4, 7 (0-based), as
        // BalanceBenchmark's i·seg + ⌊seg/2⌋.
        assert_eq!(
            FrameSelect::Segment.pick(10, 3, None).unwrap(),
            vec![1, 4, 7]
        );
        assert_eq!(
            FrameSelect::ListdirFirstK
                .pick(3, 1, Some((0, 5, 9)))
                .unwrap(),
            vec![0]
        );
    }

    #[test]
    fn segment_random_stays_in_its_segment_and_depends_only_on_its_key() {
        for sample in 0..200 {
            let a = FrameSelect::Segment
                .pick(11, 3, Some((7, 2, sample)))
                .unwrap();
            for (i, &f) in a.iter().enumerate() {
                assert!((i * 3..i * 3 + 3).contains(&f), "{a:?}");
            }
            assert_eq!(
                a,
                FrameSelect::Segment
                    .pick(11, 3, Some((7, 2, sample)))
                    .unwrap()
            );
        }
        let differ = (0..50)
            .filter(|&s| {
                FrameSelect::Segment.pick(30, 3, Some((7, 0, s)))
                    != FrameSelect::Segment.pick(30, 3, Some((7, 1, s)))
            })
            .count();
        assert!(differ > 40, "epochs draw anew: {differ}/50 differ");
    }

    #[test]
    fn too_few_frames_is_an_error_not_a_short_sample() {
        let e = FrameSelect::ListdirFirstK.pick(2, 3, None).unwrap_err();
        assert!(e.to_string().contains("2 frame file(s)"), "{e}");
        assert!(FrameSelect::Segment.pick(0, 1, None).is_err());
    }
}
