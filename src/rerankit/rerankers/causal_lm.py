"""Causal-LM rerankers: a language model reads a prompt; next-token logits score relevance.

Every recipe builds one token sequence per (query, document) pair::

    prefix | query piece | middle | document piece | suffix

The fixed parts (prefix, middle, suffix) are tokenised once, at load time, and are never
cut. The query piece is cut to the query budget first, then the document piece fills what
is left of ``max_length``, so the prompt's closing text (the part the model answers right
after) always survives truncation. Sequences are left-padded, so the last position of every
row is the position whose next-token logits score the pair, and position ids are computed
from the attention mask, so a pair scores the same alone or in a padded batch.

Only the one or two vocabulary rows a recipe reads are computed, in float32, from the last
hidden state (the model's own head is checked against this once at load time; models whose
head does something else fall back to the model's ``logits_to_keep=1`` forward).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError, UnsupportedModelError
from rerankit._types import EncodedPair
from rerankit.rerankers._tokens import TextTokenizer
from rerankit.rerankers._torch import choose_max_length, load_model, pad_batch
from rerankit.rerankers.base import sigmoid

# Config attributes that rescale a causal LM's logits in ways the float32 head below does
# not reproduce (Cohere, Granite, ...): such models are scored with their own forward.
_UNHANDLED_LOGIT_SCALES = ("logit_scale", "logits_scaling", "output_multiplier_scale")


class CausalLMBackend:
    """Shared loading, encoding and scoring of prompt-based causal-LM rerankers.

    A recipe (subclass) sets ``name`` and ``default_length`` and implements
    :meth:`_template` (the prompt pieces) and :meth:`_answer_tokens` (the token whose
    logit is the score, and optionally one whose logit is subtracted).
    """

    name = "causal-lm"
    scores_by_content = True
    #: Default max_length when neither the caller nor the known-model table sets one.
    default_length = 8192
    #: Whether the recipe accepts a task instruction.
    takes_instruction = False

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        query_max_tokens: int | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        default_max_length: int | None = None,
        instruction: str | None = None,
        threads: int | None = None,
        **unused: Any,
    ) -> None:
        if instruction is not None:
            if not self.takes_instruction:
                raise InvalidInputError(f"the {self.name} backend takes no instruction")
            if not isinstance(instruction, str) or not instruction.strip():
                raise InvalidInputError(f"instruction must be a non-empty str, got {instruction!r}")
        loaded = load_model(
            "AutoModelForCausalLM", model, feature=f"The {self.name} backend", device=device,
            dtype=dtype, trust_remote_code=trust_remote_code, revision=revision,
            threads=threads,
        )
        self._torch = loaded.torch
        self.model_name = model
        self.model, self.device, self.dtype = loaded.model, loaded.device, loaded.dtype
        self.hf_tokenizer = hf_tokenizer = loaded.tokenizer
        self.tokenizer = TextTokenizer(hf_tokenizer, model)
        self.max_length = choose_max_length(
            max_length, default_max_length or self.default_length, loaded.limit, model
        )

        self.instruction = instruction
        t = self._template()
        self._prefix: list[int] = list(t["prefix"])
        self._middle: list[int] = list(t["middle"])
        self._suffix: list[int] = list(t["suffix"])
        self._query_lead: str = t["query_lead"]
        self._query_trail: str = t["query_trail"]
        self._doc_lead: str = t["doc_lead"]
        self._query_trail_ids = self.tokenizer.ids(self._query_trail) if self._query_trail else []
        # Tokens of a lead that precede the text itself (its trailing space joins the text's
        # first word in BPE, so it is not counted).
        self._query_lead_n = len(self.tokenizer.ids(self._query_lead.rstrip(" ")))
        doc_lead_n = len(self.tokenizer.ids(self._doc_lead.rstrip(" ")))
        fixed = len(self._prefix) + len(self._middle) + len(self._suffix)
        room = (self.max_length - fixed - self._query_lead_n - len(self._query_trail_ids)
                - doc_lead_n - 1)
        if room < 1:
            raise InvalidInputError(
                f"max_length={self.max_length} leaves no room for text: the {self.name} "
                f"prompt alone takes {fixed + self._query_lead_n + doc_lead_n} tokens"
            )
        wanted = query_max_tokens or self._default_query_budget(self.max_length)
        #: Tokens of query text kept (the query's share of max_length).
        self.query_max_tokens = max(1, min(wanted, room))

        positive, negative = self._answer_tokens()
        self._answer_ids = [positive] if negative is None else [positive, negative]
        self._pad_id = loaded.pad_id
        self._takes_positions = "position_ids" in _parameters(self.model.forward)
        self._keeps_logits = "logits_to_keep" in _parameters(self.model.forward)
        self._head = self._float32_head()

    # -- recipe hooks ---------------------------------------------------------------

    def _template(self) -> dict[str, Any]:
        """Prompt pieces: ``prefix``/``middle``/``suffix`` token ids; ``query_lead``,
        ``query_trail`` and ``doc_lead`` strings tokenised together with the text."""
        raise NotImplementedError

    def _answer_tokens(self) -> tuple[int, int | None]:
        """(token whose logit scores the pair, token whose logit is subtracted or None)."""
        raise NotImplementedError

    def _default_query_budget(self, max_length: int) -> int:
        return max(8, max_length // 4)

    # -- helpers for recipes --------------------------------------------------------

    def _first_token(self, text: str) -> int:
        """First id of ``tokenizer(text, add_special_tokens=False)``, as the recipes do."""
        ids = self.hf_tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise UnsupportedModelError(
                f"{self.model_name!r}: the tokenizer has no token for {text!r}"
            )
        return int(ids[0])

    def _vocab_token(self, token: str) -> int:
        """Id of a vocabulary entry (``convert_tokens_to_ids``); error when absent."""
        token_id = self.hf_tokenizer.convert_tokens_to_ids(token)
        unk = self.hf_tokenizer.unk_token_id
        if token_id is None or (unk is not None and token_id == unk):
            raise UnsupportedModelError(
                f"{self.model_name!r}: the vocabulary has no token {token!r}, which the "
                f"{self.name} recipe reads; is this the right backend for this model?"
            )
        return int(token_id)

    # -- Backend protocol -----------------------------------------------------------

    def _prompt_head(self, query: str) -> tuple[list[int], bool]:
        """Token ids before the document (prefix, query piece, middle); whether the query
        was cut."""
        lead_n, trail = self._query_lead_n, self._query_trail_ids
        limit = lead_n + self.query_max_tokens + len(trail)
        enc, query_cut = self.tokenizer.encode(self._query_lead + query + self._query_trail, limit)
        query_ids = list(enc.ids)
        if query_cut and trail:
            # Cut the query, never its trailing template text.
            enc, _ = self.tokenizer.encode(self._query_lead + query, lead_n + self.query_max_tokens)
            query_ids = list(enc.ids) + trail
        return self._prefix + query_ids + self._middle, query_cut

    def document_budget(self, query: str) -> int:
        """Document tokens that fit beside ``query`` and the prompt template."""
        head, _ = self._prompt_head(query)
        lead = len(self.tokenizer.ids(self._doc_lead)) if self._doc_lead else 0
        return self.max_length - len(head) - len(self._suffix) - lead

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        """prefix + query piece (cut first) + middle + document piece (cut to fit) + suffix."""
        head, query_cut = self._prompt_head(query)
        budget = self.max_length - len(head) - len(self._suffix)
        pairs = []
        for doc_enc, doc_cut in self.tokenizer.encode_many(
            [self._doc_lead + t for t in texts], budget
        ):
            ids = head + list(doc_enc.ids) + self._suffix
            pairs.append(EncodedPair(tuple(ids), None, truncated=query_cut or doc_cut))
        return pairs

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        inputs = pad_batch(batch, pad_id=self._pad_id, left=True, device=self.device,
                           with_types=False)
        with self._torch.inference_mode():
            logits = self._last_logits(inputs["input_ids"], inputs["attention_mask"], self._head)
        raw = logits[:, 0] - logits[:, 1] if len(self._answer_ids) == 2 else logits[:, 0]
        return raw.double().cpu().numpy()

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return sigmoid(raw)

    # -- scoring internals ----------------------------------------------------------

    def _model_inputs(self, input_ids: Any, attention_mask: Any) -> dict[str, Any]:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
        if self._takes_positions:
            # Left padding: count positions from each row's first real token.
            inputs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return inputs

    def _last_logits(self, input_ids: Any, attention_mask: Any, head: Any) -> Any:
        """float32 logits of the answer tokens at the last position, shape (batch, k)."""
        inputs = self._model_inputs(input_ids, attention_mask)
        if head is not None:
            decoder, weight, bias, cap = head
            hidden = decoder(**inputs).last_hidden_state[:, -1, :].float()
            logits = hidden @ weight.T
            if bias is not None:
                logits = logits + bias
            if cap:
                logits = self._torch.tanh(logits / cap) * cap
            return logits
        return self._model_logits(inputs)

    def _model_logits(self, inputs: dict[str, Any]) -> Any:
        if self._keeps_logits:
            inputs = {**inputs, "logits_to_keep": 1}
        return self.model(**inputs).logits[:, -1, self._answer_ids].float()

    def _float32_head(self) -> tuple[Any, Any, Any, float | None] | None:
        """(decoder, weight rows, bias rows, soft cap) to compute the answer logits in
        float32 from the last hidden state; None when the model's head is not a plain
        linear layer (then its own forward is used)."""
        torch = self._torch
        config = self.model.config
        get_decoder = getattr(self.model, "get_decoder", None)
        head = self.model.get_output_embeddings()
        if get_decoder is None or not isinstance(head, torch.nn.Linear):
            return None
        if any(getattr(config, a, None) not in (None, 1, 1.0) for a in _UNHANDLED_LOGIT_SCALES):
            return None
        decoder = get_decoder()
        if decoder is None or decoder is self.model:
            return None
        rows = torch.tensor(self._answer_ids, device=head.weight.device)
        weight = head.weight.detach().index_select(0, rows).float()
        bias = None if head.bias is None else head.bias.detach().index_select(0, rows).float()
        cap = getattr(config, "final_logit_softcapping", None) or None
        candidate = (decoder, weight, bias, cap)
        # Check against the model's own head on the prompt's fixed tokens.
        probe = (self._prefix + self._middle + self._suffix)[:64] or [self._pad_id]
        ids = torch.tensor([probe], dtype=torch.long, device=self.device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            ours = self._last_logits(ids, mask, candidate)
            theirs = self._model_logits(self._model_inputs(ids, mask))
        tolerance = 1e-3 if self.dtype == torch.float32 else 5e-2
        if not torch.allclose(ours, theirs, atol=tolerance, rtol=tolerance):
            return None
        return candidate


def _parameters(function: Any) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


class Qwen3RerankerBackend(CausalLMBackend):
    """Qwen3-Reranker: P(yes) = softmax(no, yes) of the answer after its chat prompt.

    The official code tokenises the body ``<Instruct>: {i}\\n<Query>: {q}\\n<Document>: {d}``
    as one string. Tokenised in pieces, a byte-level BPE with Qwen's pre-tokenizer gives
    the same ids only if each cut falls where the pre-tokenizer always splits. So the
    pieces are ``<Instruct>: {i}\\n<Query>:`` (fixed), `` {q}\\n`` (the space starts the
    query's first word; the newline joins a closing ``?`` or ``.`` as in ``?\\n``),
    ``<Document>:`` (fixed) and `` {d}`` (the document ends where the suffix's special
    token starts). A truncated query keeps its newline, a truncated document the suffix.

    raw = logit("yes") - logit("no"), so sigmoid(raw) is the official score.
    """

    name = "qwen3-reranker"
    default_length = 8192
    takes_instruction = True
    default_instruction = (
        "Given a web search query, retrieve relevant passages that answer the query"
    )
    prefix = (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the "
        "Query and the Instruct provided. Note that the answer can only be \"yes\" or "
        "\"no\".<|im_end|>\n<|im_start|>user\n"
    )
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

    def _template(self) -> dict[str, Any]:
        instruction = self.instruction or self.default_instruction
        ids = self.tokenizer.ids
        return {
            "prefix": ids(self.prefix) + ids(f"<Instruct>: {instruction}\n<Query>:"),
            "query_lead": " ",
            "query_trail": "\n",
            "middle": ids("<Document>:"),
            "doc_lead": " ",
            "suffix": ids(self.suffix),
        }

    def _answer_tokens(self) -> tuple[int, int | None]:
        return self._vocab_token("yes"), self._vocab_token("no")


class MxbaiRerankV2Backend(CausalLMBackend):
    """mxbai-rerank v2 (Qwen2): logit("1") - logit("0") after its chat prompt.

    Sequence: chat prefix + ``[instruction: {i}\\n]query: {q}`` + ``\\n`` +
    ``document: {d}`` + ``\\n`` + task prompt + chat suffix, each piece tokenised on its
    own as in the official ``mxbai_rerank`` package. The query piece is cut to 3/4 of
    max_length by default (the official rule).
    """

    name = "mxbai-rerank-v2"
    default_length = 8192
    takes_instruction = True
    chat_prefix = (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\n"
    )
    chat_suffix = "<|im_end|>\n<|im_start|>assistant\n"
    sep = "\n"
    task_prompt = (
        "You are a search relevance expert who evaluates how well documents match search "
        "queries. For each query-document pair, carefully analyze the semantic relationship "
        "between them, then provide your binary relevance judgment (0 for not relevant, 1 "
        "for relevant).\nRelevance:"
    )

    def _template(self) -> dict[str, Any]:
        ids = self.tokenizer.ids
        lead = "query: "
        if self.instruction:
            lead = f"instruction: {self.instruction}{self.sep}{lead}"
        return {
            "prefix": ids(self.chat_prefix),
            "query_lead": lead,
            "query_trail": "",
            "middle": ids(self.sep),
            "doc_lead": "document: ",
            "suffix": ids(self.sep) + ids(self.task_prompt) + ids(self.chat_suffix),
        }

    def _answer_tokens(self) -> tuple[int, int | None]:
        return self._first_token("1"), self._first_token("0")

    def _default_query_budget(self, max_length: int) -> int:
        return max(8, max_length * 3 // 4)


class BgeGemmaRerankerBackend(CausalLMBackend):
    """bge-reranker-v2-gemma: the logit of "Yes" after FlagEmbedding's prompt.

    Sequence: [bos] + ``A: {q}`` + ``\\n`` + ``B: {p}`` + ``\\n`` + prompt, pieces tokenised
    separately as FlagEmbedding's ``FlagLLMReranker`` does; query cut to 3/4 of max_length.
    """

    name = "bge-reranker-gemma"
    default_length = 1024
    prompt = (
        "Given a query A and a passage B, determine whether the passage contains an answer "
        "to the query by providing a prediction of either 'Yes' or 'No'."
    )

    def _template(self) -> dict[str, Any]:
        ids = self.tokenizer.ids
        bos = self.hf_tokenizer.bos_token_id
        return {
            "prefix": [] if bos is None else [int(bos)],
            "query_lead": "A: ",
            "query_trail": "",
            "middle": ids("\n"),
            "doc_lead": "B: ",
            "suffix": ids("\n") + ids(self.prompt),
        }

    def _answer_tokens(self) -> tuple[int, int | None]:
        return self._first_token("Yes"), None

    def _default_query_budget(self, max_length: int) -> int:
        return max(8, max_length * 3 // 4)
