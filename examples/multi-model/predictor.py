"""One endpoint, several models, picked by the `model` query parameter (the design's seed predictor)."""

from fastapi.responses import JSONResponse
from transformers import pipeline


class PythonPredictor:
    def __init__(self, config):
        self.analyzer = pipeline(task="sentiment-analysis")
        self.summarizer = pipeline(task="summarization")

    def predict(self, query_params, payload):
        model_name = query_params.get("model")
        if model_name == "sentiment":
            return self.analyzer(payload["text"])[0]
        elif model_name == "summarizer":
            return self.summarizer(payload["text"])[0]
        else:
            return JSONResponse({"error": f"unknown model: {model_name}"}, status_code=400)
