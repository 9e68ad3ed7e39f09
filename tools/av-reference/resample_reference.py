"""Reference outputs for balmix's resamplers (spec §2.5 step 1: CREMA-D's 16 kHz WAVs loaded by
librosa.load(sr=22050)), computed by librosa itself.

librosa's default resampler depends on its version and on the resampy it pulled in, so two
environments are needed:
  * modern  (requirements-resample.txt: librosa 0.10.2.post1, resampy 0.4.3, soxr 1.1.0):
      soxr_hq                  librosa.load(p, sr=22050, res_type='soxr_hq')     (librosa >= 0.10)
      resampy_0_3_kaiser_best  librosa.load(p, sr=22050, res_type='kaiser_best') (resampy >= 0.3's
                               kaiser_best: 50 zero crossings, 2^13 table samples per crossing)
  * legacy  (requirements-resample-legacy.txt: librosa 0.9.2, resampy 0.2.2):
      resampy_kaiser_best      librosa.load(p, sr=22050, res_type='kaiser_best') (resampy <= 0.2.2's
                               kaiser_best: 64 zero crossings, 2^9 per crossing; what a librosa
                               0.9 install of early 2022, OGM-GE's time, resampled with)
The file names carry the name of the balmix Resampler each output is the parity target of.

Writes, under tests/reference/audio/:
  * inputs/resample-*.wav          16 kHz 16-bit PCM clips (modern run only): speech-like tone mix
                                   (2.5 s), odd length (L*441/320 not an integer), a short clip
                                   with an impulse and clicks, a full-scale clip;
  * resample-<case>.<name>.npy     float32 (ceil(L*22050/16000),) for each clip and resampler;
  * resample.json                  cases, lengths, and per resampler the call and the versions
                                   (each run updates its own entries).

Run from the repository root, modern first (it writes the inputs):
  /tmp/resampref/bin/python tools/av-reference/resample_reference.py
  /tmp/resampref-legacy/bin/python tools/av-reference/resample_reference.py
"""
import json
import math
import pathlib
import platform

import librosa
import numpy as np
import resampy
import soundfile as sf
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "reference" / "audio"
SR_IN, SR_OUT = 16000, 22050


def clips():
    rng = np.random.default_rng(20261201)
    t = lambda n: np.arange(n) / SR_IN
    # Speech-like: a gliding f0 whose harmonics are shaped by three formant bumps (none at or
    # above 7.6 kHz), a 4 Hz syllabic envelope, and faint white "breath" noise.
    n = 40_000
    tt = t(n)
    f0 = 150 + 40 * np.sin(2 * np.pi * 0.7 * tt)
    phase = 2 * np.pi * np.cumsum(f0) / SR_IN
    x = np.zeros(n)
    for k in range(1, 40):
        fk = k * f0
        gain = (np.exp(-((fk - 700) / 300) ** 2) + 0.6 * np.exp(-((fk - 1800) / 500) ** 2)
                + 0.15 * np.exp(-((fk - 3000) / 800) ** 2))
        x += np.where(fk < 7600, gain, 0.0) * np.sin(k * phase)
    env = 0.5 * (1 - np.cos(2 * np.pi * 4.0 * tt)) ** 1.5
    x = 0.25 * x * env / np.max(np.abs(x)) + 0.01 * rng.standard_normal(n)
    yield "speech-2.5s", x
    # Odd length: two tones and smoothed noise; L*441/320 is not an integer, so librosa pads the
    # resampy output by one zero.
    n = 21_917
    tt = t(n)
    x = 0.3 * np.sin(2 * np.pi * 233.0 * tt) + 0.2 * np.sin(2 * np.pi * 3100.0 * tt + 0.4)
    x += 0.1 * np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    yield "odd-1.37s", x
    # Short (still over 1 s, so the OGM-GE tile reaches 3 s), mostly silence: an impulse, a click
    # train and a burst of white noise.
    n = 16_800
    x = np.zeros(n)
    x[5_000] = 0.999
    x[9_000:9_400:40] = -0.6
    x[12_000:12_160] = 0.3 * rng.standard_normal(160)
    yield "click-1.05s", x
    # Full scale: a square wave at both PCM limits, then a 7.9 kHz tone (near the input Nyquist).
    n = 24_000
    tt = t(n)
    x = np.sign(np.sin(2 * np.pi * 220.0 * tt))
    x[16_000:] = 0.9 * np.sin(2 * np.pi * 7_900.0 * tt[16_000:])
    yield "fullscale-1.5s", x


def environment():
    """(resampler name, res_type, table length resampy's kaiser_best must have) for this librosa."""
    table = len(resampy.filters.get_filter("kaiser_best")[0])
    if Version(librosa.__version__) < Version("0.10"):
        assert table == 64 * 512 + 1, f"resampy {resampy.__version__}: not the 0.2 table"
        return [("resampy_kaiser_best", "kaiser_best")]
    assert table == 50 * 8192 + 1, f"resampy {resampy.__version__}: not the >= 0.3 table"
    return [("resampy_0_3_kaiser_best", "kaiser_best"), ("soxr_hq", "soxr_hq")]


def versions():
    v = {"python": platform.python_version(), "librosa": librosa.__version__,
         "numpy": np.__version__, "soundfile": sf.__version__, "resampy": resampy.__version__}
    try:
        import soxr
        v["soxr"] = soxr.__version__
    except ImportError:
        pass
    return v


def main():
    methods = environment()
    modern = any(name == "soxr_hq" for name, _ in methods)
    (OUT / "inputs").mkdir(parents=True, exist_ok=True)
    meta_path = OUT / "resample.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update({"source": "tools/av-reference/resample_reference.py",
                 "sr_in": SR_IN, "sr_out": SR_OUT})
    refs = meta.setdefault("references", {})
    cases = []
    for name, x in clips():
        path = OUT / "inputs" / f"resample-{name}.wav"
        if modern:
            sf.write(path, x, SR_IN, subtype="PCM_16")
        elif not path.exists():
            raise SystemExit(f"{path} is missing: run the modern environment first")
        y, sr = librosa.load(path, sr=None, mono=True)
        assert sr == SR_IN
        expected = math.ceil(len(y) * SR_OUT / SR_IN)
        for method, res_type in methods:
            z, sr = librosa.load(path, sr=SR_OUT, mono=True, res_type=res_type)
            assert sr == SR_OUT and z.dtype == np.float32 and len(z) == expected, (len(z), expected)
            np.save(OUT / f"resample-{name}.{method}.npy", z)
        cases.append({"name": name, "clip": f"inputs/resample-{name}.wav",
                      "samples": int(len(y)), "samples_out": expected})
    if "cases" in meta and meta["cases"] != cases:
        raise SystemExit("the committed inputs differ from these clips: run the modern environment first")
    meta["cases"] = cases
    for method, res_type in methods:
        refs[method] = {"call": f"librosa.load(path, sr={SR_OUT}, mono=True, res_type='{res_type}')",
                        "versions": versions()}
    meta["references"] = dict(sorted(refs.items()))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases x {[m for m, _ in methods]} to {OUT}")


if __name__ == "__main__":
    main()
