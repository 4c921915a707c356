"""Unlock time of a persona keystore with the default Argon2id parameters (RFC 9106, 64 MiB).

Next to it, in the same run, the floor: the bare Argon2id derivation those parameters cost,
timed alone. The ratio shows what the keystore adds (file read, checksum, AES-GCM unwrap).

    python benchmarks/unlock.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.keystore import DEFAULT_PARAMS, Keystore, UnlockOutcome

PIN = "482916"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    entropy = SystemEntropy()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "keystore.bin"
        Keystore.create(path, PIN, entropy=entropy, secrets={"store_key": "00" * 32})
        unlock, derive = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            outcome, keystore = Keystore.unlock(path, PIN, entropy=entropy)
            unlock.append(time.perf_counter() - start)
            assert outcome is UnlockOutcome.UNLOCKED and keystore is not None
            keystore.close()
            start = time.perf_counter()
            Argon2id(salt=os.urandom(16), length=64, iterations=DEFAULT_PARAMS.iterations,
                     lanes=DEFAULT_PARAMS.lanes, memory_cost=DEFAULT_PARAMS.memory_kib
                     ).derive(PIN.encode())
            derive.append(time.perf_counter() - start)
    print(json.dumps({
        "benchmark": "keystore unlock, default KDF",
        "kdf": DEFAULT_PARAMS.describe(),
        "runs": args.runs,
        "median_unlock_seconds": round(statistics.median(unlock), 4),
        "median_bare_argon2id_seconds": round(statistics.median(derive), 4),
        "unlock_over_bare_argon2id": round(statistics.median(unlock) / statistics.median(derive),
                                           3),
        "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
