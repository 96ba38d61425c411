"""Loihi 2 fixed point from trained models (installed as ``neurodeploy.quantize``): the chip
format (:mod:`.format`), post-training quantization (:mod:`.ptq`), quantization-aware
training (:mod:`.qat`), exact-timing models at one time step (:mod:`.exact`), the
quantize pipeline and its directory (:mod:`.pipeline`), reports and hardware lint.

May import: the core, ``neurodeploy.models`` (QAT trains with its surrogates; the pipeline
loads runs), ``neurodeploy.targets`` (calibration and checks simulate) and the NIR modules
of ``neurodeploy.exchange``. Never verify or study.
"""
