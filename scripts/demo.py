"""Rerank a real TREC DL 2019 query's candidates with the offline default model.

Prints the no-rerank order and the reranked order side by side with the judged
relevance grade (0-3) of each passage, so you can see what reranking changed.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rerankit import Reranker

DL19 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "msmarco-dl19-subset"


def load(folder: Path, query_index: int, depth: int, seed: int):
    corpus = [json.loads(line) for line in (folder / "corpus.jsonl").open(encoding="utf-8")]
    queries = {}
    for line in (folder / "queries.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        queries[row["_id"]] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines():
        qid, did, grade = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(grade)
    qid = sorted(qrels)[query_index % len(qrels)]
    rng = random.Random(seed)
    judged = [d for d in corpus if d["_id"] in qrels[qid]]
    others = [d for d in corpus if d["_id"] not in qrels[qid]]
    candidates = rng.sample(judged, min(len(judged), depth // 2))
    candidates += rng.sample(others, depth - len(candidates))
    rng.shuffle(candidates)  # a first stage that is no better than chance
    return queries[qid], candidates, qrels[qid]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--data", type=Path, default=DL19)
    parser.add_argument("--query-index", type=int, default=0)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--top-n", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    query, candidates, grades = load(args.data, args.query_index, args.depth, args.seed)
    reranker = Reranker(args.model)
    print(f"{reranker!r}\nquery: {query}\n")
    for name, results in (("no rerank", Reranker("none").rerank(query, candidates)),
                          ("reranked", reranker.rerank(query, candidates))):
        top = results[: args.top_n]
        mean = sum(grades.get(r.document["_id"], 0) for r in top) / len(top)
        print(f"{name}: mean grade of the top {args.top_n} = {mean:.2f}")
        for r in top:
            grade = grades.get(r.document["_id"], 0)
            print(f"  {r.rank + 1}. [grade {grade}] score {r.score:.3f}  {r.text[:90]}")
        print()


if __name__ == "__main__":
    main()
