"""The engines by name, and their options: the engine's name plus that engine's own settings.

An engine is one file (see engine_protocol.py) listed in ENGINES. Each declares its flags as an
option group of its own; a flag of an engine other than the one chosen is refused, so that
`--workers 2` without `--engine ray` is not silently ignored.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from layerprobe.errors import UserError
from layerprobe.extract.engine_protocol import Engine
from layerprobe.extract.process_engine import ProcessEngine
from layerprobe.extract.ray_engine import RayEngine
from layerprobe.options import EngineOptions, Known, add_arguments

ENGINES: dict[str, type[Engine]] = {engine.name: engine for engine in (ProcessEngine, RayEngine)}


def add_engine_arguments(parser: argparse.ArgumentParser, known: Known) -> None:
    """--engine, then every engine's own flags."""
    add_arguments(parser, EngineOptions, known)
    for engine in ENGINES.values():
        add_arguments(parser, engine.Settings, known)


def engine_options(name: str, settings: Mapping[str, Any], known: Known) -> EngineOptions:
    """The engine called `name` with its settings, validated; `settings` holds every engine's settings
    by field name (those left out keep their defaults), and one set for another engine is refused."""
    choice = EngineOptions(engine=name).validated(known)
    for engine in ENGINES.values():
        if engine.name == choice.engine:
            continue
        for spec in fields(engine.Settings):
            if spec.name in settings and settings[spec.name] != spec.default:
                raise UserError(f"--{spec.name.replace('_', '-')} needs --engine {engine.name}")
    own = ENGINES[choice.engine].Settings
    chosen = own(**{spec.name: settings[spec.name] for spec in fields(own) if spec.name in settings})
    return EngineOptions(engine=choice.engine, settings=chosen.validated(known))


def engine_options_from_args(args: argparse.Namespace, known: Known) -> EngineOptions:
    """The engine options a command parsed (see add_engine_arguments)."""
    settings = {spec.name: getattr(args, engine.Settings.dest(spec.name), spec.default)
                for engine in ENGINES.values() for spec in fields(engine.Settings)}
    return engine_options(getattr(args, EngineOptions.dest("engine")), settings, known)


def engine_for(options: EngineOptions) -> Engine:
    """The engine the options name, built from its settings."""
    return ENGINES[options.engine](options.settings)
