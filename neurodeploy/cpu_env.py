"""CPU kernel choices pinned so that float results are the same bits on every x86-64 machine.

Training and float simulation are deterministic on one machine but not across CPUs: torch's
ATen kernels for AVX-512 round differently from their AVX2 kernels in the last bits, MKL
(torch's BLAS) and OpenBLAS (numpy's) choose different matrix kernels on Intel and on AMD
processors even at the same instruction set (MKL ignores ``MKL_ENABLE_INSTRUCTIONS`` on AMD),
and training amplifies any of that into other weights and accuracies. These environment
variables pin every such choice: ATen and numpy to AVX2 (every x86-64 CPU since 2013 has
it), MKL to its conditional-numerical-reproducibility branch ``COMPATIBLE`` (the one that
gives the same bits on Intel and AMD processors), OpenBLAS to its Haswell kernels and
oneDNN to AVX2. They act only when set before numpy and torch load: ``scripts/figures.py``
passes them to the commands of the exact README figures, ``tests/conftest.py`` sets them
for the test suite. This module imports nothing, so that it can be read before numpy.
"""

PORTABLE_CPU_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
                                "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
}
