"""DVC stage `prepare`: read preference data, normalise it, validate every row, split train/test."""

from xlrm import stage


def main() -> None:
    p = stage.parser(__doc__)
    p.add_argument("--out-dir", required=True, help="output folder (train.jsonl, test.jsonl)")
    p.add_argument("--metrics", required=True, help="output summary JSON")
    args = p.parse_args()

    from pathlib import Path

    from xlrm.config import load_section, to_dict
    from xlrm.data.prepare import PrepareConfig, prepare
    from xlrm.io import atomic_path, write_json, write_jsonl
    from xlrm.tracking import log_metrics, stage_run

    cfg = load_section(PrepareConfig, "prepare", args.params)
    with stage_run("prepare", params={"prepare": to_dict(cfg)}) as mlflow:
        train, test, summary = prepare(cfg)
        with atomic_path(args.out_dir, is_dir=True) as tmp:
            write_jsonl(tmp / "train.jsonl", train)
            write_jsonl(tmp / "test.jsonl", test)
        write_json(args.metrics, summary)
        log_metrics(summary, "prepare")
        mlflow.log_artifact(args.metrics)
    print(f"prepared {summary['train_pairs']} train / {summary['test_pairs']} test pairs -> "
          f"{Path(args.out_dir)}")


if __name__ == "__main__":
    stage.main(main)
