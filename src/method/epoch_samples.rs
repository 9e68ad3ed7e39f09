//! The training list of one epoch as a method may rebuild it (seam hook (e)): which samples
//! the epoch's batches read, in order — duplicates allowed — and, per entry, the modalities
//! zeroed for that entry. The plain list is the shuffled training split with nothing zeroed.

/// One batch of an epoch's list: its sample indices and, when the list zeroes anything, its
/// rows' zeroing flags.
pub type Batch<'a> = (&'a [usize], Option<&'a [Vec<bool>]>);

/// The epoch's training list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochSamples {
    /// Sample indices in batch order (chunked by `train.batch_size`); a sample may appear
    /// several times, or not at all.
    pub order: Vec<usize>,
    /// Per entry of `order`, per modality: whether that modality's input rows are zeroed
    /// (before training-time augmentation). Empty: nothing is zeroed.
    pub zeroed: Vec<Vec<bool>>,
}

impl EpochSamples {
    /// The shuffled training split as it is, nothing zeroed.
    pub fn plain(order: Vec<usize>) -> EpochSamples {
        EpochSamples {
            order,
            zeroed: Vec::new(),
        }
    }

    /// Check the list against the dataset: indices below `samples`, one zeroing row per entry
    /// with one flag per modality. A method returning a malformed list is a bug; this names it.
    pub fn check(&self, samples: usize, modalities: usize) -> Result<(), String> {
        if let Some(i) = self.order.iter().find(|&&i| i >= samples) {
            return Err(format!(
                "the epoch's training list names sample {i}, beyond the dataset's {samples}"
            ));
        }
        if self.zeroed.is_empty() {
            return Ok(());
        }
        if self.zeroed.len() != self.order.len() {
            return Err(format!(
                "the epoch's training list has {} entries but {} zeroing rows",
                self.order.len(),
                self.zeroed.len()
            ));
        }
        match self.zeroed.iter().find(|z| z.len() != modalities) {
            Some(z) => Err(format!(
                "a zeroing row has {} flags for {modalities} modalities",
                z.len()
            )),
            None => Ok(()),
        }
    }

    /// The batches: `(sample indices, zeroing rows)` of `batch_size` entries each, the last
    /// one shorter when the list does not divide.
    pub fn batches(&self, batch_size: usize) -> Vec<Batch<'_>> {
        self.order
            .chunks(batch_size)
            .enumerate()
            .map(|(b, idx)| {
                let zeroed = (!self.zeroed.is_empty()).then(|| {
                    let start = b * batch_size;
                    &self.zeroed[start..start + idx.len()]
                });
                (idx, zeroed)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_carry_their_own_zeroing_rows() {
        let s = EpochSamples {
            order: vec![4, 4, 1, 0, 2],
            zeroed: (0..5).map(|i| vec![i % 2 == 0, false]).collect(),
        };
        s.check(5, 2).unwrap();
        let b = s.batches(2);
        assert_eq!(b.len(), 3);
        assert_eq!(b[1].0, &[1, 0]);
        assert_eq!(b[1].1.unwrap(), &[vec![true, false], vec![false, false]]);
        assert_eq!(b[2].1.unwrap().len(), 1);
        assert!(EpochSamples::plain(vec![0, 1]).batches(2)[0].1.is_none());
    }

    #[test]
    fn malformed_lists_are_named() {
        let beyond = EpochSamples::plain(vec![0, 9]);
        assert!(beyond.check(5, 2).unwrap_err().contains("sample 9"));
        let short = EpochSamples {
            order: vec![0, 1],
            zeroed: vec![vec![false, true]],
        };
        assert!(short.check(5, 2).unwrap_err().contains("2 entries but 1"));
        let wide = EpochSamples {
            order: vec![0],
            zeroed: vec![vec![false, true, true]],
        };
        assert!(wide.check(5, 2).unwrap_err().contains("3 flags"));
    }
}
