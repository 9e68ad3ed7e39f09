"""Reference values for balmix's audio front-ends (issue 13), computed with librosa.

Writes, under tests/reference/audio/ of the repository:
  * inputs/*.wav   small generated 16-bit PCM clips (tones, noise, odd lengths, a clip shorter
                   than 3 s that the OGM-GE front-end tiles, a clip with full-scale samples);
  * stft_ogm.npy   float32 (cases, 257, 188): for each clip and each centre-padding mode
                   (librosa >= 0.9 pads with zeros, earlier versions reflected) the OGM-GE
                   log-magnitude STFT ln(|STFT(tile3(x)[:66150])| + 1e-7), n_fft 512, hop 353,
                   periodic Hann, centred;
  * stft_ogm.json  what each case is (clip, padding mode) and the versions used.

The clips are written at 22,050 Hz, the rate the OGM-GE front-end works at, so no resampling is
involved: the parity here is of the STFT front-end after identical resampling.

Run from the repository root:  python3 tools/av-reference/audio_reference.py
"""
import json
import pathlib

import librosa
import numpy as np
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "audio"
SR = 22050
N_FFT, HOP, LENGTH = 512, 353, 66150


def clips():
    rng = np.random.default_rng(20261130)
    t = lambda seconds: np.arange(int(round(seconds * SR))) / SR
    yield "tone-440-3.5s", 0.5 * np.sin(2 * np.pi * 440.0 * t(3.5))
    yield "noise-1.3s-odd", 0.2 * rng.standard_normal(28_667)
    # Full scale, square-ish, with a silent tail (log of near-zero magnitudes).
    x = np.sign(np.sin(2 * np.pi * 150.0 * t(3.2)))
    x[int(2.5 * SR):] = 0.0
    yield "square-fullscale-silent-tail", x


def ogm_log_stft(y, pad_mode):
    y = np.tile(y, 3)[:LENGTH]
    y = np.clip(y, -1.0, 1.0)
    s = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True, pad_mode=pad_mode)
    return np.log(np.abs(s) + 1e-7)


def main():
    (OUT / "inputs").mkdir(parents=True, exist_ok=True)
    cases, arrays = [], []
    for name, x in clips():
        path = OUT / "inputs" / f"{name}.wav"
        sf.write(path, x, SR, subtype="PCM_16")
        # Read back as librosa.load(sr=None) does: float32 in [-1, 1).
        y, sr = librosa.load(path, sr=None, mono=True)
        assert sr == SR and y.dtype == np.float32
        for pad in ("constant", "reflect"):
            out = ogm_log_stft(y, pad)
            assert out.shape == (257, 188), out.shape
            cases.append({"clip": f"inputs/{name}.wav", "samples": int(len(y)), "pad_mode": pad})
            arrays.append(out.astype(np.float32))
    meta = {
        "source": "tools/av-reference/audio_reference.py",
        "versions": {"librosa": librosa.__version__, "numpy": np.__version__, "soundfile": sf.__version__},
        "n_fft": N_FFT, "hop": HOP, "length": LENGTH, "sr": SR,
        "cases": cases,
    }
    np.save(OUT / "stft_ogm.npy", np.stack(arrays))
    (OUT / "stft_ogm.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
