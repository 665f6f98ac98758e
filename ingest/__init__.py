"""Ingestion: read → clean → segment into articles → chunk → embed → store."""
