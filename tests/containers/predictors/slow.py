"""Sleeps `payload["seconds"]` and answers its pid: drain and processes-per-replica tests."""

import os
import time


class PythonPredictor:
    def __init__(self, config):
        self.pid = os.getpid()

    def predict(self, payload):
        time.sleep(float(payload.get("seconds", 0)))
        return {"pid": self.pid, "id": payload.get("id")}
