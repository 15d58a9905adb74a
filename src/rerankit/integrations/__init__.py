"""Adapters for RAG frameworks, one module each, imported only when used:

* :mod:`rerankit.integrations.langchain`: ``RerankitRerank`` (LangChain document compressor,
  for ``ContextualCompressionRetriever``), extra ``rerankit[langchain]``;
* :mod:`rerankit.integrations.llama_index`: ``RerankitRerank`` (LlamaIndex node
  postprocessor, for ``as_query_engine(node_postprocessors=[...])``), ``rerankit[llamaindex]``;
* :mod:`rerankit.integrations.haystack`: ``RerankitRanker`` (Haystack 2 ranker
  component), ``rerankit[haystack]``.

Each takes a :class:`~rerankit.Reranker` (local, ONNX or hosted) or a model name.
"""
