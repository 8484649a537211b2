"""A tiny Llama model and tokenizer built in seconds on CPU, for tests.

The recipe of reference/hf.md §3: a byte-level BPE trained on the task's own
words, a 2-layer Llama with ``initializer_range=0.2`` (with the default 0.02
the loss barely moves in 100 steps) and a ChatML template with generation
markers so assistant-only loss works. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ m['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

WORDS = {
    "animal": ["zebra", "lion", "tiger", "horse", "sheep", "camel", "otter", "eagle", "mouse",
               "whale", "bison", "moose", "llama", "panda", "koala", "hyena", "raven", "gecko",
               "lemur", "okapi"],
    "color": ["red", "blue", "green", "amber", "ivory", "olive", "coral", "azure", "beige",
              "khaki", "lilac", "mauve", "ochre", "peach", "plum", "rust", "sepia", "taupe",
              "teal", "umber"],
    "fruit": ["apple", "mango", "grape", "lemon", "peach", "melon", "guava", "lime", "kiwi",
              "plum", "pear", "fig", "date", "cherry", "papaya", "banana", "quince", "apricot",
              "lychee", "olive"],
}


def pairs() -> list[tuple[str, str]]:
    """(word, label) pairs; words appearing under two labels are dropped."""
    seen: dict[str, str] = {}
    dup: set[str] = set()
    for label, words in WORDS.items():
        for w in words:
            if w in seen:
                dup.add(w)
            seen[w] = label
    return [(w, lab) for w, lab in seen.items() if w not in dup]


def examples() -> list[dict]:
    """Chat examples: the word in, its label out."""
    return [{"messages": [{"role": "user", "content": w}, {"role": "assistant", "content": lab}]}
            for w, lab in pairs()]


def build(dst: Path, seed: int = 0) -> Path:
    """Write a tiny tokenizer + Llama model folder to ``dst`` and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = []
    for w, lab in pairs():
        corpus += [f"{w} is a {lab}", f"the {w}", w, lab, "user", "assistant", "system"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<pad>")
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
        initializer_range=0.2, tie_word_embeddings=False, pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id, bos_token_id=None))
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    return dst
