"""The answering core: question parsing, snapshots, retrieval, extractive answers, verification, backends."""
