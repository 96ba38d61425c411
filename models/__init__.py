"""Torch models (installed as ``neurodeploy.models``): CUBA LIF networks with Loihi 2's
discrete dynamics (:mod:`.neurons`, :mod:`.scan`, :mod:`.layers`, :mod:`.network`),
surrogate gradients, trainable delays, the training loop (:mod:`.training`), spike data
sets (:mod:`.datasets`) and exact-timing models (:mod:`.exact`).

May import: the core (``neurodeploy.errors``, ``fixed_point``, ``network``,
``float_network``, ``network_io``); ``datasets`` only the core. Never quantize, targets,
exchange, verify or study: how a model becomes integers is ``neurodeploy.quantize``.
"""
