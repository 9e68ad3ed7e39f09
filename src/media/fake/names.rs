//! The names of a fake dataset: real class names, clip ids shaped like the real ones
//! (`1001_DFA_ANG_XX`, `--4-0ihtnBU_000058_000068`, `v_ApplyEyeMakeup_g08_c01`), the
//! train/test assignment (every class in both), and the split lists in their published formats.

use crate::media::layout::{AvDataset, KINETICS_SOUNDS_CLASSES};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// A class of a fake dataset.
#[derive(Debug, Clone)]
pub struct FakeClass {
    /// The class name (CREMA-D: the emotion code; UCF-101: the class folder).
    pub name: &'static str,
    /// The label as the lists write it (Kinetics-Sounds: the alphabetical index).
    pub label: String,
    /// UCF-101's `classInd.txt` number.
    pub number: usize,
}

/// A clip of a fake dataset.
#[derive(Debug, Clone)]
pub struct FakeClip {
    /// Clip id.
    pub id: String,
    /// Position of its class in [`classes`].
    pub class: usize,
    /// In the test list (else the train list).
    pub test: bool,
    /// Video frames.
    pub frames: usize,
}

/// CREMA-D's 12 sentence codes.
const SENTENCES: [&str; 12] = [
    "IEO", "IOM", "IWW", "TAI", "IWL", "DFA", "TSI", "TIE", "ITS", "MTI", "ITH", "WSI",
];

/// A few UCF-101 classes with their `classInd.txt` numbers.
const UCF_CLASSES: [(usize, &str); 4] = [
    (1, "ApplyEyeMakeup"),
    (3, "Archery"),
    (8, "Basketball"),
    (101, "YoYo"),
];

/// Kinetics-Sounds classes of the fake (indices into the alphabetical list), spread so that
/// the lists' integer labels are not simply 0, 1, 2, ….
const KS_CLASSES: [usize; 5] = [2, 7, 16, 25, 30];

/// The classes of a fake `dataset`.
pub fn classes(dataset: AvDataset) -> Vec<FakeClass> {
    match dataset {
        AvDataset::CremaD => ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
            .into_iter()
            .map(|e| FakeClass {
                name: e,
                label: e.to_string(),
                number: 0,
            })
            .collect(),
        AvDataset::KineticsSounds => KS_CLASSES
            .into_iter()
            .map(|i| FakeClass {
                name: KINETICS_SOUNDS_CLASSES[i],
                label: i.to_string(),
                number: 0,
            })
            .collect(),
        AvDataset::Ucf101 => UCF_CLASSES
            .into_iter()
            .map(|(n, c)| FakeClass {
                name: c,
                label: c.to_string(),
                number: n,
            })
            .collect(),
    }
}

fn youtube_id(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..11)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `n` clips: clip `i` has class `i mod classes`; the last quarter (at least one) of each
/// class's clips are test clips. Frame counts are drawn from `frames`.
pub fn clips(
    dataset: AvDataset,
    classes: &[FakeClass],
    n: usize,
    frames: std::ops::RangeInclusive<usize>,
    rng: &mut ChaCha8Rng,
) -> Vec<FakeClip> {
    let k = classes.len();
    let per_class = |c: usize| n / k + usize::from(c < n % k);
    let (actor0, sentence0) = (rng.gen_range(0..91usize), rng.gen_range(0..12usize));
    let mut used = HashSet::new();
    let mut seen = vec![[0usize; 2]; k];
    (0..n)
        .map(|i| {
            let (class, j) = (i % k, i / k);
            let total = per_class(class);
            let test = j >= total - total.div_ceil(4);
            let nth = seen[class][usize::from(test)];
            seen[class][usize::from(test)] += 1;
            let id = match dataset {
                AvDataset::CremaD => {
                    let actor = 1001 + (actor0 + j * 37) % 91;
                    let sentence = SENTENCES[(sentence0 + j / 91) % 12];
                    let level = if sentence == "IEO" {
                        ["LO", "MD", "HI", "XX"][j % 4]
                    } else {
                        "XX"
                    };
                    format!("{actor}_{sentence}_{}_{level}", classes[class].name)
                }
                AvDataset::KineticsSounds => loop {
                    let id = if test {
                        format!("{}_{}", youtube_id(rng), rng.gen_range(0..20))
                    } else {
                        let start = rng.gen_range(0..300usize);
                        format!("{}_{start:06}_{:06}", youtube_id(rng), start + 10)
                    };
                    if used.insert(id.clone()) {
                        break id;
                    }
                },
                AvDataset::Ucf101 => {
                    // Split 1 tests groups 1–7 and trains on groups 8–25.
                    let group = if test { 1 + nth / 4 } else { 8 + nth / 4 };
                    format!("v_{}_g{group:02}_c{:02}", classes[class].name, 1 + nth % 4)
                }
            };
            FakeClip {
                id,
                class,
                test,
                frames: rng.gen_range(frames.clone()),
            }
        })
        .collect()
}

/// The split lists (and UCF-101's class index) as (file name, text), CRLF as published.
pub fn lists(
    dataset: AvDataset,
    classes: &[FakeClass],
    clips: &[FakeClip],
) -> Vec<(&'static str, String)> {
    let [train, test] = dataset.lists().map(|l| l.file);
    let text = |test_list: bool| -> String {
        clips
            .iter()
            .filter(|c| c.test == test_list)
            .map(|c| {
                let class = &classes[c.class];
                match dataset {
                    AvDataset::CremaD => format!("{},{}\r\n", c.id, class.label),
                    AvDataset::KineticsSounds => format!("{},10,{}\r\n", c.id, class.label),
                    AvDataset::Ucf101 if test_list => format!("{}/{}.avi\r\n", class.name, c.id),
                    AvDataset::Ucf101 => {
                        format!("{}/{}.avi {}\r\n", class.name, c.id, class.number)
                    }
                }
            })
            .collect()
    };
    let mut out = vec![(train, text(false)), (test, text(true))];
    if dataset == AvDataset::Ucf101 {
        let index = classes
            .iter()
            .map(|c| format!("{} {}\r\n", c.number, c.name))
            .collect();
        out.insert(0, ("classInd.txt", index));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Every class has train and test clips, ids are unique, and the lists parse back to the
    /// same clips and labels with the layout's own parser.
    #[test]
    fn every_class_is_in_train_and_test_and_the_lists_parse_back() {
        for dataset in AvDataset::ALL {
            let cls = classes(dataset);
            let n = 2 * cls.len() + 3;
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let c = clips(dataset, &cls, n, 10..=20, &mut rng);
            let ids: HashSet<&str> = c.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids.len(), n, "{dataset:?}");
            for k in 0..cls.len() {
                for test in [false, true] {
                    assert!(
                        c.iter().any(|c| c.class == k && c.test == test),
                        "{dataset:?} {k}"
                    );
                }
            }
            let l = lists(dataset, &cls, &c);
            let files = dataset.lists().map(|s| s.file);
            let mut parsed = Vec::new();
            for f in files {
                let (_, text) = l.iter().find(|(n, _)| *n == f).unwrap();
                assert!(text.ends_with("\r\n"));
                parsed.extend(dataset.parse_list(text).unwrap());
            }
            assert_eq!(parsed.len(), n);
            for e in &parsed {
                let clip = c.iter().find(|c| c.id == e.clip).unwrap();
                assert_eq!(e.label, cls[clip.class].label);
            }
        }
        let cls = classes(AvDataset::CremaD);
        let c = clips(
            AvDataset::CremaD,
            &cls,
            24,
            1..=1,
            &mut ChaCha8Rng::seed_from_u64(0),
        );
        assert_eq!(c.iter().filter(|c| c.test).count(), 6);
        let shape = regex_like_crema(&c[0].id);
        assert!(shape, "{}", c[0].id);
    }

    fn regex_like_crema(id: &str) -> bool {
        let p: Vec<&str> = id.split('_').collect();
        p.len() == 4
            && p[0]
                .parse::<u32>()
                .is_ok_and(|a| (1001..=1091).contains(&a))
            && SENTENCES.contains(&p[1])
            && ["LO", "MD", "HI", "XX"].contains(&p[3])
    }
}
