"""Tiny Hugging Face models saved under the ids `pipeline(task=...)` picks by default.

The design's seed predictors call `pipeline(task="summarization")` and
`pipeline(task="sentiment-analysis")` with no model name. Saving a tiny, randomly initialised model
under the default id and revision in a private Hugging Face cache lets them run unmodified and
offline (`HF_HOME` + `HF_HUB_OFFLINE=1`).
"""

from __future__ import annotations

from pathlib import Path

SNAPSHOT = "0" * 40
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "models serve predictions over http to many clients",
    "a summary is shorter than the text it summarises",
    "kubernetes runs the replicas and the operator reconciles them",
] * 4


def _default_model(task: str) -> tuple[str, str]:
    from transformers.pipelines import check_task

    _, targeted, _ = check_task(task)
    model, revision = targeted["default"]["model"]["pt"]
    return model, revision


def _snapshot_dir(hf_home: Path, model_id: str, revision: str) -> Path:
    repo = hf_home / "hub" / ("models--" + model_id.replace("/", "--"))
    snapshot = repo / "snapshots" / SNAPSHOT
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    for ref in ("main", revision):
        (repo / "refs" / ref).write_text(SNAPSHOT)
    return snapshot


def _bpe_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
        unk_token="<unk>", mask_token="<mask>", model_max_length=128,
    )


def _wordpiece_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )


def save_tiny_summarizer(hf_home: Path) -> str:
    """Save a tiny BART under the summarization pipeline's default id; returns that id."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    model_id, revision = _default_model("summarization")
    target = _snapshot_dir(hf_home, model_id, revision)
    tokenizer = _bpe_tokenizer()
    config = BartConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=256, bos_token_id=0, pad_token_id=1, eos_token_id=2,
        decoder_start_token_id=2, forced_eos_token_id=2,
    )
    torch.manual_seed(0)
    model = BartForConditionalGeneration(config)
    # Random weights never choose EOS, so every call would generate max_new_tokens with 4 beams (seconds
    # on an idle core, a minute on a busy machine): favour EOS after a few tokens so calls stay cheap.
    with torch.no_grad():
        model.final_logits_bias[0, config.eos_token_id] = 3.0
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return model_id


def save_tiny_sentiment(hf_home: Path) -> str:
    """Save a tiny DistilBERT under the sentiment-analysis pipeline's default id; returns that id."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    model_id, revision = _default_model("sentiment-analysis")
    target = _snapshot_dir(hf_home, model_id, revision)
    tokenizer = _wordpiece_tokenizer()
    config = DistilBertConfig(
        vocab_size=len(tokenizer), dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=128,
        pad_token_id=0, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    torch.manual_seed(0)
    DistilBertForSequenceClassification(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return model_id


def offline_hf_env(hf_home: Path) -> dict[str, str]:
    """Environment variables that make transformers read only the private cache."""
    return {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


TEXT_GENERATION_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""examples/text-generation's default model (its DEFAULT_MODEL); a tiny stand-in is saved under this id."""
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def save_tiny_causal_lm(hf_home: Path, model_id: str = TEXT_GENERATION_MODEL) -> str:
    """Save a tiny, randomly initialised Llama causal LM (with a chat template) under `model_id`; returns it."""
    import torch
    from tokenizers import processors
    from transformers import LlamaConfig, LlamaForCausalLM

    target = _snapshot_dir(hf_home, model_id, "main")
    tokenizer = _bpe_tokenizer()
    tokenizer.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)  # no </s> after prompts
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=0, pad_token_id=1, eos_token_id=2,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return model_id
