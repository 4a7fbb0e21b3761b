"""LiteRT baseline for int8 inference: the kit's networks rebuilt in Keras from the kit's float
weights, quantized by the TFLite converter and run by LiteRT (`ai_edge_litert`).

    python bench/int8_litert.py DIR

Started by `cargo bench -p tinyml-kit --bench int8_inference`, which writes DIR. DIR/models.txt
names one folder per model (one name a line); each folder holds:
- `model.json`: `{"input": [h, w, c], "layers": [...], "weights": ["w0.npy", ...]}`, the kit's
  layers (`conv2d` with filters/kernel/stride/padding, `relu`, `max_pool`, `avg_pool`,
  `flatten`, `dropout`, `dense` with units) and one `.npy` per weight tensor as the kit stores
  them (a weight matrix `[fan_in, outputs]`, conv fan-in ordered (ky, kx, in_channel), then the
  bias);
- `calibration.npy` (float32 `[n, h, w, c]`): the inputs the kit calibrated its int8 model with;
- `test.npy` (float32 `[n, h, w, c]`), `labels.npy` (int32 `[n]`): the test set;
- `float_logits.npy` (float32 `[n, classes]`): the kit's float network on the test set;
- `ours_predictions.npy` (int32 `[n]`): the kit's int8 answers on the test set.

For each model it builds the Keras network (conv weights reshaped to HWIO `[kh, kw, cin, cout]`,
ReLUs fused into the layer before them, dropout left out, batch 1 so that flatten is a plain
reshape, and a softmax at the end as the kit's int8 model has), checks its logits against the
kit's, converts it with full-integer post-training quantization (int8 input and output,
`representative_dataset` over the kit's calibration inputs), writes `model.tflite` next to the
inputs, and measures the int8 model's accuracy with LiteRT. Then it prints `ready` and waits for
commands on stdin, so the caller can interleave its own timing rounds with these in one run:

    time MODEL PASSES   times PASSES passes over MODEL's test inputs with each LiteRT set-up,
                        one inference at a time (set_tensor, invoke, get_tensor); answers
                        `result MODEL time VARIANT MICROSECONDS` per set-up, then `done`
    quit                (or end of input) exits

Set-ups (VARIANT): `t1` one thread; `t1_invoke` one thread, `invoke()` alone on an input set once
(no Python copies in or out); `default` LiteRT's default thread count; `t1_builtin` one thread
without the default XNNPACK delegate (LiteRT's own int8 kernels).
Machine-readable lines start with `result MODEL KEY`: besides `time`, `float_max_abs_diff`
(Keras against the kit's logits), `float_accuracy_keras`, `float_accuracy_kit`, `tflite_bytes`,
`ops` and `ops_builtin` (LiteRT's op list with and without XNNPACK), `input_quantization` and
`output_quantization` (scale, zero point), `accuracy` (int8, LiteRT one thread), `agreement`
(same answer as the kit's int8 model) and `builtin_agreement` (with and without XNNPACK).
Everything else on stdout (the converter's chatter) is noise.
Needs: pip install tensorflow-cpu ai-edge-litert numpy
"""
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402


def say(*fields):
    print("result", *fields, flush=True)


def keras_model(spec, weights):
    """The kit's network in Keras with its weights: (logits model, model ending in softmax)."""
    L = tf.keras.layers
    layers = [l for l in spec["layers"] if l["type"] != "dropout"]
    inp = L.Input(tuple(spec["input"]), batch_size=1)
    x, w, i = inp, iter(weights), 0
    while i < len(layers):
        layer = layers[i]
        relu = i + 1 < len(layers) and layers[i + 1]["type"] == "relu"
        kind = layer["type"]
        if kind == "conv2d":
            k, cin = layer["kernel"], x.shape[-1]
            conv = L.Conv2D(layer["filters"], k, strides=layer["stride"],
                            padding=layer["padding"], activation="relu" if relu else None)
            x = conv(x)
            kernel, bias = next(w), next(w)
            conv.set_weights([kernel.reshape(k, k, cin, layer["filters"]), bias])
        elif kind == "dense":
            dense = L.Dense(layer["units"], activation="relu" if relu else None)
            x = dense(x)
            dense.set_weights([next(w), next(w)])
        elif kind == "max_pool":
            x, relu = L.MaxPooling2D(layer["size"])(x), False
        elif kind == "avg_pool":
            x, relu = L.AveragePooling2D(layer["size"])(x), False
        elif kind == "flatten":
            x, relu = L.Flatten()(x), False
        elif kind == "relu":
            x, relu = L.ReLU()(x), False
        else:
            raise ValueError(f"layer {kind} is not supported")
        i += 2 if relu else 1
    logits = tf.keras.Model(inp, x)
    return logits, tf.keras.Model(inp, L.Softmax()(x))


def convert(model, calibration):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


class Runner:
    """One LiteRT interpreter of a model, with the test inputs quantized for it."""

    def __init__(self, content, test, **options):
        self.interp = Interpreter(model_content=content, **options)
        self.interp.allocate_tensors()
        i, o = self.interp.get_input_details()[0], self.interp.get_output_details()[0]
        self.input, self.output = i["index"], o["index"]
        self.input_q, self.output_q = i["quantization"], o["quantization"]
        scale, zero = self.input_q
        q = np.clip(np.round(test / scale) + zero, -128, 127).astype(np.int8)
        self.inputs = [x[None] for x in q]  # batch 1 each, contiguous

    def predict(self):
        out = []
        for x in self.inputs:
            self.interp.set_tensor(self.input, x)
            self.interp.invoke()
            out.append(int(np.argmax(self.interp.get_tensor(self.output)[0])))
        return np.array(out)

    def time_full(self, passes):
        """Microseconds per inference: set_tensor + invoke + get_tensor on each input."""
        interp = self.interp
        set_tensor, invoke, get_tensor = interp.set_tensor, interp.invoke, interp.get_tensor
        i, o = self.input, self.output
        start = time.perf_counter_ns()
        for _ in range(passes):
            for x in self.inputs:
                set_tensor(i, x)
                invoke()
                get_tensor(o)
        return (time.perf_counter_ns() - start) / 1e3 / (passes * len(self.inputs))

    def time_invoke(self, passes):
        """Microseconds per `invoke()` alone, the input set once."""
        self.interp.set_tensor(self.input, self.inputs[0])
        invoke, n = self.interp.invoke, passes * len(self.inputs)
        start = time.perf_counter_ns()
        for _ in range(n):
            invoke()
        return (time.perf_counter_ns() - start) / 1e3 / n


def prepare(folder):
    name = folder.name
    spec = json.loads((folder / "model.json").read_text())
    weights = [np.load(folder / f) for f in spec["weights"]]
    calibration = np.load(folder / "calibration.npy")
    test, labels = np.load(folder / "test.npy"), np.load(folder / "labels.npy")
    ours = np.load(folder / "ours_predictions.npy")
    logits, model = keras_model(spec, weights)
    kit = np.load(folder / "float_logits.npy")
    keras = np.concatenate([logits(x[None], training=False).numpy() for x in test])
    say(name, "float_max_abs_diff", float(np.abs(keras - kit).max()))
    say(name, "float_max_abs_logit", float(np.abs(kit).max()))
    say(name, "float_accuracy_keras", float((keras.argmax(1) == labels).mean()))
    say(name, "float_accuracy_kit", float((kit.argmax(1) == labels).mean()))
    content = convert(model, calibration)
    (folder / "model.tflite").write_bytes(content)
    say(name, "tflite_bytes", len(content))
    builtin = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    runners = {
        "t1": Runner(content, test, num_threads=1),
        "default": Runner(content, test),
        "t1_builtin": Runner(content, test, num_threads=1, experimental_op_resolver_type=builtin),
    }
    t1 = runners["t1"]
    ops = [d["op_name"] for d in t1.interp._get_ops_details()]
    say(name, "ops", ",".join(ops))
    builtin_ops = [d["op_name"] for d in runners["t1_builtin"].interp._get_ops_details()]
    say(name, "ops_builtin", ",".join(builtin_ops))
    say(name, "input_quantization", *t1.input_q)
    say(name, "output_quantization", *t1.output_q)
    predictions = t1.predict()
    say(name, "accuracy", float((predictions == labels).mean()))
    say(name, "agreement", float((predictions == ours).mean()))
    say(name, "builtin_agreement", float((runners["t1_builtin"].predict() == predictions).mean()))
    return runners


def main():
    root = pathlib.Path(sys.argv[1])
    names = [n for n in (root / "models.txt").read_text().split() if n]
    tf.keras.utils.set_random_seed(0)
    models = {n: prepare(root / n) for n in names}
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "time":
            name, passes = words[1], int(words[2])
            runners = models[name]
            for variant, runner in runners.items():
                say(name, "time", variant, runner.time_full(passes))
            say(name, "time", "t1_invoke", runners["t1"].time_invoke(passes))
        print("done", flush=True)


if __name__ == "__main__":
    main()
