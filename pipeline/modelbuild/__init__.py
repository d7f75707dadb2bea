"""The model build: encoder export, head training, fine-tuning, distillation, int8 quantization.

Needs the ``build`` extra (torch, transformers, onnx); serving never imports it and reads the built
artefacts through ``pipeline.hotpath.artefacts``. Build with ``streamguard models build``.
"""
