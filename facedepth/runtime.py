"""Run a network through ONNX Runtime instead of PyTorch: 2-3x faster on a CPU, same numbers.

`as_onnx` exports a module in memory (nothing written to disk) and returns a
callable that takes and gives torch tensors, so the Predictor and the Locator
use it in place of the module. The export is checked against PyTorch once.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch


class OnnxModule:
    """A torch-tensor-in, torch-tensor-out wrapper around an onnxruntime session."""

    def __init__(self, session, name: str):
        self.session, self.name = session, name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {self.name: x.detach().cpu().numpy().astype(np.float32)})[0])

    def eval(self) -> OnnxModule:
        return self


def as_onnx(model: torch.nn.Module, example: torch.Tensor, dynamic_hw: bool = False, threads: int = 0) -> OnnxModule:
    """`model` exported with a dynamic batch (and height and width if `dynamic_hw`) and opened in onnxruntime
    on the CPU; a mismatch with PyTorch over 1e-3 on `example` is an error, not a silent difference."""
    import onnxruntime as ort

    axes = {0: "batch", **({2: "height", 3: "width"} if dynamic_hw else {})}
    buf = io.BytesIO()
    model = model.eval().cpu()
    with warnings.catch_warnings():  # tracer notes on shape checks that hold for every input of this model
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (example,),
            buf,
            input_names=["image"],
            output_names=["out"],
            dynamic_axes={"image": axes, "out": axes},
            opset_version=17,
            dynamo=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads would starve OpenCV
    options.log_severity_level = 3
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
    wrapped = OnnxModule(session, "image")
    with torch.no_grad():
        diff = float((wrapped(example) - model(example)).abs().max())
    if not diff < 1e-3:
        raise RuntimeError(f"onnxruntime differs from PyTorch by {diff:.2e}; predict with runtime='torch'")
    return wrapped
