"""Two small Lava processes used by the Lava target.

``PerNeuronLIF``: Lava's LIF with du, dv and vth given per neuron. Lava's LIF holds them
as one value per process; Loihi 2 and neurodeploy's IR allow one per neuron. The process
models below subclass Lava's own ``PyLifModelBitAcc`` / ``PyLifModelFloat`` and only
change the declared type of those three Vars to vectors: the arithmetic that runs is
Lava's, unchanged (its numpy expressions broadcast over the vectors).

``SpikeStateRecorder``: records, at every step, the spikes arriving on its InPort and
(optionally) the u and v Vars of a LIF process read through RefPorts after the spiking
phase (so v is after reset), and writes them to an ``.npz`` file at its last step.
Writing a file from the process model avoids Lava's ``Var.get``, which moves one
element per message.
"""

from __future__ import annotations

import os

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import (
    AbstractPyLifModelFixed,
    AbstractPyLifModelFloat,
    PyLifModelBitAcc,
    PyLifModelFloat,
)
from lava.proc.lif.process import LIF


class PerNeuronLIF(LIF):
    """Lava's LIF whose du, dv and vth are vectors of the population's shape."""

    def __init__(self, *, shape, du, dv, vth, **kwargs) -> None:
        super().__init__(shape=shape, du=0, dv=0, vth=0, **kwargs)
        self.du = Var(shape=shape, init=np.asarray(du))
        self.dv = Var(shape=shape, init=np.asarray(dv))
        self.vth = Var(shape=shape, init=np.asarray(vth))


@implements(proc=PerNeuronLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyPerNeuronLifModelBitAcc(AbstractPyLifModelFixed):
    """Lava's ``PyLifModelBitAcc`` with vector du, dv, vth.

    Lava forbids subclassing a decorated process model, so this derives from the same
    undecorated base (whose ``subthr_dynamics`` is the arithmetic) and takes the three
    remaining two methods from ``PyLifModelBitAcc`` itself.
    """

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)

    def __init__(self, proc_params) -> None:  # as PyLifModelBitAcc.__init__
        super().__init__(proc_params)
        self.effective_vth = 0

    scale_threshold = PyLifModelBitAcc.scale_threshold
    spiking_activation = PyLifModelBitAcc.spiking_activation


@implements(proc=PerNeuronLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyPerNeuronLifModelFloat(AbstractPyLifModelFloat):
    """Lava's ``PyLifModelFloat`` with vector du, dv, vth."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)

    spiking_activation = PyLifModelFloat.spiking_activation


class SpikeStateRecorder(AbstractProcess):
    """Records spikes (and u, v) of one population for ``num_steps`` steps into ``path``."""

    def __init__(self, *, shape, num_steps: int, path: str, record_state: bool) -> None:
        super().__init__(shape=shape, num_steps=num_steps, path=path, record_state=record_state)
        self.s_in = InPort(shape=shape)
        self.u_ref = RefPort(shape=shape)
        self.v_ref = RefPort(shape=shape)


class _RecorderModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    u_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, float)
    v_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, float)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self.num_steps = int(proc_params["num_steps"])
        self.path = str(proc_params["path"])
        self.record_state = bool(proc_params["record_state"])
        shape = tuple(proc_params["shape"])
        self.spikes = np.zeros((self.num_steps, *shape), dtype=bool)
        self.u_trace = np.zeros((self.num_steps, *shape)) if self.record_state else None
        self.v_trace = np.zeros((self.num_steps, *shape)) if self.record_state else None

    def run_spk(self) -> None:
        self.spikes[self.time_step - 1] = self.s_in.recv() != 0
        if not self.record_state and self.time_step == self.num_steps:
            self._write()

    def post_guard(self) -> bool:
        return self.record_state

    def run_post_mgmt(self) -> None:
        self.u_trace[self.time_step - 1] = self.u_ref.read()
        self.v_trace[self.time_step - 1] = self.v_ref.read()
        if self.time_step == self.num_steps:
            self._write()

    def _write(self) -> None:
        arrays = {"spikes": self.spikes}
        if self.record_state:
            arrays.update(u=self.u_trace, v=self.v_trace)
        tmp = f"{self.path}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self.path)


@implements(proc=SpikeStateRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeStateRecorderFixed(_RecorderModel):
    """Recorder model selected under ``select_tag='fixed_pt'``."""


@implements(proc=SpikeStateRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeStateRecorderFloat(_RecorderModel):
    """Recorder model selected under ``select_tag='floating_pt'``."""
