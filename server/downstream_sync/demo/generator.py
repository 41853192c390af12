"""The demo container's app: every fraction of a second it creates, rewrites, renames or
deletes a file under generated/ and appends to logs/app.log, like a code generator and a
logger would. Runs until stopped. Standard library only: it runs inside the "container"."""

import json
import random
import signal
import sys
import time
from pathlib import Path

MODELS = ["user", "order", "invoice", "product", "cart", "review", "payment", "address"]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # excluded by the demo's rules
    tmp.write_text(text)
    tmp.replace(path)


def model_source(name: str, revision: int) -> str:
    fields = random.sample(["id", "name", "email", "total", "created_at", "status", "sku", "rating"], 4)
    lines = [f"# generated: {name} model, revision {revision}", f"class {name.title()}:"]
    lines += [f"    {field}: str" for field in fields]
    return "\n".join(lines) + "\n"


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out, logs = Path("generated"), Path("logs")
    revisions: dict[str, int] = {}
    step = 0
    while True:
        step += 1
        name = random.choice(MODELS)
        target = out / "models" / f"{name}.py"
        roll = random.random()
        if roll < 0.12 and revisions:
            gone = random.choice(sorted(revisions))
            (out / "models" / f"{gone}.py").unlink(missing_ok=True)
            del revisions[gone]
            what = f"deleted {gone}"
        elif roll < 0.2 and revisions:
            old = random.choice(sorted(revisions))
            new = old + "_v2" if not old.endswith("_v2") else old[:-3]
            if new not in revisions and (out / "models" / f"{old}.py").exists():
                (out / "models" / f"{old}.py").rename(out / "models" / f"{new}.py")
                revisions[new] = revisions.pop(old)
            what = f"renamed {old} to {new}"
        else:
            revisions[name] = revisions.get(name, 0) + 1
            write(target, model_source(name, revisions[name]))
            what = f"wrote {name} (revision {revisions[name]})"
        write(out / "index.json", json.dumps({"step": step, "models": sorted(revisions)}, indent=2) + "\n")
        logs.mkdir(exist_ok=True)
        with open(logs / "app.log", "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} step {step}: {what}\n")
        time.sleep(random.uniform(0.3, 0.8))


if __name__ == "__main__":
    main()
