"""benchmarks/sms.py's smoke run (--quick): every part runs the whole SMS path (and the E2E one
beside it) and prints figures of the right shape and of sane size (not timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "sms.py"


def ordered(figure: dict) -> bool:
    return figure["min"] <= figure["median"] <= figure["max"]


def test_quick_run_measures_sms_latency_throughput_and_store_and_forward():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                          text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 2
    assert report["carrier_folder_smsc_db_written"] is True

    latency = report["latency_lte"]
    assert {kind: latency[kind]["sms_parts"] for kind in ("1_part", "3_part_gsm7",
                                                         "2_part_ucs2")} == {
        "1_part": 1, "3_part_gsm7": 3, "2_part_ucs2": 2}
    assert latency["3_part_gsm7"]["text_chars"] == 400
    assert latency["2_part_ucs2"]["encoding"] == "UCS2"
    for kind in ("1_part", "3_part_gsm7", "2_part_ucs2"):
        for path in ("sms", "e2e"):
            figures = latency[kind][path]
            for key in ("p50_ms", "p99_ms", "to_delivered_at_sender_p50_ms"):
                assert ordered(figures[key]), (kind, path, key)
            # lte is 35 ms each way: nothing gets across in less than one hop.
            assert figures["p50_ms"]["min"] >= 30, (kind, path)
            assert figures["p50_ms"]["median"] <= figures["p99_ms"]["median"]
        assert latency[kind]["sms_over_e2e_p50"]["median"] > 0

    throughput = report["throughput_full"]
    assert throughput["phones"] == 4 and throughput["messages_per_run"] == 40
    for path in ("sms", "e2e"):
        figures = throughput[path]
        assert figures["per_second"]["min"] > 0
        assert figures["carrier_cpu_ms_per_message"]["median"] > 0
        # The carrier's share is part of the whole process's CPU.
        assert figures["carrier_cpu_ms_per_message"]["max"] \
            <= figures["process_cpu_ms_per_message"]["max"]

    saf = report["store_and_forward"]
    assert saf["sms"] == 60 and saf["accepted_with_the_default_cap"] == 60
    assert ordered(saf["drain_seconds"]) and saf["drain_seconds"]["min"] > 0
    # Each queued part is a row on disk: 60 of them take more than an empty file's pages.
    assert saf["smsc_db_bytes_with_them_queued"]["min"] > 60 * 100
    assert saf["carrier_traced_kib_with_them_queued"] > 0
