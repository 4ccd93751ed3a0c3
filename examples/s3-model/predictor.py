"""A sentiment scorer whose "model" (word weights and a vocabulary) is downloaded from S3 by `spec.model`.

The runtime passes the local folder of the download as `config["model_path"]` (also in the environment as
`PREDICTORAPI_MODEL_PATH`); nothing of the model is in the image.
"""

import json
from pathlib import Path


class PythonPredictor:
    def __init__(self, config):
        folder = Path(config["model_path"])
        self.weights = json.loads((folder / "weights.json").read_text())
        self.version = (folder / "VERSION").read_text().strip()
        self.threshold = float(config.get("threshold", 0.0))

    def predict(self, payload):
        words = payload["text"].lower().split()
        score = sum(self.weights.get(word, 0.0) for word in words)
        return {"label": "POSITIVE" if score > self.threshold else "NEGATIVE", "score": score,
                "model_version": self.version}
