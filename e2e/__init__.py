"""The whole system on one machine: an emulated AWS Organization (moto server) driving a real Samba AD lab.

`e2e.world` builds it (see its docstring for what the lab provides where moto falls short), `e2e.demo` prints
a timeline of one launch and its termination, `tests/e2e/` asserts on it, `benchmarks/bench_e2e.py` times it.
"""
