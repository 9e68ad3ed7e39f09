"""The reference loading pipeline for CREMA-D-shaped samples, timed: OGM-GE's training-time
sample (librosa.load at 22,050 Hz, three-fold tile cut to 3 s, STFT n_fft 512 / hop 353,
ln(|S| + 1e-7); one 1-fps frame through RandomResizedCrop(224), RandomHorizontalFlip,
ToTensor, Normalize) in a PyTorch DataLoader with batch size 64.

    python tools/av-reference/loader_bench.py PREPARED_DIR --workers 1 --epochs 2

PREPARED_DIR is a prepared CREMA-D folder (`balmix data prepare crema-d`, or `balmix data fake
crema-d --no-video`). Prints one line `clips/s <value>` per epoch after the first (warm-up).
`scripts/loader-bench.sh` runs it alternately with `balmix data bench-loader`.
"""

import argparse
import os
import time

import librosa
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class CremadFrames(Dataset):
    def __init__(self, root):
        self.root = root
        lines = open(os.path.join(root, "train.csv")).read().split()
        self.clips = [line.split(",")[0] for line in lines if line.strip()]
        self.transform = transforms.Compose(
            [
                transforms.RandomResizedCrop(224),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
            ]
        )

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        clip = self.clips[i]
        samples, _ = librosa.load(os.path.join(self.root, "AudioWAV", clip + ".wav"), sr=22050)
        samples = np.tile(samples, 3)[:22050 * 3]
        samples[samples > 1.0] = 1.0
        samples[samples < -1.0] = -1.0
        spec = librosa.stft(samples, n_fft=512, hop_length=353)
        spec = np.log(np.abs(spec) + 1e-7)
        folder = os.path.join(self.root, "Image-01-FPS", clip)
        first = sorted(os.listdir(folder))[0]
        image = Image.open(os.path.join(folder, first)).convert("RGB")
        frame = self.transform(image).unsqueeze(1)
        return torch.from_numpy(spec), frame, 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--epochs", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(1)
    data = CremadFrames(a.root)
    # num_workers=0 loads in the main process: one worker, as balmix's BALMIX_LOADER_WORKERS=1.
    loader = DataLoader(
        data,
        batch_size=64,
        shuffle=True,
        num_workers=0 if a.workers == 1 else a.workers,
        persistent_workers=a.workers > 1,
    )
    for epoch in range(a.epochs):
        start = time.perf_counter()
        n = 0
        for spec, frame, _ in loader:
            n += spec.shape[0]
        seconds = time.perf_counter() - start
        if epoch > 0:
            print(f"clips/s {n / seconds:.2f}", flush=True)


if __name__ == "__main__":
    main()
