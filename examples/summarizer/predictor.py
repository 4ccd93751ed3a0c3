"""Summarise text with a Hugging Face summarization pipeline (the design's seed predictor).

The model is downloaded from the Hugging Face Hub the first time (then read from the cache in
`HF_HOME`). Without network access and without a cached copy, start-up fails at once with one line
that says so, instead of retrying the download for a minute.
"""

import os
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

# The summarization pipeline's default model (transformers 4.57); tests/examples checks it still is.
DEFAULT_MODEL = "sshleifer/distilbart-cnn-12-6"


class PythonPredictor:
    def __init__(self, config):
        model = config.get("model")  # `model` in the manifest's config; none means the pipeline's default
        require_model_or_hub([model or DEFAULT_MODEL])
        # Imported only now: require_model_or_hub may have switched the Hugging Face client offline.
        import torch
        from transformers import pipeline

        device = 0 if torch.cuda.is_available() else -1  # the GPU when compute.gpu > 0, else the CPU
        self.summarizer = pipeline(task="summarization", model=model, device=device)

    def predict(self, payload):
        summary = self.summarizer(
            payload["text"], num_beams=4, length_penalty=2.0, max_length=142, no_repeat_ngram_size=3
        )
        return summary[0]["summary_text"]


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
