"""Cortex v0.30's multi-model predictor shape: `python_client.get_model(name, version)` of `load_model`'s objects."""

import json
import os


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        with open(os.path.join(model_path, "model.json")) as file:
            return json.load(file)

    def predict(self, query_params):
        model = self.client.get_model(query_params.get("model"), query_params.get("version", "latest"))
        return {"answer": model["answer"], "credentials_seen": "AWS_SECRET_ACCESS_KEY" in os.environ}
