"""Where a model comes from, checked before transformers is asked to load it.

transformers answers a missing local folder with the hub's "Repo id must be in the form
'repo_name' or 'namespace/repo_name'", and an id it cannot download with 86 s of retries when the
machine is offline. Both are one line here, at once.
"""
from __future__ import annotations

import os

from layerprobe.errors import UserError

# A hub id is "name" or "namespace/name"; anything else given to --model is a path.
PATH_PREFIXES = ("/", "./", "../", "~")


def check_model_source(model_id: str, revision: str | None = None) -> None:
    """Raise UserError when `model_id` names a folder that does not exist, or a hub model that is
    neither downloaded already nor reachable (one request with a short timeout)."""
    if os.path.exists(model_id):
        if not os.path.isdir(model_id):
            raise UserError(f"--model {model_id}: not a folder (give a model folder saved with save_pretrained, "
                            "or a Hugging Face hub id)")
        return
    if model_id.startswith(PATH_PREFIXES) or model_id.count("/") > 1 or model_id.endswith("/"):
        raise UserError(f"--model {model_id}: no such folder")
    _check_hub(model_id, revision)


def _check_hub(model_id: str, revision: str | None) -> None:
    import huggingface_hub
    from huggingface_hub import constants, errors

    # A path when the config is in the local cache (None, or a marker of a known absence, otherwise).
    if isinstance(huggingface_hub.try_to_load_from_cache(model_id, "config.json", revision=revision), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"--model {model_id}: not downloaded, and HF_HUB_OFFLINE is set; download it once online, "
                        "or give a local folder")
    try:
        huggingface_hub.model_info(model_id, revision=revision, timeout=10)
    except errors.RepositoryNotFoundError:
        raise UserError(f"--model {model_id}: no such model on the Hugging Face hub (or it is private)") from None
    except errors.RevisionNotFoundError:
        raise UserError(f"--model {model_id}: no revision {revision!r} on the Hugging Face hub") from None
    except Exception as error:  # any network failure: no route, DNS, timeout, proxy
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        raise UserError(f"--model {model_id}: not downloaded, and the Hugging Face hub cannot be reached ({reason}); "
                        "give a local model folder, or download it once online") from None
