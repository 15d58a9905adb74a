"""Pluggable word tokenizers for BM25: regex, whitespace, Korean morphology (Kiwi), auto.

>>> tok = make_tokenizer("regex", stopwords="en")
>>> tok("The Quick brown fox!")
['quick', 'brown', 'fox']
>>> make_tokenizer(tok.settings()) == tok
True

Every tokenizer takes one ``str`` and returns a list of tokens; text that holds no letters
or digits gives ``[]`` (the caller decides what an empty token list means). ``settings()``
is a JSON-serialisable dict from which :func:`make_tokenizer` rebuilds an equal tokenizer,
so an index can store how its documents were tokenised and tokenise queries the same way.

``"auto"`` is resolved once, from a sample of the corpus (:func:`detect_script`): mostly
Hangul text gets ``"kiwi"``, anything else ``"regex"`` (with English stop words for Latin
script). The resolved tokenizer, not ``"auto"``, is what ``settings()`` records.

kiwipiepy (extra ``korean``) and PyStemmer (extra ``bm25``) are imported only when a
tokenizer that needs them is built.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from rerankit._exceptions import InvalidInputError
from rerankit._inputs import clean_text
from rerankit._optional import require

__all__ = [
    "DEFAULT_KIWI_TAGS",
    "ENGLISH_STOPWORDS",
    "KiwiTokenizer",
    "RegexTokenizer",
    "Tokenizer",
    "WhitespaceTokenizer",
    "detect_script",
    "make_tokenizer",
]


@runtime_checkable
class Tokenizer(Protocol):
    """Turns a text into a list of string tokens for BM25."""

    name: str

    def __call__(self, text: str) -> list[str]: ...

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]: ...

    def settings(self) -> dict[str, Any]: ...


# Lucene's English stop words (the list bm25s ships as ``bm25s.stopwords.STOPWORDS_EN``).
ENGLISH_STOPWORDS: frozenset[str] = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
))  # fmt: skip

# Kiwi part-of-speech tags kept by default: nouns (general, proper, bound), numerals,
# pronouns, verb and adjective stems (a prefix also matches the irregular VV-I, VA-R, ...),
# foreign words (Latin letters), numbers and Chinese characters. Particles, endings,
# affixes, adverbs and punctuation are dropped.
DEFAULT_KIWI_TAGS: tuple[str, ...] = (
    "NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "SL", "SN", "SH",
)  # fmt: skip

# Kiwi's tag set (kiwipiepy.utils._valid_tags); verb/adjective tags may carry -I / -R.
_KIWI_TAGS = frozenset((
    "NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "VX", "VCP", "VCN", "MM", "MAG", "MAJ", "IC",
    "JKS", "JKC", "JKG", "JKO", "JKB", "JKV", "JKQ", "JX", "JC", "EP", "EF", "EC", "ETN", "ETM",
    "XPN", "XSN", "XSV", "XSA", "XSM", "XR", "SF", "SP", "SS", "SSO", "SSC", "SE", "SO", "SW",
    "SB", "SL", "SH", "SN", "UN", "W_URL", "W_EMAIL", "W_HASHTAG", "W_MENTION", "W_SERIAL",
    "W_EMOJI", "Z_CODA", "Z_SIOT", "USER0", "USER1", "USER2", "USER3", "USER4",
))  # fmt: skip

_NAMES = ("auto", "regex", "whitespace", "english", "kiwi")
_HAS_WORD = re.compile(r"\w")
_COMPAT_JAMO = re.compile(r"([\u3131-\u318e]+)")
# Hangul syllables, jamo, compatibility jamo, jamo extended A and B.
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\ud7b0-\ud7ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_LETTER = re.compile(r"[^\W\d_]")
# "auto" picks kiwi when at least this share of the sample's letters are Hangul.
_HANGUL_SHARE = 0.1
# Kiwi analyses a long text as pieces of about this many characters, in parallel.
_KIWI_CHUNK_CHARS = 4096


# ---------------------------------------------------------------------------- helpers


def _text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"text to tokenize must be a str, got {type(text).__name__}")
    return clean_text(text)


def _texts(texts: Any) -> list[str]:
    if isinstance(texts, (str, bytes, Mapping)) or not isinstance(texts, Sequence):
        raise InvalidInputError(f"texts must be a list of str, got {type(texts).__name__}")
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInputError(f"texts[{i}] must be a str, got {type(text).__name__}")
        out.append(clean_text(text))
    return out


def _normalize(text: str) -> str:
    """NFKC (full-width Latin, ligatures, decomposed Hangul), but keep compatibility jamo
    such as "ㅋㅋ" as they are: NFKC would turn them into conjoining jamo."""
    if not _COMPAT_JAMO.search(text):
        return unicodedata.normalize("NFKC", text)
    parts = _COMPAT_JAMO.split(text)  # odd indices are the jamo runs
    return "".join(
        part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts)
    )


@functools.lru_cache(maxsize=1)
def _word_pattern() -> re.Pattern[str]:
    """A word: a letter, digit or underscore, then more of those or combining marks.

    Plain ``\\w+`` would cut Devanagari, Thai and other scripts at every vowel sign.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x110000):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    marks = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(rf"\w[\w{marks}]*")


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be True or False, got {value!r}")
    return value


def _chunks(text: str, size: int = _KIWI_CHUNK_CHARS) -> Iterator[str]:
    """Cut ``text`` into pieces of at most ``size`` characters, at a newline if there is one
    in the second half of the window, else at a space, else anywhere."""
    start, end = 0, len(text)
    while end - start > size:
        stop = start + size
        cut = text.rfind("\n", start + size // 2, stop)
        if cut < 0:
            cut = text.rfind(" ", start, stop)
        if cut <= start:
            cut = stop
        yield text[start:cut]
        start = cut
    yield text[start:]


class _Base:
    name: str

    def __call__(self, text: str) -> list[str]:
        return self._tokenize(_text(text))

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokenize each text, in order."""
        return [self._tokenize(text) for text in _texts(texts)]

    def _tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Base):
            return NotImplemented
        return self.settings() == other.settings()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "name")
        return f"{type(self).__name__}({options})"


# ---------------------------------------------------------------------------- tokenizers


class WhitespaceTokenizer(_Base):
    """``text.split()``: the "whitespace BM25" baseline. Punctuation stays attached to words
    ("문서를," is one token); tokens of punctuation alone are dropped."""

    name = "whitespace"

    def __init__(self, *, lowercase: bool = False) -> None:
        self.lowercase = _check_bool("lowercase", lowercase)

    def _tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return [token for token in text.split() if _HAS_WORD.search(token)]

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "lowercase": self.lowercase}


class RegexTokenizer(_Base):
    """Unicode word tokens (letters and digits of any script) after NFKC normalisation.

    ``stopwords``: None, ``"en"`` (Lucene's English list) or a list of words, removed
    before stemming. ``stemmer``: None or a Snowball algorithm of PyStemmer (``"english"``).
    Korean text is split at spaces and punctuation only (no morphology: use ``"kiwi"``).
    """

    name = "regex"

    def __init__(
        self,
        *,
        lowercase: bool = True,
        stopwords: str | Sequence[str] | None = None,
        stemmer: str | None = None,
    ) -> None:
        self.lowercase = _check_bool("lowercase", lowercase)
        self.stopwords: str | list[str] | None
        if stopwords is None:
            self.stopwords, words = None, frozenset()
        elif isinstance(stopwords, str):
            if stopwords.lower() not in ("en", "english"):
                raise InvalidInputError(
                    f"stopwords must be None, 'en' or a list of words, got {stopwords!r}"
                )
            self.stopwords, words = "en", ENGLISH_STOPWORDS
        elif isinstance(stopwords, Sequence | set | frozenset) and all(
            isinstance(word, str) for word in stopwords
        ):
            words = frozenset(self._normalize_word(word) for word in stopwords)
            self.stopwords = sorted(words) or None
        else:
            raise InvalidInputError(
                f"stopwords must be None, 'en' or a list of str, got {stopwords!r}"
            )
        self._stopwords = words
        self.stemmer: str | None = None
        if stemmer is not None:
            module = require("Stemmer", feature="Stemming BM25 tokens")
            algorithms = sorted(module.algorithms())
            if not isinstance(stemmer, str) or stemmer.lower() not in algorithms:
                raise InvalidInputError(
                    f"stemmer must be None or one of {', '.join(algorithms)}; got {stemmer!r}"
                )
            self.stemmer = stemmer.lower()
            self._stemmer_module = module
            self._local = threading.local()  # PyStemmer objects are not thread-safe
        self._pattern = _word_pattern()

    def _normalize_word(self, word: str) -> str:
        word = _normalize(clean_text(word))
        return word.lower() if self.lowercase else word

    def _stem(self, tokens: list[str]) -> list[str]:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = self._local.stemmer = self._stemmer_module.Stemmer(self.stemmer)
        return stemmer.stemWords(tokens)

    def _tokenize(self, text: str) -> list[str]:
        text = _normalize(text)
        if self.lowercase:
            text = text.lower()
        tokens = self._pattern.findall(text)
        if self._stopwords:
            tokens = [token for token in tokens if token not in self._stopwords]
        if self.stemmer is not None and tokens:
            tokens = self._stem(tokens)
        return tokens

    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lowercase": self.lowercase,
            "stopwords": self.stopwords,
            "stemmer": self.stemmer,
        }


_kiwi_instance: Any = None
_kiwi_lock = threading.Lock()


def _shared_kiwi() -> Any:
    """The process's one Kiwi analyser, built (about a second) on first use."""
    global _kiwi_instance
    if _kiwi_instance is None:
        with _kiwi_lock:
            if _kiwi_instance is None:
                kiwipiepy = require("kiwipiepy", feature="Korean tokenization (tokenizer='kiwi')")
                kiwi = kiwipiepy.Kiwi()  # num_workers=None: one thread per core for batches
                kiwi.tokenize("")  # finish kiwi's lazy initialisation now
                _kiwi_instance = kiwi
    return _kiwi_instance


def _kiwi_tags(keep_tags: Any) -> tuple[str, ...]:
    if isinstance(keep_tags, str):
        keep_tags = keep_tags.replace(",", " ").split()
    if not isinstance(keep_tags, Sequence | set | frozenset) or not keep_tags:
        raise InvalidInputError(
            f"keep_tags must be a non-empty list of Kiwi tags or tag prefixes, got {keep_tags!r}"
        )
    tags = set()
    for tag in keep_tags:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidInputError(f"keep_tags entries must be non-empty str, got {tag!r}")
        tag = tag.strip().upper()
        base, _, variant = tag.partition("-")
        known = (
            any(known.startswith(tag) for known in _KIWI_TAGS)
            if not variant
            else base in _KIWI_TAGS and variant in ("I", "R")
        )
        if not known:
            raise InvalidInputError(
                f"unknown Kiwi tag or tag prefix {tag!r}; tags are: {' '.join(sorted(_KIWI_TAGS))}"
            )
        tags.add(tag)
    return tuple(sorted(tags))


class KiwiTokenizer(_Base):
    """Korean morphemes from kiwipiepy, keeping those whose tag starts with one of
    ``keep_tags`` (default :data:`DEFAULT_KIWI_TAGS`).

    Verbs and adjectives give their stem ("먹었습니다" and "먹는" both give "먹"), so
    inflected forms match; particles and endings are dropped. Latin words come out as
    foreign-word tokens (lowercased with ``lowercase=True``): "Galaxy S24" → "galaxy", "s",
    "24". Long texts are analysed in pieces, in parallel, on one shared Kiwi instance.
    """

    name = "kiwi"

    def __init__(
        self, *, keep_tags: Sequence[str] = DEFAULT_KIWI_TAGS, lowercase: bool = True
    ) -> None:
        self.keep_tags = _kiwi_tags(keep_tags)
        self.lowercase = _check_bool("lowercase", lowercase)
        self._kept: dict[str, bool] = {}
        self._kiwi = _shared_kiwi()

    def _keep(self, tag: str) -> bool:
        kept = self._kept.get(tag)
        if kept is None:
            kept = self._kept[tag] = tag.startswith(self.keep_tags)
        return kept

    def _select(self, morphemes: Any) -> list[str]:
        tokens = []
        for morpheme in morphemes:
            form = morpheme.form
            if self._keep(morpheme.tag) and _HAS_WORD.search(form):
                tokens.append(form.lower() if self.lowercase else form)
        return tokens

    def _tokenize(self, text: str) -> list[str]:
        return self._tokenize_texts([text])[0]

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokenize each text, in order, with Kiwi's multithreaded batch analysis."""
        return self._tokenize_texts(_texts(texts))

    def _tokenize_texts(self, texts: list[str]) -> list[list[str]]:
        pieces: list[str] = []
        owners: list[int] = []
        for i, text in enumerate(texts):
            for piece in _chunks(_normalize(text)):
                if piece.strip():
                    pieces.append(piece)
                    owners.append(i)
        results: list[list[str]] = [[] for _ in texts]
        if len(pieces) == 1:
            results[owners[0]] = self._select(self._kiwi.tokenize(pieces[0]))
        elif pieces:
            for owner, morphemes in zip(owners, self._kiwi.tokenize(pieces), strict=True):
                results[owner].extend(self._select(morphemes))
        return results

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "keep_tags": list(self.keep_tags), "lowercase": self.lowercase}


# ---------------------------------------------------------------------------- selection


def detect_script(texts: str | Sequence[str], *, max_chars: int = 200_000) -> str:
    """The main script of ``texts``, by the share of their letters.

    Returns ``"hangul"`` when at least 10 % of the letters are Hangul (Korean words carry
    more per letter than Latin ones, and Korean text is often dotted with English terms),
    else ``"latin"`` when most letters are Latin, ``"other"`` for other scripts and
    ``"none"`` when there are no letters. Reads about ``max_chars`` characters spread over
    the texts.
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = _texts(texts)
    if not texts:
        return "none"
    step = max(1, len(texts) // 1000)
    picked = texts[::step]
    per_text = max(1, max_chars // len(picked))
    letters = hangul = latin = 0
    for text in picked:
        text = text[:per_text]
        letters += len(_LETTER.findall(text))
        hangul += len(_HANGUL.findall(text))
        latin += len(_LATIN.findall(text))
    if not letters:
        return "none"
    if hangul >= _HANGUL_SHARE * letters:
        return "hangul"
    return "latin" if latin * 2 >= letters else "other"


def _resolve_auto(sample: Sequence[str] | None, options: dict[str, Any]) -> Tokenizer:
    if options:
        raise InvalidInputError(
            f"tokenizer 'auto' takes no options (got {', '.join(sorted(options))}); "
            f"name the tokenizer ('regex', 'kiwi', ...) to set options"
        )
    if sample is None:
        raise InvalidInputError(
            "tokenizer 'auto' needs a sample of the corpus to choose between 'kiwi' and "
            "'regex': call make_tokenizer('auto', sample=texts), or name the tokenizer"
        )
    script = detect_script(sample)
    if script == "hangul":
        return KiwiTokenizer()
    return RegexTokenizer(stopwords="en" if script in ("latin", "none") else None)


_BUILDERS: dict[str, tuple[type[_Base], frozenset[str]]] = {
    "regex": (RegexTokenizer, frozenset({"lowercase", "stopwords", "stemmer"})),
    "english": (RegexTokenizer, frozenset({"lowercase", "stopwords", "stemmer"})),
    "whitespace": (WhitespaceTokenizer, frozenset({"lowercase"})),
    "kiwi": (KiwiTokenizer, frozenset({"keep_tags", "lowercase"})),
}


def make_tokenizer(
    spec: str | Mapping[str, Any] | Tokenizer = "auto",
    *,
    sample: Sequence[str] | None = None,
    **options: Any,
) -> Tokenizer:
    """Build a tokenizer from a name and options, a ``settings()`` dict, or return ``spec``
    itself when it already is a tokenizer.

    Names: ``"regex"`` (lowercase, stopwords, stemmer), ``"whitespace"`` (lowercase),
    ``"english"`` (regex with English stop words and the English Snowball stemmer),
    ``"kiwi"`` (keep_tags, lowercase) and ``"auto"``, which needs ``sample`` (texts from
    the corpus) and returns ``"kiwi"`` for Korean text, else ``"regex"`` (with English stop
    words for Latin script). ``sample`` is ignored for the other names.
    """
    if isinstance(spec, str):
        name = spec
    elif isinstance(spec, Mapping):
        settings = dict(spec)
        name = settings.pop("name", None)
        if not isinstance(name, str):
            raise InvalidInputError(f"tokenizer settings need a 'name' str, got {spec!r}")
        options = {**settings, **options}
    elif isinstance(spec, Tokenizer):
        if options:
            raise InvalidInputError(
                "options cannot be applied to an existing tokenizer; pass its name instead"
            )
        return spec
    else:
        raise InvalidInputError(
            f"tokenizer must be a name, a settings dict or a Tokenizer, got {type(spec).__name__}"
        )
    key = name.strip().lower()
    if key == "auto":
        return _resolve_auto(sample, options)
    if key not in _BUILDERS:
        raise InvalidInputError(
            f"unknown tokenizer {name!r}; choose one of {', '.join(map(repr, _NAMES))}"
        )
    cls, allowed = _BUILDERS[key]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidInputError(
            f"tokenizer {key!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(sorted(allowed))}"
        )
    if key == "english":
        options = {"stopwords": "en", "stemmer": "english", **options}
    return cls(**options)
