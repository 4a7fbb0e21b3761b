"""Python baselines for crate/benches/mfcc.rs: MFCC throughput of librosa and
python_speech_features on the same 16 kHz clips, in seconds of audio per second of compute.

    python bench/mfcc_python.py ROUNDS CLIP.wav...

Prints one line per round and library: `librosa <seconds of audio per second>`. The clips are
read into memory first; only feature extraction is timed. librosa runs the call that matches
tinyml-core's `FeatureConfig::KEYWORDS` (see tools/golden/mfcc_librosa.py);
python_speech_features runs its closest configuration (it has no Slaney filters and takes a
natural log of the energies, so its numbers differ, but the work per frame is the same).
Needs: pip install librosa python_speech_features soundfile
"""
import sys
import time

import librosa
import numpy as np
import python_speech_features as psf
import soundfile


def librosa_mfcc(y, sr):
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=512, hop_length=320, win_length=480, window="hann", center=False,
        power=2.0, n_mels=40, fmin=20.0, fmax=4000.0, htk=False, norm="slaney")
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    return librosa.feature.mfcc(S=db, n_mfcc=13, dct_type=2, norm="ortho")


def psf_mfcc(y, sr):
    return psf.mfcc(y, samplerate=sr, winlen=0.03, winstep=0.02, numcep=13, nfilt=40, nfft=512,
                    lowfreq=20, highfreq=4000, preemph=0.0, ceplifter=0, appendEnergy=False,
                    winfunc=np.hanning)


def main():
    rounds = int(sys.argv[1])
    clips = [soundfile.read(path, dtype="float32") for path in sys.argv[2:]]
    seconds = sum(len(y) / sr for y, sr in clips)
    # Warm-up: librosa builds and caches its filterbank and FFT plans on first use.
    for y, sr in clips[:5]:
        librosa_mfcc(y, sr)
        psf_mfcc(y, sr)
    for _ in range(rounds):
        for name, fn in (("librosa", librosa_mfcc), ("python_speech_features", psf_mfcc)):
            start = time.perf_counter()
            for y, sr in clips:
                fn(y, sr)
            print(name, seconds / (time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
