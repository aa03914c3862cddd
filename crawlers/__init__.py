import os

# NumPy's OpenBLAS would start a thread per core for the tiny products of language identification, and
# those threads spin-wait: on two cores a crawl then spent more time in the kernel than in Python.
# Set before NumPy is first imported (anything that crawls imports this package first).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
