"""Loihi 2 formats, PTQ, QAT, quantization reports and hardware lint (see issue 4)."""
