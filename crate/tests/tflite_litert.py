"""Runs a .tflite model with LiteRT's reference kernels, for crate/tests/tflite.rs.

    python tflite_litert.py MODEL.tflite INPUTS.bin OUTPUTS.bin [--also NAME VALUES.bin]

INPUTS.bin holds n inputs one after another, each the model's int8 input tensor as bytes;
OUTPUTS.bin gets the n int8 outputs the same way. With --also, VALUES.bin gets the values of
the tensor called NAME as well (any int8 tensor of the graph: LiteRT then keeps every tensor). LiteRT runs with its reference kernels
(`OpResolverType.BUILTIN_REF`, the arithmetic TensorFlow Lite Micro uses; LiteRT's default
XNNPACK kernels requantize through floats). Prints `ops NAME,NAME,...` (the ops LiteRT read) and
`quantization IN_SCALE IN_ZERO_POINT OUT_SCALE OUT_ZERO_POINT`.

Needs: tools/litert-requirements.txt (ai-edge-litert and numpy; tools/setup installs them).
"""

import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def main() -> None:
    args = sys.argv[1:]
    tensor = values = None
    if len(args) == 6 and args[3] == "--also":
        tensor, values = args[4:]
        args = args[:3]
    if len(args) != 3:
        sys.exit(__doc__)
    model, inputs, outputs = args
    interpreter = Interpreter(
        model_path=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=tensor is not None,
    )
    interpreter.allocate_tensors()
    x, y = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    also = None
    if tensor is not None:
        named = [t for t in interpreter.get_tensor_details() if t["name"] == tensor]
        if not named:
            sys.exit(f"error: {model} has no tensor called {tensor}")
        also = named[0]["index"]
    if x["dtype"] != np.int8 or y["dtype"] != np.int8:
        sys.exit(f"error: {model} has {x['dtype']} input and {y['dtype']} output, not int8")
    size = int(np.prod(x["shape"]))
    data = np.fromfile(inputs, dtype=np.int8)
    if data.size == 0 or data.size % size:
        sys.exit(f"error: {inputs} holds {data.size} bytes, not a multiple of the input's {size}")
    results, extra = [], []
    for one in data.reshape(-1, size):
        interpreter.set_tensor(x["index"], one.reshape(x["shape"]))
        interpreter.invoke()
        results.append(interpreter.get_tensor(y["index"]).reshape(-1))
        if also is not None:
            extra.append(interpreter.get_tensor(also).reshape(-1))
    np.concatenate(results).astype(np.int8).tofile(outputs)
    if also is not None:
        np.concatenate(extra).astype(np.int8).tofile(values)
    print("ops " + ",".join(op["op_name"] for op in interpreter._get_ops_details()))
    (in_scale, in_zero), (out_scale, out_zero) = x["quantization"], y["quantization"]
    print(f"quantization {in_scale!r} {in_zero} {out_scale!r} {out_zero}")


if __name__ == "__main__":
    main()
