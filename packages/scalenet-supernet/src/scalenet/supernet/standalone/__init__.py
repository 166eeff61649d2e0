"""The stand-alone side: static networks of single paths, their training, zoo and export.

* :mod:`~scalenet.supernet.standalone.static`: :class:`StaticNet` (one path as a plain
  ``nn.Sequential``), :class:`BilateralAverage`, saving and loading;
* :mod:`~scalenet.supernet.standalone.retrain`: :class:`Retrainer` (training from scratch or
  fine-tuning, exact resume, DDP) and evaluation (accuracy, FLOPs, latency);
* :mod:`~scalenet.supernet.standalone.cache`: :class:`EvaluationCache` (evaluations kept by weights
  and settings, so an interrupted evaluation skips what it did);
* :mod:`~scalenet.supernet.standalone.zoo`: models by name (``scalenet_s0`` ...) and fine-tuning;
* :mod:`~scalenet.supernet.standalone.export`: ONNX (checked with onnxruntime) and TorchScript.
"""
