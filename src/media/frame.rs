//! Video frames as the reference loaders see them: a JPEG decoded to 8-bit RGB
//! (`Image.open(p).convert('RGB')`), the test transform's resize to 224×224 with Pillow's
//! antialiased bilinear filter (torchvision's `Resize((224, 224))` on a PIL image), and
//! ToTensor + ImageNet normalisation to a CHW float tensor.

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use std::path::Path;

/// An 8-bit RGB image, row-major, channels interleaved (H × W × 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `height × width × 3` bytes.
    pub data: Vec<u8>,
}

/// ImageNet channel means (torchvision's Normalize in every reference loader).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Why a frame could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct FrameError {
    /// The file (or what was being resized).
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Decode a JPEG to RGB with libjpeg-turbo's decoder (through mozjpeg, its fork: the same
/// integer IDCT and "fancy" chroma upsampling Pillow's bundled libjpeg-turbo uses by default);
/// grey-scale frames get their value in all three channels, as `convert('RGB')` does.
pub fn read_frame(path: &Path) -> Result<Rgb, FrameError> {
    let err = |reason: String| FrameError {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    // libjpeg reports corrupt data by unwinding; keep it an error.
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<(u32, u32, Vec<u8>)> {
        let mut started = mozjpeg::Decompress::new_mem(&bytes)?.rgb()?;
        let (width, height) = (started.width() as u32, started.height() as u32);
        let pixels: Vec<[u8; 3]> = started.read_scanlines()?;
        started.finish()?;
        Ok((width, height, pixels.into_iter().flatten().collect()))
    });
    match decoded {
        Ok(Ok((width, height, data))) => Ok(Rgb {
            width,
            height,
            data,
        }),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(_) => Err(err("not a JPEG libjpeg can decode".into())),
    }
}

/// Resize to `width × height` with Pillow's bilinear convolution (a triangle filter whose
/// support grows with the downscale factor, i.e. antialiased), rounding as Pillow does.
pub fn resize_bilinear(img: &Rgb, width: u32, height: u32) -> Result<Rgb, FrameError> {
    let err = |reason: String| FrameError {
        path: format!("{}x{} frame", img.width, img.height),
        reason,
    };
    let src = FirImage::from_vec_u8(img.width, img.height, img.data.clone(), PixelType::U8x3)
        .map_err(|e| err(e.to_string()))?;
    let mut dst = FirImage::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|e| err(e.to_string()))?;
    Ok(Rgb {
        width,
        height,
        data: dst.into_vec(),
    })
}

/// ToTensor and Normalize: CHW floats (v/255 − mean_c) / std_c.
pub fn normalise(img: &Rgb) -> Vec<f32> {
    let plane = (img.width * img.height) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (p, px) in img.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + p] = (px[c] as f32 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        }
    }
    out
}

/// The test transform: resize to 224×224 (aspect not kept), then normalise.
pub fn test_transform(img: &Rgb) -> Result<Vec<f32>, FrameError> {
    Ok(normalise(&resize_bilinear(img, 224, 224)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_jpeg_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("broken.jpg");
        std::fs::write(&path, b"\xff\xd8 not really a jpeg").unwrap();
        let e = read_frame(&path).unwrap_err();
        assert!(e.to_string().contains("broken.jpg"), "{e}");
        assert!(read_frame(&tmp.path().join("absent.jpg")).is_err());
    }

    #[test]
    fn normalise_is_chw_with_imagenet_statistics() {
        let img = Rgb {
            width: 2,
            height: 1,
            data: vec![255, 0, 51, 0, 255, 102],
        };
        let t = normalise(&img);
        assert_eq!(t.len(), 6);
        assert!((t[0] - (1.0 - 0.485) / 0.229).abs() < 1e-6); // R of pixel 0
        assert!((t[1] - (0.0 - 0.485) / 0.229).abs() < 1e-6); // R of pixel 1
        assert!((t[2] - (0.0 - 0.456) / 0.224).abs() < 1e-6); // G of pixel 0
        assert!((t[5] - (0.4 - 0.406) / 0.225).abs() < 1e-6); // B of pixel 1
    }
}
