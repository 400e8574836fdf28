"""Mutated caches (their fields, attrs, parts list, ids, declared sizes; renamed, copied, given
another's parts), saved probes and manifests (quotes, cells, FIFOs and loops among the paths, a
100,000-column header): every command succeeds or exits 2 with one line; none ends in a traceback,
a crash or a hang. The cases run in one child process (tests/fuzz_inputs.py),
so a crash in HDF5 or a hang ends the child, and the last case it started is the one named."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).with_name("fuzz_inputs.py")
SEED, CACHE_CASES, PROBE_CASES, MANIFEST_CASES = 0, 56, 12, 12


def held(case: dict) -> bool:
    """Success, or exit code 2 with one line on stderr."""
    lines = case["stderr"].strip().splitlines()
    return case["crash"] is None and (case["rc"] == 0 or (case["rc"] == 2 and len(lines) == 1
                                                          and lines[0].startswith("error: ")))


def test_every_command_on_mutated_inputs_succeeds_or_exits_2_with_one_line(tmp_path, group_norm_model):
    done = subprocess.run([sys.executable, str(DRIVER), str(tmp_path), group_norm_model, str(SEED), str(CACHE_CASES),
                           str(PROBE_CASES), str(MANIFEST_CASES)], capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0, f"the driver ended with {done.returncode} in {records[-1:]}: {done.stderr[-3000:]}"
    cases = [record for record in records if "rc" in record]
    assert len(cases) == CACHE_CASES + PROBE_CASES + MANIFEST_CASES
    failures = [f"{case['case']} ({case['argv']}): {case['crash'] or case['stderr']}" for case in cases if not held(case)]
    assert not failures, "\n\n".join(failures)
    refused = [case for case in cases if case["rc"] == 2]
    assert len(refused) > len(cases) / 2  # the mutations reach the checks, not only rows no one reads
