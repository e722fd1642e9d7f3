"""Run a network through ONNX Runtime instead of PyTorch: 2-3x faster on a CPU, same numbers.

`as_onnx` exports a module in memory (nothing written to disk) and returns a
callable that takes and gives torch tensors, so the Predictor and the Locator
use it in place of the module. The export is checked against PyTorch once.
A multi-task network exports with every map (`tasks`): the callable then also
answers `every=True` with the same dict as the module.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch


class OnnxModule:
    """A torch-tensor-in, torch-tensor-out wrapper around an onnxruntime session; outputs in `names` order,
    depth first."""

    def __init__(self, session, name: str, names: tuple[str, ...] = ("depth",)):
        self.session, self.name, self.names = session, name, names

    def __call__(self, x: torch.Tensor, every: bool = False):
        outs = self.session.run(None, {self.name: x.detach().cpu().numpy().astype(np.float32)})
        if every:
            return {k: torch.from_numpy(v) for k, v in zip(self.names, outs)}
        return torch.from_numpy(outs[0])

    def eval(self) -> OnnxModule:
        return self


class _Every(torch.nn.Module):
    """A multi-task network as a tuple of its maps (ONNX has no dict outputs), depth first."""

    def __init__(self, model: torch.nn.Module, tasks: tuple[str, ...]):
        super().__init__()
        self.model, self.tasks = model, tasks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x, every=True)
        return tuple(out[k] for k in ("depth", *self.tasks))


def as_onnx(
    model: torch.nn.Module, example: torch.Tensor, dynamic_hw: bool = False, threads: int = 0, tasks=()
) -> OnnxModule:
    """`model` exported with a dynamic batch (and height and width if `dynamic_hw`) and opened in onnxruntime
    on the CPU, with the extra maps of `tasks` (a multi-task network's heads) beside depth; a mismatch with
    PyTorch over 1e-3 on `example` is an error, not a silent difference."""
    import onnxruntime as ort

    names = ("depth", *tasks)
    axes = {0: "batch", **({2: "height", 3: "width"} if dynamic_hw else {})}
    buf = io.BytesIO()
    model = model.eval().cpu()
    with warnings.catch_warnings():  # tracer notes on shape checks that hold for every input of this model
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            _Every(model, tuple(tasks)).eval() if tasks else model,
            (example,),
            buf,
            input_names=["image"],
            output_names=list(names),
            dynamic_axes={"image": axes, **{k: axes for k in names}},
            opset_version=17,
            dynamo=False,
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads would starve OpenCV
    options.log_severity_level = 3
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
    wrapped = OnnxModule(session, "image", names)
    with torch.no_grad():
        want = model(example, every=True) if tasks else {"depth": model(example)}
        got = wrapped(example, every=True)
        diff = max(float((got[k] - want[k]).abs().max()) for k in names)
    if not diff < 1e-3:
        raise RuntimeError(f"onnxruntime differs from PyTorch by {diff:.2e}; predict with runtime='torch'")
    return wrapped
