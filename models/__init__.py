"""Torch models: neurons, surrogates, delays, datasets and training (see issue 3)."""
