"""Haystack 2 indexing pipeline: DocumentSplitter (defaults) → SentenceTransformersDocumentEmbedder →
DocumentWriter(InMemoryDocumentStore), as in PEERS.md."""

import sys
import time

import haystack.version
from common import emit, load_corpus, model_path
from haystack import Document, Pipeline
from haystack.components.embedders import SentenceTransformersDocumentEmbedder
from haystack.components.preprocessors import DocumentSplitter
from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

docs = load_corpus(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
store = InMemoryDocumentStore()
pipeline = Pipeline()
pipeline.add_component("splitter", DocumentSplitter())
pipeline.add_component("embedder", SentenceTransformersDocumentEmbedder(
    model=model_path(), batch_size=32, normalize_embeddings=True, progress_bar=False))
pipeline.add_component("writer", DocumentWriter(document_store=store))
pipeline.connect("splitter.documents", "embedder.documents")
pipeline.connect("embedder.documents", "writer.documents")
pipeline.warm_up()
documents = [Document(content=text, meta={"doc_id": doc_id}) for doc_id, text in docs]
t = time.perf_counter()
pipeline.run({"splitter": {"documents": documents}})
seconds = time.perf_counter() - t
emit({"system": f"Haystack {haystack.version.__version__} indexing (DocumentSplitter + "
                "SentenceTransformersDocumentEmbedder + InMemoryDocumentStore)",
      "documents": len(documents), "chunks": store.count_documents(), "seconds": round(seconds, 1)})
