"""layerprobe compare end to end: two tiny wav2vec2 models of different depth over the same generated audio."""
from __future__ import annotations

import json

import numpy as np

from conftest import run_extract, save_tiny_model
from layerprobe import cli
from layerprobe.data.demo_dataset import write_demo_dataset


def test_compare_two_tiny_encoders_of_the_same_clips(tmp_path, capsys):
    manifest = write_demo_dataset(tmp_path / "audio", speakers=3, clips_per_vowel=2)
    caches = []
    for depth in (2, 4):
        model = save_tiny_model(tmp_path / f"w2v-{depth}", stable_layer_norm=False, num_hidden_layers=depth)
        caches.append(tmp_path / f"depth{depth}.h5")
        run_extract(manifest, caches[-1], model=model, device="cpu", progress=False)
    out = tmp_path / "compare"
    assert cli.main(["compare", *map(str, caches), "--out", str(out), "--classifier", "ridge,weighted-sum", "--n-jobs", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    doc = json.loads((out / "compare.json").read_text())
    assert [e["name"] for e in doc["encoders"]] == ["w2v-2", "w2v-4"] and doc["n_clips"] == 18
    assert [e["layers"] for e in doc["encoders"]] == [[0, 1, 2], [0, 1, 2, 3, 4]]
    assert [e["depth"] for e in doc["encoders"]] == [2, 4]
    for encoder in doc["encoders"]:
        layers = [r["layer"] for r in encoder["results"]]
        assert layers[:len(encoder["layers"]) + 1] == [*encoder["layers"], "all"]  # ridge per layer, weighted sum
        assert "selected" in layers
    [paired] = doc["paired"]
    assert (paired["a"], paired["b"]) == ("w2v-2", "w2v-4") and paired["p_value_fwer"] == paired["p_value"]
    cka = np.array(doc["cka"]["values"])
    assert cka.shape == (8, 8) and np.allclose(np.diag(cka), 1, atol=1e-5) and np.allclose(cka, cka.T)
    # layer 0 of both models is their feature projection of the same audio: alike, yet not the same weights
    assert 0 < cka[0, 3] < 1
    report = (out / "report.md").read_text()
    assert "![Linear CKA between every pair of layers" in report and "(cka.png)" in report
    assert "(depth_curves.png)" in report and (out / "report.html").is_file()
    assert "w2v-2 vs w2v-4: UAR difference" in printed
