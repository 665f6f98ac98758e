"""The HTTP service: retrieval, answering, model backends, the bot and the web page."""
