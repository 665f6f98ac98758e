"""What ingest and answering share: the records, the Chroma store, the embedder, the ingest lock."""
