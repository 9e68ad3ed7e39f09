"""Reference outputs for balmix's Kaldi fbank front-end (spec §3.4: OGM-GE's Kinetics-Sounds
`data/KineticSound/process_audio.py`; §2.5 A-FBANK and, without the normalisation, A-MLA),
computed by torchaudio itself.

Each clip goes through the steps of process_audio.py:
  1. torchaudio.load(path)                 float32 (C, N), PCM16 divided by 32768;
  2. waveform - waveform.mean()            the mean over all channels and samples;
  3. torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr,
         use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)
                                           (M, 128), channel 0, the other options at their defaults;
  4. zero rows appended up to 1024, or the first 1024 rows kept;
  5. (x - (-4.503877)) / (5.141276 * 2)    only for the "ogm-ge" cases; the "none" cases stop at
                                           step 4, as MLA's data/extract_fbank.py does.

Writes, under tests/reference/audio/:
  * inputs/fbank-*.wav  generated 16 kHz 16-bit PCM clips: a 10 s tone mix (998 frames), a 2.5 s
                        speech-like clip (248 frames, padded), an odd-length stereo clip whose
                        channels differ and carry DC offsets, with a silent tail in channel 0 (the
                        log floor), a 10.5 s clip (1048 frames, cut to 1024) and a clip of one frame;
  * fbank_kaldi.npy     float32 (cases, 1024, 128);
  * fbank_kaldi_f64.npy float32 (rows, 128): the log-mel values (steps 1-3) of the same call on the
                        waveform in float64, each clip's frames one after the other (stored as
                        float32: within 1e-6 of the float64 values). torchaudio's float32 run is
                        off from its own float64 run by up to ~6e-3 in the log of energies near
                        the 1.19e-7 floor (rounding of the frame, FFT and sums); this second
                        reference shows the algorithm, not the rounding;
  * fbank_kaldi_mel_bank.npy  float32 (128, 257): kaldi.get_mel_banks(128, 512, 16000, 20, 0, ...)
                        with the zero Nyquist column fbank appends;
  * fbank_kaldi.json    per case the clip, its channels and samples, the frames before padding or
                        cutting, the normalisation ("ogm-ge" or "none") and the largest
                        |float32 - float64| of torchaudio's log values; per clip its rows in
                        fbank_kaldi_f64.npy and the largest change of the float64 run's log values
                        when the mel bank's ln(1 + f/700) is rounded correctly (see
                        mel_banks_rounded_log); the call, the loader and the library versions.

torchaudio 2.8 still has its own loader (deprecated, removed in 2.9); it is used, and the script
checks that it returns exactly what soundfile.read(dtype='float32') returns.

Run from the repository root:  /tmp/torchref/bin/python tools/av-reference/fbank_reference.py
"""
import json
import pathlib
import platform
import warnings

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torchaudio.compliance import kaldi

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "audio"
SR = 16_000
TARGET_LENGTH = 1024
NORM_MEAN, NORM_STD = -4.503877, 5.141276


def clips():
    """(name, samples × channels float64 array) of each generated clip."""
    rng = np.random.default_rng(20261214)
    t = lambda n: np.arange(n) / SR
    # Tone mix over exactly 10 s (998 frames): four tones at different levels, one amplitude
    # modulated, and white noise 34 dB under the loudest tone so that no mel bin holds only
    # window leakage and PCM16 quantisation noise.
    n = 160_000
    tt = t(n)
    x = (0.25 * np.sin(2 * np.pi * 220.0 * tt)
         + 0.15 * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * tt)) * np.sin(2 * np.pi * 1000.0 * tt + 0.3)
         + 0.08 * np.sin(2 * np.pi * 3150.0 * tt + 1.1)
         + 0.04 * np.sin(2 * np.pi * 6500.0 * tt + 2.0)
         + 0.005 * rng.standard_normal(n))
    yield "fbank-tones-10s", x[:, None]
    # Speech-like, 2.5 s (248 frames, padded to 1024): a gliding f0 whose harmonics are shaped by
    # three formant bumps, a 4 Hz syllabic envelope, and faint white "breath" noise.
    n = 40_000
    tt = t(n)
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.7 * tt)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = np.zeros(n)
    for k in range(1, 50):
        fk = k * f0
        gain = (np.exp(-((fk - 700) / 300) ** 2) + 0.6 * np.exp(-((fk - 1800) / 500) ** 2)
                + 0.15 * np.exp(-((fk - 3000) / 800) ** 2) + 0.01)
        x += np.where(fk < 7800, gain, 0.0) * np.sin(k * phase)
    env = 0.05 + 0.95 * (0.5 * (1 - np.cos(2 * np.pi * 4.0 * tt))) ** 1.5
    x = 0.4 * x * env / np.max(np.abs(x)) + 0.003 * rng.standard_normal(n)
    yield "fbank-speech-2.5s", x[:, None]
    # Stereo, odd length (48,071 samples, 298 frames): channel 0 a 100 Hz to 7 kHz chirp over
    # noise on a DC offset of +0.2, silent (the offset alone) for its last 0.5 s; channel 1 a
    # loud 300 Hz square wave on -0.1. Only channel 0 is analysed; the clip mean that is removed
    # first spans both channels.
    n = 48_071
    tt = t(n)
    chirp = np.sin(2 * np.pi * (100.0 * tt + 0.5 * (7000.0 - 100.0) / tt[-1] * tt ** 2))
    left = 0.3 * chirp + 0.004 * rng.standard_normal(n)
    left[n - SR // 2:] = 0.0
    left += 0.2
    right = 0.6 * np.sign(np.sin(2 * np.pi * 300.0 * tt)) - 0.1
    yield "fbank-stereo-dc-odd-3s", np.stack([left, right], axis=1)
    # 10.5 s (1048 frames, cut to the first 1024): noise bursts and a rising tone; what follows
    # frame 1023 differs (a loud 5 kHz tone), so keeping the wrong rows shows.
    n = 168_000
    tt = t(n)
    x = 0.2 * np.sin(2 * np.pi * (300.0 + 200.0 * tt) * tt)
    x += 0.02 * rng.standard_normal(n) * (1 + np.sign(np.sin(2 * np.pi * 0.8 * tt)))
    x[1024 * 160:] = 0.7 * np.sin(2 * np.pi * 5000.0 * tt[1024 * 160:]) + 0.01 * rng.standard_normal(n - 1024 * 160)
    yield "fbank-long-10.5s", x[:, None]
    # One frame: 559 samples (400 + 159), band-passed noise.
    n = 559
    x = 0.3 * np.convolve(rng.standard_normal(n), [0.5, 0.0, -0.5], mode="same")
    yield "fbank-one-frame", x[:, None]


# (clip, normalisation) of each case: every clip normalised as process_audio.py does, and the
# padded, the cut and the one-frame clip also raw (MLA's extract_fbank.py).
CASES = [
    ("fbank-tones-10s", "ogm-ge"),
    ("fbank-speech-2.5s", "ogm-ge"),
    ("fbank-speech-2.5s", "none"),
    ("fbank-stereo-dc-odd-3s", "ogm-ge"),
    ("fbank-long-10.5s", "ogm-ge"),
    ("fbank-long-10.5s", "none"),
    ("fbank-one-frame", "none"),
]


def log_fbank(waveform, sr):
    """Steps 2-3 of process_audio.py."""
    waveform = waveform - waveform.mean()
    return kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr, use_energy=False,
                       window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)


def mel_banks_rounded_log(num_bins, window_length_padded, sample_freq, low_freq, high_freq, *_):
    """kaldi.get_mel_banks (no VTLN) with each FFT bin's ln(1 + f/700) taken in float64 and
    rounded to float32 once; the rest in float32 in get_mel_banks's order. torch's vectorised
    float32 log is one step off on some of the 256 bins (`torch_log_bins_off`), which moves the
    weights by up to ~1e-5; balmix forms its bank this way."""
    f32 = np.float32
    nyquist = 0.5 * sample_freq
    high_freq = high_freq + nyquist if high_freq <= 0.0 else high_freq
    mel_low = 1127.0 * np.log(1.0 + low_freq / 700.0)
    delta = (1127.0 * np.log(1.0 + high_freq / 700.0) - mel_low) / (num_bins + 1)
    b = np.arange(num_bins, dtype=f32)[:, None]
    left = f32(mel_low) + b * f32(delta)
    center = f32(mel_low) + (b + f32(1)) * f32(delta)
    right = f32(mel_low) + (b + f32(2)) * f32(delta)
    x = f32(1) + f32(sample_freq / window_length_padded) * np.arange(window_length_padded // 2, dtype=f32) / f32(700)
    mel = f32(1127) * np.log(x.astype(np.float64)).astype(f32)
    weights = np.maximum(f32(0), np.minimum((mel - left) / (center - left), (right - mel) / (right - center)))
    return torch.from_numpy(weights), None


def torch_log_bins_off():
    """How many of the 256 bin mels torch's float32 log rounds differently from float64."""
    x = 1.0 + 31.25 * torch.arange(256.0) / 700.0
    return int((x.log().numpy() != np.log(x.numpy().astype(np.float64)).astype(np.float32)).sum())


def fit_and_normalise(fbank, norm):
    """Steps 4-5 of process_audio.py (step 5 only for "ogm-ge")."""
    p = TARGET_LENGTH - fbank.shape[0]
    if p > 0:
        fbank = torch.nn.ZeroPad2d((0, 0, 0, p))(fbank)
    elif p < 0:
        fbank = fbank[0:TARGET_LENGTH, :]
    if norm == "ogm-ge":
        fbank = (fbank - NORM_MEAN) / (NORM_STD * 2)
    return fbank


def main():
    torch.set_num_threads(1)
    (OUT / "inputs").mkdir(parents=True, exist_ok=True)
    for name, x in clips():
        sf.write(OUT / "inputs" / f"{name}.wav", x, SR, subtype="PCM_16")
    cases, arrays, clip_meta, f64_arrays = [], [], {}, []
    for name, norm in CASES:
        path = OUT / "inputs" / f"{name}.wav"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            waveform, sr = torchaudio.load(str(path))
        direct, _ = sf.read(path, dtype="float32", always_2d=True)
        assert sr == SR and waveform.dtype == torch.float32
        assert np.array_equal(waveform.numpy(), direct.T), "torchaudio.load differs from soundfile"
        log = log_fbank(waveform, sr)
        log64 = log_fbank(waveform.double(), sr)
        noise = (log.double() - log64).abs().max().item()
        if name not in clip_meta:
            start = sum(a.shape[0] for a in f64_arrays)
            torch_bank = kaldi.get_mel_banks
            kaldi.get_mel_banks = mel_banks_rounded_log
            try:
                rounded = log_fbank(waveform.double(), sr)
            finally:
                kaldi.get_mel_banks = torch_bank
            clip_meta[name] = {
                "f64_rows": [start, start + log64.shape[0]],
                "mel_bank_log_rounding_max_abs_log": (log64 - rounded).abs().max().item(),
            }
            f64_arrays.append(log64.numpy().astype(np.float32))
            print(f"{name:24} bank rounding effect {clip_meta[name]['mel_bank_log_rounding_max_abs_log']:.2e}")
        out = fit_and_normalise(log, norm)
        assert out.shape == (TARGET_LENGTH, 128) and out.dtype == torch.float32, out.shape
        cases.append({
            "clip": f"inputs/{name}.wav",
            "channels": int(waveform.shape[0]),
            "samples": int(waveform.shape[1]),
            "frames": int(log.shape[0]),
            "normalisation": norm,
            "float32_vs_float64_max_abs_log": noise,
        })
        arrays.append(out.numpy())
        print(f"{name:24} {norm:7} frames {log.shape[0]:5}  |f32 - f64| log {noise:.2e}")
    meta = {
        "source": "tools/av-reference/fbank_reference.py",
        "call": "kaldi.fbank(waveform - waveform.mean(), htk_compat=True, sample_frequency=sr, "
                "use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)",
        "loader": "torchaudio.load (torchaudio 2.8 default backend), checked equal to "
                  "soundfile.read(dtype='float32')",
        "target_length": TARGET_LENGTH,
        "normalisations": {"ogm-ge": f"(x - ({NORM_MEAN})) / ({NORM_STD} * 2)", "none": "raw log-mel"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchaudio": torchaudio.__version__, "numpy": np.__version__,
                     "soundfile": sf.__version__},
        "cases": cases,
        "torch_log_bins_off": torch_log_bins_off(),
        "clips": {f"inputs/{name}.wav": m for name, m in clip_meta.items()},
    }
    bank, _ = kaldi.get_mel_banks(128, 512, float(SR), 20.0, 0.0, 100.0, -500.0, 1.0)
    bank = torch.nn.functional.pad(bank, (0, 1), mode="constant", value=0)
    np.save(OUT / "fbank_kaldi.npy", np.stack(arrays))
    np.save(OUT / "fbank_kaldi_f64.npy", np.concatenate(f64_arrays))
    np.save(OUT / "fbank_kaldi_mel_bank.npy", bank.numpy().astype(np.float32))
    (OUT / "fbank_kaldi.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
