"""The HTTP API over the answering core: routers, security, observability, SSE, OpenAI-compatible."""
