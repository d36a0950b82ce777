"""``bredgio scheduler`` on a simulated clock: ``python -m tests.scheduler.simulated`` runs
the same :func:`api.scheduler.run_standalone` as the command, reading the time from
``BREDGIO_TEST_SIM_CLOCK`` (see :func:`tests.scheduler.support.sim_clock`)."""

from __future__ import annotations

import logging

from api.config import Settings
from api.scheduler import run_standalone
from tests.scheduler.support import sim_clock_from_env

if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s scheduler %(levelname)s %(message)s"
    )
    run_standalone(Settings(), now=sim_clock_from_env())
