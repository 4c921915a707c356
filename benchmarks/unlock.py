"""Unlock time of a persona keystore with the default Argon2id parameters (RFC 9106, 64 MiB).

Next to it, in the same run, the floor: the bare Argon2id derivation those parameters cost,
timed alone. The ratio shows what the keystore adds (file read, checksum, AES-GCM unwrap).
Each of --rounds rounds (default 10) times both, in an order that alternates from round to
round; the ratio is taken per round; median and min–max of wall and CPU time are printed
(CPU time is steadier on a shared machine).

    python benchmarks/unlock.py [--rounds 10] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from spread import ratio_spread, rotated, spread, timed

from phone_tui.core.entropy import SystemEntropy
from phone_tui.crypto.keystore import DEFAULT_PARAMS, KdfParams, KdfPolicy, Keystore, UnlockOutcome

PIN = "482916"
QUICK = KdfParams(memory_kib=8, iterations=1, lanes=1)  # --quick: a smoke run, not a figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", "--runs", type=int, help="rounds (default 10; 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: tiny Argon2id parameters (8 KiB), 2 rounds")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 10)
    params = QUICK if args.quick else DEFAULT_PARAMS
    policy = KdfPolicy(minimum=params)
    entropy = SystemEntropy()
    figures: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": []} for name in ("unlock", "bare_argon2id")}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "keystore.bin"
        Keystore.create(path, PIN, entropy=entropy, secrets={"store_key": "00" * 32},
                        params=params)

        def unlock() -> None:
            outcome, keystore = Keystore.unlock(path, PIN, entropy=entropy, policy=policy)
            assert outcome is UnlockOutcome.UNLOCKED and keystore is not None
            keystore.close()

        def bare() -> None:
            Argon2id(salt=os.urandom(16), length=64, iterations=params.iterations,
                     lanes=params.lanes, memory_cost=params.memory_kib).derive(PIN.encode())

        work = {"unlock": unlock, "bare_argon2id": bare}
        for round_index in range(rounds):
            for name in rotated(list(work), round_index):
                wall, cpu = timed(work[name])
                figures[name]["wall"].append(wall)
                figures[name]["cpu"].append(cpu)
    report: dict[str, object] = {
        "benchmark": "keystore unlock, default KDF" if not args.quick
        else "keystore unlock, SMOKE RUN with tiny KDF parameters (not a figure)",
        "kdf": params.describe(),
        "rounds": rounds,
        "interleaving": "unlock and bare Argon2id once each per round, order alternating; "
                        "ratios per round",
    }
    for clock in ("wall", "cpu"):
        report[clock] = {
            "unlock_seconds": spread(figures["unlock"][clock], 4),
            "bare_argon2id_seconds": spread(figures["bare_argon2id"][clock], 4),
            "unlock_over_bare_argon2id": ratio_spread(figures["unlock"][clock],
                                                      figures["bare_argon2id"][clock], 3),
        }
    report["cpu_count"] = os.cpu_count()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
