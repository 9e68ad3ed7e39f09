"""Reference values for balmix's image front-end (issue 13), computed with Pillow.

Writes, under tests/reference/image/ of the repository:
  * inputs/*.jpg       generated frames (colour gradients with texture and edges, odd sizes,
                       4:2:0 chroma as JPEG encoders default to, one grey-scale frame);
  * decoded-<name>.npy uint8 (h, w, 3): `Image.open(p).convert('RGB')`, as every reference
                       loader decodes a frame;
  * test-<name>.npy    uint8 (224, 224, 3): the test transform's resize, `resize((224, 224),
                       Image.BILINEAR)` (torchvision's `Resize((224, 224))` on a PIL image calls
                       exactly this), before ToTensor and normalisation.

Run from the repository root:  python3 tools/av-reference/image_reference.py
"""
import json
import pathlib

import numpy as np
import PIL
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "image"


def frames():
    rng = np.random.default_rng(20261130)

    def colour(h, w):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.stack([
            127 + 120 * np.sin(x / 9.0 + y / 23.0),
            127 + 120 * np.cos(y / 7.0),
            255 * x / max(w - 1, 1),
        ], axis=-1)
        img[h // 3: h // 3 + 12, :, :] = [250, 20, 20]          # a hard edge
        img += rng.normal(0, 12, img.shape)                       # texture
        return np.clip(img, 0, 255).astype(np.uint8)

    yield "frame-320x240", Image.fromarray(colour(240, 320)), {}
    yield "frame-171x128-odd", Image.fromarray(colour(128, 171)), {}
    yield "frame-400x226-q90", Image.fromarray(colour(226, 400)), {"quality": 90}
    yield "frame-160x120-small", Image.fromarray(colour(120, 160)), {}
    grey = Image.fromarray(colour(200, 300)).convert("L")
    yield "frame-300x200-grey", grey, {}


def main():
    (OUT / "inputs").mkdir(parents=True, exist_ok=True)
    cases = []
    for name, img, opts in frames():
        path = OUT / "inputs" / f"{name}.jpg"
        img.save(path, "JPEG", **opts)
        rgb = Image.open(path).convert("RGB")
        np.save(OUT / f"decoded-{name}.npy", np.asarray(rgb, dtype=np.uint8))
        test = rgb.resize((224, 224), Image.BILINEAR)
        np.save(OUT / f"test-{name}.npy", np.asarray(test, dtype=np.uint8))
        cases.append({"name": name, "size": list(rgb.size)})
    meta = {
        "source": "tools/av-reference/image_reference.py",
        "versions": {"Pillow": PIL.__version__, "numpy": np.__version__},
        "cases": cases,
    }
    (OUT / "image.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
