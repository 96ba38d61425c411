"""Quantization-aware training (QAT): fine-tune a PTQ network on the chip's own integers.

Three modules: ``ops`` (the integer kernel with straight-through gradients and the fused
population scan), ``network`` (:class:`QATNetwork`, the trainable network module) and
``loop`` (:func:`qat_finetune`, :func:`evaluate_qat`). May import the core, the kernel
and ``neurodeploy.models.surrogates``; never targets, verify or studies.
"""

from neurodeploy.quantize.qat.loop import evaluate_qat, qat_finetune
from neurodeploy.quantize.qat.network import QATNetwork

__all__ = ["QATNetwork", "evaluate_qat", "qat_finetune"]
