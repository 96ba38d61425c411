"""Exchange formats: NIR graphs written with a discretization contract
(:mod:`.nir_export`, :mod:`.contract`) and any tool's graphs read (:mod:`.nir_import`);
:mod:`.export` writes a model's artifacts (NIR, ONNX, network file) and imports graphs for
the ``neurodeploy export`` and ``import`` commands. The ONNX export lives with its target
(``neurodeploy.targets.onnx``).

May import: the NIR modules only the core (``neurodeploy.network``, ``float_network``,
``network_io``, ``errors``); :mod:`.export` also models, quantize and targets. Never
verify or study.
"""
