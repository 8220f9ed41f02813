"""Run-time settings, read on the host and passed to compiled code as arguments.

Numba freezes module globals at compile time, so compiled code never reads these directly;
tests change them (e.g. a tiny tile size so small inputs span many tiles).
"""

import os

#: Rows and columns of one Gram tile. 256 keeps a tile's inner products (512 KiB in float64)
#: inside a Zen 4 / Skylake-X L2 cache while amortising a BLAS call.
TILE_SIZE = int(os.environ.get("FASTNTK_TILE_SIZE", "256"))

#: Tiles per progress update when ``progress=True``.
PROGRESS_STEPS = 100

#: Side of the square thread block of the CUDA Gram kernel, and of the tiles of ``X`` and ``Z``
#: it stages in shared memory. 16 (256 threads) suits current GPUs; tests use a few threads so
#: that tiny inputs span many blocks (the CUDA simulator runs one Python thread per GPU thread).
CUDA_TILE_SIZE = int(os.environ.get("FASTNTK_CUDA_TILE_SIZE", "16"))

#: GPU memory for one row block of a Gram matrix streamed back to the host, in bytes; 0 takes
#: half of the GPU's free memory. Tests set it small so that a tiny matrix streams in blocks.
CUDA_BLOCK_BYTES = int(os.environ.get("FASTNTK_CUDA_BLOCK_BYTES", "0"))
