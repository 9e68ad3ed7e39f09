//! Parity of the audio front-ends with the reference library, on the committed inputs and
//! outputs of `tools/av-reference/audio_reference.py` (librosa 0.10.2.post1, numpy 1.26.4,
//! soundfile 0.12.1): WAV decoding as `librosa.load(sr=None)`, the OGM-GE log-magnitude STFT
//! with either centre padding.

use crate::common::root;
use balmix::media::spectrogram::{CenterPad, LogStft};
use balmix::media::wav::read_wav;

/// The parity target of issue 13 for deterministic audio front-ends: max |Δ| of the log values.
const LOG_TOLERANCE: f64 = 1e-4;

#[test]
fn ogm_log_stft_matches_librosa_for_both_paddings() {
    let dir = root().join("tests/reference/audio");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stft_ogm.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("stft_ogm.npy")).unwrap();
    let reference = balmix::data::read_npy::read_npy(&bytes, "stft_ogm.npy").unwrap();
    let cases = meta["cases"].as_array().unwrap();
    assert_eq!(reference.shape, vec![cases.len(), 257, 188]);
    let per_case = 257 * 188;
    let mut worst = 0f64;
    for (i, case) in cases.iter().enumerate() {
        let audio = read_wav(&dir.join(case["clip"].as_str().unwrap())).unwrap();
        assert_eq!(audio.rate, 22_050);
        assert_eq!(
            audio.samples.len() as u64,
            case["samples"].as_u64().unwrap()
        );
        let pad = match case["pad_mode"].as_str().unwrap() {
            "constant" => CenterPad::Constant,
            _ => CenterPad::Reflect,
        };
        let got = LogStft {
            pad,
            ..LogStft::OGM_GE
        }
        .compute(&audio.samples)
        .unwrap();
        let want = &reference.values[i * per_case..(i + 1) * per_case];
        let (mut max, mut at) = (0f64, 0);
        for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
            let d = (g as f64 - w).abs();
            if d > max {
                (max, at) = (d, j);
            }
        }
        eprintln!(
            "{} ({:?}): max |Δ log| = {max:.2e} at bin {}, frame {} (reference {:.3})",
            case["clip"],
            pad,
            at / 188,
            at % 188,
            want[at]
        );
        assert!(
            max <= LOG_TOLERANCE,
            "{} ({pad:?}): max |Δ| {max:e} at bin {}, frame {}",
            case["clip"],
            at / 188,
            at % 188
        );
        worst = worst.max(max);
    }
    eprintln!("worst max |Δ log| over all cases: {worst:.2e}");
}

/// The frame path against Pillow 11.0.0 (`tools/av-reference/image_reference.py`): JPEG decode
/// to RGB and the test transform's 224×224 bilinear resize. Target of issue 13 for deterministic
/// image transforms: at most 1/255 per pixel before normalisation.
#[test]
fn frames_decode_and_resize_like_pillow() {
    use balmix::media::frame::{read_frame, resize_bilinear};
    let dir = root().join("tests/reference/image");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("image.json")).unwrap()).unwrap();
    let npy = |file: String| {
        let bytes = std::fs::read(dir.join(&file)).unwrap();
        balmix::data::read_npy::read_npy(&bytes, &file).unwrap()
    };
    let max_diff = |got: &[u8], want: &[f64]| {
        assert_eq!(got.len(), want.len());
        got.iter()
            .zip(want)
            .map(|(&g, &w)| (g as f64 - w).abs())
            .fold(0f64, f64::max)
    };
    let cases = meta["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let frame = read_frame(&dir.join(format!("inputs/{name}.jpg"))).unwrap();
        let decoded = npy(format!("decoded-{name}.npy"));
        assert_eq!(
            decoded.shape,
            vec![frame.height as usize, frame.width as usize, 3]
        );
        let d_decode = max_diff(&frame.data, &decoded.values);
        let resized = resize_bilinear(&frame, 224, 224).unwrap();
        let d_resize = max_diff(&resized.data, &npy(format!("test-{name}.npy")).values);
        // The resize alone, from Pillow's own decoded pixels.
        let pillow_frame = balmix::media::frame::Rgb {
            width: frame.width,
            height: frame.height,
            data: decoded.values.iter().map(|&v| v as u8).collect(),
        };
        let d_resize_only = max_diff(
            &resize_bilinear(&pillow_frame, 224, 224).unwrap().data,
            &npy(format!("test-{name}.npy")).values,
        );
        eprintln!(
            "{name}: max |Δ| decode {d_decode}, resize of Pillow's pixels {d_resize_only}, both {d_resize} (of 255)"
        );
        assert!(d_decode <= 1.0, "{name}: decode differs by {d_decode}/255");
        assert!(
            d_resize_only <= 1.0,
            "{name}: resize differs by {d_resize_only}/255"
        );
        assert!(
            d_resize <= 1.0,
            "{name}: decode + resize differs by {d_resize}/255"
        );
    }
}

/// The training crop: on the same uniforms, the box rule gives the boxes of
/// `tools/av-reference/crop_reference.py` (torchvision's rule with Python's round; 300 sequences
/// on five sizes, the elongated ones falling back to the centred crop), and cropping, resizing and
/// flipping a frame is within 1/255 of Pillow's `crop(box).resize((224, 224), BILINEAR)`
/// (+ `ImageOps.mirror`).
#[test]
fn random_crop_boxes_and_crops_match_the_reference() {
    use balmix::media::frame::read_frame;
    use balmix::media::random_crop::{crop_box, resized_crop, CropBox};
    let dir = root().join("tests/reference/image");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("random_crop.json")).unwrap())
            .unwrap();
    let boxes = meta["boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), 300);
    let fallbacks = boxes.iter().filter(|b| b["fallback"] == true).count();
    assert!(
        fallbacks >= 100,
        "the elongated images exercise the fallback: {fallbacks}"
    );
    for case in boxes {
        let size: Vec<u32> = serde_json::from_value(case["size"].clone()).unwrap();
        let uniforms: Vec<f64> = serde_json::from_value(case["uniforms"].clone()).unwrap();
        let want: Vec<u32> = serde_json::from_value(case["box"].clone()).unwrap();
        let mut u = uniforms.into_iter();
        let b = crop_box(size[0], size[1], &mut || u.next().unwrap());
        assert_eq!(
            [b.top, b.left, b.height, b.width].to_vec(),
            want,
            "size {size:?}"
        );
    }
    for case in meta["crops"].as_array().unwrap() {
        let frame =
            read_frame(&dir.join(format!("inputs/{}.jpg", case["frame"].as_str().unwrap())))
                .unwrap();
        let b: Vec<u32> = serde_json::from_value(case["box"].clone()).unwrap();
        let flip = case["flip"].as_bool().unwrap();
        let got = resized_crop(
            &frame,
            CropBox {
                top: b[0],
                left: b[1],
                height: b[2],
                width: b[3],
            },
            224,
            flip,
        )
        .unwrap();
        let file = case["file"].as_str().unwrap();
        let want = balmix::data::read_npy::read_npy(&std::fs::read(dir.join(file)).unwrap(), file)
            .unwrap();
        let max = got
            .data
            .iter()
            .zip(&want.values)
            .map(|(&g, &w)| (g as f64 - w).abs())
            .fold(0f64, f64::max);
        eprintln!("{file} (box {b:?}, flip {flip}): max |Δ| {max}/255");
        assert!(max <= 1.0, "{file}: {max}/255");
    }
}
