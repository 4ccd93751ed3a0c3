"""Summarise text with a Hugging Face summarization pipeline (the design's seed predictor)."""

import torch
from transformers import pipeline


class PythonPredictor:
    def __init__(self, config):
        device = 0 if torch.cuda.is_available() else -1
        # `model` in the manifest's config picks a model; none means the pipeline's default.
        self.summarizer = pipeline(task="summarization", model=config.get("model"), device=device)

    def predict(self, payload):
        summary = self.summarizer(
            payload["text"], num_beams=4, length_penalty=2.0, max_length=142, no_repeat_ngram_size=3
        )
        return summary[0]["summary_text"]
