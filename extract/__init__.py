"""Stage 1: the frozen encoder, exact batching, pooling, the extract-embeddings CLI.

`layerprobe.extract_embeddings(data, out, ...)` runs it; torch is imported only then.
"""
