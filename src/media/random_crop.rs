//! The training transform of a video frame (spec §2.6): torchvision's RandomResizedCrop(224)
//! with its defaults (area fraction U(0.08, 1), log-aspect U(ln 3/4, ln 4/3), up to 10 tries,
//! then a centred crop with the aspect clamped into [3/4, 4/3]), Python's round-half-to-even for
//! the box sides, the crop resized to 224×224 with Pillow's bilinear filter, then a horizontal
//! flip with probability 1/2. Each frame of a clip gets its own box and flip, as the reference
//! loaders call the transform once per frame.
//!
//! The uniforms come from the `frame-augment` stream at [`draw_index`] (epoch, sample, frame),
//! so a frame's augmentation does not depend on batch composition, worker count or order. The
//! box is a pure function of the uniforms ([`crop_box`]), in the order: per try, area then
//! log-aspect; on success, top then left (⌊u·(H − h + 1)⌋, ⌊u·(W − w + 1)⌋); then the flip.

use super::frame::{resize_bilinear, FrameError, Rgb};
use crate::rng::{stream, Stream};
use rand::Rng;

/// A crop box in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CropBox {
    /// First row.
    pub top: u32,
    /// First column.
    pub left: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

const SCALE: (f64, f64) = (0.08, 1.0);
const RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);

/// The box RandomResizedCrop picks in a `width × height` image from the uniforms `u` yields.
pub fn crop_box(width: u32, height: u32, u: &mut dyn FnMut() -> f64) -> CropBox {
    let (wf, hf) = (width as f64, height as f64);
    let area = wf * hf;
    let (lo, hi) = (RATIO.0.ln(), RATIO.1.ln());
    for _ in 0..10 {
        let target = area * (SCALE.0 + (SCALE.1 - SCALE.0) * u());
        let aspect = (lo + (hi - lo) * u()).exp();
        let w = (target * aspect).sqrt().round_ties_even();
        let h = (target / aspect).sqrt().round_ties_even();
        if w > 0.0 && w <= wf && h > 0.0 && h <= hf {
            let (w, h) = (w as u32, h as u32);
            let top = ((u() * (height - h + 1) as f64) as u32).min(height - h);
            let left = ((u() * (width - w + 1) as f64) as u32).min(width - w);
            return CropBox {
                top,
                left,
                height: h,
                width: w,
            };
        }
    }
    // Fallback: the whole image, its aspect clamped into the ratio range, centred.
    let in_ratio = wf / hf;
    let (w, h) = if in_ratio < RATIO.0 {
        (width, ((wf / RATIO.0).round_ties_even() as u32).min(height))
    } else if in_ratio > RATIO.1 {
        (((hf * RATIO.1).round_ties_even() as u32).min(width), height)
    } else {
        (width, height)
    };
    CropBox {
        top: (height - h) / 2,
        left: (width - w) / 2,
        height: h,
        width: w,
    }
}

/// The `frame-augment` stream index of frame `frame` of dataset sample `sample` in `epoch`.
pub fn draw_index(epoch: usize, sample: usize, frame: usize) -> u64 {
    ((epoch as u64) << 40) | ((sample as u64) << 8) | (frame as u64 & 0xff)
}

/// The box and flip of one frame, from the run's `frame-augment` stream.
pub fn draw(seed: u64, index: u64, width: u32, height: u32) -> (CropBox, bool) {
    let mut rng = stream(seed, Stream::FrameAugment, index);
    let b = crop_box(width, height, &mut || rng.gen::<f64>());
    let flip = rng.gen::<f64>() < 0.5;
    (b, flip)
}

/// `img` cropped to `b`, resized to `size × size` (Pillow bilinear) and mirrored if `flip`.
pub fn resized_crop(img: &Rgb, b: CropBox, size: u32, flip: bool) -> Result<Rgb, FrameError> {
    let row = img.width as usize * 3;
    let mut data = Vec::with_capacity(b.width as usize * b.height as usize * 3);
    for y in b.top..b.top + b.height {
        let start = y as usize * row + b.left as usize * 3;
        data.extend_from_slice(&img.data[start..start + b.width as usize * 3]);
    }
    let crop = Rgb {
        width: b.width,
        height: b.height,
        data,
    };
    let mut out = resize_bilinear(&crop, size, size)?;
    if flip {
        mirror(&mut out);
    }
    Ok(out)
}

/// Mirror `img` left to right (torchvision's horizontal flip).
pub fn mirror(img: &mut Rgb) {
    let w = img.width as usize;
    for line in img.data.chunks_exact_mut(w * 3) {
        for x in 0..w / 2 {
            let y = w - 1 - x;
            for c in 0..3 {
                line.swap(x * 3 + c, y * 3 + c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_fit_and_the_draws_repeat() {
        for (w, h) in [
            (320u32, 240u32),
            (171, 128),
            (1000, 40),
            (40, 1000),
            (224, 224),
        ] {
            for i in 0..200 {
                let (b, f) = draw(7, draw_index(1, i, 0), w, h);
                assert!(b.width > 0 && b.height > 0, "{b:?}");
                assert!(
                    b.left + b.width <= w && b.top + b.height <= h,
                    "{w}x{h}: {b:?}"
                );
                assert_eq!(draw(7, draw_index(1, i, 0), w, h), (b, f));
            }
        }
        assert_ne!(draw_index(0, 1, 0), draw_index(0, 0, 1));
        assert_ne!(draw_index(1, 0, 0), draw_index(0, 1, 0));
    }

    #[test]
    fn flip_mirrors_each_row() {
        let img = Rgb {
            width: 2,
            height: 1,
            data: vec![10, 20, 30, 40, 50, 60],
        };
        let whole = CropBox {
            top: 0,
            left: 0,
            height: 1,
            width: 2,
        };
        let kept = resized_crop(&img, whole, 2, false).unwrap();
        let flipped = resized_crop(&img, whole, 2, true).unwrap();
        // Resized to 2 × 2: the row twice.
        assert_eq!(kept.data, [[10, 20, 30, 40, 50, 60]; 2].concat());
        assert_eq!(flipped.data, [[40, 50, 60, 10, 20, 30]; 2].concat());
    }
}
