"""Generate text token by token with a small causal language model, streamed as it is produced.

Two ways in, one predictor:

* `POST / {"prompt": "...", "max_new_tokens": 64}`: the generated text as a chunked `text/plain` stream
  (Server-Sent Events, one `data:` line per piece, with `Accept: text/event-stream`);
* `POST /v1/chat/completions` with an OpenAI chat-completions body: `"stream": true` answers
  `chat.completion.chunk` events ending with `data: [DONE]`, so the official `openai` client
  (`base_url=".../v1"`) consumes it; without `stream` one `chat.completion` object.

Tokens come from transformers' `TextIteratorStreamer`, fed by `generate` in a thread. When the stream
ends early (the client left, a timeout) the runtime closes the generator; its `finally` stops
`generate` at the next token, so the model never computes tokens nobody reads.

The model is downloaded from the Hugging Face Hub the first time (then read from the cache in
`HF_HOME`). Without network access and without a cached copy, start-up fails at once with one line
that says so, instead of retrying the download for a minute.
"""

import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # 135M parameters: runs on a CPU


class PythonPredictor:
    def __init__(self, config):
        self.model_name = config.get("model") or DEFAULT_MODEL
        self.max_new_tokens = int(config.get("max_new_tokens", 256))
        require_model_or_hub([self.model_name])
        # Imported only now: require_model_or_hub may have switched the Hugging Face client offline.
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"  # the GPU when compute.gpu > 0
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        self.model = AutoModelForCausalLM.from_pretrained(self.model_name).to(self.device).eval()

    def predict(self, payload):
        if not isinstance(payload, dict):
            return JSONResponse({"error": "send a JSON object"}, status_code=400)
        if "messages" in payload:
            return self.chat(payload)
        if not isinstance(payload.get("prompt"), str):
            return JSONResponse({"error": "send {\"prompt\": \"...\"} or OpenAI chat messages"}, status_code=400)
        ids = self.tokenizer(payload["prompt"], return_tensors="pt").input_ids
        return self.tokens(ids, payload)  # a generator: the runtime streams it

    def tokens(self, ids, payload):
        pieces = self.generate(ids, payload)
        try:
            for piece, _ in pieces:
                if piece:
                    yield piece
        finally:
            pieces.close()  # closed by the runtime (client gone, timeout): stop generating

    # --- OpenAI chat completions ---------------------------------------------------------------------

    def chat(self, payload):
        ids = self.tokenizer.apply_chat_template(payload["messages"], add_generation_prompt=True,
                                                 return_tensors="pt")
        completion = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
                      "model": payload.get("model") or self.model_name}
        if payload.get("stream"):
            return self.chat_chunks(ids, payload, completion)
        pieces = list(self.generate(ids, payload))
        text, finish = "".join(p for p, _ in pieces), pieces[-1][1] if pieces else "stop"
        return {**completion, "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}]}

    def chat_chunks(self, ids, payload, completion):
        def chunk(delta, finish=None):
            return {**completion, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        yield chunk({"role": "assistant", "content": ""})
        pieces = self.generate(ids, payload)
        try:
            for piece, finish in pieces:
                if piece:
                    yield chunk({"content": piece})
                if finish:
                    yield chunk({}, finish)
        finally:
            pieces.close()
        yield "[DONE]"  # OpenAI's end-of-stream marker, sent as `data: [DONE]`

    # --- generation ----------------------------------------------------------------------------------

    def generate(self, ids, payload):
        """Yield (text piece, finish reason) as `generate` produces tokens; the reason is "length" once
        the token budget is spent, else "stop". Closing this generator stops `generate`."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        budget = int(payload.get("max_new_tokens") or payload.get("max_tokens") or self.max_new_tokens)
        budget = max(1, min(budget, self.max_new_tokens))
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop, produced = threading.Event(), []
        torch = self.torch

        class StopWhenAsked(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

        def run():
            with torch.inference_mode():
                output = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=torch.ones_like(ids).to(self.device),
                    max_new_tokens=budget, min_new_tokens=int(payload.get("min_new_tokens", 0)),
                    do_sample=float(payload.get("temperature", 0)) > 0,
                    temperature=float(payload.get("temperature", 0)) or None, streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([StopWhenAsked()]), pad_token_id=self.tokenizer.pad_token_id)
            produced.append(output.shape[1] - ids.shape[1])

        thread = threading.Thread(target=run, name="generate", daemon=True)
        thread.start()
        try:
            pending = None  # one piece behind, so that the last one carries the finish reason
            for piece in streamer:
                if pending is not None:
                    yield pending, None
                pending = piece
            thread.join()
            yield pending or "", "length" if produced and produced[0] >= budget else "stop"
        finally:
            stop.set()  # closed early (client gone, timeout): generate stops at its next token
            thread.join()

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
