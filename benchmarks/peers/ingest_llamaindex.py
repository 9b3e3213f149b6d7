"""LlamaIndex IngestionPipeline: SentenceSplitter (defaults) + HuggingFaceEmbedding, as in PEERS.md."""

import sys
import time

from common import emit, load_corpus, model_path
from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.embeddings.huggingface import HuggingFaceEmbedding

docs = load_corpus(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)

embed = HuggingFaceEmbedding(model_name=model_path(), embed_batch_size=32, normalize=True, device="cpu")
embed.get_text_embedding("warm up")
documents = [Document(text=text, id_=doc_id, metadata={"doc_id": doc_id}, excluded_embed_metadata_keys=["doc_id"],
                      excluded_llm_metadata_keys=["doc_id"]) for doc_id, text in docs]
pipeline = IngestionPipeline(transformations=[SentenceSplitter(), embed])
t = time.perf_counter()
nodes = pipeline.run(documents=documents)
seconds = time.perf_counter() - t
assert all(n.embedding is not None for n in nodes)
emit({"system": "LlamaIndex IngestionPipeline (SentenceSplitter + HuggingFaceEmbedding)",
      "documents": len(documents), "chunks": len(nodes), "seconds": round(seconds, 1)})
