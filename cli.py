"""`layerprobe COMMAND ...`: every stage under one name."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from layerprobe.errors import ArgumentParser, run_cli


def main(argv: Sequence[str] | None = None) -> int:
    from layerprobe import demo
    from layerprobe.extract import cli as extract_cli
    from layerprobe.report import cli as report_cli

    parser = ArgumentParser(prog="layerprobe", description="Is my label linearly separable in a frozen speech "
                            "encoder, and at which layer?")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    stages = {"extract": extract_cli, "report": report_cli, "demo": demo}
    for name, module in stages.items():
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return run_cli(lambda args: args.run(args), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
