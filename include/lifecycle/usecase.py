"""Use cases from the command line (wrapped by ``make usecase-init``, ``usecase-check``, ``usecase-suite``)::

    python -m include.lifecycle.usecase init --data X.csv --target T --id ID --positive P [--name N]
    python -m include.lifecycle.usecase check NAME|PATH ...   # every error with its key, exit 1 on any
    python -m include.lifecycle.usecase suite NAME ...        # (re)write the stored Great Expectations suite
    python -m include.lifecycle.usecase list                  # every use case in the config folder, valid or not
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from include.lifecycle.config import ConfigError, load_all, load_use_case


def _init(args: argparse.Namespace) -> int:
    from include.lifecycle.config.scaffold import scaffold

    made = scaffold(Path(args.data), target=args.target, id_col=args.id, positive=args.positive, name=args.name,
                    config_dir=Path(args.config_dir) if args.config_dir else None,
                    data_dir=Path(args.data_dir) if args.data_dir else None,
                    expectations_dir=Path(args.expectations_dir) if args.expectations_dir else None, days=args.days,
                    start=date.fromisoformat(args.start_date), delay=args.label_delay_days,
                    smes=tuple(args.sme or ["sme_alice"]), force=args.force)
    kinds: dict[str, int] = {}
    for spec in made.columns.values():
        kinds[spec["kind"]] = kinds.get(spec["kind"], 0) + 1
    print(f"wrote {made.yaml_path}")
    print(f"      {made.data_path} (sha256 {made.sha256})")
    print(f"      {made.suite_path}")
    print(f"columns: {len(made.columns)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    print("the SME must still decide (marked TODO(SME) in the YAML):")
    for item in made.todo:
        print(f"  - {item}")
    print(f"its DAGs appear at the next DAG parse ({made.name}__data_acquisition, ...); "
          f"create its pools and Variables with `make settings` on a running platform")
    return 0


def _check(args: argparse.Namespace) -> int:
    status = 0
    for name in args.names:
        try:
            uc = load_use_case(name)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            status = 1
            continue
        print(f"{uc.path}: ok ({len(uc.columns)} columns, {len(uc.raw['candidates'])} candidates)")
    return status


def _suite(args: argparse.Namespace) -> int:
    from include.lifecycle.data.suite import write_suite

    for name in args.names:
        print(write_suite(load_use_case(name, check_files=False)))
    return 0


def _list(args: argparse.Namespace) -> int:
    good, bad = load_all()
    for name, uc in sorted(good.items()):
        print(f"{name:<24} ok       {uc.path}")
    for path, exc in sorted(bad.items()):
        print(f"{path.stem:<24} INVALID  {path}: {'; '.join(exc.problems)}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.lifecycle.usecase", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="scaffold a use case from a CSV sample")
    init.add_argument("--data", required=True, help="CSV file with one row per case (id, target, features)")
    init.add_argument("--target", required=True)
    init.add_argument("--id", required=True, help="the unique id column")
    init.add_argument("--positive", required=True, help="the target label the model predicts")
    init.add_argument("--name", default=None, help="use-case name (default: from the file name)")
    init.add_argument("--config-dir", default=None, help="where to write the YAML (default: the config folder)")
    init.add_argument("--data-dir", default=None, help="where the data copy goes (default include/data)")
    init.add_argument("--expectations-dir", default=None, help="where the suite goes (default include/expectations)")
    init.add_argument("--days", type=int, default=60, help="replay days")
    init.add_argument("--start-date", default="2026-01-01")
    init.add_argument("--label-delay-days", type=int, default=7)
    init.add_argument("--sme", action="append", help="an assigned SME (repeatable; default sme_alice)")
    init.add_argument("--force", action="store_true", help="overwrite an existing YAML")
    init.set_defaults(func=_init)
    for name, func, text in (("check", _check, "validate use cases against the schema and their data"),
                             ("suite", _suite, "write the stored Great Expectations suite")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("names", nargs="+", help="use-case names or YAML paths")
        cmd.set_defaults(func=func)
    sub.add_parser("list", help="every use case in the config folder").set_defaults(func=_list)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
