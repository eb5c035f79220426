"""Put the app on a Hugging Face Space: ``python -m ddpm.deploy --space USER/NAME --hardware cpu|zero``.

Stages the files the Space needs into a folder (:func:`ddpm.space.stage`: the app's tree, its
README, its requirements for the hardware and a ``.gitattributes`` that sends every binary file
through the Hub's large-file storage), prints each with its size and the total, and uploads the
folder (:func:`ddpm.space.upload`; the Space is created if it does not exist). ``--dry-run``
stages and prints, and sends nothing. Log in first (``hf auth login``), set ``HF_TOKEN`` or pass
``--token``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .space import FLAVORS, HARDWARES, check_space_id, describe, stage, upload


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m ddpm.deploy``."""
    parser = argparse.ArgumentParser(
        prog="python -m ddpm.deploy", description="Put the app on a Hugging Face Space (docs/cli.md)."
    )
    parser.add_argument(
        "--space",
        metavar="USER/NAME",
        help="the Space, USER/NAME (created if missing; not needed for --dry-run)",
    )
    parser.add_argument(
        "--hardware", choices=HARDWARES, default="cpu",
        help=f"cpu: a free CPU Space ({FLAVORS['cpu']}); zero: ZeroGPU ({FLAVORS['zero']}) (default: cpu)",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="stage and list the files; upload nothing")
    parser.add_argument("--out", type=Path, help="stage into this empty folder and keep it")
    parser.add_argument("--token", help="a Hub token that can write (default: HF_TOKEN or the saved login)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    return parser


def main(argv: list[str] | None = None) -> None:
    command = parser()
    args = command.parse_args(argv)
    if args.space is None and not args.dry_run:
        command.error("--space USER/NAME is needed (or --dry-run)")
    if args.space is not None:
        try:
            check_space_id(args.space)
        except ValueError as err:
            command.error(str(err))
    with tempfile.TemporaryDirectory(prefix="ddpm-space-") as scratch:
        folder = args.out or Path(scratch)
        try:
            files = stage(folder, args.hardware)
        except ValueError as err:  # a staging folder that is not empty
            command.error(str(err))
        print(describe(files, args.hardware))
        if args.out is not None:
            print(f"staged in {args.out}")
        if args.dry_run:
            print("dry run: nothing was uploaded")
            return
        print(f"uploading to the Space {args.space} ...")
        url = upload(folder, args.space, args.hardware, token=args.token, private=args.private)
        print(f"done: {url}")


if __name__ == "__main__":
    main()
