"""rnnkit.reference: the functional API in plain NumPy, the readable spec and the test oracle.

Same functions and signatures as rnnkit.ops (docs/functional-api.md). Computes in float64 when
x is float64, else in float32; one loop over time forward, one loop back, the cell equations
of DESIGN.md section 2 line by line.
"""

from .gru import GRUSaved, GRUWeights, gru_backward, gru_forward, gru_step, pack_gru
from .lstm import LSTMSaved, LSTMWeights, lstm_backward, lstm_forward, lstm_step, pack_lstm
from .rnn import RNNSaved, RNNWeights, pack_rnn, rnn_backward, rnn_forward, rnn_step

__all__ = [
    "GRUSaved",
    "GRUWeights",
    "LSTMSaved",
    "LSTMWeights",
    "RNNSaved",
    "RNNWeights",
    "gru_backward",
    "gru_forward",
    "gru_step",
    "lstm_backward",
    "lstm_forward",
    "lstm_step",
    "pack_gru",
    "pack_lstm",
    "pack_rnn",
    "rnn_backward",
    "rnn_forward",
    "rnn_step",
]
