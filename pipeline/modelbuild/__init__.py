"""Model build (export, quantization, head training) and the on-disk model registry.

Importing this package stays light (no torch): serving code imports ``pipeline.hotpath.artefacts``.
Build with ``python -m pipeline.modelbuild build`` or ``pipeline.modelbuild.build.build_models``.
"""

from pipeline.hotpath.artefacts import KINDS, ModelNotBuiltError, is_built, model_path

__all__ = ["KINDS", "ModelNotBuiltError", "is_built", "model_path"]
