"""One BLAS thread in tests too, as cli.py sets for the pipeline: steadier on a shared 2-core machine."""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
