//! JPEG encoding as OpenCV's `cv2.imwrite(path, frame)` does it by default: baseline
//! libjpeg-turbo settings (mozjpeg's "fastest" profile gives the same files), quality 95,
//! 4:2:0 chroma subsampling, standard Huffman tables.

use mozjpeg::{ColorSpace, Compress};

/// OpenCV's default `IMWRITE_JPEG_QUALITY`, which OGM-GE's frame extraction uses.
pub const QUALITY: f32 = 95.0;

/// Encode `width × height` pixels of interleaved RGB (3 bytes per pixel).
pub fn encode_rgb(width: usize, height: usize, rgb: &[u8]) -> Result<Vec<u8>, String> {
    encode(ColorSpace::JCS_RGB, 3, width, height, rgb)
}

/// Encode `width × height` grey pixels (1 byte per pixel), as flow frames are stored.
pub fn encode_grey(width: usize, height: usize, grey: &[u8]) -> Result<Vec<u8>, String> {
    encode(ColorSpace::JCS_GRAYSCALE, 1, width, height, grey)
}

fn encode(
    space: ColorSpace,
    channels: usize,
    width: usize,
    height: usize,
    pixels: &[u8],
) -> Result<Vec<u8>, String> {
    if width == 0 || height == 0 || pixels.len() != width * height * channels {
        return Err(format!(
            "{width}×{height}×{channels} image needs {} bytes, got {}",
            width * height * channels,
            pixels.len()
        ));
    }
    // libjpeg reports errors by unwinding; keep them errors.
    std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut c = Compress::new(space);
        c.set_fastest_defaults();
        c.set_quality(QUALITY);
        c.set_optimize_coding(false);
        c.set_size(width, height);
        let mut started = c.start_compress(Vec::with_capacity(width * height / 2))?;
        started.write_scanlines(pixels)?;
        started.finish()
    })
    .map_err(|_| "the JPEG encoder failed".to_string())?
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::read_frame;

    /// An odd-sized frame survives the round trip within JPEG's loss at quality 95, and the
    /// same pixels always give the same bytes.
    #[test]
    fn odd_sized_frames_round_trip_and_encode_deterministically() {
        let (w, h) = (13, 7);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 200) as u8 + 20).collect();
        let a = encode_rgb(w, h, &rgb).unwrap();
        assert_eq!(a, encode_rgb(w, h, &rgb).unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f.jpg");
        std::fs::write(&path, &a).unwrap();
        let back = read_frame(&path).unwrap();
        assert_eq!((back.width, back.height), (w as u32, h as u32));
        let grey = encode_grey(w, h, &vec![128u8; w * h]).unwrap();
        std::fs::write(&path, &grey).unwrap();
        let g = read_frame(&path).unwrap();
        assert!(g.data.iter().all(|&v| v.abs_diff(128) <= 1), "{:?}", g.data);
        assert!(encode_rgb(w, h, &rgb[1..]).is_err());
    }
}
