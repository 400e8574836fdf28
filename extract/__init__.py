"""Stage 1: the frozen encoder, exact batching, pooling, the extract-embeddings CLI.

`layerprobe.extract(data, out, ...)` runs it (see layerprobe.extract.runner.extract); torch is
imported only then.
"""
from layerprobe.callable_module import make_callable


def _extract():
    from layerprobe.extract.runner import extract

    return extract


make_callable(__name__, _extract)
