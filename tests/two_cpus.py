"""Run a snippet of training code in a fresh process whose one CPU is split into two logical devices.

No GPU here: two logical CPUs make MirroredStrategy really run the replicated path.
``devices`` (the two device names) is defined for the snippet, tensorflow imported as tf.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PREAMBLE = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from digitnet.data import load_dataset
from digitnet.train import train_model
devices = [d.name for d in tf.config.list_logical_devices("CPU")]
"""


def run_on_two_cpus(snippet: str) -> subprocess.CompletedProcess:
    """The snippet's run (text output), after the preamble, with MPLBACKEND=Agg; five minutes at most."""
    script = PREAMBLE + textwrap.dedent(snippet)
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
