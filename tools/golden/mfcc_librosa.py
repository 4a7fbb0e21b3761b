#!/usr/bin/env python3
"""Golden MFCC and log-mel features from librosa, for `crate/tests/mfcc.rs`.

Usage: python tools/golden/mfcc_librosa.py [OUT.json]   (default crate/tests/data/mfcc_golden.json)

Reads real speech from data/fsdd (8 kHz) and the 16 kHz copies in crate/tests/data/speech_16k
(made once by this script with librosa's soxr resampler, then kept, so the golden stays fixed),
and computes each case with the librosa call that matches tinyml-core's front end (see
firmware/core/src/mfcc.rs, `FeatureConfig`). The expression is stored with every case.
"""
import json
import pathlib
import sys

import librosa
import numpy as np
import soundfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEECH_16K = ROOT / "crate/tests/data/speech_16k"
CLIPS_8K = ["7/jackson_0.wav", "3/nicolas_12.wav", "0/george_5.wav", "9/yweweler_31.wav"]

CONFIGS = {
    # The course's keyword features (FeatureConfig::KEYWORDS).
    "keywords": dict(sample_rate_hz=16000, window_ms=30, stride_ms=20, fft_len=0, num_mel_bins=40,
                     num_mfcc=13, fmin_hz=20.0, fmax_hz=4000.0, mel_scale="slaney",
                     slaney_norm=True, preemphasis=0.0),
    # 8 kHz MFCC, window == FFT.
    "mfcc_8k": dict(sample_rate_hz=8000, window_ms=32, stride_ms=16, fft_len=0, num_mel_bins=32,
                    num_mfcc=20, fmin_hz=0.0, fmax_hz=4000.0, mel_scale="slaney", slaney_norm=True,
                    preemphasis=0.0),
    # HTK log-mel, a window shorter than the FFT, pre-emphasis, no area normalisation.
    "logmel_htk_8k": dict(sample_rate_hz=8000, window_ms=25, stride_ms=10, fft_len=512,
                          num_mel_bins=40, num_mfcc=0, fmin_hz=60.0, fmax_hz=3800.0,
                          mel_scale="htk", slaney_norm=False, preemphasis=0.97),
}


def samples(config, ms):
    return config["sample_rate_hz"] * ms // 1000


def expression(config):
    """The librosa call over `y` and `sr` that computes the features of `config`."""
    window = samples(config, config["window_ms"])
    fft = config["fft_len"] or 1 << (window - 1).bit_length()
    pre = ""
    if config["preemphasis"] > 0:
        pre = f"y = np.append(y[0], y[1:] - {config['preemphasis']!r} * y[:-1]); "
    mel = (f"librosa.feature.melspectrogram(y=y, sr=sr, n_fft={fft}, "
           f"hop_length={samples(config, config['stride_ms'])}, win_length={window}, "
           f"window='hann', center=False, power=2.0, n_mels={config['num_mel_bins']}, "
           f"fmin={config['fmin_hz']!r}, fmax={config['fmax_hz']!r}, "
           f"htk={config['mel_scale'] == 'htk'}, "
           f"norm={'slaney' if config['slaney_norm'] else None!r})")
    db = f"librosa.power_to_db({mel}, ref=1.0, amin=1e-10, top_db=None)"
    if config["num_mfcc"] == 0:
        return pre + db
    return pre + f"librosa.feature.mfcc(S={db}, n_mfcc={config['num_mfcc']}, dct_type=2, norm='ortho')"


def features(y, sr, config):
    scope = {"librosa": librosa, "np": np, "y": y.astype(np.float32), "sr": sr}
    code = expression(config)
    if "; " in code:
        pre, code = code.split("; ", 1)
        exec(pre, scope)
    return eval(code, scope)


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "crate/tests/data/mfcc_golden.json"
    SPEECH_16K.mkdir(parents=True, exist_ok=True)
    cases = []
    for clip in CLIPS_8K:
        path_8k = ROOT / "data/fsdd" / clip
        y8, sr8 = soundfile.read(path_8k, dtype="float32")
        path_16k = SPEECH_16K / clip.replace("/", "_")
        if not path_16k.exists():
            y16 = librosa.resample(y8, orig_sr=sr8, target_sr=16000, res_type="soxr_hq")
            soundfile.write(path_16k, np.clip(y16, -1, 1), 16000, subtype="PCM_16")
        for name, config in CONFIGS.items():
            path = path_16k if config["sample_rate_hz"] == 16000 else path_8k
            y, sr = soundfile.read(path, dtype="float32")
            assert sr == config["sample_rate_hz"], (path, sr)
            values = features(y, sr, config)  # (coefficients, frames)
            cases.append({
                "wav": str(path.relative_to(ROOT)),
                "config_name": name,
                "config": config,
                "librosa": expression(config),
                "frames": int(values.shape[1]),
                "coefficients": int(values.shape[0]),
                # frames × coefficients, as tinyml-core writes them.
                "values": [round(float(v), 5) for v in values.T.reshape(-1)],
            })
    doc = {"librosa_version": librosa.__version__, "numpy_version": np.__version__, "cases": cases}
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"{out}: {len(cases)} cases (librosa {librosa.__version__})")


if __name__ == "__main__":
    main()
