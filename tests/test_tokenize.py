"""Tokenizers for BM25: regex, whitespace, kiwi (Korean morphology), english, auto."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rerankit._exceptions import InvalidInputError, MissingDependencyError
from rerankit.retrieval import tokenize as tokmod
from rerankit.retrieval.tokenize import (
    DEFAULT_KIWI_TAGS,
    KiwiTokenizer,
    RegexTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    detect_script,
    make_tokenizer,
)

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
ALLGANIZE = DATASETS / "ko-allganize-pages"

pytest.importorskip("kiwipiepy")
bm25s = pytest.importorskip("bm25s")
Stemmer = pytest.importorskip("Stemmer")


@pytest.fixture(scope="module")
def kiwi() -> KiwiTokenizer:
    return make_tokenizer("kiwi")


def bm25_scores(docs: list[list[str]], query: list[str]) -> list[float]:
    retriever = bm25s.BM25()
    retriever.index(docs, show_progress=False)
    return [float(s) for s in retriever.get_scores(query)]


# ---------------------------------------------------------------------------- kiwi

KOREAN_DOCS = [
    "우리는 점심에 비빔밥을 먹었습니다.",  # 먹다, past polite
    "고양이가 창밖을 조용히 바라본다.",
    "내일은 전국에 비가 온다고 합니다.",
    "그는 도서관에서 책을 읽는 중이다.",
    "아이들이 과자를 먹는 모습이 귀엽다.",  # 먹다, adnominal
    "회의는 오후 세 시에 시작됩니다.",
]


def test_kiwi_matches_inflected_forms_whitespace_misses(kiwi: KiwiTokenizer) -> None:
    query = "먹다"
    assert set(kiwi(query)) & set(kiwi("먹었습니다")) & set(kiwi("먹는")) == {"먹"}
    ws = make_tokenizer("whitespace")
    assert not set(ws(query)) & {t for doc in KOREAN_DOCS for t in ws(doc)}

    kiwi_scores = bm25_scores(kiwi.tokenize_many(KOREAN_DOCS), kiwi(query))
    ranked = sorted(range(len(KOREAN_DOCS)), key=lambda i: -kiwi_scores[i])
    assert set(ranked[:2]) == {0, 4}
    assert all(kiwi_scores[i] > 0 for i in (0, 4))
    assert all(kiwi_scores[i] == 0 for i in (1, 2, 3, 5))

    ws_scores = bm25_scores(ws.tokenize_many(KOREAN_DOCS), ws(query))
    assert all(score == 0 for score in ws_scores)


def test_kiwi_keeps_irregular_stems(kiwi: KiwiTokenizer) -> None:
    # 춥다 -> 추워요 (irregular adjective, VA-I); 걷다 -> 걸어서 (irregular verb, VV-I)
    assert "춥" in kiwi("오늘은 정말 추워요") and "춥" in kiwi("날씨가 춥다")
    assert "걷" in kiwi("학교까지 걸어서 갔다")


def test_kiwi_drops_particles_and_endings_by_default(kiwi: KiwiTokenizer) -> None:
    text = "고양이가 사과 3개를 먹었습니다"
    tokens = kiwi(text)
    assert {"고양이", "사과", "3", "먹"} <= set(tokens)
    assert not {"가", "를", "었", "습니다"} & set(tokens)
    with_particles = make_tokenizer("kiwi", keep_tags=["N", "V", "S", "J", "E"])(text)
    assert {"가", "를", "습니다"} <= set(with_particles)


def test_kiwi_keep_tags_changes_output(kiwi: KiwiTokenizer) -> None:
    text = "사과 3개와 배 12개를 샀다"
    assert {"3", "12"} <= set(kiwi(text))
    no_numbers = make_tokenizer("kiwi", keep_tags=[t for t in DEFAULT_KIWI_TAGS if t != "SN"])
    assert not {"3", "12"} & set(no_numbers(text))
    assert "사과" in no_numbers(text)
    nouns_only = make_tokenizer("kiwi", keep_tags="NNG, NNB")
    assert "사" not in nouns_only(text) and "사과" in nouns_only(text)


def test_kiwi_mixed_korean_english(kiwi: KiwiTokenizer) -> None:
    tokens = kiwi("삼성전자 Galaxy S24 출시")
    assert {"삼성전자", "출시", "galaxy"} <= set(tokens)
    assert "s24" in tokens or {"s", "24"} <= set(tokens)
    assert make_tokenizer("kiwi", lowercase=False)("Galaxy 출시")[0] == "Galaxy"


def test_kiwi_tokenize_many_matches_single_calls(kiwi: KiwiTokenizer) -> None:
    texts = [*KOREAN_DOCS, "", "!!!", "Galaxy S24"]
    assert kiwi.tokenize_many(texts) == [kiwi(t) for t in texts]


def test_kiwi_reuses_one_analyser() -> None:
    assert make_tokenizer("kiwi")._kiwi is make_tokenizer("kiwi", keep_tags=["N"])._kiwi


def test_kiwi_normalizes_decomposed_hangul(kiwi: KiwiTokenizer) -> None:
    import unicodedata

    text = "한국어 문서를 읽었다"
    assert kiwi(unicodedata.normalize("NFD", text)) == kiwi(text)
    assert "문서" in kiwi(text)


# ---------------------------------------------------------------------------- regex


def test_regex_unicode_and_lowercase() -> None:
    tok = make_tokenizer("regex")
    assert tok("Café NAÏVE, 서울 2024년! Ｆｕｌｌ-width") == [
        "café", "naïve", "서울", "2024년", "full", "width",
    ]  # fmt: skip
    assert tok("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs stay inside words
    assert tok("한국어 문서를, 읽었다.") == ["한국어", "문서를", "읽었다"]  # no morphology
    assert make_tokenizer("regex", lowercase=False)("Hello World") == ["Hello", "World"]


def test_regex_stopwords() -> None:
    assert make_tokenizer("regex", stopwords="en")("The cat AND the hat") == ["cat", "hat"]
    custom = make_tokenizer("regex", stopwords=["Cat", "hat"])
    assert custom("the cat in the hat") == ["the", "in", "the"]


def test_regex_stemming_matches_pystemmer() -> None:
    words = ["running", "runs", "easily", "connection", "connected", "studies"]
    tok = make_tokenizer("regex", stemmer="english")
    assert tok(" ".join(words)) == Stemmer.Stemmer("english").stemWords(words)
    assert tok("running")[0] == "run"


def test_english_is_regex_with_stopwords_and_stemmer() -> None:
    tok = make_tokenizer("english")
    assert tok("The runners were running to the stations") == [
        "runner", "were", "run", "station",
    ]  # fmt: skip
    assert tok == make_tokenizer("regex", stopwords="en", stemmer="english")


def test_whitespace_keeps_punctuation_attached() -> None:
    tok = make_tokenizer("whitespace")
    assert isinstance(tok, WhitespaceTokenizer)
    assert tok("문서를, 읽었다. -- Hello\tworld") == ["문서를,", "읽었다.", "Hello", "world"]
    assert make_tokenizer("whitespace", lowercase=True)("Hello World") == ["hello", "world"]


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("regex", {}),
        ("regex", {"lowercase": False, "stopwords": ["foo", "bar"], "stemmer": "porter"}),
        ("english", {}),
        ("whitespace", {"lowercase": True}),
        ("kiwi", {}),
        ("kiwi", {"keep_tags": ["N", "V", "X", "S", "M"], "lowercase": False}),
    ],
)
def test_settings_round_trip(name: str, options: dict) -> None:
    text = "삼성전자 Galaxy S24 출시, the Running FOO bar 먹었습니다 3개"
    tok = make_tokenizer(name, **options)
    settings = json.loads(json.dumps(tok.settings()))
    rebuilt = make_tokenizer(settings)
    assert settings["name"] == tok.name
    assert rebuilt == tok and rebuilt.settings() == tok.settings()
    assert rebuilt(text) == tok(text)
    assert make_tokenizer(tok) is tok
    assert isinstance(tok, Tokenizer)


def test_settings_differ_when_options_differ() -> None:
    assert make_tokenizer("regex") != make_tokenizer("regex", stopwords="en")
    assert make_tokenizer("kiwi") != make_tokenizer("kiwi", keep_tags=["N"])
    # the order of keep_tags does not matter
    assert make_tokenizer("kiwi", keep_tags=["SL", "N"]) == make_tokenizer(
        "kiwi", keep_tags=["N", "SL"]
    )


# ---------------------------------------------------------------------------- auto


def test_auto_picks_by_script() -> None:
    korean = ["시중은행과 지방은행의 인가 요건은 무엇인가요?", "은행법 제8조에 따른 인가"]
    english = ["What is the capital of France?", "BM25 is a ranking function."]
    mixed = ["삼성전자 Galaxy S24 출시", "The Galaxy S24 launch event"]
    assert detect_script(korean) == "hangul"
    assert detect_script(english) == "latin"
    assert detect_script(mixed) == "hangul"
    assert detect_script(["Москва — столица России"]) == "other"
    assert detect_script(["123 !!!", ""]) == "none"

    tok = make_tokenizer("auto", sample=korean)
    assert isinstance(tok, KiwiTokenizer) and tok.settings()["name"] == "kiwi"
    tok = make_tokenizer("auto", sample=english)
    assert isinstance(tok, RegexTokenizer) and tok.settings()["stopwords"] == "en"
    assert tok("The capital of France") == ["capital", "france"]
    tok = make_tokenizer({"name": "auto"}, sample=mixed)
    assert isinstance(tok, KiwiTokenizer)
    assert {"삼성전자", "galaxy"} <= set(tok("삼성전자 Galaxy S24 출시"))
    assert make_tokenizer("auto", sample=["Москва"]).settings()["stopwords"] is None


def test_auto_needs_a_sample() -> None:
    with pytest.raises(InvalidInputError, match="sample"):
        make_tokenizer("auto")
    with pytest.raises(InvalidInputError, match="no options"):
        make_tokenizer("auto", sample=["text"], lowercase=False)


# ---------------------------------------------------------------------------- bad input


ALL_SPECS = ["regex", "whitespace", "english", "kiwi"]


@pytest.mark.parametrize("name", ALL_SPECS)
def test_non_str_rejected(name: str) -> None:
    tok = make_tokenizer(name)
    for bad in (None, 3, b"bytes", ["list"]):
        with pytest.raises(InvalidInputError, match="must be a str"):
            tok(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="list of str"):
        tok.tokenize_many("a string")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"texts\[1\]"):
        tok.tokenize_many(["ok", 5])  # type: ignore[list-item]


@pytest.mark.parametrize("name", ALL_SPECS)
def test_empty_and_punctuation_only(name: str) -> None:
    tok = make_tokenizer(name)
    for text in ("", "   \n\t", "...!!! -- ?", "… · “”"):
        assert tok(text) == [], text
    assert tok.tokenize_many(["", "!!!", "ok"])[:2] == [[], []]
    assert tok.tokenize_many([]) == []


@pytest.mark.parametrize("name", ALL_SPECS)
def test_lone_surrogates(name: str) -> None:
    tokens = make_tokenizer(name)("ab\ud800cd def 한국어 \ud83d\ude00")
    assert "def" in tokens and "한국어" in tokens
    for token in tokens:
        token.encode("utf-8")  # no surrogate left in any token


def test_unknown_names_and_options() -> None:
    with pytest.raises(InvalidInputError, match=r"'regex'.*'kiwi'"):
        make_tokenizer("bpe")
    with pytest.raises(InvalidInputError, match=r"no option 'stemmer'.*lowercase"):
        make_tokenizer("whitespace", stemmer="english")
    with pytest.raises(InvalidInputError, match="no option 'keep_tag'"):
        make_tokenizer({"name": "kiwi", "keep_tag": ["N"]})
    with pytest.raises(InvalidInputError, match="'name'"):
        make_tokenizer({"lowercase": True})
    with pytest.raises(InvalidInputError, match="stopwords"):
        make_tokenizer("regex", stopwords="fr")
    with pytest.raises(InvalidInputError, match=r"stemmer must be.*english"):
        make_tokenizer("regex", stemmer="klingon")
    with pytest.raises(InvalidInputError, match="lowercase"):
        make_tokenizer("regex", lowercase="yes")
    with pytest.raises(InvalidInputError, match="unknown Kiwi tag"):
        make_tokenizer("kiwi", keep_tags=["NNG", "QQ"])
    with pytest.raises(InvalidInputError, match="keep_tags"):
        make_tokenizer("kiwi", keep_tags=[])
    with pytest.raises(InvalidInputError, match="existing tokenizer"):
        make_tokenizer(make_tokenizer("regex"), lowercase=False)
    with pytest.raises(InvalidInputError, match="tokenizer must be"):
        make_tokenizer(42)  # type: ignore[arg-type]


def test_missing_optional_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kiwipiepy", None)
    monkeypatch.setattr(tokmod, "_kiwi_instance", None)
    with pytest.raises(MissingDependencyError, match=r"rerankit\[korean\]"):
        make_tokenizer("kiwi")
    monkeypatch.setitem(sys.modules, "Stemmer", None)
    with pytest.raises(MissingDependencyError, match=r"rerankit\[bm25\]"):
        make_tokenizer("english")
    assert make_tokenizer("regex", stopwords="en")("the cat") == ["cat"]


def test_light_import() -> None:
    code = (
        "import sys, rerankit\n"
        "from rerankit.retrieval.tokenize import make_tokenizer\n"
        "make_tokenizer('regex', stopwords='en')('x'); make_tokenizer('whitespace')('x')\n"
        "heavy = {'kiwipiepy', 'Stemmer', 'bm25s'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- long text


def test_one_megabyte_document(kiwi: KiwiTokenizer) -> None:
    block = (
        "BM25 ranks documents by term frequency and inverse document frequency, with length "
        "normalisation; rerankers then reorder the first stage's candidates. "
        * 6
        + "검색 증강 생성에서는 먼저 문서를 검색합니다.\n"
    )
    text = "alphastart " + block * (1_000_000 // len(block.encode())) + " zebraend"
    assert len(text.encode()) > 950_000
    for tok in (make_tokenizer("regex"), make_tokenizer("whitespace"), kiwi):
        start = time.perf_counter()
        tokens = tok(text)
        assert time.perf_counter() - start < 30
        assert tokens[0] == "alphastart" and tokens[-1] == "zebraend"
        assert len(tokens) > 100_000
    assert "검색" in kiwi(text[:5000])


def test_kiwi_long_text_without_spaces(kiwi: KiwiTokenizer) -> None:
    tokens = kiwi("abcdefghij" * 1000 + " 마지막 문장입니다")
    assert tokens and tokens[-1] == "문장"


def test_chunks_cover_text() -> None:
    text = ("한국어 문장입니다. " * 50 + "\n") * 40 + "x" * 10_000
    pieces = list(tokmod._chunks(text, 1000))
    assert "".join(pieces) == text
    assert all(len(p) <= 1000 for p in pieces)
    assert pieces[0].endswith("입니다. ") or pieces[1].startswith("\n")


# ---------------------------------------------------------------------------- real data


def test_kiwi_beats_whitespace_on_korean_pages(kiwi: KiwiTokenizer) -> None:
    """MRR@5 on part of ko-allganize-pages (full set: whitespace 0.71, kiwi 0.91)."""
    if not ALLGANIZE.is_dir():
        pytest.skip(f"data set folder {ALLGANIZE} is absent")
    rows = [json.loads(line) for line in (ALLGANIZE / "corpus.jsonl").open(encoding="utf-8")]
    queries = {}
    for line in (ALLGANIZE / "queries.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        queries[row["_id"]] = row["text"]
    gold: dict[str, str] = {}
    for line in (ALLGANIZE / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc_id, score = line.split("\t")
        if int(score) > 0:
            gold.setdefault(qid, doc_id)
    qids = sorted(gold)[::3]  # every third query, and the pages: theirs plus distractors
    keep = {gold[q] for q in qids}
    rows = [r for i, r in enumerate(rows) if r["_id"] in keep or i % 10 == 0]
    ids = [r["_id"] for r in rows]
    texts = [f"{r['title']}\n\n{r['text']}" if r.get("title") else r["text"] for r in rows]

    def mrr5(tok: Tokenizer) -> float:
        retriever = bm25s.BM25()
        retriever.index(tok.tokenize_many(texts), show_progress=False)
        found, _ = retriever.retrieve(
            tok.tokenize_many([queries[q] for q in qids]), k=5, show_progress=False
        )
        total = 0.0
        for qid, row in zip(qids, found, strict=True):
            ranked = [ids[i] for i in row]
            if gold[qid] in ranked:
                total += 1 / (ranked.index(gold[qid]) + 1)
        return total / len(qids)

    whitespace, kiwi_mrr = mrr5(make_tokenizer("whitespace")), mrr5(kiwi)
    assert kiwi_mrr > whitespace + 0.05, (kiwi_mrr, whitespace)
    assert kiwi_mrr > 0.8
