"""The adaptation ladder on a planted task: every rung learns it, on the probe's own folds, no outer test clip
ever reaches training or selection, top-k's cached bottom is exact, collapses are named, and the class weights
and schedules are the rules they state."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from conftest import validated
from finetune_runs import probe_run

from layerprobe import run_finetune
from layerprobe.finetune import unit as unit_module
from layerprobe.finetune.ladder_input import ladder_input
from layerprobe.finetune.output import ladder_table
from layerprobe.finetune.schedules import FINAL_SCALE, lr_factor
from layerprobe.finetune.training import loss_weights
from layerprobe.options import FinetuneOptions, ProtocolOptions

# The head alone (71 parameters) needs a larger step than the encoder's weights to learn in four epochs.
LEARNING_RATE = {"frozen-head": 0.1, "top-k": 0.01, "lora": 0.01, "full": 0.01}


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(run folder, cache, model) of 4 speakers x 2 tones x 3 takes, probed with 2 speaker-grouped folds."""
    return probe_run(tmp_path_factory.mktemp("ladder"), folds=2)


def finetuned(setting, out, rung, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_finetune(setting[0], out, rungs=rung, learning_rates=options.pop("learning_rates",
                                                                                  LEARNING_RATE[rung]),
                            epochs=4, batch_size=4, progress=False, **options)


@pytest.mark.parametrize("rung", list(LEARNING_RATE))
def test_every_rung_learns_a_planted_task_on_the_probes_folds(setting, tmp_path, rung):
    doc = finetuned(setting, tmp_path, rung)
    [record] = doc.results
    assert record.rung == rung and record.collapsed is False and record.device == "cpu"
    assert record.balanced_accuracy.value >= 0.75  # chance is 0.5: two balanced classes
    assert record.learning_rate == [LEARNING_RATE[rung]] * 2 and all(1 <= e <= 4 for e in record.epochs)
    probe = json.loads((setting[0] / "probe_results.json").read_text())
    assert [fold.index for fold in record.predictions] == [fold["index"] for fold in probe["results"][0]["predictions"]]
    assert record.parameters_per_hour > record.trainable_parameters  # well under an hour of training audio
    written = json.loads((tmp_path / "finetune_results.json").read_text())
    assert written["results"][0]["rung"] == rung and written["results"][0]["trainable_parameters"] > 0
    # Paired with the frozen probe's selected layer, fold by fold: the rung's per-fold UAR minus the probe's.
    [paired] = doc.paired
    selected = next(r for r in probe["results"] if r["layer"] == "selected")
    np.testing.assert_allclose(paired.differences, np.subtract(record.balanced_accuracy.folds,
                                                               selected["balanced_accuracy"]["folds"]))
    assert paired.best_layer.classifier == rung and paired.p_value_fwer == paired.p_value  # a family of one
    assert written["paired"][0]["p_value_fwer"] == paired.p_value


def test_each_rung_trains_what_it_says(setting, tmp_path):
    from layerprobe.finetune.registry import rung_class, rung_names
    from layerprobe.finetune.rung import trainable_parameters
    from layerprobe.finetune.pretrained import load_encoder
    from layerprobe.data.reader import CacheReader

    with CacheReader(setting[1]) as reader:
        encoder = load_encoder(None, reader.attrs, "cpu")
    options = validated(FinetuneOptions, unfreeze=1)
    waves = [np.random.default_rng(i).normal(size=4000).astype(np.float32) for i in range(2)]
    built = {}
    for name in rung_names():
        rung = rung_class(name)(encoder, waves, options, 2, tmp_path)
        rung.prepare()
        built[name] = rung.build()
    hidden, layers, classes = 32, 5, 2
    head = hidden * classes + classes
    assert trainable_parameters(built["frozen-head"]) == layers + head
    block = sum(p.numel() for p in encoder.family.model.encoder.layers[-1].parameters())
    assert trainable_parameters(built["top-k"]) == block + head
    lora = [p for n, p in built["lora"].named_parameters() if p.requires_grad and not n.startswith("head.")]
    assert lora and all("lora_" in n for n, p in built["lora"].named_parameters()
                        if p.requires_grad and not n.startswith("head."))
    assert sum(p.numel() for p in lora) == 4 * 2 * (2 * 8 * hidden)  # 4 blocks x (q, v) x rank-8 A and B
    cnn = sum(p.numel() for p in encoder.family.model.feature_extractor.parameters())
    everything = sum(p.numel() for p in encoder.family.model.parameters())
    assert trainable_parameters(built["full"]) == everything - cnn + head
    # A frozen CNN is not run backwards either: in training mode its output needs no gradient.
    for name in ("lora", "full"):
        seen = []
        handle = built[name].encoder.feature_extractor.register_forward_hook(
            lambda module, args, output, seen=seen: seen.append(output.requires_grad))
        built[name].train()
        rung_class(name)(encoder, waves, options, 2, tmp_path).logits(built[name], np.arange(2)).sum().backward()
        handle.remove()
        assert seen == [False], name


def test_the_folds_are_the_probes_from_a_run_and_from_the_cache(setting):
    run, cache, _ = setting
    probe = json.loads((run / "probe_results.json").read_text())
    from_run = ladder_input(run)
    from_cache = ladder_input(cache, validated(ProtocolOptions, folds=2))
    expected = [fold["index"] for fold in probe["results"][0]["predictions"]]
    assert [fold.test.tolist() for fold in from_run.folds.outer] == expected
    assert [fold.test.tolist() for fold in from_cache.folds.outer] == expected
    assert from_run.protocol.folds == 2 and from_run.clip_ids == probe["clip_ids"]


def test_no_outer_test_clip_reaches_training_or_selection(setting, tmp_path, monkeypatch):
    trained, predicted = [], []
    train_epoch, predict = unit_module.train_epoch, unit_module.predict

    def spy_train(rung, model, optimizer, rows, *args, **kwargs):
        trained.append(np.asarray(rows).copy())
        return train_epoch(rung, model, optimizer, rows, *args, **kwargs)

    def spy_predict(rung, model, rows, batch_size):
        predicted.append(np.asarray(rows).copy())
        return predict(rung, model, rows, batch_size)

    monkeypatch.setattr(unit_module, "train_epoch", spy_train)
    monkeypatch.setattr(unit_module, "predict", spy_predict)
    from layerprobe.data.reader import CacheReader
    from layerprobe.finetune.clips import decoded_clips
    from layerprobe.finetune.frozen_head import FrozenHead
    from layerprobe.finetune.pretrained import load_encoder

    found = ladder_input(setting[0])
    codes = np.unique(found.target.labels, return_inverse=True)[1]
    with CacheReader(found.cache) as reader:
        encoder = load_encoder(None, reader.attrs, "cpu")
    rung = FrozenHead(encoder, decoded_clips(found.cache, found.target.rows, encoder), validated(
        FinetuneOptions, learning_rates=(0.05, 0.1), epochs=3, batch_size=4), 2, tmp_path)
    rung.prepare()
    for index, fold in enumerate(found.folds.outer):
        trained.clear(), predicted.clear()
        unit_module.run_unit(rung, fold, index, codes, seed=0, class_weight="none", folder=tmp_path)
        test = set(fold.test.tolist())
        assert trained and all(test.isdisjoint(rows.tolist()) for rows in trained)
        assert all(test.isdisjoint(rows.tolist()) for rows in predicted[:-1])
        assert sorted(predicted[-1].tolist()) == sorted(test) and len(predicted) == 2 * 3 + 1  # once, at the end


def test_top_k_on_cached_frames_has_the_gradients_of_the_whole_forward(tmp_path, group_norm_model, layer_norm_model):
    import torch

    from conftest import save_tiny_model
    from layerprobe.extract.encoder import Encoder
    from layerprobe.finetune.heads import mean_frames
    from layerprobe.finetune.top_k import TopK

    others = [save_tiny_model(tmp_path / f"{family}-{stable}", stable_layer_norm=stable, model_type=family)
              for family, stable in [("hubert", True), ("wavlm", False), ("wavlm", True), ("data2vec-audio", False),
                                      ("unispeech-sat", False)]]
    # post-norm, pre-norm with its final layer norm, and the other families top-k reads
    for model_id in (group_norm_model, layer_norm_model, *others):
        encoder = Encoder(model_id, None, device="cpu")
        rng = np.random.default_rng(0)
        waves = [encoder.normalize(rng.normal(size=n).astype(np.float32)) for n in (4000, 5600, 3200)]
        rung = TopK(encoder, waves, validated(FinetuneOptions, unfreeze=2), 3, tmp_path / model_id.split("/")[-1])
        rung.prepare()
        torch.manual_seed(0)
        top = rung.build().eval()  # dropout off in the top blocks too, for an exact comparison
        codes = torch.tensor([0, 2, 1])
        torch.nn.functional.cross_entropy(rung.logits(top, np.arange(3)), codes).backward()

        whole = encoder.family.model
        for parameter in whole.parameters():
            parameter.requires_grad_(False)
        reference_blocks = whole.encoder.layers[rung.first:]
        reference_blocks.load_state_dict(top.blocks.state_dict())
        for parameter in reference_blocks.parameters():
            parameter.requires_grad_(True)
        if top.final_norm is not None:
            whole.encoder.layer_norm.load_state_dict(top.final_norm.state_dict())
        head = torch.nn.Linear(32, 3)
        head.load_state_dict(top.head.state_dict())
        lengths = torch.tensor([len(wave) for wave in waves])
        with encoder.family._guard.batch(lengths):  # the padding guard, so that the padded batch is exact
            hidden = whole(**encoder.family.inputs(waves, torch.device("cpu"))).last_hidden_state
        loss = torch.nn.functional.cross_entropy(head(mean_frames(hidden, encoder.family.frames(lengths))), codes)
        loss.backward()
        for (name, cached), reference in zip(top.blocks.named_parameters(), reference_blocks.parameters()):
            torch.testing.assert_close(cached.grad, reference.grad, rtol=1e-4, atol=1e-6, msg=name)
        torch.testing.assert_close(top.head.weight.grad, head.weight.grad, rtol=1e-4, atol=1e-6)


def test_lora_and_full_on_stored_cnn_frames_train_as_the_whole_forward(tmp_path, group_norm_model, layer_norm_model):
    import torch

    from conftest import save_tiny_model
    from layerprobe.extract.encoder import Encoder
    from layerprobe.finetune.registry import rung_class
    from layerprobe.finetune.whole_encoder import StoredCNN

    others = [save_tiny_model(tmp_path / family, stable_layer_norm=False, model_type=family)
              for family in ("hubert", "wavlm", "data2vec-audio")]
    # the CNN's group norm (padding guarded), its layer norm, and the other families' CNNs
    for model_id in (group_norm_model, layer_norm_model, *others):
        encoder = Encoder(model_id, None, device="cpu")
        rng = np.random.default_rng(0)
        waves = [encoder.normalize(rng.normal(size=n).astype(np.float32)) for n in (4000, 5600, 3200, 4800)]
        codes = torch.tensor([0, 2, 1, 2])
        for name in ("lora", "full"):
            work = tmp_path / "work" / name / model_id.split("/")[-1]
            stored = rung_class(name)(encoder, waves, validated(FinetuneOptions), 3, work)
            stored.prepare()
            computed = rung_class(name)(encoder, waves, validated(FinetuneOptions), 3, work)
            runs = []
            for rung in (stored, computed):
                torch.manual_seed(0)
                model = rung.build().train()  # dropout, layer drop and SpecAugment on, drawn alike by the seed
                np.random.seed(0)  # SpecAugment draws its time masks from numpy's global generator
                logits = rung.logits(model, np.array([3, 0, 2, 1]))
                torch.nn.functional.cross_entropy(logits, codes).backward()
                runs.append((model, logits))
            assert isinstance(runs[0][0].encoder.feature_extractor, StoredCNN), name
            assert not isinstance(runs[1][0].encoder.feature_extractor, StoredCNN), name
            torch.testing.assert_close(runs[0][1], runs[1][1], rtol=1e-4, atol=1e-5, msg=name)
            trained = [[(n, p.grad) for n, p in model.named_parameters() if p.requires_grad] for model, _ in runs]
            assert [n for n, _ in trained[0]] == [n for n, _ in trained[1]]
            for (parameter, grad), (_, reference) in zip(*trained):
                torch.testing.assert_close(grad, reference, rtol=1e-3, atol=1e-5, msg=f"{name} {parameter}")


@pytest.mark.filterwarnings("ignore:LoRA adapter added to ConvNd")  # peft on the grouped positional conv
def test_a_cnn_that_trains_is_computed_every_step(setting, tmp_path):
    from layerprobe.data.reader import CacheReader
    from layerprobe.finetune.full import Full
    from layerprobe.finetune.lora import Lora
    from layerprobe.finetune.pretrained import load_encoder

    with CacheReader(setting[1]) as reader:
        encoder = load_encoder(None, reader.attrs, "cpu")
    waves = [np.random.default_rng(i).normal(size=4000).astype(np.float32) for i in range(2)]
    for rung in (Full(encoder, waves, validated(FinetuneOptions, train_feature_encoder=True), 2, tmp_path),
                 Lora(encoder, waves, validated(FinetuneOptions, lora_targets="q_proj,conv"), 2, tmp_path),
                 Lora(encoder, waves, validated(FinetuneOptions, bottom_gb=1e-9), 2, tmp_path)):
        rung.prepare()
        assert rung.cnn_store is None
        cnn = rung.build().encoder.feature_extractor
        assert type(cnn).__name__.endswith("FeatureEncoder")
    assert not list(tmp_path.glob("*.npy"))


def test_the_rungs_that_reach_into_the_encoder_refuse_a_family_they_cannot_read(whisper_model, tmp_path):
    from layerprobe.errors import UserError
    from layerprobe.extract.encoder import Encoder
    from layerprobe.finetune.registry import rung_class

    encoder = Encoder(whisper_model, None, device="cpu")
    for name in ("top-k", "lora", "full"):
        with pytest.raises(UserError) as refused:
            rung_class(name)(encoder, [np.zeros(1600, np.float32)], validated(FinetuneOptions), 2, tmp_path)
        assert str(refused.value) == (f"the {name} rung reads the wav2vec2, hubert, wavlm, data2vec-audio, unispeech, "
                                      f"unispeech-sat family's modules; {whisper_model} is whisper")
    rung_class("frozen-head")(encoder, [np.zeros(1600, np.float32)], validated(FinetuneOptions), 2, tmp_path)


def test_a_rung_trained_at_an_absurd_learning_rate_is_reported_collapsed(setting, tmp_path):
    doc = finetuned(setting, tmp_path, "frozen-head", learning_rates=1e4)
    [record] = doc.results
    assert record.collapsed is True
    assert any(line.startswith("frozen-head collapsed in fold ") for line in record.warnings)
    row = next(line for line in ladder_table(doc).splitlines() if line.startswith("frozen-head"))
    assert row.split()[1] == "collapsed" and f"{record.balanced_accuracy.value:.3f}" not in row
    assert doc.paired == [] and "against the frozen probe: frozen-head collapsed (no result)" in ladder_table(doc)


def test_sqrt_weights_are_capped_at_three_and_balanced_ones_are_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    codes = np.repeat([0, 1, 2, 3], [100, 30, 5, 50])
    counts = np.bincount(codes)
    direct = np.minimum(np.sqrt(counts.max() / counts), 3.0)
    np.testing.assert_allclose(loss_weights("sqrt", codes, 4).numpy(), direct, rtol=1e-6)
    assert loss_weights("sqrt", codes, 4).max().item() == pytest.approx(3.0)  # sqrt(20) capped
    np.testing.assert_allclose(loss_weights("balanced", codes, 4).numpy(),
                               compute_class_weight("balanced", classes=np.arange(4), y=codes), rtol=1e-6)
    assert loss_weights("none", codes, 4) is None


def test_the_schedules_warm_up_hold_and_decay():
    total = 100
    linear = [lr_factor("linear-warmup", step, total) for step in range(total)]
    tri = [lr_factor("tri-stage", step, total) for step in range(total)]
    assert linear[0] == tri[0] == pytest.approx(0.1) and linear[9] == tri[9] == 1.0
    assert linear[-1] == pytest.approx(1 / 90) and all(a >= b for a, b in zip(linear[9:], linear[10:]))
    assert tri[10:50] == [1.0] * 40 and tri[-1] == pytest.approx(FINAL_SCALE ** (49 / 50))


def test_holm_adjusts_p_values_step_down():
    from layerprobe.finetune.paired import holm

    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])  # 3 x 0.01, max(2 x 0.03, 0.04)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_the_report_of_a_run_folder_shows_the_ladder_and_its_verdict(setting, tmp_path):
    import shutil

    from layerprobe.report.build import write_report

    run = tmp_path / "run"
    shutil.copytree(setting[0], run)
    doc = finetuned(setting, run, "frozen-head")
    written = write_report(run)
    report = written["report.md"].read_text()
    assert "## Is fine-tuning worth it?" in report and "ladder.png" in written
    from layerprobe.finetune.paired import verdict

    assert verdict(doc.results, doc.paired).startswith("frozen-head ")
    assert f"Against the frozen probe, on its folds: {verdict(doc.results, doc.paired)}." in report
    assert f"{doc.results[0].trainable_parameters:,}" in report
