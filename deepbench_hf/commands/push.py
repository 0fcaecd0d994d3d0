"""``deepbench push DIR REPO_ID [--private] [--revision BRANCH] [--config NAME ...]
[--timeout SECONDS]``."""

from __future__ import annotations

import argparse

from . import positive_seconds


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``push``."""
    parser = subparsers.add_parser(
        "push",
        help="upload a dataset folder to the HuggingFace Hub (one commit)",
        description="Create the dataset repo REPO_ID if needed and upload DIR in one commit: "
        "README.md and the config folders (shards, deepbench.json, preview.png); remote files in "
        "those config folders that DIR no longer has are deleted in the same commit. With "
        "--config, only those config folders are uploaded, with the README.md of the whole "
        "folder. Shards are checked against their SHA-256 first. The token comes from HF_TOKEN or "
        "'hf auth login' and is never printed. Afterwards load_dataset(REPO_ID, CONFIG) works.",
    )
    parser.add_argument("dir", metavar="DIR", help="dataset folder")
    parser.add_argument("repo_id", metavar="REPO_ID", help="namespace/name of the dataset repo")
    parser.add_argument(
        "--private", action="store_true", help="create the repo private (if it is new)"
    )
    parser.add_argument(
        "--revision", metavar="BRANCH", help="branch to commit to (created if missing)"
    )
    parser.add_argument(
        "--config",
        dest="configs",
        action="append",
        metavar="NAME",
        help="upload only this config's folder, plus README.md (repeat --config for several)",
    )
    parser.add_argument(
        "--no-verify",
        dest="check",
        action="store_false",
        help="skip the SHA-256 check of the shards before uploading",
    )
    parser.add_argument("--message", metavar="TEXT", help="commit message")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=300.0,
        metavar="SECONDS",
        help="limit on each HTTP request's connect, send and wait for an answer, which "
        "huggingface_hub retries up to 5 times for upload steps (default 300)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``push``."""
    from ..publish import push

    result = push(
        args.dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        configs=args.configs,
        check=args.check,
        commit_message=args.message,
        timeout=args.timeout,
    )
    deleted = f", deleted {len(result.deleted)} stale file(s)" if result.deleted else ""
    print(
        f"pushed {', '.join(result.configs)} to {result.repo_id}@{result.revision} "
        f"({len(result.uploaded)} file(s){deleted}): {result.commit_url or 'no commit URL'}"
    )
    return 0
