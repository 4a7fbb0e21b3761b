"""A keyword model trained and converted outside the kit, for `cargo bench --bench tflite_import`.

    python bench/keras_tflite.py DIR

DIR (written by the bench) holds the kit's MFCC features of the spoken digits, standardised
with the training clips' per-coefficient mean and standard deviation: `train.bin` and
`test.bin` (float32, clips × frames × coefficients), `train_labels.bin` and `test_labels.bin`
(int32) and `meta.json` (`frames`, `coefficients`, `classes`, `epochs`). This script trains a
small CNN in Keras on them (conv 8 3×3 same + ReLU, max pool 2, conv 16 3×3 same + ReLU, max
pool 2, flatten, dense, softmax), converts it with TensorFlow's converter to a full-integer int8
model (int8 input and output, the training clips as the representative data) and writes
`model.tflite`; then it quantizes the test clips with the model's input scale and zero point
(`test_int8.bin`) and runs them with LiteRT's reference kernels (`litert_outputs.bin`). Prints
`result KEY VALUE` lines: `keras_accuracy` (float, on the test clips), `litert_accuracy`,
`input_quantization` (scale zero_point) and `ops`.
Needs: pip install tensorflow-cpu ai-edge-litert
"""
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = pathlib.Path(sys.argv[1])
    meta = json.loads((d / "meta.json").read_text())
    shape = (meta["frames"], meta["coefficients"], 1)
    load = lambda name: np.fromfile(d / name, dtype=np.float32).reshape((-1,) + shape)
    x_train, x_test = load("train.bin"), load("test.bin")
    y_train = np.fromfile(d / "train_labels.bin", dtype=np.int32)
    y_test = np.fromfile(d / "test_labels.bin", dtype=np.int32)

    tf.keras.utils.set_random_seed(1)
    L = tf.keras.layers
    model = tf.keras.Sequential([
        L.Input(shape),
        L.Conv2D(8, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(16, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(meta["classes"]),
        L.Softmax(),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=meta["epochs"], batch_size=32, verbose=0)
    keras_accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in x_train[:300])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite = converter.convert()
    (d / "model.tflite").write_bytes(tflite)

    interpreter = Interpreter(
        model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    q = np.clip(np.round(x_test / scale) + zero, -128, 127).astype(np.int8)
    q.tofile(d / "test_int8.bin")
    outputs = []
    for x in q:
        interpreter.set_tensor(inp["index"], x[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"]).reshape(-1))
    outputs = np.stack(outputs)
    outputs.astype(np.int8).tofile(d / "litert_outputs.bin")
    litert_accuracy = float(np.mean(np.argmax(outputs, axis=1) == y_test))
    print(f"result keras_accuracy {keras_accuracy}")
    print(f"result litert_accuracy {litert_accuracy}")
    print(f"result input_quantization {scale!r} {zero}")
    print("result ops " + ",".join(op["op_name"] for op in interpreter._get_ops_details()))


if __name__ == "__main__":
    main()
