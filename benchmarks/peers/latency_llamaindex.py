"""LlamaIndex hybrid retrieval latency on given rows (id, text, precomputed vector): VectorStoreIndex
(SimpleVectorStore) + BM25Retriever, fused by QueryFusionRetriever (reciprocal_rerank, one query, no LLM),
each retriever's top 100, fused top 10; queries one at a time with 1 torch thread, as in PEERS.md.
Prints one JSON line. Run by benchmarks/bench_latency.py in .venv-peers."""

import json
import sys
import time

import numpy as np
import torch
from common import emit, model_path
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import TextNode
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.retrievers.bm25 import BM25Retriever

rows_path, queries_path = sys.argv[1], sys.argv[2]
nodes = []
with open(rows_path) as f:
    for line in f:
        r = json.loads(line)
        nodes.append(TextNode(id_=r["id"], text=r["text"], embedding=r["vector"]))
queries = json.loads(open(queries_path).read())
Settings.llm = MockLLM()
embed = HuggingFaceEmbedding(model_name=model_path(), normalize=True, device="cpu")
t = time.perf_counter()
index = VectorStoreIndex(nodes, embed_model=embed, show_progress=False)
bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=100)
build_s = time.perf_counter() - t
fusion = QueryFusionRetriever([index.as_retriever(similarity_top_k=100), bm25], similarity_top_k=10,
                              num_queries=1, mode="reciprocal_rerank", llm=MockLLM(), use_async=False)
torch.set_num_threads(1)
fusion.retrieve(queries[0])
ms = []
for q in queries:
    t = time.perf_counter()
    fusion.retrieve(q)
    ms.append((time.perf_counter() - t) * 1000)
p50, p95, p99 = np.percentile(ms, [50, 95, 99])  # ragship's definition (util/stats.py): linear interpolation
emit({"system": "LlamaIndex QueryFusionRetriever (vector + BM25Retriever, reciprocal_rerank)", "rows": len(nodes),
      "build_s": round(build_s, 1), "hybrid": {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
                                                "p99": round(float(p99), 1)}})
