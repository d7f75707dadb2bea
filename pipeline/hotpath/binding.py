"""A model session run through I/O binding, on input and output buffers allocated once.

A session run on numpy feeds has onnxruntime allocate every output anew, and on a GPU the device
copies of the inputs too. A bound run reads its inputs from, and writes its output into, buffers
allocated when the model loads, sized for the largest batch a lane forms (``max_rows`` rows of
``max_tokens`` tokens). A run of B rows and L tokens uses the first B x L elements of a buffer,
viewed as [B, L]: the prefix of a contiguous buffer is contiguous, so the view is bound as it is.
A caller passing more rows than that (an evaluation over a whole test split) grows the buffers once.

On the CPU provider the kernels read and write these buffers directly; on CUDA onnxruntime copies
the inputs to the device and the output back into its buffer on its own stream. One code path for
both, so the tests on the CPU exercise what a GPU runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from pipeline.hotpath.providers import TOKEN_INPUTS

_DTYPES: dict[str, type[np.generic]] = {
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}


class _Buffer:
    """A flat buffer handing out contiguous [rows, width] views of its first elements."""

    def __init__(self, dtype: type[np.generic], size: int) -> None:
        self.dtype = np.dtype(dtype)
        self.data = np.empty(max(1, size), dtype=self.dtype)

    def view(self, rows: int, width: int) -> np.ndarray:
        needed = rows * width
        if needed > self.data.size:
            self.data = np.empty(max(needed, 2 * self.data.size), dtype=self.dtype)
        return self.data[:needed].reshape(rows, width)


def _width(shape: list[Any], max_tokens: int) -> int:
    """The second dimension a buffer is first sized for: fixed in the graph, else the token limit."""
    if len(shape) != 2:
        raise ValueError(f"bound runs take [batch, width] tensors, not {shape}")
    return shape[1] if isinstance(shape[1], int) else max_tokens


class BoundSession:
    """Runs ``session`` on preallocated buffers (see the module doc). One lane's thread uses it; the
    lock makes a second caller wait rather than overwrite a batch in flight."""

    def __init__(self, session: Any, *, max_rows: int, max_tokens: int) -> None:
        self.session = session
        self._binding = session.io_binding()
        self._lock = threading.Lock()
        self._inputs = {
            i.name: _Buffer(_DTYPES[i.type], max_rows * _width(i.shape, max_tokens))
            for i in session.get_inputs()
        }
        self._outputs = {
            o.name: _Buffer(_DTYPES[o.type], max_rows * _width(o.shape, max_tokens))
            for o in session.get_outputs()
        }
        self._output_widths: dict[str, int] = {}
        for o in session.get_outputs():
            if len(o.shape) != 2 or not isinstance(o.shape[1], int):
                raise ValueError(f"output {o.name} must be [batch, fixed width], not {o.shape}")
            self._output_widths[o.name] = o.shape[1]

    def output_width(self, name: str) -> int:
        return self._output_widths[name]

    def run_rows(
        self,
        output: str,
        feeds: Mapping[str, np.ndarray],
        rows: np.ndarray,
        width: int,
        into: np.ndarray,
    ) -> None:
        """Run ``rows`` of ``feeds`` (token inputs cut to ``width`` columns) and write ``output`` to
        those rows of ``into``."""
        count = len(rows)
        with self._lock:
            binding = self._binding
            binding.clear_binding_inputs()
            binding.clear_binding_outputs()
            for name, value in feeds.items():
                source = value[:, :width] if name in TOKEN_INPUTS else value
                buffer = self._inputs[name]
                view = buffer.view(count, source.shape[1])
                if source.dtype == buffer.dtype:
                    np.take(source, rows, axis=0, out=view, mode="clip")
                else:
                    view[:] = source[rows]
                binding.bind_input(name, "cpu", 0, buffer.dtype, view.shape, view.ctypes.data)
            result = self._outputs[output].view(count, self._output_widths[output])
            binding.bind_output(output, "cpu", 0, result.dtype, result.shape, result.ctypes.data)
            self.session.run_with_iobinding(binding)
            into[rows] = result
