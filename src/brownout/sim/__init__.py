"""brownout's digital twin: a GPU training cluster that fails the way real ones do.

The simulator emits telemetry in the exact formats of dcgm-exporter,
node_exporter and infiniband_exporter, per-rank step records, and a ground-truth
file listing every injected fault, so detectors run unchanged on it and on a
real cluster. It never imports the detectors, the policy or recovery code.

Using it from Python::

    from brownout.sim import load_scenario, run_scenario

    result = run_scenario(load_scenario("mixed"), seed=7, out_dir=None)
    result.topology            # brownout.topology.Topology
    result.truth               # list[brownout.findings.TruthFault]
    result.steps               # brownout.telemetry.steps.StepRecords
    frame = result.frame()     # all telemetry as a brownout.telemetry.frame.Frame
    result.summary             # headline numbers

Closed loop (a controller acting during the run)::

    from brownout.sim import Simulation

    sim = Simulation(load_scenario("host_straggler"), seed=3)
    def controller(sim):
        frame = sim.frame(registry, start_scrape=k)   # telemetry so far
        steps = sim.steps()                           # step records so far
        sim.drain("n0005")       # jobs on it restart elsewhere from checkpoint
        sim.undrain("n0005")
        sim.restart_job("llm")
    sim.run(on_tick=controller)  # or call sim.tick() yourself until sim.done()

Live mode (per-node /metrics endpoints for a real Prometheus)::

    from brownout.sim.live import LiveCluster
    LiveCluster(load_scenario("mixed"), seed=1, speed=30.0).serve(port_base=9400)

Command line: ``brownout simulate --scenario NAME_OR_FILE --out DIR [--seed N]``
and ``brownout simulate --list``. The model and the scenario format are
described in docs/simulator.md; calibration against published figures in
docs/calibration.md.
"""

from brownout.sim.engine import Simulation, build_topology
from brownout.sim.result import SimResult
from brownout.sim.run import run_scenario
from brownout.sim.scenario import Scenario, list_scenarios, load_scenario, scenario_from_dict

__all__ = [
    "Scenario", "SimResult", "Simulation", "build_topology", "list_scenarios", "load_scenario",
    "run_scenario", "scenario_from_dict",
]
