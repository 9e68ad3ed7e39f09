"""Reference values for balmix's random training crop (issue 13).

torchvision cannot be installed without PyTorch here, so the box rule is written out below from
torchvision's RandomResizedCrop.get_params (scale (0.08, 1), ratio (3/4, 4/3), 10 tries, then a
centred crop with the aspect clamped) with the uniforms given explicitly instead of torch's
generator; what it checks in Rust is the arithmetic — Python's round-half-to-even, the
acceptance test, the fallback — on the same uniforms. The crop-and-resize itself is checked
against Pillow: `img.crop(box).resize((224, 224), Image.BILINEAR)` (torchvision's
`F.resized_crop` on a PIL image), flipped with `ImageOps.mirror` when drawn.

Writes tests/reference/image/random_crop.json (boxes for 300 uniform sequences on five image
sizes, including 1000 x 41 and 41 x 1000, which fall back, with sides that round up) and crop-<k>.npy (uint8 224 x 224 x 3) for
six (frame, box, flip) cases.

Run from the repository root:  python3 tools/av-reference/crop_reference.py
(after image_reference.py, whose frames it crops).
"""
import json
import math
import pathlib

import numpy as np
from PIL import Image, ImageOps

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "image"
SCALE, RATIO = (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0)


def crop_box(width, height, u):
    area = width * height
    lo, hi = math.log(RATIO[0]), math.log(RATIO[1])
    for _ in range(10):
        target = area * (SCALE[0] + (SCALE[1] - SCALE[0]) * next(u))
        aspect = math.exp(lo + (hi - lo) * next(u))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = min(int(next(u) * (height - h + 1)), height - h)
            left = min(int(next(u) * (width - w + 1)), width - w)
            return top, left, h, w, False
    in_ratio = width / height
    if in_ratio < RATIO[0]:
        w, h = width, min(int(round(width / RATIO[0])), height)
    elif in_ratio > RATIO[1]:
        w, h = min(int(round(height * RATIO[1])), width), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w, True


def main():
    rng = np.random.default_rng(7)
    boxes = []
    for (w, h) in [(320, 240), (171, 128), (1000, 41), (41, 1000), (224, 224)]:
        for _ in range(60):
            draws = [float(v) for v in rng.random(42)]
            top, left, bh, bw, fallback = crop_box(w, h, iter(draws))
            boxes.append({"size": [w, h], "uniforms": draws, "box": [top, left, bh, bw], "fallback": fallback})
    crops = []
    frames = ["frame-320x240", "frame-171x128-odd", "frame-400x226-q90"]
    for k in range(6):
        name = frames[k % 3]
        img = Image.open(OUT / "inputs" / f"{name}.jpg").convert("RGB")
        draws = iter(float(v) for v in rng.random(42))
        top, left, bh, bw, _ = crop_box(img.width, img.height, draws)
        flip = k % 2 == 1
        out = img.crop((left, top, left + bw, top + bh)).resize((224, 224), Image.BILINEAR)
        if flip:
            out = ImageOps.mirror(out)
        np.save(OUT / f"crop-{k}.npy", np.asarray(out, dtype=np.uint8))
        crops.append({"frame": name, "box": [top, left, bh, bw], "flip": flip, "file": f"crop-{k}.npy"})
    fallbacks = sum(1 for b in boxes if b["fallback"])
    (OUT / "random_crop.json").write_text(json.dumps({
        "source": "tools/av-reference/crop_reference.py",
        "boxes": boxes,
        "crops": crops,
        "fallbacks": fallbacks,
    }) + "\n")
    print(f"wrote {len(boxes)} boxes ({fallbacks} fallbacks) and {len(crops)} crops")


if __name__ == "__main__":
    main()
