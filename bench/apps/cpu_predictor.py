"""A CPU-bound pure-Python predictor for the processes-per-replica benchmark: a few ms of arithmetic per
call, holding the GIL throughout, so one process serves at most one core's worth of calls."""

ITERATIONS = 20_000
"""Loop iterations per call (2-5 ms on one x86 core with CPython 3.11, depending on the core)."""


class CpuPredictor:
    def __init__(self, config):
        self.iterations = int(config.get("iterations", ITERATIONS))

    def predict(self, payload):
        total = 0
        for i in range(self.iterations):
            total = (total + i * i) % 1_000_003
        return {"total": total}
