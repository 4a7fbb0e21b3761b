"""Keras baseline for keyword spotting: the kit's KWS CNN in Keras, on librosa MFCCs of the same
clips, with a speaker-independent split.

    python bench/kws_keras.py DATA_DIR TEST_SPEAKER [EPOCHS] [--arch cnn|tiny_conv|ds_cnn] [--no-cmn]

DATA_DIR has one folder per label (`<label>/<speaker>_<take>.wav`), like data/fsdd. Each clip is
prepared as tinyml-kit prepares it (16 kHz, centred in or cut to its loudest second, peak 0.9) and
described by the librosa call that matches `FeatureConfig::KEYWORDS`
(tools/golden/mfcc_librosa.py), minus each clip's mean per coefficient (the kit's default clip
mean normalisation; `--no-cmn` leaves it out). Prints `accuracy <fraction>` on TEST_SPEAKER's clips, and
`epoch_seconds <median seconds per training epoch>`.
Needs: pip install tensorflow-cpu librosa soundfile
"""
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import tensorflow as tf  # noqa: E402


def clip(path):
    y, sr = soundfile.read(path, dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    if sr != 16000:
        y = librosa.resample(y, orig_sr=sr, target_sr=16000, res_type="soxr_hq")
    n = 16000
    if len(y) <= n:
        left = (n - len(y)) // 2
        y = np.pad(y, (left, n - len(y) - left))
    else:
        energy = np.concatenate([[0.0], np.cumsum(y.astype(np.float64) ** 2)])
        start = int(np.argmax(energy[n:] - energy[:-n]))
        y = y[start:start + n]
    peak = np.abs(y).max()
    return (y * (0.9 / peak) if peak > 0 else y).astype(np.float32)


def mfcc(y):
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, hop_length=320, win_length=480, window="hann", center=False,
        power=2.0, n_mels=40, fmin=20.0, fmax=4000.0, htk=False, norm="slaney")
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    return librosa.feature.mfcc(S=db, n_mfcc=13, dct_type=2, norm="ortho").T  # frames × 13


def model(arch, classes):
    L = tf.keras.layers
    if arch == "tiny_conv":
        body = [L.Conv2D(8, 5, strides=2, padding="same", activation="relu"), L.Dropout(0.2),
                L.Flatten()]
    elif arch == "ds_cnn":
        body = [L.Conv2D(32, 3, padding="same", activation="relu"),
                L.DepthwiseConv2D(3, padding="same", activation="relu"),
                L.Conv2D(32, 1, activation="relu"), L.MaxPooling2D(2),
                L.DepthwiseConv2D(3, padding="same", activation="relu"),
                L.Conv2D(32, 1, activation="relu"), L.AveragePooling2D(2), L.Flatten(),
                L.Dropout(0.3)]
    else:
        body = [L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                L.Flatten(), L.Dropout(0.3)]
    m = tf.keras.Sequential([L.Input((49, 13, 1))] + body + [L.Dense(classes)])
    m.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


class Timer(tf.keras.callbacks.Callback):
    def __init__(self):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    cmn = "--no-cmn" not in sys.argv
    arch = "cnn"
    if "--arch" in sys.argv:
        arch = sys.argv[sys.argv.index("--arch") + 1]
        args.remove(arch)
    root, test_speaker = pathlib.Path(args[0]), args[1]
    epochs = int(args[2]) if len(args) > 2 else 20
    labels = sorted((d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("_")),
                    key=lambda l: (not l.isdigit(), int(l) if l.isdigit() else 0, l))
    x, y, speakers = [], [], []
    for k, label in enumerate(labels):
        for wav in sorted((root / label).glob("*.wav")):
            x.append(mfcc(clip(wav)))
            y.append(k)
            speakers.append(wav.stem.split("_")[0])
    x, y, speakers = np.array(x), np.array(y), np.array(speakers)
    if cmn:
        x = x - x.mean(axis=1, keepdims=True)
    test = speakers == test_speaker
    mean = x[~test].reshape(-1, 13).mean(axis=0)
    std = np.maximum(x[~test].reshape(-1, 13).std(axis=0), 1e-3)
    x = ((x - mean) / std)[..., None]
    tf.keras.utils.set_random_seed(7)
    m = model(arch, len(labels))
    timer = Timer()
    m.fit(x[~test], y[~test], batch_size=32, epochs=epochs, verbose=0, shuffle=True,
          callbacks=[timer])
    _, accuracy = m.evaluate(x[test], y[test], verbose=0)
    print("accuracy", accuracy)
    print("epoch_seconds", float(np.median(timer.times[1:] or timer.times)))


if __name__ == "__main__":
    main()
