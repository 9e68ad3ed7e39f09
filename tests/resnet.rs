//! ResNet-18 encoders: batch norm's buffers travel with the weights (checkpoints, the best-val
//! copy, model files), results are the same for any thread count and across a resume, and a
//! saved model evaluates with its running statistics. Parity with torchvision: resnet_parity.rs.

use crate::common::{
    assert_resume_after_every_epoch_is_bit_identical, metrics_without_timing, model_bytes, recipe,
    train,
};

#[test]
fn resnet_runs_are_identical_for_one_and_two_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let one = recipe("tiny-resnet.toml", &["train.epochs=2", "train.threads=1"]);
    let two = recipe("tiny-resnet.toml", &["train.epochs=2", "train.threads=2"]);
    let a = train(&one, 3, &tmp.path().join("one"));
    let b = train(&two, 3, &tmp.path().join("two"));
    assert_eq!(model_bytes(&a), model_bytes(&b));
    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
}

/// Stop after each epoch, resume, compare with an uninterrupted run: the running statistics
/// (buffers) and the best-val copy come back from the checkpoint bit for bit.
#[test]
fn resnet_resume_after_any_epoch_is_bit_identical() {
    assert_resume_after_every_epoch_is_bit_identical(&recipe("tiny-resnet.toml", &[]), |_, _| {});
}

/// The saved model holds every batch norm's running mean and variance, moved away from their
/// initial 0 and 1 by training (so evaluation uses learnt statistics), and `balmix eval`
/// rebuilds the model from the file and reproduces the summary's test accuracy.
#[test]
fn saved_resnet_holds_its_running_statistics_and_evaluates_to_its_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(
        "tiny-resnet.toml",
        &["train.epochs=1", "train.eval.select=\"last\""],
    );
    let dir = train(&r, 0, tmp.path());
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let read = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap_or_else(|_| panic!("no {name}"))
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    // Per encoder: stem + 8 blocks × 2 + 3 shortcuts = 20 batch norms, 2 buffers each.
    let buffers: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| n.ends_with(".running_mean") || n.ends_with(".running_var"))
        .cloned()
        .collect();
    assert_eq!(buffers.len(), 2 * 2 * 20, "{buffers:?}");
    let mean = read("encoder.visual.layer4.1.bn2.running_mean");
    let var = read("encoder.visual.layer4.1.bn2.running_var");
    assert!(mean.iter().any(|&v| v != 0.0), "{mean:?}");
    assert!(var.iter().any(|&v| v != 1.0), "{var:?}");
    let out = crate::common::balmix(&["eval", dir.to_str().unwrap()], tmp.path());
    let (stdout, stderr) = crate::common::text(&out);
    assert!(out.status.success(), "{stderr}");
    let s = balmix::record::read_summary(&dir).unwrap();
    assert!(
        stdout.contains(&format!("clean test accuracy {:.4}", s.test_accuracy)),
        "{stdout}"
    );
}

/// `balmix summary` on the paper's CREMA-D recipe: two ResNet-18s with torchvision's parameter
/// counts (11,170,240 with a 1-channel stem, 11,176,512 with 3 channels; each with 4,800 running
/// means and 4,800 running variances — av-datasets.md §5.1, counted from torchvision) and the
/// forward FLOPs of resnet-cpu.md (3.57 + 3.63 GFLOP per sample), without reading any data.
#[test]
fn summary_of_the_paper_recipe_counts_torchvisions_parameters() {
    let o = crate::common::balmix(
        &["summary", "recipes/paper/crema-d/concat.toml"],
        crate::common::root(),
    );
    let (stdout, stderr) = crate::common::text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("encoder audio: 11170240 parameters (+ 9600 buffer values)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("encoder visual: 11176512 parameters (+ 9600 buffer values)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fusion and head: 6150 parameters"),
        "{stdout}"
    );
    assert!(
        stdout.contains("forward 7196.2 MFLOP per sample"),
        "{stdout}"
    );
}
