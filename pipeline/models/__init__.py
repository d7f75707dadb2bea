"""Model build (export, quantization, head training) and the on-disk model registry.

Importing this package stays light (no torch): serving code imports ``pipeline.models.registry``.
Build with ``python -m pipeline.models build`` or ``pipeline.models.build.build_models``.
"""

from pipeline.models.registry import KINDS, ModelNotBuiltError, is_built, model_path

__all__ = ["KINDS", "ModelNotBuiltError", "is_built", "model_path"]
