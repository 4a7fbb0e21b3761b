"""Keras baseline for crate/benches/training.rs: trains the reference CNN or MLP for one epoch on
random MNIST-shaped data and prints images per second (the last line of stdout).

    python bench/keras_train.py cnn|mlp IMAGES BATCH

Needs tensorflow-cpu (pip install tensorflow-cpu). The first epoch includes graph tracing, so the
script runs a short warm-up epoch first and times a second one.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def model(kind):
    layers = tf.keras.layers
    if kind == "cnn":
        net = [
            layers.Input((28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    else:
        net = [layers.Input((784,)), layers.Dense(128, activation="relu"), layers.Dense(10)]
    m = tf.keras.Sequential(net)
    m.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def main():
    kind, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    shape = (n, 28, 28, 1) if kind == "cnn" else (n, 784)
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, n)
    m = model(kind)
    m.fit(x[: batch * 8], y[: batch * 8], batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    m.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    print(n / (time.perf_counter() - start))


if __name__ == "__main__":
    main()
