"""The README's Python API example runs as written, on a folder laid out as it assumes."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import save_tiny_model

from layerprobe.data.demo_dataset import write_demo_dataset

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_api_example() -> str:
    section = README.read_text().split("## Python API")[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_api_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_demo_dataset(tmp_path / "data", speakers=4, clips_per_vowel=4)  # path, label, speaker
    # A local folder of the hub id's name: from_pretrained loads it, as it would a downloaded model.
    save_tiny_model(tmp_path / "facebook" / "wav2vec2-base", stable_layer_norm=False)
    names: dict = {}
    exec(compile(readme_api_example(), str(README), "exec"), names)

    assert names["files"]["report.html"].samefile(tmp_path / "runs" / "vowels" / "report.html")
    layers, mfcc = names["layers"], names["mfcc"]
    assert layers["layer"].tolist() == [0, 1, 2, 3, 4, "selected"] and set(layers["classifier"]) == {"ridge"}
    assert "p_value_fwer" in layers
    result = names["result"]  # what `probe --format json` prints, typed
    assert result.protocol_reason == "--cv loso as asked" and result.frame().equals(layers)
    assert [record.layer.to_json() for record in result.results] == layers["layer"].tolist()
    assert set(layers["protocol"]) == set(mfcc["protocol"]) == {"leave-one-group-out"}
    assert {"mfcc", "logmel", "chance"} <= set(mfcc["layer"])
    assert sorted(names["cache"].layers) == [0, 1, 2, 3, 4] and len(names["cache"].clips) == 48
    assert names["summary"].ok == 48
