"""`cygno-mw odb install|diff|templates`: the ODB templates of odb_templates/ and a live ODB.

install  adds every template key missing from the ODB (programs on the status page,
         equipment Settings defaults, /Alias links); values already there are kept, except
         under a `--force PATH` (e.g. --force /Experiment/MAX_EVENT_SIZE);
diff     lists missing keys (+) and keys whose ODB value differs from the template (~);
         exit status 0 no difference, 1 differences found, 2 an error (no MIDAS,
         no connection, bad templates), like diff(1);
templates  prints the merged templates as JSON (needs no MIDAS).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "diff", "templates"),
                        help="what to do (see cygno-mw odb --help)")
    parser.add_argument("--templates", metavar="DIR",
                        help="template folder (default: the installed odb_templates)")
    parser.add_argument("--dry-run", action="store_true",
                        help="install: only print what would be written")
    parser.add_argument("--force", action="append", default=[], metavar="ODB_PATH",
                        help="install: also overwrite existing values under this path")
    parser.add_argument("--host", default=None,
                        help="MIDAS server host (default: $MIDAS_SERVER_HOST or local)")
    parser.add_argument("--expt", default=None,
                        help="MIDAS experiment (default: $MIDAS_EXPT_NAME)")
    parser.epilog = __doc__


EXIT_DIFFERENCES = 1
EXIT_TROUBLE = 2


def run(args: argparse.Namespace) -> int:
    if args.action != "diff":
        return _run(args)
    try:  # diff(1)'s convention: 1 is an answer ("they differ"), trouble is 2
        return _run(args)
    except Exception as exc:
        print(f"cygno-mw odb diff: error: {exc}", file=sys.stderr)
        return EXIT_TROUBLE


def _run(args: argparse.Namespace) -> int:
    from cygno_mw import odb_install

    tree = odb_install.load_templates(args.templates)
    keys = list(odb_install.template_keys(tree))
    if args.action == "templates":
        json.dump(_expanded(tree), sys.stdout, indent=2)
        print()
        return 0

    from cygno_mw.midas_required import require_midas

    require_midas()
    import midas.client

    client = midas.client.MidasClient("cygno-mw odb", args.host, args.expt)
    try:
        if args.action == "diff":
            differences = odb_install.compare(client, keys)
            for difference in differences:
                print(difference.describe())
            return EXIT_DIFFERENCES if differences else 0
        verb = "would write" if args.dry_run else "wrote"
        for update in odb_install.update_start_commands(client, dry_run=args.dry_run):
            print(f"{'would update' if args.dry_run else 'updated'} {update.describe()}")
        written = odb_install.install(client, keys, dry_run=args.dry_run,
                                      force=frozenset(args.force))
        for difference in written:
            print(f"{verb} {difference.describe()}")
        kept = [d for d in odb_install.compare(client, keys) if d.kind == "differs"]
        for difference in kept:
            print(f"kept {difference.describe()}")
        print(f"{verb} {len(written)} key(s), kept {len(kept)} tuned value(s)")
        raised = [d for d in written if d.kind == "too small"]
        others = _other_clients(client)
        if raised and others and not args.dry_run:
            print(RESTART_NOTE.format(clients=", ".join(others)))
        return 0
    finally:
        client.disconnect()


RESTART_NOTE = (
    "MAX_EVENT_SIZE / the SYSTEM buffer size were raised while MIDAS programs are running "
    "({clients}). They take effect only for programs started from now on, and the SYSTEM "
    "buffer keeps its old size until it is created again: stop every program that uses it "
    "(frontends, analyzers, mlogger, mhttpd), then start mhttpd and mlogger again.")


def _other_clients(client) -> list[str]:
    """Names of the other programs connected to the experiment."""
    clients = client.odb_get("/System/Clients") if client.odb_exists("/System/Clients") else {}
    names = [str(entry.get("Name", "")) for entry in clients.values()
             if isinstance(entry, dict)]
    return sorted(name for name in names if name and name != client.name)


def _expanded(tree):
    from cygno_mw import odb_install

    if isinstance(tree, dict):
        return {k: _expanded(v) for k, v in tree.items()}
    return odb_install._expand(tree)
