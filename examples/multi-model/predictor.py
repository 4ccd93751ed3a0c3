"""One endpoint, several models, picked by the `model` query parameter (the design's seed predictor).

Both models are downloaded from the Hugging Face Hub the first time (then read from the cache in
`HF_HOME`). Without network access and without cached copies, start-up fails at once with one line
that says so, instead of retrying the downloads for a minute.
"""

import os
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

# The pipelines' default models (transformers 4.57); tests/examples checks they still are.
DEFAULT_MODELS = {
    "sentiment-analysis": "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
    "summarization": "sshleifer/distilbart-cnn-12-6",
}


class PythonPredictor:
    def __init__(self, config):
        require_model_or_hub(list(DEFAULT_MODELS.values()))
        # Imported only now: require_model_or_hub may have switched the Hugging Face client offline.
        from transformers import pipeline

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


def require_model_or_hub(models, timeout=3.0):
    """Fail fast, in one line, when a model must be downloaded and the Hugging Face Hub is out of reach.

    A local folder or a model already in the cache needs no network: when the Hub cannot be reached the
    client is switched offline (`HF_HUB_OFFLINE=1`), so it reads the cache at once instead of retrying.
    """
    remote = [m for m in models if not Path(m).is_dir()]
    offline = any(os.environ.get(v, "").upper() in {"1", "ON", "YES", "TRUE"}
                  for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if not remote or (not offline and _reachable(endpoint, timeout)):
        return
    _go_offline()
    from huggingface_hub import constants

    missing = [m for m in remote if not _cached(Path(constants.HF_HUB_CACHE), m)]
    if missing:
        why = "HF_HUB_OFFLINE is set" if offline else f"{endpoint} cannot be reached"
        raise RuntimeError(
            f"cannot load {', '.join(missing)}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
            f"{why}; start once with network access, or pre-fill the cache (see the example's README)"
        )


def _reachable(url, timeout):
    """Whether a TCP connection to the Hub (or the HTTPS proxy) opens within `timeout` seconds."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlsplit(proxy or url)
    address = (target.hostname, target.port or (443 if target.scheme == "https" else 80))
    opened = []

    def connect():  # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection(address, timeout=timeout).close()
            opened.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(opened)


def _go_offline():
    os.environ["HF_HUB_OFFLINE"] = "1"
    if "huggingface_hub.constants" in sys.modules:  # already imported: it read the variable then
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "transformers.utils.hub" in sys.modules:
        sys.modules["transformers.utils.hub"]._is_offline_mode = True


def _cached(cache, model):
    """Whether some snapshot of `model` holds a config.json in the hub cache."""
    return any((cache / f"models--{model.replace('/', '--')}" / "snapshots").glob("*/config.json"))
