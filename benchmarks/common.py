"""What every benchmark shares: which network and weights it measures, and how many threads.

Offline the benchmarks measure **trained** features: ``weights`` defaults to the library's own
default (``NST_WEIGHTS``, else ImageNet where its file is here, else ``hed``), and with ``hed``
the network defaults to ``vgg16``, HED's own architecture. (``vgg19`` with ``hed`` is the same
VGG16 inside VGG19's shape: identical features at the default layers, plus two identity
convolutions that cost time and compute nothing, see ``nst_helpers.hed.widen_to_vgg19``.)

``--threads``: on a CPU shared with other work, one thread is the honest setting. With two
threads each step waits at every barrier for the slower one, and a descheduled thread makes
the other spin: measured on this project's shared 2-core machine (load ~8), one thread ran a
256 px fp32 step in 0.6-0.9 s wall, two threads in 2.3-2.8 s.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from nst_helpers.features import NETWORKS, default_weights, describe_weights

PAIRS = (("chelsea", "starry_night"), ("astronaut", "the_scream"), ("rocket", "shipwreck"))
"""Photo/painting pairs the gallery shows with the default method beside ``fast``, and that
``sweep_fast.py --pairs gallery`` scores every variant on (one photo hides what three show)."""


@dataclass(frozen=True)
class Measured:
    """The network and weights a benchmark measures, with their words for a table's caption."""

    network: str
    weights: str
    words: str

    @property
    def options(self) -> dict[str, str]:
        """``stylize`` keywords: ``network=..., weights=...``."""
        return {"network": self.network, "weights": self.weights}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--weights``, ``--network`` and ``--threads`` (see the module docstring)."""
    parser.add_argument("--weights", default=None,
                        help="imagenet, hed, random or a .pth (default: the library's default, "
                             "offline hed)")  # fmt: skip
    parser.add_argument("--network", default=None, choices=NETWORKS,
                        help="default: vgg16 with hed weights (HED's own network), else vgg19")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's; 1 on a shared machine)")  # fmt: skip


def resolve(args: argparse.Namespace) -> Measured:
    """Apply ``--threads`` and settle ``--weights``/``--network`` (see ``add_arguments``)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = str(args.weights or default_weights())
    network = args.network or ("vgg16" if weights == "hed" else "vgg19")
    return Measured(network, weights, f"{network}, weights={weights}: "
                    f"{describe_weights(weights, network)}")  # fmt: skip


class Clock:
    """Wall and CPU seconds since it was made (``wall``, ``cpu``): the process's CPU time is
    the steadier clock on a shared machine, wall time what a user waits for."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    @property
    def cpu(self) -> float:
        return time.process_time() - self.cpu0


def cpu_features() -> str:
    """The CPU's widest vector and bf16 units, from ``/proc/cpuinfo`` (Linux; else ``""``):
    CI's machines range from AVX2 to AVX-512 with AMX, and their times differ by 2x or more."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "flags:")
    flags = set(line.split(":", 1)[1].split())
    names = [("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"),
             ("avx2", "AVX2")]  # fmt: skip
    return next((name for flag, name in names if flag in flags), "")


def machine(device: str = "cpu") -> str:
    """One line: CPU (and GPU, for ``device="cuda"``), threads, torch version, and the load
    when it was measured."""
    import os
    import platform

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = ""
    if torch.device(device).type == "cuda":
        gpu = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}), "
    isa = cpu_features()
    cpu = platform.processor() or platform.machine()
    return (f"{gpu}{cpu}{f' ({isa})' if isa else ''}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
            f"load average {load:.1f} at the start")  # fmt: skip
